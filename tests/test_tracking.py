"""MLflow tracking and registry against a real SQLite store in a temporary workspace.

One workspace per module: creating the MLflow schema takes a second or two, and each logged
model about as long, so the tests share a few runs and registered versions (in file order).
"""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest

import churnrec
from churnrec import columns as C
from churnrec.models.base import (
    MODEL_CLASSES,
    ChurnScorer,
    ModelKind,
    RecommenderModel,
    resolve_class,
)
from churnrec.store import packaging as P
from churnrec.store import registry as S
from churnrec.store import tracking as T
from churnrec.store.registry import Tag
from churnrec.training import promotion as R
from churnrec.workspace import Workspace

HOLDOUT = "holdout-2024-06-30"


class ScaleChurn(ChurnScorer):
    """P(churn) = min(recency_days / scale, 1): predictions known by hand, saved as one number."""

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def _predict(self, snapshot: pd.DataFrame) -> np.ndarray:
        return np.minimum(snapshot["recency_days"].to_numpy(dtype=float) / self.scale, 1.0)

    def _save(self, path: Path) -> None:
        (path / "scale.json").write_text(json.dumps({"scale": self.scale}))

    @classmethod
    def _load(cls, path: Path) -> ScaleChurn:
        return cls(json.loads((path / "scale.json").read_text())["scale"])


class FixedRecommender(RecommenderModel):
    def _recommend(self, customer_id: str, k: int = 10) -> pd.DataFrame:
        return pd.DataFrame({C.ITEM_ID: [f"{customer_id}-{i}" for i in range(k)]})


SNAPSHOT = pd.DataFrame(
    {
        C.CUSTOMER_ID: ["001", "002", "003"],
        "recency_days": [10.0, 50.0, 200.0],
        "frequency": [3, 1, 1],
        C.RFM_SEGMENT: pd.Categorical(["champions", "at_risk", "lost"]),
        # Nullable columns as real snapshots have them: MLflow cannot enforce these by itself.
        C.MARKETING_CONSENT: pd.array([True, None, False], dtype="boolean"),
        "last_ordered_at": pd.to_datetime(["2024-06-20", "2024-05-01", None]),
    }
)
# With scale 100: 10/100, 50/100, min(200/100, 1).
EXPECTED_P_SCALE_100 = [0.1, 0.5, 1.0]


def artifact_dir(artifact_uri: str) -> Path:
    return Path(unquote(urlparse(artifact_uri).path))


def train_run(ws: Workspace, scale: float, *, run_name: str) -> tuple[str, str]:
    """A whole tracked training run of ScaleChurn; returns (run_id, model_uri)."""
    with T.start_run(ws, "churn", run_name=run_name, tags={"trigger": "test"}) as run:
        T.log_params({"model": {"scale": scale, "clip": True}, "seed": 7})
        T.log_metrics_with_baselines(
            {"roc_auc": 0.8, "brier": 0.125},
            {"recency": {"roc_auc": 0.75, "brier": 0.25}, "constant": {"roc_auc": 0.5}},
        )
        T.log_dataset(
            SNAPSHOT, name="snapshot", context="training", source=ws.root / "snap.parquet"
        )
        T.log_feature_list(["recency_days", "frequency"])
        model_uri = P.log_churnrec_model(ScaleChurn(scale), ModelKind.CHURN, input_example=SNAPSHOT)
    return run.info.run_id, model_uri


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace.at(tmp_path_factory.mktemp("ws"))


@pytest.fixture(scope="module")
def first(ws: Workspace) -> tuple[str, str]:
    return train_run(ws, 100.0, run_name="first")


# --- pure pieces ------------------------------------------------------------------------------
def test_flatten_params_nests_with_dots_and_stringifies() -> None:
    assert T.flatten_params({"model": {"depth": 3, "opt": {"lr": 0.5}}, "seed": 1, "on": None}) == {
        "model.depth": "3",
        "model.opt.lr": "0.5",
        "seed": "1",
        "on": "None",
    }
    assert len(T.flatten_params({"long": "x" * 7000})["long"]) == T.MAX_PARAM_CHARS


def test_metrics_vs_baselines_table_only_has_metrics_each_baseline_reports() -> None:
    table = T.metrics_vs_baselines(
        {"roc_auc": 0.8, "pr_auc": float("nan")}, {"recency": {"roc_auc": 0.7}}
    )
    assert table == {"roc_auc": {"model": 0.8, "recency": 0.7}, "pr_auc": {"model": None}}


def test_signature_types_nullable_extension_columns_as_any() -> None:
    signature = P.model_signature(SNAPSHOT, ScaleChurn(100.0).answer(SNAPSHOT))
    types = {spec.name: (repr(spec.type), spec.required) for spec in signature.inputs.inputs}
    assert types == {
        C.CUSTOMER_ID: ("string", True),
        "recency_days": ("double", True),
        "frequency": ("long", True),
        C.RFM_SEGMENT: ("Any", False),
        C.MARKETING_CONSENT: ("Any", False),
        "last_ordered_at": ("datetime", False),
    }


def test_dataset_fingerprint_changes_with_any_value_and_ignores_index() -> None:
    base = T.dataset_fingerprint(SNAPSHOT)
    assert T.dataset_fingerprint(SNAPSHOT.set_axis([5, 6, 7])) == base
    changed = SNAPSHOT.copy()
    changed.loc[2, "frequency"] = 2
    assert T.dataset_fingerprint(changed) != base
    assert T.dataset_fingerprint(SNAPSHOT.astype({"frequency": "float64"})) != base


@pytest.mark.parametrize(
    ("value", "higher", "champion_value", "promoted", "reason_start"),
    [
        (0.81, True, 0.80, True, "roc_auc 0.81 beats champion v4 0.8"),
        (0.80, True, 0.80, False, "roc_auc 0.8 does not beat champion v4 0.8"),
        (0.79, False, 0.80, True, "roc_auc 0.79 beats"),
        (float("nan"), True, 0.80, False, "roc_auc nan does not beat"),
        (0.10, True, float("nan"), True, "roc_auc 0.1 beats"),
    ],
)
def test_decide_compares_like_for_like(
    value: float, higher: bool, champion_value: float, promoted: bool, reason_start: str
) -> None:
    tags = {Tag.METRIC: "roc_auc", Tag.VALUE: repr(champion_value), Tag.HOLDOUT: "h"}
    got = R.decide(
        metric="roc_auc",
        value=value,
        holdout_id="h",
        higher_is_better=higher,
        champion_tags=tags,
        champion_version="4",
    )
    assert got[0] is promoted
    assert got[1].startswith(reason_start)


def test_decide_first_model_promotes_and_changed_holdout_or_metric_keeps_champion() -> None:
    kwargs = {"value": 0.99, "holdout_id": "h2", "higher_is_better": True, "champion_version": "1"}
    assert R.decide(metric="roc_auc", champion_tags=None, **kwargs) == (True, "first model", None)
    old = {Tag.METRIC: "roc_auc", Tag.VALUE: "0.9", Tag.HOLDOUT: "h1"}
    promoted, reason, champion_value = R.decide(metric="roc_auc", champion_tags=old, **kwargs)
    assert (promoted, champion_value) == (False, 0.9)
    assert reason.startswith("not comparable") and reason.endswith("champion kept")
    same_holdout = {**old, Tag.HOLDOUT: "h2"}
    promoted, reason, _ = R.decide(metric="pr_auc", champion_tags=same_holdout, **kwargs)
    assert not promoted and reason.startswith("not comparable")


def test_model_classes_resolve_lazily_by_path() -> None:
    assert MODEL_CLASSES[ModelKind.RECOMMENDER] == "churnrec.models.recommender:Recommender"
    assert resolve_class(f"{__name__}:ScaleChurn") is ScaleChurn
    with pytest.raises(ImportError, match="has no 'Nope'"):
        resolve_class(f"{__name__}:Nope")


def test_answer_per_kind_needs_no_kind_switch() -> None:
    churn = ScaleChurn(100.0).answer(SNAPSHOT)
    assert churn.to_dict("list") == {
        C.CUSTOMER_ID: ["001", "002", "003"],
        "churn_probability": EXPECTED_P_SCALE_100,
    }
    recs = FixedRecommender().answer(pd.DataFrame({C.CUSTOMER_ID: ["a", "b"], "k": [2, 1]}))
    assert recs.to_dict("list") == {
        C.CUSTOMER_ID: ["a", "b"],
        "item_ids": [["a-0", "a-1"], ["b-0"]],
    }
    with pytest.raises(ValueError, match=r"needs input column\(s\) \['customer_id'\]"):
        FixedRecommender().answer(pd.DataFrame({"x": [1]}))


def test_no_store_means_no_champion_and_nothing_created(tmp_path: Path) -> None:
    empty = Workspace.at(tmp_path)
    assert S.champion_version(empty, "churn") is None
    with pytest.raises(
        S.ModelNotFoundError,
        match=r"no champion for 'churn' in .*mlruns; run `churnrec train churn`",
    ):
        S.load_champion(empty, "churn")
    assert not (tmp_path / "mlruns").exists()


# --- a tracked run read back ------------------------------------------------------------------
def test_run_is_readable_with_params_metrics_tags_data_and_artifacts(
    ws: Workspace, first: tuple[str, str]
) -> None:
    run_id, model_uri = first
    client = S.tracking_client(ws)
    experiment = client.get_experiment_by_name("churn")
    assert experiment.artifact_location == (ws.mlruns_dir / "churn").as_uri()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"

    fingerprint = T.dataset_fingerprint(SNAPSHOT)
    assert run.data.params == {
        "model.scale": "100.0",
        "model.clip": "True",
        "seed": "7",
        "data_training_fingerprint": fingerprint,
        "data_training_rows": "3",
        "n_features": "2",
    }
    assert run.data.metrics == {
        "roc_auc": 0.8,
        "brier": 0.125,
        "recency_roc_auc": 0.75,
        "recency_brier": 0.25,
        "constant_roc_auc": 0.5,
    }
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"],
        cwd=Path(__file__).parent,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    assert run.data.tags["git_commit"] == (head or "unknown")
    assert run.data.tags["git_dirty"] in {"true", "false", "unknown"}
    assert run.data.tags["churnrec_version"] == churnrec.__version__
    assert run.data.tags["trigger"] == "test"

    (data_input,) = run.inputs.dataset_inputs
    assert data_input.dataset.name == "snapshot"
    assert data_input.dataset.digest == fingerprint
    assert json.loads(data_input.dataset.source)["uri"] == str(ws.root / "snap.parquet")
    assert [(t.key, t.value) for t in data_input.tags] == [("mlflow.data.context", "training")]

    artifacts = artifact_dir(run.info.artifact_uri)
    assert json.loads((artifacts / T.METRICS_VS_BASELINES_JSON).read_text()) == {
        "roc_auc": {"model": 0.8, "recency": 0.75, "constant": 0.5},
        "brier": {"model": 0.125, "recency": 0.25},
    }
    assert (artifacts / T.METRICS_VS_BASELINES_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((artifacts / T.FEATURES_JSON).read_text()) == {
        "features": ["recency_days", "frequency"]
    }

    (output,) = run.outputs.model_outputs
    assert model_uri == f"models:/{output.model_id}"
    logged = client.get_logged_model(output.model_id)
    model_dir = artifact_dir(logged.artifact_location)
    assert (model_dir / "MLmodel").exists()
    requirements = (model_dir / "requirements.txt").read_text().splitlines()
    assert f"mlflow=={mlflow.__version__}" in requirements
    assert f"pandas=={pd.__version__}" in requirements
    assert json.loads((model_dir / "artifacts" / "model" / "scale.json").read_text()) == {
        "scale": 100.0
    }


def test_run_store_is_owner_only(ws: Workspace, first: tuple[str, str]) -> None:
    # MLflow writes artifacts 0644; the store folder being 0700 keeps every one of them private
    assert stat.S_IMODE(ws.mlruns_dir.stat().st_mode) == 0o700


def test_logged_pyfunc_predicts_through_mlflow(ws: Workspace, first: tuple[str, str]) -> None:
    _, model_uri = first
    logged = S.tracking_client(ws).get_logged_model(model_uri.removeprefix("models:/"))
    pyfunc = mlflow.pyfunc.load_model(logged.artifact_location)
    out = pyfunc.predict(SNAPSHOT)
    assert out["churn_probability"].tolist() == EXPECTED_P_SCALE_100
    assert pyfunc.metadata.get_input_schema().input_names() == list(SNAPSHOT.columns)


# --- registry and promotion ------------------------------------------------------------------
def version_tags(ws: Workspace, version: str) -> dict[str, str]:
    return dict(S.tracking_client(ws).get_model_version("churn", version).tags)


def aliases(ws: Workspace) -> dict[str, str]:
    return {
        k: str(v) for k, v in S.tracking_client(ws).get_registered_model("churn").aliases.items()
    }


def test_promotion_first_worse_better(ws: Workspace, first: tuple[str, str]) -> None:
    client = S.tracking_client(ws)
    run1, uri1 = first
    d1 = R.register_and_promote(
        ws, uri1, name="churn", run_id=run1, metric="roc_auc", value=0.70, holdout_id=HOLDOUT
    )
    assert d1 == R.PromotionDecision(
        "churn", "1", "champion", True, "first model", "roc_auc", 0.70, None
    )
    assert S.champion_version(ws, "churn") == "1"
    assert version_tags(ws, "1") == {
        "metric": "roc_auc",
        "metric_value": "0.7",
        "holdout_id": HOLDOUT,
        "higher_is_better": "true",
        "promotion_decision": "champion",
        "promotion_reason": "first model",
    }

    run2, uri2 = train_run(ws, 400.0, run_name="worse")
    d2 = R.register_and_promote(
        ws, uri2, name="churn", run_id=run2, metric="roc_auc", value=0.65, holdout_id=HOLDOUT
    )
    assert (d2.version, d2.alias, d2.promoted, d2.champion_value) == (
        "2",
        "challenger",
        False,
        0.70,
    )
    assert aliases(ws) == {"champion": "1", "challenger": "2"}
    assert version_tags(ws, "2")["promotion_reason"] == d2.reason
    assert d2.reason.startswith("roc_auc 0.65 does not beat champion v1 0.7")
    assert client.get_run(run2).data.tags["promotion_decision"] == "challenger"
    assert S.load_champion(ws, "churn").model.scale == 100.0

    run3, uri3 = train_run(ws, 20.0, run_name="better")
    d3 = R.register_and_promote(
        ws, uri3, name="churn", run_id=run3, metric="roc_auc", value=0.90, holdout_id=HOLDOUT
    )
    assert (d3.version, d3.alias, d3.promoted, d3.champion_value) == ("3", "champion", True, 0.70)
    assert aliases(ws) == {"champion": "3", "previous_champion": "1"}
    run3_tags = client.get_run(run3).data.tags
    assert run3_tags["promotion_decision"] == "champion"
    assert run3_tags["promotion_reason"].startswith("roc_auc 0.9 beats champion v1 0.7")
    assert run3_tags["registered_version"] == "churn/3"

    loaded = S.load_champion(ws, "churn")
    assert (loaded.version, loaded.run_id, loaded.alias) == ("3", run3, "champion")
    assert isinstance(loaded.model, ScaleChurn)
    # scale 20: 10/20, min(50/20, 1), min(200/20, 1)
    assert loaded.model.predict_proba(SNAPSHOT).tolist() == [0.5, 1.0, 1.0]
    assert loaded.metrics["recency_roc_auc"] == 0.75
    assert S.load_alias(ws, "churn", "previous_champion").model.predict_proba(
        SNAPSHOT
    ).tolist() == (EXPECTED_P_SCALE_100)


def test_new_holdout_without_a_scorer_keeps_the_champion(
    ws: Workspace, first: tuple[str, str]
) -> None:
    client = S.tracking_client(ws)
    _, uri1 = first
    run = client.create_run(client.get_experiment_by_name("churn").experiment_id)
    decision = R.register_and_promote(
        ws,
        uri1,
        name="churn",
        run_id=run.info.run_id,
        metric="roc_auc",
        value=0.99,
        holdout_id="holdout-2024-09-30",
    )
    assert not decision.promoted and decision.alias == "challenger"
    assert decision.reason.startswith("not comparable")
    assert S.champion_version(ws, "churn") == "3"
    assert client.get_run(run.info.run_id).data.tags["promotion_reason"] == decision.reason


# Labelled holdout rows: churned when the last order is more than 60 days ago.
RECENCY = np.arange(1.0, 201.0)
HOLDOUT_ROWS = pd.DataFrame(
    {C.CUSTOMER_ID: [f"{i:03d}" for i in range(200)], "recency_days": RECENCY}
).assign(**{C.CHURNED: RECENCY > 60})


def scored_run(ws: Workspace, scale: float) -> R.PromotionDecision:
    from churnrec.training.churn import holdout_scorer

    run_id, uri = train_run(ws, scale, run_name=f"scale {scale}")
    p = ScaleChurn(scale).predict_proba(HOLDOUT_ROWS)
    scorer = holdout_scorer(HOLDOUT_ROWS, p)
    auc = scorer.metrics(p, np.arange(len(p)))["roc_auc"]
    return R.register_and_promote(
        ws,
        uri,
        name="churn",
        run_id=run_id,
        metric="roc_auc",
        value=auc,
        holdout_id="new-holdout",
        guards=R.CHURN_GUARDS,
        score_champion=scorer,
    )


def test_champion_is_rescored_on_the_new_holdout_and_guards_hold(ws: Workspace) -> None:
    # champion v3 (scale 20) on these rows: ROC-AUC (19 + 41/2) / 60 = 0.658, Brier ~0.24
    assert S.champion_version(ws, "churn") == "3"
    # scale 400 ranks perfectly (ROC-AUC 1) but its probabilities are far too low: Brier loses
    sharp_but_miscalibrated = scored_run(ws, 400.0)
    assert not sharp_but_miscalibrated.promoted
    assert "guard lost: brier worse by" in sharp_but_miscalibrated.reason
    assert sharp_but_miscalibrated.champion_value == pytest.approx((19 + 41 / 2) / 60)
    assert S.champion_version(ws, "churn") == "3"
    # scale 100 ranks perfectly and is better calibrated: promoted, on the same rows
    better = scored_run(ws, 100.0)
    assert better.promoted and better.alias == "champion"
    tags = version_tags(ws, better.version)
    assert tags["compared_with"] == "3"
    assert float(tags["champion_metric_value"]) == pytest.approx((19 + 41 / 2) / 60)
    assert float(tags["paired_ci_low"]) > 0
    assert "brier" in tags["guards"] and "ece" in tags["guards"]
    assert aliases(ws) == {"champion": better.version, "previous_champion": "3"}


def test_rollback_and_manual_promote_move_aliases_with_tags(ws: Workspace) -> None:
    current = S.champion_version(ws, "churn")
    message = R.rollback(ws, "churn")
    assert "rolled back" in message
    assert aliases(ws) == {"champion": "3", "previous_champion": current}
    assert version_tags(ws, "3")["promotion_reason"].startswith("rolled back by hand")
    R.promote_version(ws, "churn", "1")
    assert aliases(ws) == {"champion": "1", "previous_champion": "3"}
    model = S.tracking_client(ws).get_registered_model("churn")
    assert json.loads(model.tags["last_action"])["version"] == "1"
    with pytest.raises(S.ModelNotFoundError):
        R.rollback(Workspace.at(ws.root / "elsewhere"), "churn")


def test_logged_dataset_schema_from_a_sample_is_the_full_frames() -> None:
    from mlflow.types.utils import _infer_schema

    n = 500
    frame = pd.DataFrame(
        {
            C.CUSTOMER_ID: [f"c{i}" for i in range(n)],
            "frequency": np.arange(n),
            "recency_days": pd.array([None if i % 7 == 0 else i for i in range(n)], "Int64"),
            "monetary": np.linspace(0, 1, n),
            "churned": np.arange(n) % 2 == 0,
            "as_of": pd.Timestamp("2025-01-01"),
            "segment": ["a" if i % 3 else None for i in range(n)],
        }
    )
    assert T._sampled_schema(frame, rows=50) == _infer_schema(frame)
    # a text column empty in the sample cannot be typed from it: MLflow infers it then
    late = frame.assign(segment=[None] * 100 + ["b"] * (n - 100))
    assert T._sampled_schema(late, rows=50) is None


def test_experiments_open_as_model_training_in_the_mlflow_ui(tmp_path: Path) -> None:
    """MLflow 3 opens an experiment without a kind in its GenAI view; churnrec's are marked
    as model training, and a kind chosen by hand in the UI is left alone."""
    from churnrec.store.registry import ensure_experiment, tracking_client

    ws = Workspace.at(tmp_path)
    train_run(ws, 100.0, run_name="kind")
    client = tracking_client(ws)
    churn = client.get_experiment_by_name("churn")
    assert churn.tags["mlflow.experimentKind"] == "custom_model_development"
    client.set_experiment_tag(churn.experiment_id, "mlflow.experimentKind", "genai_development")
    assert ensure_experiment(ws, "churn") == churn.experiment_id
    kind = client.get_experiment(churn.experiment_id).tags["mlflow.experimentKind"]
    assert kind == "genai_development"
