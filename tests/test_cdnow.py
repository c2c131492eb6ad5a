"""The real CDNOW log through ingest and features at the classic 1997-09-30 calibration cut-off.

Expected numbers are the published ones (2,357 / 23,570 customers, 2,457 repeat purchases in the
1/10 sample's calibration period) or recomputed here straight from the raw text file.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.features.pipeline import FeaturesResult, run_features
from churnrec.features.snapshot import MONETARY_COLUMNS
from churnrec.ingest import ingest_sample
from churnrec.ingest.samples import sample_path
from churnrec.workspace import Workspace

AS_OF = date(1997, 9, 30)
LAST_DAY = date(1998, 6, 30)
HORIZON = (LAST_DAY - AS_OF).days  # 273: the longest horizon the log observes after AS_OF


def _raw(name: str) -> pd.DataFrame:
    """The sample file read independently of churnrec: id, (sample id), yyyymmdd, CDs, dollars."""
    raw = pd.read_csv(sample_path(name), sep=r"\s+", header=None, dtype=str)
    return pd.DataFrame(
        {
            C.CUSTOMER_ID: raw[0],
            C.ORDERED_AT: pd.to_datetime(raw[raw.columns[-3]], format="%Y%m%d"),
            C.AMOUNT: raw[raw.columns[-1]].astype(float),
        }
    )


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, FeaturesResult]:
    root = tmp_path_factory.mktemp("cdnow")
    result = CliRunner().invoke(app, ["ingest", "--sample", "cdnow", "--workspace", str(root)])
    assert result.exit_code == 0, result.output
    ws = Workspace.at(root)
    return ws, run_features(ws, as_of=AS_OF, horizon_days=HORIZON)


def test_sample_snapshot_has_every_customer(sample) -> None:
    _, result = sample
    snapshot = pd.read_parquet(result.snapshot_path)
    assert result.n_customers == len(snapshot) == 2357
    assert snapshot[C.CUSTOMER_ID].is_unique
    assert (snapshot[C.AS_OF] == pd.Timestamp(AS_OF)).all()
    # one order per purchase day: 2,357 first purchases + 2,457 repeat purchases (published)
    assert snapshot["frequency"].sum() == 2357 + 2457


def test_sample_snapshot_has_monetary_columns(sample) -> None:
    _, result = sample
    assert result.has_monetary is True
    snapshot = pd.read_parquet(result.snapshot_path).set_index(C.CUSTOMER_ID)
    assert set(MONETARY_COLUMNS) <= set(snapshot.columns)
    raw = _raw("cdnow")
    calibration = raw[raw[C.ORDERED_AT] < pd.Timestamp("1997-10-01")]
    assert snapshot["monetary_total"].sum() == pytest.approx(calibration[C.AMOUNT].sum(), abs=0.01)
    # customer 00004: 1997-01-01 $29.33, 1997-01-18 $29.73, 1997-08-02 $14.96
    row = snapshot.loc["00004"]
    assert (row["frequency"], row["recency_days"], row["tenure_days"]) == (3, 59, 272)
    assert row["monetary_total"] == pytest.approx(74.02)
    assert row["spend_90d"] == pytest.approx(14.96)


def test_sample_labels_for_the_longest_observed_horizon(sample) -> None:
    _, result = sample
    assert HORIZON == 273
    assert result.labels_path is not None and result.labels_path.exists()
    labels = pd.read_parquet(result.labels_path)
    assert len(labels) == result.n_labels == 2357
    assert (labels[C.HORIZON_DAYS] == HORIZON).all()
    raw = _raw("cdnow")
    future = raw[
        (raw[C.ORDERED_AT] > pd.Timestamp(AS_OF)) & (raw[C.ORDERED_AT] <= pd.Timestamp(LAST_DAY))
    ]
    came_back = set(future[C.CUSTOMER_ID])
    churned = set(labels.loc[labels[C.CHURNED], C.CUSTOMER_ID])
    assert churned == set(labels[C.CUSTOMER_ID]) - came_back
    assert len(churned) == 1673


def test_one_day_longer_horizon_is_not_observed(sample, tmp_path: Path) -> None:
    ws, _ = sample
    longer = run_features(ws, as_of=AS_OF, horizon_days=HORIZON + 1, out=tmp_path / "snap.parquet")
    assert longer.labels_path is None
    assert longer.labels_skipped_reason
    assert not (ws.snapshot_dir(AS_OF) / "labels.parquet").exists()  # stale labels removed
    assert longer.n_customers == 2357


@pytest.mark.slow
def test_master_snapshot_has_every_customer(tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path)
    ingest_sample(ws, "cdnow-master")
    result = run_features(ws, as_of=AS_OF, horizon_days=HORIZON)
    snapshot = pd.read_parquet(result.snapshot_path)
    assert result.n_customers == len(snapshot) == 23570
    assert snapshot[C.CUSTOMER_ID].is_unique
    assert set(MONETARY_COLUMNS) <= set(snapshot.columns)
    labels = pd.read_parquet(result.labels_path)
    assert len(labels) == 23570
    assert (labels[C.HORIZON_DAYS] == HORIZON).all()
