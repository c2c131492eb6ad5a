"""Build a small trained workspace once: generate -> ingest -> features -> train the models
the serving and scoring tests read (churn, repurchase, recommender; CLV and uplift are
trained where a test is about them).

Shared by the serving and scoring tests, which need real models in a real MLflow registry.
They all start from the same shop (`N_CUSTOMERS`, `SEED`), so `trained_workspace_copy` trains
it once per test run (one build shared by the pytest-xdist workers, under a file lock) and
gives each test module its own copy: a module may change its copy (consent, models, serving
logs) without any other module seeing it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

import pytest

from churnrec.workspace import Workspace

N_CUSTOMERS = 800
SEED = 11
_TEMPLATE = "trained_workspace_template"


def build_trained_workspace(root: Path) -> Workspace:
    from churnrec.features.pipeline import run_features
    from churnrec.synthetic import ShopConfig
    from churnrec.training.jobs import train_models
    from tests.generated_shop import ingested_shop

    ws = ingested_shop(root, ShopConfig(n_customers=N_CUSTOMERS, seed=SEED))
    run_features(ws)
    for kind in ("churn", "repurchase", "recommender"):
        train_models(ws, target=kind)
    return ws


def _shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This run's temporary folder, the same for every xdist worker (each has its own basetemp
    under it); without xdist, the session's own basetemp."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained workspace every copy is made from, built by the first worker that needs it;
    the others wait on the lock. Never handed to a test itself, so it stays as built."""
    shared = _shared_dir(tmp_path_factory)
    root = shared / _TEMPLATE / "ws"
    done = shared / _TEMPLATE / "built"
    (shared / _TEMPLATE).mkdir(exist_ok=True)
    with (shared / f"{_TEMPLATE}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():
            shutil.rmtree(root, ignore_errors=True)  # a build that failed half-way
            build_trained_workspace(root)
            done.touch()
    return root


def trained_workspace_copy(tmp_path_factory: pytest.TempPathFactory, dest: Path) -> Workspace:
    """A workspace at `dest` (absent or empty) with the same data and models as
    `build_trained_workspace(dest)` would make, copied from the run's one trained template.

    The MLflow store's recorded locations are pointed at `dest` at once (as any command does on
    a moved workspace), so nothing done with the copy reads or writes the template."""
    from churnrec.store.relocate import relocate_if_moved

    shutil.copytree(_template(tmp_path_factory), dest, dirs_exist_ok=True)
    ws = Workspace.at(dest)
    assert relocate_if_moved(ws.mlruns_dir), "the copy's MLflow store still names the template"
    return ws
