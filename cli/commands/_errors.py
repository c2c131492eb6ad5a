"""Turn the errors a user can fix into one clear line on stderr and exit code 2 (no traceback)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from churnrec.workspace import WorkspaceError

USER_ERRORS: tuple[type[BaseException], ...] = (WorkspaceError, FileNotFoundError)


def register_user_error(*kinds: type[BaseException]) -> None:
    """Modules add their own fixable error types (e.g. IngestError) here at call time."""
    global USER_ERRORS
    USER_ERRORS = tuple(dict.fromkeys((*USER_ERRORS, *kinds)))


@contextmanager
def exit_on_user_error() -> Iterator[None]:
    from churnrec.training.config import ConfigError
    from churnrec.training.splits import NotEnoughHistoryError

    fixable = (*USER_ERRORS, ConfigError, NotEnoughHistoryError)
    try:
        yield
    except fixable as exc:
        print(f"churnrec: error: {exc}", file=sys.stderr)
        raise typer.Exit(code=2) from None
