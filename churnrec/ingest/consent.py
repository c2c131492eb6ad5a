"""Read a marketing-consent cell in the words shops and their customers actually use.

Consent is personal data under EU law: a wrong "yes" means mailing someone who said no. So
the vocabulary is broad (English forms such as `opt-out` / `unsubscribed`, and yes/no in common
languages), matched after case folding, accent stripping and dropping punctuation and spaces
(`Opt Out`, `OPT_OUT`, `opt-out.` all read as no). Numbers read by value (`1`, `1.0`, `0.0`).
A value that still cannot be read is *not* a yes: the caller stores no (False) and quarantines
the cell with reason `bad_consent`.
"""

from __future__ import annotations

import unicodedata

import pandas as pd


def _words(*lines: str) -> frozenset[str]:
    return frozenset(" ".join(lines).split())


YES_WORDS = _words(
    # English and the forms of sign-up tools
    "yes y true t on optin optedin subscribed subscribe consent consented granted given",
    "agreed agree accepted allow allowed permitted ok",
    # other languages
    "ja j oui si sim tak da igen kylla joo evet jah ano taip jes bai sea nai 是 是的 对 好",
    "はい 예 네 да так ναι כן نعم हाँ हां ใช่ có co ya iya",
)
NO_WORDS = _words(
    # English and the forms of sign-up tools
    "no n false f off optout optedout unsubscribed unsubscribe notsubscribed nonsubscribed",
    "declined denied refused withdrawn revoked none never noconsent",
    # other languages
    "nein non nee nej ei nei nie ne nao nem hayir hayır ez ochi tidak 否 不 不是 いいえ 아니요",
    "아니오 нет ні όχι οχι לא لا नहीं ไม่ khong không",
)


def normalise(word: str) -> str:
    """Case-folded, accents stripped, only letters and digits kept: `Opt-Out.` -> `optout`."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if ch.isalnum() and not unicodedata.combining(ch))


_YES = frozenset(normalise(w) for w in YES_WORDS)
_NO = frozenset(normalise(w) for w in NO_WORDS)


def read_consent(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(nullable boolean, bad mask): blank -> <NA> (not given); unreadable -> bad."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean"), pd.Series(False, index=values.index)
    text = values.astype("str").str.strip()
    given = values.notna() & (text != "")
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    number = pd.to_numeric(text.where(given), errors="coerce")
    out[number == 1] = True
    out[number == 0] = False
    words = text[given & number.isna()]
    # one normalisation per distinct value: consent columns have a handful of spellings
    lookup = {w: normalise(w) for w in words.unique()}
    normal = words.map(lookup)
    out[normal[normal.isin(_YES)].index] = True
    out[normal[normal.isin(_NO)].index] = False
    bad = given & out.isna()
    return out, bad.astype(bool)
