"""`bentoml build` with the project's bentofile.yaml produces a bento, offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.heavy
def test_bentoml_build_produces_a_bento(tmp_path: Path) -> None:
    env = dict(os.environ, BENTOML_HOME=str(tmp_path / "bentoml"), BENTOML_DO_NOT_TRACK="true")
    result = subprocess.run(
        [sys.executable, "-m", "bentoml", "build", "--output", "tag"],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    bentos = list((tmp_path / "bentoml" / "bentos" / "churnrec").glob("*/bento.yaml"))
    assert len(bentos) == 1
    bento = bentos[0].parent
    spec = yaml.safe_load(bentos[0].read_text())
    assert spec["service"] == "churnrec.serving.service:ChurnRec"
    for package in ("serving", "models", "features", "churnrec", "churnrec/store"):
        assert (bento / "src" / package / "__init__.py").exists(), package
    for left_out in ("tests", "training", "cli"):
        assert not (bento / "src" / left_out).exists(), left_out
    # The bento's own source tree imports as the churnrec namespace (no install of churnrec).
    probe = subprocess.run(
        [sys.executable, "-c", "import churnrec.serving.service as s; print(s.__file__)"],
        cwd=bento / "src",
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.strip().startswith(str(bento / "src"))
    openapi = (bento / "apis" / "openapi.yaml").read_text()
    for route in ("/churn_scores", "/next_purchase", "/recommendations", "/similar_items"):
        assert route in openapi
