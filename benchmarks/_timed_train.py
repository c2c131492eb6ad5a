"""`churnrec train ...` with every BTYD fit timed: run as `python _timed_train.py OUT.json ARGS`.

Wraps `fit` of BG/NBD, Pareto/NBD and Gamma-Gamma (the classes themselves, so every caller
is covered, on the current code and on older code alike), runs the CLI with ARGS, and writes
one record per fit (model, customers, seconds, outcome) to OUT.json after every fit, so a
run that fails or is stopped (Ctrl-C) keeps the fits it made.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path


def _timed(cls: type, records: list[dict], out: Path) -> None:
    original = cls.fit

    @functools.wraps(original)
    def fit(self, *args, **kwargs):
        started = time.perf_counter()
        outcome = "ok"
        try:
            return original(self, *args, **kwargs)
        except BaseException as exc:
            outcome = f"{type(exc).__name__}: {str(exc)[:160]}"
            raise
        finally:
            n = len(args[0]) if args and hasattr(args[0], "__len__") else None
            records.append(
                {
                    "model": cls.__name__,
                    "customers": n,
                    "seconds": round(time.perf_counter() - started, 3),
                    "outcome": outcome,
                }
            )
            out.write_text(json.dumps(records, indent=1))  # kept if the run is killed

    cls.fit = fit


def main() -> int:
    out, argv = Path(sys.argv[1]), sys.argv[2:]
    from churnrec.cli import main as cli_main
    from churnrec.models.bgnbd import BGNBD
    from churnrec.models.gammagamma import GammaGamma
    from churnrec.models.paretonbd import ParetoNBD

    records: list[dict] = []
    for cls in (BGNBD, ParetoNBD, GammaGamma):
        _timed(cls, records, out)
    sys.argv = ["churnrec", *argv]
    code = 0
    try:
        cli_main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        out.write_text(json.dumps(records, indent=1))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
