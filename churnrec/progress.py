"""Per-stage progress lines for long work, on stderr so `--json` output on stdout stays clean."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Stage:
    name: str
    started: float = field(default_factory=time.perf_counter)
    detail: str = ""

    def note(self, detail: str) -> None:
        """Attach a short result (e.g. '12,345 rows') printed when the stage ends."""
        self.detail = detail


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def stage(name: str) -> Iterator[Stage]:
    """`with stage("snapshot") as s: ...; s.note("1,000 customers")` prints start and end."""
    current = Stage(name)
    say(f"[churnrec] {name} ...")
    try:
        yield current
    except BaseException:
        say(f"[churnrec] {name} failed after {time.perf_counter() - current.started:.1f}s")
        raise
    elapsed = time.perf_counter() - current.started
    suffix = f": {current.detail}" if current.detail else ""
    say(f"[churnrec] {name} done in {elapsed:.1f}s{suffix}")
