"""/metadata carries the newest drift check that `churnrec refresh` wrote, and warns on drift."""

from __future__ import annotations

import json

from churnrec.serving.state import load_state
from churnrec.serving.watch import input_fingerprint
from churnrec.workspace import Workspace

CHECK = {
    "checked_at": "2026-11-28T02:31:10+00:00",
    "drift": True,
    "reference_as_of": "2025-09-30",
    "current_as_of": "2025-12-31",
    "champion_version": "3",
    "drifted_features": ["recency_days"],
    "drifted_scores": [],
    "thresholds": {"psi": 0.25, "ks_statistic": 0.15, "min_rows": 50, "auc_drop": 0.05},
    "features": {"recency_days": {"psi": 0.41, "ks_statistic": 0.22, "drift": True}},
    "scores": {},
    "performance": {"as_of": "2025-10-02", "roc_auc": 0.71, "training_roc_auc": 0.8,
                    "degraded": True},
}  # fmt: skip


def _write_check(ws: Workspace, check: dict) -> None:
    path = ws.data_dir / "drift" / "latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(check))


def test_no_drift_check_yet_is_null(tmp_path) -> None:
    state = load_state(Workspace.at(tmp_path))
    assert state.drift is None
    assert not any("drift" in w for w in state.warnings)


def test_flagged_drift_is_in_metadata_with_a_warning(tmp_path) -> None:
    ws = Workspace.at(tmp_path)
    before = input_fingerprint(ws)
    _write_check(ws, CHECK)
    assert input_fingerprint(ws) != before  # the running service reloads and shows it
    state = load_state(ws)
    assert state.drift is not None
    assert state.drift["checked_at"] == CHECK["checked_at"]
    assert state.drift["drift"] is True
    assert state.drift["drifted_features"] == ["recency_days"]
    assert state.drift["drifted_scores"] == []
    assert state.drift["champion_auc_degraded"] is True
    (line,) = [w for w in state.warnings if "drift" in w]
    assert "recency_days" in line and "0.71" in line


def test_a_clean_check_is_shown_without_a_warning(tmp_path) -> None:
    ws = Workspace.at(tmp_path)
    _write_check(ws, {**CHECK, "drift": False, "drifted_features": [], "performance": None})
    state = load_state(ws)
    assert state.drift["drift"] is False and state.drift["champion_auc_degraded"] is None
    assert not any("drift" in w for w in state.warnings)
