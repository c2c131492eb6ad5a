"""Models that load anywhere: a clean virtualenv without churnrec, and a moved workspace."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import venv
from pathlib import Path

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec.cli import app
from churnrec.store.registry import CHAMPION, tracking_client, version_by_alias
from churnrec.store.relocate import resolve_artifact_path
from churnrec.workspace import Workspace
from tests.server_process import running_server
from tests.trained_workspace import trained_workspace_copy

pytestmark = pytest.mark.slow
KINDS = ("churn", "repurchase", "recommender")
API_KEY = "portable-key"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return trained_workspace_copy(tmp_path_factory, tmp_path_factory.mktemp("trained"))


def _model_dir(ws: Workspace, kind: str) -> Path:
    client = tracking_client(ws)
    version = version_by_alias(client, kind, CHAMPION)
    location = client.get_model_version_download_uri(kind, version.version)
    return resolve_artifact_path(location, ws.mlruns_dir)


LOAD_SCRIPT = """
import importlib.util, json, sys
import mlflow, pandas as pd
assert importlib.util.find_spec("churnrec") is None, "churnrec must not be installed here"
mlflow.set_tracking_uri(sys.argv[1])
out = {}
for kind in ("churn", "repurchase", "recommender"):
    model = mlflow.pyfunc.load_model(f"models:/{kind}@champion")
    example = pd.read_parquet(sys.argv[2] + f"/{kind}.parquet")
    if kind != "recommender":  # the signature types every feature as double
        example = example.astype({c: "float64" for c in example.select_dtypes("integer")})
    answer = model.predict(example)
    out[kind] = {"rows": len(answer), "columns": list(map(str, answer.columns))}
print(json.dumps(out))
"""


@pytest.mark.heavy
def test_champions_load_with_mlflow_in_a_clean_venv_without_churnrec(
    trained: Workspace, tmp_path: Path
) -> None:
    requirements = {
        line.strip()
        for kind in KINDS
        for line in (_model_dir(trained, kind) / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert not any(r.startswith("churnrec") for r in requirements), requirements
    env_dir = tmp_path / "clean-venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    (tmp_path / "requirements.txt").write_text("\n".join(sorted(requirements)) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        + ["-r", "requirements.txt"],
        cwd=tmp_path,
        env=env,
        check=True,
        timeout=900,
    )
    examples = tmp_path / "examples"
    examples.mkdir()
    snapshot = pd.read_parquet(trained.latest_snapshot_dir() / "customer_snapshot.parquet")
    snapshot.head(5).to_parquet(examples / "churn.parquet")
    snapshot.head(5).to_parquet(examples / "repurchase.parquet")
    pd.DataFrame({"customer_id": snapshot["customer_id"].head(3), "k": 5}).to_parquet(
        examples / "recommender.parquet"
    )
    (tmp_path / "load.py").write_text(LOAD_SCRIPT)
    done = subprocess.run(
        [str(python), "load.py", trained.tracking_uri, str(examples)],
        cwd=tmp_path,  # not the repository: nothing of churnrec is importable from here
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    assert answers["churn"]["rows"] == 5 and "churn_probability" in answers["churn"]["columns"]
    assert answers["repurchase"]["rows"] == 5
    assert answers["recommender"] == {"rows": 3, "columns": ["customer_id", "item_ids"]}


def test_logged_input_examples_hold_no_real_customer(trained: Workspace) -> None:
    real_ids = set(
        pd.read_parquet(trained.latest_snapshot_dir() / "customer_snapshot.parquet")["customer_id"]
    )
    for kind in KINDS:
        folder = _model_dir(trained, kind)
        stored = json.loads((folder / "input_example.json").read_text())
        columns, rows = stored["columns"], stored["data"]
        if "customer_id" in columns:
            ids = {row[columns.index("customer_id")] for row in rows}
            assert not ids & real_ids, (kind, ids)


def test_a_moved_workspace_scores_serves_and_keeps_its_run_artifacts(
    trained: Workspace, tmp_path: Path
) -> None:
    first = tmp_path / "first-place"
    shutil.copytree(trained.root, first, ignore=shutil.ignore_patterns("server.log"))
    # Open the copy once (as any command does), then move it again: every location the store
    # recorded now points at a folder that no longer exists.
    tracking_client(Workspace.at(first))
    moved = tmp_path / "mounted" / "workspace"
    moved.parent.mkdir()
    first.rename(moved)
    assert not first.exists()

    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(app, ["score", "--workspace", str(moved), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) > 0

    ws = Workspace.at(moved)
    client = tracking_client(ws)
    run_id = version_by_alias(client, "churn", CHAMPION).run_id
    names = {a.path for a in client.list_artifacts(run_id)}
    assert "metrics_vs_baselines.json" in names
    local = client.download_artifacts(run_id, "metrics_vs_baselines.json", str(tmp_path))
    assert json.loads(Path(local).read_text())
    assert str(moved.resolve()) in client.get_experiment_by_name("churn").artifact_location

    snapshot = pd.read_parquet(ws.latest_snapshot_dir() / "customer_snapshot.parquet")
    customer = str(snapshot["customer_id"].iloc[0])
    with running_server(moved, API_KEY) as base:
        answer = httpx.post(
            f"{base}/churn_scores",
            json={"customer_ids": [customer]},
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=30,
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["scores"][0]["customer_id"] == customer
