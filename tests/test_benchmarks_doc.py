"""BENCHMARKS.md opens with the current figures; `bench_training.py --no-als` keeps one note;
every benchmark script imports only names the package still has."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTE = "(ALS rows above: from an earlier run; `--no-als` skipped it.)"


@pytest.fixture()
def bench(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import bench_training

    yield bench_training
    sys.modules.pop("bench_training", None)


def test_repeated_no_als_runs_leave_one_note(bench, tmp_path: Path) -> None:
    from _report import replace_section

    path = tmp_path / "BENCHMARKS.md"
    path.write_text(
        "# Benchmarks\n\n## Training\n\njobs table\n\n"
        f"{bench.ALS_HEADING} with the default config.\n\n| als | table |\n\n"
        "ALS: the peak RSS note.\n\n## Serving\n\nlatency\n"
    )
    for _ in range(3):  # three `--no-als` runs, each writing the section back
        replace_section(path, bench.SECTION, "new jobs table\n\n" + bench.previous_als(path))
    text = path.read_text()
    assert text.count(NOTE) == 1
    assert text.count("| als | table |") == 1
    assert "ALS: the peak RSS note." in text
    assert "## Serving\n\nlatency" in text


def test_benchmarks_opens_with_current_figures_and_keeps_the_journal() -> None:
    text = (ROOT / "BENCHMARKS.md").read_text()
    sections = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert sections[0] == "Current figures"
    first = text.split("\n## ")[1]
    assert "| what | command | value | date |" in first
    for journal in ("Training", "Refit backtest", "Grocery training", "BTYD fit times"):
        assert journal in sections[1:]
    assert text.count(NOTE) <= 1


@pytest.mark.parametrize(
    "script", sorted(p.name for p in (ROOT / "benchmarks").glob("*.py")), ids=str
)
def test_every_benchmark_imports_what_the_package_still_has(script: str) -> None:
    # benchmarks run by hand, rarely: a renamed or removed name must fail here, not months later
    import ast
    import importlib

    tree = ast.parse((ROOT / "benchmarks" / script).read_text())
    missing = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("churnrec"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                if not hasattr(module, alias.name):
                    try:
                        importlib.import_module(f"{node.module}.{alias.name}")
                    except ModuleNotFoundError:
                        missing.append(f"{node.module}.{alias.name} (line {node.lineno})")
    assert not missing, f"benchmarks/{script} imports names the package no longer has: {missing}"
