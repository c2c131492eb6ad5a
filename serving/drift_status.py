"""The newest drift check (`data/drift/latest.json`) summed up for /metadata.

Serving must not import training, so the file is read by its documented path and shape; an
unreadable one is a warning, never a failed load.
"""

from __future__ import annotations

import json
from typing import Any

from churnrec.workspace import Workspace


def read_drift(ws: Workspace) -> tuple[dict[str, Any] | None, list[str]]:
    """(summary or None, warnings) from `data/drift/latest.json`."""
    path = ws.drift_record_path
    if not path.exists():
        return None, []
    try:
        raw = json.loads(path.read_text())
        summary = drift_summary(raw)
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        return None, [f"cannot read the drift check {path}: {exc}"]
    return summary, drift_warnings(summary)


def drift_summary(raw: dict[str, Any]) -> dict[str, Any]:
    """The /metadata `drift` object from the full drift check."""
    performance = raw.get("performance") or {}
    return {
        "checked_at": raw.get("checked_at"),
        "drift": bool(raw["drift"]),
        "reference_as_of": raw.get("reference_as_of"),
        "current_as_of": raw.get("current_as_of"),
        "champion_version": raw.get("champion_version"),
        "drifted_features": list(raw.get("drifted_features") or []),
        "drifted_scores": list(raw.get("drifted_scores") or []),
        "champion_auc_degraded": bool(performance["degraded"]) if performance else None,
        "champion_roc_auc": performance.get("roc_auc"),
        "training_roc_auc": performance.get("training_roc_auc"),
    }


def drift_warnings(summary: dict[str, Any]) -> list[str]:
    """One plain sentence when the last check flagged drift."""
    if not summary["drift"]:
        return []
    parts = []
    if summary["drifted_features"]:
        parts.append("features " + ", ".join(summary["drifted_features"]))
    if summary["drifted_scores"]:
        parts.append("scores " + ", ".join(summary["drifted_scores"]))
    if summary["champion_auc_degraded"]:
        parts.append(
            f"churn champion AUC {summary['champion_roc_auc']} on the newest window "
            f"(training {summary['training_roc_auc']})"
        )
    return [
        f"drift flagged by the check at {summary['checked_at']}: "
        + ("; ".join(parts) or "see data/drift/latest.json")
        + "; retrain (`churnrec refresh --retrain always` or `churnrec train`) and compare"
    ]
