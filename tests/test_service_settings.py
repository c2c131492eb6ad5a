"""The service's settings: one typed object, read only when the service is built.

Importing `churnrec.serving.service` reads no variable, patches nothing and starts nothing;
every `CHURNREC_*` variable of the service keeps its name and meaning, and a bad one is
refused naming the variable (a key's value is never repeated).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from churnrec.serving.settings import ServiceSettings, SettingsError
from tests.server_process import REPO

# Scripts and deployments set these: their names are part of the interface.
DOCUMENTED = {
    "CHURNREC_WORKSPACE": ("/srv/shop", Path("/srv/shop")),
    "CHURNREC_API_KEY": ("a-long-enough-key-1", None),  # a secret: checked via bearer_key
    "CHURNREC_API_KEY_FILE": ("/run/secrets/key", Path("/run/secrets/key")),
    "CHURNREC_AUTH_DISABLED": ("1", True),
    "CHURNREC_AUTH_FAILURES_PER_MINUTE": ("0", 0),
    "CHURNREC_RELOAD_SECONDS": ("2.5", 2.5),
    "CHURNREC_AS_OF": ("2024-03-31", dt.date(2024, 3, 31)),
    "CHURNREC_SERVING_CONFIG": ("/etc/churnrec.yaml", Path("/etc/churnrec.yaml")),
    "CHURNREC_CONSENT_DEFAULT": ("Allow", "allow"),
    "CHURNREC_MAX_BODY_BYTES": ("2048", 2048),
    "CHURNREC_EVENTS_SYNC": ("Interval", "interval"),
    "CHURNREC_EVENTS_SYNC_MS": ("50", 50.0),
    "CHURNREC_WORKERS": ("3", 3),
    "CHURNREC_ACCESS_LOG": ("1", True),
    "CHURNREC_BENCHMARK_ROUTES": ("1", True),
    "CHURNREC_BENCHMARK_BENTOML_TIMEOUT": ("1", True),
}

# Run in a fresh interpreter: records every read of os.environ / os.getenv made by project code
# itself, and every read of a CHURNREC_* variable (or of the whole environment) that project code
# causes through a library (pydantic-settings, say). A library reading its own variables
# (PYDANTIC_DISABLE_PLUGINS when a model class is defined) is not a setting of ours. Also the
# new threads and the patches the old import made.
_PROBE = r"""
import collections.abc, json, logging, os, sys, threading

REPO, VENV = sys.argv[1], sys.argv[2]
reads = []

def _project(frame):
    name = frame.f_code.co_filename
    return name.startswith(REPO) and not name.startswith(VENV)

def _plumbing(frame):  # this probe, Mapping.get, os.getenv: not the reader
    name = frame.f_code.co_filename
    return name == "<string>" or name.endswith(("_collections_abc.py", f"{os.sep}os.py"))

def _ours(key):
    frame = sys._getframe(1)
    while _plumbing(frame):
        frame = frame.f_back
    direct = True
    while frame is not None:
        if "importlib._bootstrap" in frame.f_code.co_filename:
            return None  # a library's own import-time read, not caused by project code
        if _project(frame):
            if direct or key.startswith("CHURNREC_") or key == "<every variable>":
                return f"{os.path.relpath(frame.f_code.co_filename, REPO)}:{frame.f_lineno}"
            return None
        direct = False
        frame = frame.f_back
    return None

class Recording(collections.abc.MutableMapping):
    def __init__(self, real):
        self.real = real
    def _seen(self, key):
        where = _ours(str(key))
        if where:
            reads.append([str(key), where])
    def __getitem__(self, key):
        self._seen(key)
        return self.real[key]
    def __contains__(self, key):
        self._seen(key)
        return key in self.real
    def __iter__(self):
        self._seen("<every variable>")
        return iter(self.real)
    def __len__(self):
        return len(self.real)
    def __setitem__(self, key, value):
        self._seen(key)
        self.real[key] = value
    def __delitem__(self, key):
        self._seen(key)
        del self.real[key]
    def copy(self):
        return dict(self.real)

os.environ = Recording(os.environ)
threads = set(threading.enumerate())
import churnrec.serving.service as service
from bentoml._internal.server.http import traffic

print(json.dumps({
    "reads": reads,
    "new_threads": [t.name for t in set(threading.enumerate()) - threads],
    "timeout_middleware": traffic.TimeoutMiddleware.__module__,
    "log_filters": len(logging.getLogger("bentoml._internal.server.http_app").filters),
    "built": "ChurnRec" in vars(service),
}))
"""


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No CHURNREC_* variable of the test process leaks into the settings under test."""
    for name in list(os.environ):
        if name.startswith("CHURNREC_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_importing_the_service_reads_no_variable_and_starts_nothing() -> None:
    env = dict(os.environ, CHURNREC_WORKERS="2", CHURNREC_BENCHMARK_ROUTES="1")
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(REPO), str(REPO / ".venv")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["reads"] == []
    assert seen["new_threads"] == []
    assert seen["timeout_middleware"].startswith("bentoml.")  # BentoML's own, not patched yet
    assert seen["log_filters"] == 0
    assert not seen["built"]


def test_every_variable_keeps_its_name_and_meaning(clean_env: pytest.MonkeyPatch) -> None:
    for name, (text, _) in DOCUMENTED.items():
        clean_env.setenv(name, text)
    settings = ServiceSettings.load()
    for name, (_, expected) in DOCUMENTED.items():
        if expected is not None:
            assert getattr(settings, name.removeprefix("CHURNREC_").lower()) == expected, name
    assert set(settings.as_env()) == set(DOCUMENTED)  # and no other variable
    # what `churnrec serve` hands to `bentoml serve` reads back to the same settings
    for name, text in settings.as_env().items():
        clean_env.setenv(name, text)
    assert ServiceSettings.load() == settings


def test_flags_override_the_environment_and_unset_means_default(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("CHURNREC_AS_OF", "2024-03-31")
    clean_env.setenv("CHURNREC_RELOAD_SECONDS", "")  # empty: the default
    settings = ServiceSettings.load(as_of=None, workspace=Path("/srv/shop"))
    assert settings.as_of is None and settings.reload_seconds == 10.0
    assert settings.as_env()["CHURNREC_AS_OF"] == ""  # the worker must not fall back to env


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("CHURNREC_WORKERS", "0", "greater than 0"),
        ("CHURNREC_MAX_BODY_BYTES", "1MB", "valid integer"),
        ("CHURNREC_AUTH_FAILURES_PER_MINUTE", "-1", "greater than or equal to 0"),
        ("CHURNREC_RELOAD_SECONDS", "-5", "greater than or equal to 0"),
        ("CHURNREC_EVENTS_SYNC", "sometimes", "'always' or 'interval'"),
        ("CHURNREC_EVENTS_SYNC_MS", "0", "greater than or equal to 1"),
        ("CHURNREC_CONSENT_DEFAULT", "yes", "'allow' or 'deny'"),
        ("CHURNREC_AS_OF", "2024-13-01", "valid date"),
        ("CHURNREC_ACCESS_LOG", "maybe", "valid boolean"),
    ],
)
def test_a_bad_setting_is_refused_naming_its_variable(
    clean_env: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        ServiceSettings.load()
    message = str(caught.value)
    assert f"{name}: " in message and says in message and repr(value) in message


def test_the_api_key_is_checked_and_never_repeated(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert ServiceSettings.load(api_key=" key-one-1 ").bearer_key() == "key-one-1"
    key_file = tmp_path / "key"
    key_file.write_text("\n  key-two-2  \n")
    from_file = ServiceSettings.load(api_key_file=key_file)
    assert from_file.bearer_key() == "key-two-2"
    assert "has only 9 characters" in from_file.warnings()[0]
    assert "key-two-2" not in repr(from_file) + from_file.warnings()[0]
    assert ServiceSettings.load(api_key="x" * 16).warnings() == []
    short = tmp_path / "short"
    short.write_text("k1\n")
    with pytest.raises(SettingsError, match="has 2 characters; at least 8") as caught:
        ServiceSettings.load(api_key_file=short).bearer_key()
    assert "k1" not in str(caught.value).replace(str(short), "")
    assert ServiceSettings.load(auth_disabled=True).bearer_key() is None
    with pytest.raises(SettingsError, match="no API key: set CHURNREC_API_KEY"):
        ServiceSettings.load().bearer_key()
    with pytest.raises(SettingsError, match="CHURNREC_API_KEY_FILE=.* cannot be read"):
        ServiceSettings.load(api_key_file=tmp_path / "missing").bearer_key()
    (tmp_path / "empty").write_text("  \n")
    with pytest.raises(SettingsError, match="empty"):
        ServiceSettings.load(api_key_file=tmp_path / "empty").bearer_key()
    with pytest.raises(SettingsError) as caught:
        ServiceSettings.load(api_key=["not", "a", "key"])
    assert "CHURNREC_API_KEY: " in str(caught.value) and "not" not in str(caught.value)


def test_the_service_is_built_from_the_settings_it_is_given(clean_env: pytest.MonkeyPatch) -> None:
    from churnrec.serving.guards import BodyLimitMiddleware
    from churnrec.serving.service import build_service

    # benchmark_bentoml_timeout: leave BentoML's own timeout in this test process
    plain = build_service(ServiceSettings.load(benchmark_bentoml_timeout=True))
    assert plain.config["workers"] == 1
    assert plain.config["logging"] == {"access": {"enabled": False}}
    assert "noop" not in plain.apis and "churn_scores" in plain.apis
    tuned = build_service(
        ServiceSettings.load(
            benchmark_bentoml_timeout=True,
            workers=3,
            access_log=True,
            benchmark_routes=True,
            max_body_bytes=2048,
        )
    )
    assert tuned.config["workers"] == 3
    assert tuned.config["logging"] == {"access": {"enabled": True}}
    assert "noop" in tuned.apis
    assert dict(tuned.middlewares)[BodyLimitMiddleware] == {"limit": 2048}


def test_serve_refuses_a_bad_variable_before_starting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHURNREC_")}
    env.update(CHURNREC_API_KEY="a-long-enough-key-1", CHURNREC_EVENTS_SYNC="sometimes")
    result = subprocess.run(
        [sys.executable, "-m", "churnrec.cli", "serve", "--workspace", str(tmp_path)]
        + ["--port", "1"],  # never bound: the command must stop before
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "CHURNREC_EVENTS_SYNC: " in result.stderr and "'sometimes'" in result.stderr
