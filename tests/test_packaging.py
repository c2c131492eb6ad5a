"""The house: one `churnrec` namespace in the wheel, and layers that only import downwards."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


SOURCES = ("pyproject.toml", "README.md", "churnrec", "cli", "features", "models", "training")
SOURCES += ("serving", "insights")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a clean copy of the sources: setuptools' build/ folder would otherwise keep
    # modules deleted since an earlier build and put them into the wheel.
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        ignore = (
            {"ignore": shutil.ignore_patterns("__pycache__")} if copy is shutil.copytree else {}
        )
        copy(ROOT / name, source / name, **ignore)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--wheel-dir", str(out), str(source)],
        check=True,
        capture_output=True,
        cwd=out,
    )
    (found,) = out.glob("churnrec-*.whl")
    return found


def test_the_wheel_installs_only_the_churnrec_namespace(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/", 1)[0] for name in names}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"churnrec"}
    for part in ("cli", "features", "models", "training", "serving", "store", "ingest"):
        assert f"churnrec/{part}/__init__.py" in names, part
    assert not any(name.startswith("churnrec/tests/") for name in names)


def test_layers_only_import_downwards(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target"]
        + [str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    # lint-imports reads the contracts from pyproject.toml and the code from the installed copy.
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), str(ROOT / "pyproject.toml")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
