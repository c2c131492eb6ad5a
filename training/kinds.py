"""The registry of model kinds churnrec trains: `ModelKind` -> its job module's `SPEC`.

Modules are imported on first use, so listing a kind costs nothing until it is trained.
"""

from __future__ import annotations

import importlib

from churnrec.models.base import ModelKind
from churnrec.training.job import JobSpec

JOB_MODULES: dict[ModelKind, str] = {
    ModelKind.CHURN: "churnrec.training.churn",
    ModelKind.REPURCHASE: "churnrec.training.repurchase",
    ModelKind.RECOMMENDER: "churnrec.training.recommender",
    ModelKind.CLV: "churnrec.training.clv",
    ModelKind.UPLIFT: "churnrec.training.uplift",
    ModelKind.DEMAND: "churnrec.training.demand",
}
# What `churnrec train all` trains, in the order above (uplift joins when a campaign is named;
# demand when the orders span enough full weeks).
ALL_KINDS: tuple[ModelKind, ...] = tuple(JOB_MODULES)


def job_spec(kind: ModelKind | str) -> JobSpec:
    """The `SPEC` of `kind`'s job module."""
    return importlib.import_module(JOB_MODULES[ModelKind(kind)]).SPEC
