"""Training defaults, each defined once: every config class and planner reads them from here.

Thread counts are measured, not guessed (BENCHMARKS.md, "Training threads"): on small shared
machines a boosted-tree fit with all threads was many times slower than with one, and a single
thread also makes every fit repeat bit for bit. Raise `N_THREADS` on a dedicated many-core box
(per model: `model: {n_threads: 8}` in the `--config` file).
"""

from __future__ import annotations

N_THREADS = 1  # LightGBM / XGBoost threads for churn and repurchase fits
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
