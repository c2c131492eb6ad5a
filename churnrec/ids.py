"""One rule for what an id *is* (NFC, trimmed: two spellings of `José` are one customer), and a
keyed pseudonym (HMAC with the secret `data/.id_key`) that recognises an id without storing it."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import unicodedata
from pathlib import Path

KEY_FILE = ".id_key"
PSEUDONYM_PREFIX = "p_"


def canonical_id(raw: object) -> str:
    """The id as stored: text, Unicode NFC, surrounding whitespace removed."""
    return unicodedata.normalize("NFC", str(raw)).strip()


def id_key(data_dir: str | Path, *, create: bool = True) -> bytes:
    """The workspace's secret key for `pseudonym` (32 random bytes, made once, 0600)."""
    path = Path(data_dir) / KEY_FILE
    if path.exists():
        return path.read_bytes()
    if not create:
        raise FileNotFoundError(f"no id key at {path}")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(32)
    try:  # O_EXCL: two processes creating it at once keep the first one's key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
        fh.flush()
        os.fsync(fh.fileno())
    return key


def pseudonym(customer_id: object, key: bytes) -> str:
    """`p_` + 24 hex digits of HMAC-SHA256(key, canonical id): stable per workspace."""
    digest = hmac.new(key, canonical_id(customer_id).encode("utf-8"), hashlib.sha256)
    return PSEUDONYM_PREFIX + digest.hexdigest()[:24]


def read_id_list(path: Path, column: str) -> list[str]:
    """Ids from a CSV/Parquet file with `column`, or one id per line; by the one id rule, in
    file order, each once. A blank id is an error naming the file, column and row."""
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif suffix in {".csv", ".gz"}:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    else:
        ids = [canonical_id(line) for line in path.read_text().splitlines() if line.strip()]
        return list(dict.fromkeys(ids))
    if column not in frame.columns:
        raise ValueError(f"{path} has no {column!r} column (columns: {list(frame.columns)})")
    ids = frame[column].astype(str).map(canonical_id)
    empty = ids == ""
    if empty.any():
        raise ValueError(f"{path}: column {column} is empty in data row {int(empty.idxmax()) + 1}")
    return list(dict.fromkeys(ids.tolist()))
