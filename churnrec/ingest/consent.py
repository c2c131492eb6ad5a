"""Read a marketing-consent cell in the words shops and customers use. A wrong "yes" mails
someone who said no: so a broad vocabulary (matched case-, accent- and punctuation-blind), an
unreadable value is never a yes, and within one file any explicit no wins (`resolve`)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import pandas as pd

from churnrec import columns as C


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


@dataclass
class Resolved:
    """Consent decided per customer from every value one file gives (see `resolve`)."""

    by_id: pd.Series  # canonical id -> True / False / <NA>, one entry per id with a value given
    conflicts: int  # ids with both a yes and a no in the file (no applied)


def resolve(ids: pd.Series, values: pd.Series) -> Resolved:
    """Per customer: no if *any* row says no, else yes if any says yes, else unknown. Rows with a
    usable id (`ids` not <NA>) count, quarantined ones too: row rules would lose a no."""
    usable = ids.notna()
    ids, values = ids[usable].astype("str"), values[usable].astype("boolean")
    said_no = values.eq(False).fillna(False).astype(bool).groupby(ids).any()
    said_yes = values.eq(True).fillna(False).astype(bool).groupby(ids).any()
    out = pd.Series(pd.NA, index=said_no.index, dtype="boolean")
    out[said_yes] = True
    out[said_no] = False
    return Resolved(out, int((said_no & said_yes).sum()))


def apply_no(customers: pd.DataFrame, ids: pd.Series) -> pd.DataFrame:
    """`customers` with consent no for `ids` (a no seen only in quarantined rows). An id the
    table lacks gets a row with only the no: unknown consent under `consent_default: allow`
    would make it contactable."""
    if ids.empty:
        return customers
    stored = customers[C.CUSTOMER_ID].astype("str")
    hit = stored.isin(set(ids)).to_numpy()
    out = customers.copy()
    out[C.MARKETING_CONSENT] = customers[C.MARKETING_CONSENT].astype("boolean").mask(hit, False)
    missing = ids[~ids.isin(set(stored))].drop_duplicates()
    if missing.empty:
        return out
    added = pd.DataFrame({C.CUSTOMER_ID: missing.to_numpy(), C.MARKETING_CONSENT: False})
    added[C.MARKETING_CONSENT] = added[C.MARKETING_CONSENT].astype("boolean")
    for name in out.columns:
        if name not in added.columns:
            added[name] = pd.Series(None, index=added.index, dtype=out[name].dtype)
    return pd.concat([out, added[list(out.columns)]], ignore_index=True)
