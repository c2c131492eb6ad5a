"""Decide a text file's encoding without letting one bad byte decide for all: a few bad bytes
in UTF-8 become `BAD_BYTE_MARK` (rows quarantined as `bad_encoding`, `José` never `JosÃ©`); only
text mostly not UTF-8 is read as cp1252, else Latin-1."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A Unicode noncharacter: never in real data, valid in UTF-8, so it survives the CSV parser.
BAD_BYTE_MARK = "\ufdd0"
ESCAPED = re.compile(r"[\udc80-\udcff]+")
_NON_ASCII = re.compile(r"[^\x00-\x7f\udc80-\udcff]")
LEGACY_ENCODINGS = ("cp1252", "latin-1")


@dataclass
class Decoded:
    text: str
    encoding: str  # "utf-8" or the legacy encoding used
    bad_bytes: int  # bytes that were not UTF-8 and were marked (0 for a legacy read)


def decode(data: bytes) -> Decoded:
    """The file's text; see the module docstring for the rule."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    text = data.decode("utf-8", errors="surrogateescape")
    bad = sum(len(m) for m in ESCAPED.findall(text))
    if bad == 0:
        return Decoded(text, "utf-8", 0)
    good_non_ascii = len(_NON_ASCII.findall(text))
    if bad > good_non_ascii:  # the file as a whole is not UTF-8
        for encoding in LEGACY_ENCODINGS:
            try:
                return Decoded(data.decode(encoding), encoding, 0)
            except UnicodeDecodeError:
                continue
    return Decoded(ESCAPED.sub(BAD_BYTE_MARK, text), "utf-8", bad)
