"""What a version's `quality` tag means to everything that reads it (list, /metadata, exports).

The band is computed only in `churnrec.training.quality`; every reader shares this vocabulary."""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow.exceptions import MlflowException

from churnrec.store.registry import Tag, tracking_client

EXCELLENT = "excellent"
GOOD = "good"
FAIR = "fair"
POOR = "poor"
CHANCE = "not better than chance"
BANDS = (CHANCE, POOR, FAIR, GOOD, EXCELLENT)  # worst first


def band_rank(band: str) -> int:
    """Position in `BANDS` (0 = worst); an unknown band ranks as unknown (-1)."""
    return BANDS.index(band) if band in BANDS else -1


def worse(a: str, b: str) -> str:
    """The lower of two bands."""
    return a if band_rank(a) <= band_rank(b) else b


def quality_warning(kind: str, tags: Mapping[str, str]) -> str | None:
    """The warning that travels with answers of a version rated below "fair" (else None).
    A version without the tag (older) gets none: unknown is not bad."""
    band = tags.get(Tag.QUALITY)
    if band is None or band_rank(band) >= band_rank(FAIR):
        return None
    why = tags.get(Tag.QUALITY_REASON, "")
    return (
        f"the {kind} model's quality is {band!r} on its holdout"
        + (f" ({why})" if why else "")
        + "; do not act on these scores alone: retrain with more data or serve a simple rule"
    )


# The uplift run's artifact: per top share of held-out customers, the incremental outcome per
# contact actually observed there, with its interval (`training.uplift_metrics`).
HOLDOUT_CALIBRATION_FILE = "holdout_calibration.json"


def holdout_calibration(ws: Any, run_id: str) -> dict[str, Any] | None:
    """The run's holdout calibration document, or None (older runs, deleted artifacts)."""
    try:
        with tempfile.TemporaryDirectory(prefix="churnrec-calibration-") as tmp:
            path = tracking_client(ws).download_artifacts(run_id, HOLDOUT_CALIBRATION_FILE, tmp)
            return json.loads(Path(path).read_text())
    except (MlflowException, OSError, ValueError):
        return None


def supported_per_contact(calibration: Mapping[str, Any], share: float) -> tuple[float, ...]:
    """(observed, low, high, held-out share used) per contact for a list reaching `share` of
    the scored customers: the smallest calibrated share at least as deep (the top of a ranking
    does better than its tail, so a deeper share never overstates)."""
    shares = list(calibration["shares"])
    i = next((j for j, s in enumerate(shares) if s >= share - 1e-12), len(shares) - 1)
    values = (calibration["observed"][i], calibration["low"][i], calibration["high"][i])
    return (*(float(v) if v is not None else math.nan for v in values), float(shares[i]))
