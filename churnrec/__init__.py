"""churnrec: churn scores and recommendations from a shop's order history.

The layers (`cli/`, `features/`, ...) are installed as sub-packages; in a plain source copy (a
bento, a logged model's code) they sit beside this folder (`_extend_path_for_source_tree`)."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.2.0"

_SOURCE_TREE_PARTS = ("cli", "features", "models", "training", "serving", "insights")


def _extend_path_for_source_tree() -> None:
    """Let `churnrec.<part>` find `<part>/` beside this folder when it is not installed inside."""
    here = Path(__file__).resolve().parent
    parent = here.parent
    if any((here / part / "__init__.py").exists() for part in _SOURCE_TREE_PARTS):
        return  # an installed wheel: the parts are real sub-folders
    marker = parent / "models" / "__init__.py"
    if marker.exists() and "churnrec" in marker.read_text(encoding="utf-8"):
        __path__.append(str(parent))


_extend_path_for_source_tree()
