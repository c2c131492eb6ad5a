"""Labelled training, validation and holdout frames built from point-in-time snapshots: every
fold comes from the same functions, and no training label looks past `plan.train_observed_until`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.features.labels import build_labels
from churnrec.features.snapshot import build_customer_snapshot, snapshot_customers
from churnrec.progress import stage
from churnrec.store.tracking import dataset_fingerprint
from churnrec.training.splits import CutoffPlan, TimeSplitter

HORIZON_DAYS = "horizon_days"
LABEL_COLUMNS = (C.CHURNED, C.DAYS_TO_NEXT_ORDER, C.CENSORED, HORIZON_DAYS)

# Columns that are numeric but are not behaviour a model should learn from: the consent flag
# is a contact permission (it decides who may be contacted, not who churns), the label-side
# columns would leak the answer.
NON_FEATURE_COLUMNS = frozenset({C.CUSTOMER_ID, C.AS_OF, C.MARKETING_CONSENT, *LABEL_COLUMNS})


VALIDATION_CUSTOMER_SHARE = 0.3  # with overlapping windows: customers kept for validation only


class EmptyTrainingDataError(ValueError):
    """A cut-off has no customers, so there is nothing to learn from or evaluate on."""


@dataclass(frozen=True)
class TrainingFrames:
    train: pd.DataFrame  # snapshot + labels, stacked over plan.train_cutoffs (column `as_of`)
    holdout: pd.DataFrame  # snapshot + labels at plan.holdout_cutoff
    plan: CutoffPlan
    # snapshot + labels at plan.validation_cutoff (labels end at the holdout cut-off); every
    # choice is made on these rows. None only for a hand-built two-way plan.
    validation: pd.DataFrame | None = None
    # training rows before the per-cut-off customer sample (None: not recorded)
    n_train_rows_before_sample: int | None = None


def data_span(con: duckdb.DuckDBPyConnection) -> tuple[date, date]:
    """Dates of the first and the last order in the `orders` view."""
    # fetchall, not fetchone: a half-read result blocks the connection's next `register`
    ((first, last),) = con.execute(
        f"SELECT min({C.ORDERED_AT}), max({C.ORDERED_AT}) FROM {C.ORDERS}"
    ).fetchall()
    if first is None or last is None:
        raise EmptyTrainingDataError("the orders table is empty; ingest orders before training")
    return pd.Timestamp(first).date(), pd.Timestamp(last).date()


def labelled_snapshot(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    horizon_days: int,
    observed_until: date,
    customers: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The customer snapshot at `as_of` joined one-to-one with its labels (of `customers`
    only, when given: see `build_customer_snapshot` for what that changes)."""
    snapshot = build_customer_snapshot(con, as_of, customers)
    if snapshot.empty:
        raise EmptyTrainingDataError(f"no customer has an order on or before the cut-off {as_of}")
    labels = build_labels(
        con, as_of, horizon_days=horizon_days, observed_until=observed_until, customers=customers
    )
    labels = labels[[C.CUSTOMER_ID, *LABEL_COLUMNS]]
    frame = snapshot.merge(labels, on=C.CUSTOMER_ID, how="inner", validate="one_to_one")
    if len(frame) != len(snapshot):
        missing = sorted(set(snapshot[C.CUSTOMER_ID]) - set(labels[C.CUSTOMER_ID]))[:5]
        raise ValueError(
            f"labels at {as_of} miss {len(snapshot) - len(frame)} snapshot customers "
            f"(e.g. {missing}); snapshot and labels must cover the same customers"
        )
    # A fixed row order: learners with row sampling give the same model on the same data.
    return frame.sort_values(C.CUSTOMER_ID, kind="stable", ignore_index=True)


def validation_customers(ids: pd.Series, share: float = VALIDATION_CUSTOMER_SHARE) -> pd.Series:
    """True for a fixed ~`share` of customers, by a hash of the id (same split on every run)."""
    digest = pd.util.hash_pandas_object(ids.astype(str), index=False, hash_key="churnrec-val-v01")
    return pd.Series((digest.to_numpy() % 1000) < share * 1000, index=ids.index)


def sample_customers(ids: Sequence[str], max_customers: int | None, seed: int) -> list[str]:
    """At most `max_customers` of `ids` (None: all), a seeded uniform sample in their order: fit
    time grows with rows long after validation quality stops; uniform keeps the churn rate unbiased.
    """
    ids = list(ids)
    if max_customers is None or len(ids) <= max_customers:
        return ids
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(ids), size=max_customers, replace=False))
    return [ids[i] for i in keep]


def build_training_frames(
    con: duckdb.DuckDBPyConnection,
    plan: CutoffPlan,
    *,
    max_customers_per_cutoff: int | None = None,
    seed: int = 0,
) -> TrainingFrames:
    """Training, validation and holdout rows, as planned. Overlapping label windows use disjoint
    customers for validation (else it is flattered); the sample is drawn before the training
    snapshots are built (RFM quintiles rank within it), and never of validation or holdout rows."""
    validation = None
    held_out: set[str] = set()
    if plan.validation_cutoff is not None:
        validation = labelled_snapshot(
            con, plan.validation_cutoff, plan.horizon_days, plan.holdout_cutoff
        )
        if plan.windows == "overlapping":
            validation = validation[validation_customers(validation[C.CUSTOMER_ID])]
            validation = validation.reset_index(drop=True)
            held_out = set(validation[C.CUSTOMER_ID])
    parts, n_before = [], 0
    for i, t in enumerate(plan.train_cutoffs):
        ids = [c for c in snapshot_customers(con, t) if c not in held_out]
        n_before += len(ids)
        chosen = sample_customers(ids, max_customers_per_cutoff, seed + i)
        if len(chosen) < len(ids):  # a sample: only its customers' snapshot is built
            part = labelled_snapshot(con, t, plan.horizon_days, plan.train_observed_until, chosen)
        else:  # everyone but the validation customers
            part = labelled_snapshot(con, t, plan.horizon_days, plan.train_observed_until)
            part = part[~part[C.CUSTOMER_ID].isin(held_out)].reset_index(drop=True)
        parts.append(part)
    train = pd.concat(parts, ignore_index=True)
    del parts
    holdout = labelled_snapshot(con, plan.holdout_cutoff, plan.horizon_days, plan.observed_until)
    return TrainingFrames(
        train=train,
        holdout=holdout,
        plan=plan,
        validation=validation,
        n_train_rows_before_sample=n_before,
    )


def model_feature_columns(frame: pd.DataFrame) -> list[str]:
    """Numeric and boolean behaviour columns, in frame order: not ids, labels, the consent flag or
    raw dates (recency and tenure carry them; dates do not transfer between cut-offs)."""
    types = pd.api.types
    return [
        str(name)
        for name, dtype in frame.dtypes.items()
        if name not in NON_FEATURE_COLUMNS
        and (
            types.is_bool_dtype(dtype)
            or (types.is_numeric_dtype(dtype) and not types.is_datetime64_any_dtype(dtype))
        )
    ]


def fold_ids(frames: TrainingFrames, labels: Sequence[str]) -> dict[str, str]:
    """`train_id`, `validation_id`, `holdout_id` (`CutoffPlan.fold_id`): each fold's label window
    and a fingerprint of its customers, cut-offs and labels."""

    def fingerprint(frame: pd.DataFrame) -> str:
        keys = [C.CUSTOMER_ID, *([C.AS_OF] if C.AS_OF in frame.columns else []), *labels]
        key = frame[keys].sort_values(keys[:2], kind="stable").reset_index(drop=True)
        if C.AS_OF in key.columns:
            key[C.AS_OF] = key[C.AS_OF].astype(str)
        return dataset_fingerprint(key)

    folds = {"train": frames.train, "holdout": frames.holdout, "validation": frames.validation}
    return {
        f"{fold}_id": frames.plan.fold_id(fold, fingerprint(frame))
        for fold, frame in folds.items()
        if frame is not None
    }


def planned_frames(
    con: duckdb.DuckDBPyConnection,
    splitter: TimeSplitter,
    kind: str,
    *,
    max_customers_per_cutoff: int | None,
    seed: int,
) -> TrainingFrames:
    """Plan the cut-offs over the data span and build the labelled frames, saying both."""
    with stage(f"{kind}: plan cut-offs") as s:
        plan = splitter.plan(*data_span(con))
        s.note(plan.describe())
    with stage(f"{kind}: training frames") as s:
        frames = build_training_frames(
            con, plan, max_customers_per_cutoff=max_customers_per_cutoff, seed=seed
        )
        s.note(
            f"{len(frames.train):,} train (of {frames.n_train_rows_before_sample:,}), "
            f"{len(frames.validation):,} validation, {len(frames.holdout):,} holdout rows"
        )
    return frames


def float_example(frame: pd.DataFrame, columns: Sequence[str], n: int = 5) -> pd.DataFrame:
    """First rows of `customer_id` + `columns` as float64: a nullable integer column would give an
    integer signature that MLflow cannot fill with a missing value."""
    head = frame.head(n).reset_index(drop=True)
    out = pd.DataFrame({C.CUSTOMER_ID: head[C.CUSTOMER_ID].astype(str)})
    for name in columns:
        out[name] = head[name].to_numpy(dtype="float64", na_value=np.nan)
    return out
