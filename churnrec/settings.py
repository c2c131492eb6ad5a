"""Training defaults, each defined once. Thread counts are measured (BENCHMARKS.md, "Training
threads"): small boosted-tree fits run slower on every core, so the default follows data size."""

from __future__ import annotations

import os

# Below this many feature values (rows x features) a LightGBM / XGBoost fit or predict uses one
# thread; above it, every core this process may use.
PARALLEL_MIN_CELLS = 2_000_000
HORIZON_DAYS = 90  # churned = no order within this many days of the cut-off
STEP_DAYS = 30  # days between training cut-offs
N_TRAIN_CUTOFFS = 4  # training cut-offs stacked before the validation cut-off
MIN_HISTORY_DAYS = 30  # history a cut-off needs before it can be used
# Training rows per training cut-off (churn, repurchase): a seeded random customer sample when
# a cut-off has more. Validation quality of the learners levels off well below this
# (BENCHMARKS.md, "Training"), while fit time and memory grow with every row.
TRAIN_CUSTOMERS_PER_CUTOFF = 50_000
# BG/NBD and Pareto/NBD have four population parameters: fitted on a random sample of this
# many customers (their standard errors are already tiny), then everyone is scored.
BTYD_FIT_CUSTOMERS = 100_000


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def fit_threads(n_rows: int, n_features: int, requested: int | None = None) -> int:
    """Threads for a boosted-tree fit or predict on `n_rows` x `n_features` values:
    `requested` if given, else one for small data and every core from `PARALLEL_MIN_CELLS` up."""
    if requested is not None:
        return requested
    return available_cores() if n_rows * max(n_features, 1) >= PARALLEL_MIN_CELLS else 1
