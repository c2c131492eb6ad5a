"""What a version's `quality` tag means to everything that reads it (list, /metadata, exports).

The band is *computed* in one place only (`churnrec.training.quality`); this module holds the
vocabulary the lower layers share, so `churnrec models list`, `/metadata`, `churnrec score`
and `/churn_scores` say the same thing about the same version and never recompute it.
"""

from __future__ import annotations

from collections.abc import Mapping

TAG_QUALITY = "quality"
TAG_QUALITY_REASON = "quality_reason"  # one sentence: the numbers the band came from

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

    Versions trained before quality existed carry no tag and get no warning: unknown is not
    the same as bad, and `churnrec models list` shows it as `quality=unknown`.
    """
    band = tags.get(TAG_QUALITY)
    if band is None or band_rank(band) >= band_rank(FAIR):
        return None
    why = tags.get(TAG_QUALITY_REASON, "")
    return (
        f"the {kind} model's quality is {band!r} on its holdout"
        + (f" ({why})" if why else "")
        + "; do not act on these scores alone: retrain with more data or serve a simple rule"
    )
