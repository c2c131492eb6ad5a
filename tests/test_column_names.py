"""Names with one home: the snapshot's and the scores table's columns are named in
`churnrec.columns`, and no other module spells one as a string literal."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from churnrec import columns as C
from churnrec.columns import Feature, Score

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = ("churnrec", "cli", "features", "models", "training", "serving", "insights")
HOME = ROOT / "churnrec" / "columns.py"


def _values(namespace: type) -> set[str]:
    return {v for k, v in vars(namespace).items() if k.isupper() and isinstance(v, str)}


# Words that also name other things (the orders table, a funnel's session counts, the buy-again
# order "frequency", a JSON key "as_of"): a literal of these is not necessarily a column.
OTHER_MEANINGS = {"orders", "sessions", "frequency", "as_of"}
COLUMN_NAMES = (_values(Feature) | _values(Score)) - {Feature.CHANNEL_SHARE_PREFIX} - OTHER_MEANINGS


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _enum_values(tree: ast.AST) -> set[int]:
    """The literal values of StrEnum members (e.g. `ModelKind.CLV = "clv"`) are definitions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(
            isinstance(b, ast.Name) and b.id.endswith("Enum") for b in node.bases
        ):
            found |= {id(n) for n in ast.walk(node) if isinstance(n, ast.Constant)}
    return found


def _spelled_names(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    allowed = _docstrings(tree) | _enum_values(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):  # SQL and messages built in f-strings
            allowed |= {id(n) for n in ast.walk(node)}
    return [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value in COLUMN_NAMES
        and id(node) not in allowed
    ]


def test_no_module_spells_a_feature_or_score_column() -> None:
    spelled = [
        hit
        for folder in PACKAGE_DIRS
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != HOME
        for hit in _spelled_names(path)
    ]
    assert not spelled, "use the names in churnrec.columns:\n" + "\n".join(spelled)


def test_every_snapshot_column_is_named(tmp_path: Path) -> None:
    """Build a real snapshot (every feature family: orders, items, events, customers)."""
    from generated_shop import ingested_shop

    from churnrec.features.db import connect, default_as_of
    from churnrec.features.snapshot import build_customer_snapshot
    from churnrec.synthetic import ShopConfig

    ws = ingested_shop(tmp_path, ShopConfig(n_customers=150, n_items=30, seed=3))
    con = connect(ws)
    snapshot = build_customer_snapshot(con, default_as_of(con))
    named = _values(Feature)
    unnamed = [
        c
        for c in snapshot.columns
        if c not in named and not c.startswith(Feature.CHANNEL_SHARE_PREFIX)
    ]
    assert not unnamed, f"name these in churnrec.columns.Feature: {unnamed}"
    assert any(c.startswith(Feature.CHANNEL_SHARE_PREFIX) for c in snapshot.columns)
    assert C.CUSTOMER_ID in snapshot.columns


@pytest.mark.parametrize("namespace", [Feature, Score])
def test_a_namespace_names_each_column_once(namespace: type) -> None:
    values = [v for k, v in vars(namespace).items() if k.isupper() and isinstance(v, str)]
    assert len(values) == len(set(values))
