"""A quality statement for every model: one band from the holdout lift over the best rule (with
its paired interval) and absolute sanity; an inverted rule cannot pass `beats_baselines` and gets
the lowest band; below "fair", `/churn_scores`, the export and `churnrec score` say so.

The inverted rule is the one from issue 21: with `--horizon-days 365` the Platt-mapped recency
rule came out with its slope the wrong way round (holdout ROC-AUC 0.455 against 0.545 for the
plain recency rule on the same rows) and was tagged `beats_baselines=true`.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.columns import Feature
from churnrec.models.baseline_models import RecencyChurnBaseline
from churnrec.store.quality import CHANCE, EXCELLENT, GOOD, POOR
from churnrec.synthetic import ShopConfig
from churnrec.training import churn
from churnrec.training.churn_metrics import churn_metrics, recency_rule_scores
from churnrec.training.datasets import float_example
from churnrec.training.job import Candidate, Evaluation, JobResult, Metric, run_job
from churnrec.training.quality import assess
from tests.generated_shop import ingested_shop

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def _holdout(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Rows where a longer time since the last order really does mean churn."""
    rng = np.random.default_rng(seed)
    recency = rng.uniform(0, 300, n)
    churned = rng.random(n) < 1 / (1 + np.exp(-(recency - 150) / 60))
    return pd.DataFrame(
        {
            C.CUSTOMER_ID: [f"H{i:05d}" for i in range(n)],
            Feature.RECENCY_DAYS: recency,
            C.CHURNED: churned.astype("int64"),
        }
    )


def _evaluation(holdout: pd.DataFrame, model, chosen: Candidate) -> Evaluation:
    """What the churn job hands the runner, for `model` scored on `holdout`."""
    y = holdout[C.CHURNED].to_numpy(dtype="float64")
    p = np.asarray(model.predict_proba(holdout), dtype="float64")
    recency = recency_rule_scores(holdout)
    return Evaluation(
        chosen=chosen,
        metrics=churn_metrics(y, p),
        baselines={churn.RECENCY_BASELINE: churn_metrics(y, recency)},
        served=model,
        measured=model,
        input_example=float_example(holdout, model.input_columns),
        holdout_id="holdout-1",
        trained_through=date(2024, 12, 31),
        evaluated_on="2024-01-01..2024-12-31",
        holdout_start=date(2024, 1, 1),
        scorer=churn.holdout_scorer(holdout, p),
        baseline_predictions={churn.RECENCY_BASELINE: recency},
    )


def _inverted_rule() -> RecencyChurnBaseline:
    """The recency rule with its slope the wrong way round: recent buyers "churn"."""
    return RecencyChurnBaseline(a=-0.02, b=3.0, reference=150.0)


def test_inverted_recency_rule_fails_beats_baselines_and_gets_the_lowest_band() -> None:
    holdout = _holdout()
    rule = _inverted_rule()
    ev = _evaluation(holdout, rule, Candidate(churn.RECENCY_BASELINE, rule, 0.55, is_rule=True))
    served, plain = ev.metrics["roc_auc"], ev.baselines["recency"]["roc_auc"]
    assert served < 0.5 < plain  # the shape: 0.455 against 0.545

    result = JobResult(
        "churn",
        churn.SPEC.headline,
        churn.SPEC.baselines,
        run_id="r",
        metrics={"roc_auc": served, "recency_roc_auc": plain},
        chosen=churn.RECENCY_BASELINE,
        is_rule=True,
    )
    assert result.baselines_not_beaten() == ["recency"]
    assert assess(churn.SPEC, ev).band == CHANCE


def test_served_rule_tying_with_itself_still_passes() -> None:
    outcome = JobResult(
        "churn",
        Metric("roc_auc"),
        ("recency", "bgnbd"),
        metrics={"roc_auc": 0.79, "recency_roc_auc": 0.79, "bgnbd_roc_auc": 0.70},
        chosen="recency",
        is_rule=True,
    )
    assert outcome.baselines_not_beaten() == []


class _Scores:
    """A churn 'model' that answers fixed scores for the holdout rows (for banding only)."""

    input_columns = (Feature.RECENCY_DAYS,)

    def __init__(self, p: np.ndarray) -> None:
        self.p = p

    def predict_proba(self, _frame: pd.DataFrame) -> np.ndarray:
        return self.p


def test_bands_follow_the_lift_over_the_best_rule_and_chance() -> None:
    holdout = _holdout(2000, seed=1)
    y = holdout[C.CHURNED].to_numpy(dtype="float64")
    rng = np.random.default_rng(2)
    recency = holdout[Feature.RECENCY_DAYS].to_numpy()

    def band(p: np.ndarray) -> str:
        return assess(churn.SPEC, _evaluation(holdout, _Scores(p), Candidate("m", None, 0.7))).band

    perfect_ish = y * 0.6 + rng.uniform(0, 0.4, len(y))  # far better than recency: clear win
    assert band(perfect_ish) == EXCELLENT
    same = 1 / (1 + np.exp(-(recency - 150) / 60))  # the rule itself: no clear win
    assert band(same) in (GOOD, "fair")
    worse = same + rng.normal(0, 0.3, len(y))  # well above chance, clearly below the rule
    assert band(worse) == POOR
    coin = rng.uniform(0, 1, len(y))  # ROC-AUC about 0.5 whatever the lift says
    assert band(coin) == CHANCE


# --- through the real runner, MLflow store, CLI and service ------------------------------


@pytest.fixture(scope="module")
def inverted_workspace(tmp_path_factory):
    """A small shop with a snapshot, whose churn champion is the inverted recency rule."""
    from churnrec.features.pipeline import run_features

    root = tmp_path_factory.mktemp("inverted")
    ws = ingested_shop(root, ShopConfig(n_customers=150, n_items=30, seed=3))
    run_features(ws)
    rule = _inverted_rule()
    ev = _evaluation(_holdout(), rule, Candidate(churn.RECENCY_BASELINE, rule, 0.55, is_rule=True))
    spec = replace(churn.SPEC, evaluate=lambda _ws, _section: ev)
    return ws, run_job(spec, ws, churn.ChurnTrainConfig())


def test_the_run_and_version_say_it_fails_and_is_not_better_than_chance(inverted_workspace):
    from churnrec.store.registry import tracking_client

    ws, result = inverted_workspace
    client = tracking_client(ws)
    run = client.get_run(result.run_id)
    assert run.data.tags["beats_baselines"] == "false"
    assert run.data.tags["baselines_not_beaten"] == "recency"
    assert run.data.tags["quality"] == CHANCE
    assert "inverted" in run.data.tags["quality_reason"]
    assert "quality_lift" in run.data.metrics
    version = client.get_model_version("churn", result.promotion.version)
    assert version.tags["quality"] == CHANCE
    assert "quality: not better than chance" in result.summary_line()


def test_models_list_and_metadata_show_the_band_and_warning(inverted_workspace):
    from churnrec.cli.commands.models import list_lines
    from churnrec.scores.snapshots import model_facts
    from churnrec.store.registry import load_champion

    ws, _ = inverted_workspace
    churn_lines = [line for line in list_lines(ws.root, ("churn",)) if "@champion" in line]
    assert "quality=not better than chance" in churn_lines[0]
    facts = model_facts(ws, load_champion(ws, "churn"))
    assert facts["quality"] == CHANCE
    assert "do not act on these scores alone" in facts["warning"]


def test_churn_scores_answer_carries_the_warning(inverted_workspace):
    """The service class called directly (the HTTP layer adds nothing to the answer's body)."""
    from churnrec.serving.service import ChurnRecApi
    from churnrec.serving.settings import ServiceSettings

    ws, _ = inverted_workspace
    settings = ServiceSettings.load(workspace=ws.root, reload_seconds=0)
    api = type("QualityApi", (ChurnRecApi,), {"settings": settings})()
    api.reload()
    answer = asyncio.run(api.churn_scores(["C000001"]))
    assert "not better than chance" in answer.warning
    assert api.metadata_view().models["churn"]["quality"] == CHANCE


def test_score_writes_the_quality_beside_the_export_and_says_it_loudly(inverted_workspace):
    from churnrec.cli import app

    ws, _ = inverted_workspace
    out = ws.root / "out" / "scores.csv"
    result = runner.invoke(app, ["score", "--workspace", str(ws.root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "!!! the churn model's quality is 'not better than chance'" in result.stderr
    side = json.loads((out.parent / "scores.csv.quality.json").read_text())
    assert side["models"]["churn"]["quality"] == CHANCE
    assert "not better than chance" in side["warning"]


def test_report_churn_section_states_the_quality_and_warns(inverted_workspace):
    from churnrec.insights.report import churn as churn_section
    from churnrec.insights.report.config import ReportConfig
    from churnrec.insights.report.context import open_context

    ws, _ = inverted_workspace
    notes = churn_section.build(open_context(ws, None, ReportConfig())).notes
    assert any(n.startswith("Warning: the churn model's quality is") for n in notes)
    assert any("Quality on its holdout: not better than chance" in n for n in notes)
