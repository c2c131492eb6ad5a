"""One colour per segment and channel, the same in every chart of a report."""

from __future__ import annotations

from collections.abc import Iterable

from churnrec.features import segments

# Colour-blind friendly (Okabe-Ito + Tableau extras); known names get fixed colours so two
# reports of the same shop look alike.
BASE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#8C564B",
    "#7F7F7F",
    "#17BECF",
    "#BCBD22",
    "#1F3A93",
)
SEGMENT_COLOURS = dict(zip(segments.SEGMENTS, BASE, strict=False))
KNOWN_CHANNELS = (
    "direct",
    "organic",
    "paid_search",
    "social",
    "referral",
    "email",
    "web",
    "app",
    "store",
)
ACCENT = "#0072B2"
MUTED = "#9AA5B1"


class Palette:
    """Channel colours: fixed for well-known names, then the rest in sorted order."""

    def __init__(self, channels: Iterable[str] = ()) -> None:
        extra = sorted({str(c) for c in channels} - set(KNOWN_CHANNELS))
        names = [*KNOWN_CHANNELS, *extra]
        self.channels = {name: BASE[i % len(BASE)] for i, name in enumerate(names)}

    def channel(self, name: str) -> str:
        return self.channels.get(str(name), MUTED)

    @staticmethod
    def segment(name: str) -> str:
        return SEGMENT_COLOURS.get(str(name), MUTED)
