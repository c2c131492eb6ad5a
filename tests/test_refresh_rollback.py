"""A refresh step killed while training leaves no champion it promoted and no orphan version.

The versions registered by the training runs of a step that never finished are found by the
step tag on their runs and undone: the champion goes back to the one they replaced, a
challenger loses its alias, and each version says why (`promotion_decision=rolled_back`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from churnrec.models.base import ChurnScorer, ModelKind
from churnrec.store import packaging as P
from churnrec.store import tracking as T
from churnrec.store.registry import Tag, aliases, tracking_client
from churnrec.training.promotion import register_and_promote, undo_versions_of_step
from churnrec.workspace import Workspace

ROWS = pd.DataFrame({"customer_id": ["a", "b"], "recency_days": [10.0, 90.0]})


class Recency(ChurnScorer):
    def __init__(self, scale: float) -> None:
        self.scale = scale

    def _predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.minimum(frame["recency_days"].to_numpy(dtype=float) / self.scale, 1.0)

    def _save(self, path: Path) -> None:
        (path / "scale.txt").write_text(str(self.scale))

    @classmethod
    def _load(cls, path: Path) -> Recency:
        return cls(float((path / "scale.txt").read_text()))


def _version(ws: Workspace, value: float, tags: dict[str, str] | None = None):
    with T.start_run(ws, "churn", tags=tags) as run:
        uri = P.log_churnrec_model(Recency(100.0), ModelKind.CHURN, input_example=ROWS)
    return register_and_promote(
        ws,
        uri,
        name="churn",
        run_id=run.info.run_id,
        metric="roc_auc",
        value=value,
        holdout_id="same",
    )


def test_a_killed_step_gives_the_champion_back(tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path)
    _version(ws, 0.70)  # v1: champion before the refresh
    step = "killed-step-run-id"
    promoted = _version(ws, 0.80, {Tag.STEP: step})  # v2: promoted inside the killed step
    waiting = _version(ws, 0.75, {Tag.STEP: step})  # v3: challenger inside the killed step
    assert promoted.alias == "champion" and waiting.alias == "challenger"

    lines = undo_versions_of_step(ws, step)

    assert aliases(ws, "churn") == {"champion": "1"}
    assert len(lines) == 2 and any("@champion back to v1" in line for line in lines)
    client = tracking_client(ws)
    for version in ("2", "3"):
        tags = client.get_model_version("churn", version).tags
        assert tags["promotion_decision"] == "rolled_back"
        assert "killed" in tags["promotion_reason"]
    assert undo_versions_of_step(ws, "another-step") == []
