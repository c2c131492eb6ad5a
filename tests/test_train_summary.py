"""The training summary says plainly when a model does not beat a simple rule."""

from __future__ import annotations

from churnrec.training.job import JobResult, Metric

CHURN = {"headline": Metric("roc_auc"), "baseline_names": ("recency", "bgnbd", "paretonbd")}
REC = {
    "headline": Metric("ndcg_at_10"),
    "baseline_names": ("popularity", "buy_again", "decayed_buy_again", "als"),
}


def test_model_that_beats_every_baseline_has_no_warning() -> None:
    outcome = JobResult(
        "churn",
        **CHURN,
        run_id="r1",
        metrics={"roc_auc": 0.81, "recency_roc_auc": 0.79, "bgnbd_roc_auc": 0.78},
    )
    assert outcome.baselines_not_beaten() == []
    line = outcome.summary_line()
    assert "roc_auc=0.8100" in line and "recency_roc_auc=0.7900" in line and "WARNING" not in line


def test_baselines_not_beaten_are_named_ties_included() -> None:
    outcome = JobResult(
        "recommender",
        **REC,
        run_id="r2",
        metrics={
            "ndcg_at_10": 0.30,
            "popularity_ndcg_at_10": 0.10,
            "buy_again_ndcg_at_10": 0.30,
            "reranker_ndcg_at_10": 0.5,  # a candidate, not a baseline: ignored
        },
    )
    assert outcome.baselines_not_beaten() == ["buy_again"]
    assert outcome.summary_line().endswith("WARNING: does not beat buy_again on this holdout")


def test_lower_is_better_headline_is_compared_the_right_way() -> None:
    outcome = JobResult(
        "demand",
        headline=Metric("wape", higher_is_better=False),
        baseline_names=("seasonal_naive",),
        run_id="r6",
        metrics={"wape": 0.30, "seasonal_naive_wape": 0.40},
    )
    assert outcome.baselines_not_beaten() == []
    worse = JobResult(
        "demand",
        headline=Metric("wape", False),
        baseline_names=("seasonal_naive",),
        run_id="r7",
        metrics={"wape": 0.50, "seasonal_naive_wape": 0.40},
    )
    assert worse.baselines_not_beaten() == ["seasonal_naive"]


def test_skipped_job_says_why() -> None:
    assert "no item ids" in JobResult("recommender", **REC, skipped="no item ids").summary_line()


def test_served_rule_is_not_compared_with_itself_and_is_named() -> None:
    outcome = JobResult(
        "churn",
        **CHURN,
        run_id="r3",
        metrics={"roc_auc": 0.79, "paretonbd_roc_auc": 0.79, "recency_roc_auc": 0.78},
        chosen="paretonbd",
        is_rule=True,
    )
    assert outcome.baselines_not_beaten() == []
    assert "the paretonbd rule: no trained model beat it on validation" in outcome.summary_line()
    loses = JobResult(
        "churn",
        **CHURN,
        run_id="r4",
        metrics={"roc_auc": 0.79, "paretonbd_roc_auc": 0.79, "recency_roc_auc": 0.80},
        chosen="paretonbd",
        is_rule=True,
    )
    assert loses.baselines_not_beaten() == ["recency"]


def test_summary_lists_trained_and_skipped(tmp_path) -> None:
    from churnrec.training.jobs import TrainResults
    from churnrec.workspace import Workspace

    results = TrainResults(
        Workspace.at(tmp_path),
        [
            JobResult("churn", **CHURN, skipped="no customer churned within 90 days"),
            JobResult(
                "repurchase",
                headline=Metric("concordance"),
                run_id="r5",
                metrics={"concordance": 0.7},
            ),
        ],
    )
    assert "trained: repurchase; skipped: churn" in results.summary_lines()
