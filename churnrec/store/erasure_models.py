"""Make every logged model forget erased customers: scrub the artifacts in place, no retrain
(a retrain needs data partly gone, and hours). Erased ids become random stand-ins so matrix rows
stay aligned; a scrubbed copy must load with its own class before it replaces the original."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from churnrec.files import private_tree, write_atomic, write_json
from churnrec.ids import canonical_id
from churnrec.models.base import RetiredModelError
from churnrec.store.erasure import SCRUBBERS, ErasureReport, scrub_json
from churnrec.store.packaging import load_model_folder
from churnrec.store.registry import (
    EVALUATED_MODEL_DIR,
    MEASURED_CLASS_FILE,
    Tag,
    list_versions,
    load_measured_fit_folder,
    store_exists,
    tracking_client,
)
from churnrec.store.relocate import resolve_artifact_path
from churnrec.workspace import Workspace

_ID_LISTS = ("ids.json", "id_index.json")
_CODE_DIR = "code"  # the model's own copy of churnrec: no data


def placeholder() -> str:
    """A random, unlinkable stand-in that keeps an erased id's slot (unique within any list)."""
    return f"erased-{os.urandom(8).hex()}"


def _scrub_id_list(path: Path, ids: frozenset[str]) -> np.ndarray:
    """Replace erased ids in the `customers` list and return their positions (which index matrix
    rows); item ids and everything else stay as they are."""
    data = json.loads(path.read_text(encoding="utf-8"))
    customers = (data.get("customers") if isinstance(data, dict) else None) or []
    hit = [i for i, c in enumerate(customers) if canonical_id(c) in ids]
    for i in hit:
        customers[i] = placeholder()
    if hit:
        write_json(path, data, indent=None)
    return np.asarray(hit, dtype=np.int64)


def drop_baskets(arrays: dict[str, np.ndarray], users: np.ndarray) -> dict[str, np.ndarray]:
    """A basket log (`order_ptr`/`order_day`/`line_ptr`/`line_item`) without these users' orders."""
    order_ptr, line_ptr = arrays["order_ptr"], arrays["line_ptr"]
    keep_order = np.ones(int(order_ptr[-1]), dtype=bool)
    for u in users:
        keep_order[order_ptr[u] : order_ptr[u + 1]] = False
    counts = np.diff(order_ptr).copy()
    counts[users] = 0
    sizes = np.diff(line_ptr)
    keep_line = np.repeat(keep_order, sizes)
    out = dict(arrays)
    out["order_ptr"] = np.concatenate([[0], np.cumsum(counts)]).astype(order_ptr.dtype)
    out["order_day"] = arrays["order_day"][keep_order]
    out["line_ptr"] = np.concatenate([[0], np.cumsum(sizes[keep_order])]).astype(line_ptr.dtype)
    out["line_item"] = arrays["line_item"][keep_line]
    return out


def _scrub_npz(path: Path, users: np.ndarray) -> bool:
    """Zero user factor rows and drop baskets of `users`; False when the file has neither."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {key: z[key] for key in z.files}
    except ValueError:  # a format that needs pickle: not ours to rewrite
        return False
    changed = False
    if "user_factors" in arrays and arrays["user_factors"].shape[0] > users.max():
        arrays["user_factors"] = arrays["user_factors"].copy()
        arrays["user_factors"][users] = 0
        changed = True
    if {"order_ptr", "order_day", "line_ptr", "line_item"} <= arrays.keys():
        arrays = drop_baskets(arrays, users)
        changed = True
    if changed:

        def save(tmp: Path) -> None:
            with open(tmp, "wb") as fh:  # a file object: np.savez adds no `.npz` suffix
                np.savez(fh, **arrays)

        write_atomic(path, save)
    return changed


def scrub_artifact_files(folder: Path, ids: frozenset[str]) -> list[Path]:
    """Scrub the files of a model folder (a copy); returns the relative paths changed."""
    changed: list[Path] = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or _CODE_DIR in path.relative_to(folder).parts[:1]:
            continue
        suffix = path.suffix.lower()
        if suffix == ".json" and path.name in _ID_LISTS:
            users = _scrub_id_list(path, ids)
            removed = len(users)
            for npz in path.parent.glob("*.npz"):  # factor rows and baskets of those positions
                if removed and _scrub_npz(npz, users):
                    changed.append(npz.relative_to(folder))
        elif suffix == ".json":
            removed = scrub_json(path, ids, keys_only=True)
        elif suffix in SCRUBBERS:
            removed = SCRUBBERS[suffix](path, ids)
        else:
            continue
        if removed:
            changed.append(path.relative_to(folder))
    return sorted(set(changed))


def _model_folders(mlruns: Path) -> set[Path]:
    """Every logged model and every measured fit logged beside one (both may hold ids)."""
    logged = {p.parent.resolve() for p in mlruns.rglob("MLmodel")}
    measured = {
        p.parent.resolve()
        for p in mlruns.rglob(MEASURED_CLASS_FILE)
        if p.parent.name == EVALUATED_MODEL_DIR
    }
    return logged | measured


def _check_forgotten(folder: Path, ids: frozenset[str]) -> None:
    """Load the scrubbed model with its own class; it must load and know none of the ids.
    A model of a retired class (never served again) keeps only its file scrub."""
    logged = (folder / "MLmodel").exists()  # else a measured fit (`class.json`)
    try:
        model = load_model_folder(folder) if logged else load_measured_fit_folder(folder)
    except RetiredModelError:
        return
    known = getattr(model, "known_customer", None)
    if known is not None and any(known(cid) for cid in ids):
        raise RuntimeError(f"the scrubbed model in {folder} still knows an erased customer")


def scrub_model_folder(folder: Path, ids: frozenset[str]) -> list[Path]:
    """Scrub one logged model (the folder holding `MLmodel`) in place; returns changed paths."""
    with tempfile.TemporaryDirectory(prefix=".erasure-", dir=folder.parent) as tmp:
        copy = Path(tmp) / folder.name
        shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(_CODE_DIR))
        changed = scrub_artifact_files(copy, ids)
        if not changed:
            return []
        _check_forgotten(copy, ids)
        for rel in changed:  # each file swapped atomically; all checked before the first swap
            (copy / rel).replace(folder / rel)
    return changed


def _registered_folders(ws: Workspace) -> dict[Path, list[tuple[str, str]]]:
    """Model folder -> the registered (name, version) pairs that serve from it."""
    client = tracking_client(ws)
    out: dict[Path, list[tuple[str, str]]] = {}
    for model in client.search_registered_models():
        for version in list_versions(ws, model.name):
            location = client.get_model_version_download_uri(model.name, version.version)
            folder = resolve_artifact_path(location, ws.mlruns_dir).resolve()
            out.setdefault(folder, []).append((model.name, str(version.version)))
    return out


def scrub_models(ws: Workspace, ids: frozenset[str], report: ErasureReport) -> list[str]:
    """Scrub every logged model of the workspace (registered versions and the rest)."""
    if not store_exists(ws):
        return []
    registered = _registered_folders(ws)
    folders = _model_folders(ws.mlruns_dir) | registered.keys()
    client = tracking_client(ws)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    scrubbed: list[str] = []
    for folder in sorted(folders):
        if not (folder / "MLmodel").exists() and not (folder / MEASURED_CLASS_FILE).exists():
            continue
        changed = scrub_model_folder(folder, ids)
        if not changed:
            continue
        report.files_changed += [str((folder / rel).relative_to(ws.root)) for rel in changed]
        for name, version in registered.get(folder, []):
            client.set_model_version_tag(name, version, Tag.ERASED_AT, now)
            scrubbed.append(f"{name} v{version}")
        if folder not in registered:
            scrubbed.append(str(folder.relative_to(ws.root)))
    # the other run artifacts (plots' data, metric tables): rows naming an id go
    for path in sorted(ws.mlruns_dir.rglob("*")):
        if not (path.suffix.lower() in SCRUBBERS and path.is_file()):
            continue
        if not any(folder in path.resolve().parents for folder in folders):
            report.count(path, SCRUBBERS[path.suffix.lower()](path, ids), ws.root)
    private_tree(ws.mlruns_dir)
    return scrubbed
