"""Every file a retention team can open passes the same formula and mode checks (issue 19, 3).

A small generated shop whose customer and item ids are spreadsheet formulas
(`=HYPERLINK(...)`, `+SUM(...)*cmd|...`, `@SUM(...)`) and plain negative numbers goes through
ingest, features, uplift and recommender training; then the scores, the target list, the
recommendations, `features --out` and the live events log are written the way a person makes
them (the CLI, the events API's writer). Each one must have no cell that starts a formula
(plain numbers allowed), be 0600 in 0700 folders; so must everything in the workspace,
MLflow's `mlflow.db` and artifacts included.

Then a customer opts out: the earlier contact exports get a `.stale` marker and a warning, and
`churnrec refresh` rewrites the scores without them and removes the other stale exports.
"""

from __future__ import annotations

import csv
import re
import stat
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.workspace import Workspace

runner = CliRunner()
HOSTILE = ('=HYPERLINK("x{}")', "+SUM({})*cmd|' /C calc'!A0", "@SUM({})", "-{}")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+(?:[.,]\d+)*|\.\d+)(?:[eE][+-]?\d+)?$")


def _hostile_shop(root: Path) -> Workspace:
    """Generate, rename every 8th customer and 6th item to a hostile id, ingest, train."""
    from churnrec.features.pipeline import run_features
    from churnrec.ingest import ingest
    from churnrec.models.recommender import RankerConfig
    from churnrec.models.uplift import UpliftConfig
    from churnrec.synthetic import ShopConfig, generate_shop, write_shop
    from churnrec.synthetic.campaigns import TREATMENT
    from churnrec.training.recommender import RecommenderTrainConfig, train_recommender
    from churnrec.training.uplift import UpliftTrainConfig, train_uplift

    shop = generate_shop(ShopConfig(n_customers=400, n_items=60, seed=3, with_events=False))
    customers = sorted(shop.customers[C.CUSTOMER_ID].unique())
    cmap = {c: HOSTILE[i // 8 % 4].format(i) for i, c in enumerate(customers) if i % 8 == 0}
    items = sorted(shop.items[C.ITEM_ID].unique())
    imap = {c: HOSTILE[i // 6 % 3].format(i) for i, c in enumerate(items) if i % 6 == 0}
    for table in (shop.orders, shop.customers, shop.campaigns):
        table[C.CUSTOMER_ID] = table[C.CUSTOMER_ID].replace(cmap)
    for table in (shop.orders, shop.items):
        table[C.ITEM_ID] = table[C.ITEM_ID].replace(imap)
    files = write_shop(shop, root / "shop", "csv")
    campaigns = root / "shop" / "campaigns.csv"
    shop.campaigns.to_csv(campaigns, index=False)
    ws = Workspace.at(root / "ws")
    ingest(
        ws, files["orders"], customers=files["customers"], items=files["items"], campaigns=campaigns
    )
    run_features(ws)
    campaign = str(shop.campaigns[C.CAMPAIGN_ID].iloc[0])
    small = UpliftConfig(n_estimators=20, min_child_samples=10)
    train_uplift(
        ws,
        UpliftTrainConfig(campaign_id=campaign, treatment=TREATMENT, learners=["t"], model=small),
    )
    train_recommender(
        ws,
        RecommenderTrainConfig(
            n_train_cutoffs=1,
            n_bootstrap=100,
            ranker=RankerConfig(mode="rule", als_factors=8, als_iterations=3),
        ),
    )
    return ws


def _cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, dict[str, Path]]:
    from churnrec.serving.events import LiveEvent, LiveEvents, live_events_path

    root = tmp_path_factory.mktemp("hostile")
    ws = _hostile_shop(root)
    w = str(ws.root)
    exports = root / "exports"  # a folder the commands create
    _cli("score", "--workspace", w)
    _cli("target", "--campaign-size", "1000", "--workspace", w)
    recs = exports / "recs.csv"
    _cli("recommend", "--out", str(recs), "--for-marketing", "--k", "3", "--workspace", w)
    features = exports / "features.csv"
    _cli("features", "--out", str(features), "--workspace", w)
    live = LiveEvents(ws)
    for i, hostile in enumerate(HOSTILE):
        when = datetime(2026, 1, 5, 12, i)
        event = {"customer_id": hostile.format(i), "item_id": hostile.format(9)}
        live.record(LiveEvent(**event, event_type="add_to_cart", occurred_at=when))
    live.close()
    return ws, {
        "scores": ws.outputs_dir / "churn_scores.csv",
        "target list": ws.outputs_dir / "target_list.csv",
        "recommendations": recs,
        "features --out": features,
        "live events": live_events_path(ws),
    }


def _formula_cells(path: Path) -> list[str]:
    """'file, row, column: cell' for every cell a spreadsheet would run as a formula."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return [
        f"{path.name}, row {r}, column {rows[0][c]}: {cell!r}"
        for r, row in enumerate(rows)
        for c, cell in enumerate(row)
        if cell.startswith(FORMULA_START) and not PLAIN_NUMBER.match(cell)
    ]


def _not_private(root: Path) -> list[str]:
    """Every file under `root` (itself included) not 0600 and folder not 0700."""
    wrong = []
    for entry in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(entry.lstat().st_mode)
        if mode != (0o700 if entry.is_dir() else 0o600):
            wrong.append(f"{entry.relative_to(root)}: {oct(mode)}")
    return wrong


def test_every_output_is_formula_safe_and_owner_only(shop) -> None:
    ws, outputs = shop
    for name, path in outputs.items():
        text = path.read_text(encoding="utf-8")
        # the hostile ids reached the file (escaped), so the check below means something
        assert "'=HYPERLINK(" in text or "'+SUM(" in text or "'@SUM(" in text, name
        assert _formula_cells(path) == [], name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700, name
    plain = re.compile(r"(^|,)-\d+,", re.MULTILINE)
    assert plain.search(outputs["scores"].read_text())  # a plain-number id is left as it is
    assert _not_private(ws.root) == []  # data/, snapshots, mlruns/ with mlflow.db, outputs/
    assert (ws.mlruns_dir / "mlflow.db").exists()
    assert len(list(ws.mlruns_dir.rglob("MLmodel"))) >= 2  # the artifacts were checked too


def test_live_events_read_back_with_their_hostile_ids(shop) -> None:
    from churnrec.serving.events import LiveEvents

    ws, outputs = shop
    assert '\'=HYPERLINK(""x0"")' in outputs["live events"].read_text()  # escaped in the file
    replayed = LiveEvents(ws)  # a restart reads the escaped log back to the real ids
    cart = replayed.history('=HYPERLINK("x0")', after_day=0.0)[1]
    assert cart == ['=HYPERLINK("x9")']
    assert replayed.history("-3", after_day=0.0)[1] == ["-9"]


def test_a_consent_change_marks_old_exports_stale_and_refresh_rewrites_them(
    shop, tmp_path: Path
) -> None:
    from churnrec.exports import stale_marker

    ws, outputs = shop
    contact = [outputs["scores"], outputs["target list"], outputs["recommendations"]]
    target = pd.read_csv(outputs["target list"], dtype={C.CUSTOMER_ID: str})
    leaver = next(c for c in target[C.CUSTOMER_ID] if c.startswith("C"))
    customers = pd.read_parquet(ws.table_path(C.CUSTOMERS))
    silent = customers.loc[~customers[C.MARKETING_CONSENT].astype(bool), C.CUSTOMER_ID]
    joiner = next(c for c in silent if c.startswith("C"))

    # Someone *giving* consent leaves earlier lists valid: nobody on them was withdrawn.
    yes = tmp_path / "yes.csv"
    pd.DataFrame({C.CUSTOMER_ID: [joiner], C.MARKETING_CONSENT: ["true"]}).to_csv(yes, index=False)
    _cli("ingest", "--customers", str(yes), "--workspace", str(ws.root))
    assert not any(stale_marker(p).exists() for p in contact)

    no = tmp_path / "no.csv"
    pd.DataFrame({C.CUSTOMER_ID: [leaver], C.MARKETING_CONSENT: ["false"]}).to_csv(no, index=False)
    result = runner.invoke(app, ["ingest", "--customers", str(no), "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    for path in contact:
        assert stale_marker(path).exists(), path
        assert "STALE" in stale_marker(path).read_text()
        assert f"WARNING: stale export {path}" in result.stderr
        assert stale_marker(path).stat().st_mode & 0o777 == 0o600

    out = _cli("refresh", "--retrain", "never", "--workspace", str(ws.root))
    scores = pd.read_csv(outputs["scores"], dtype={C.CUSTOMER_ID: str})
    assert leaver not in set(scores[C.CUSTOMER_ID]) and len(scores)  # rewritten without them
    assert not stale_marker(outputs["scores"]).exists()
    for path in contact[1:]:  # options unknown to refresh: removed, and said so
        assert not path.exists() and not stale_marker(path).exists()
        assert "removed stale" in out and str(path) in out
    assert _not_private(ws.root) == []  # refresh state and its lock too
    assert (ws.data_dir / "refresh" / "state.json").exists()


def test_staleness_follows_each_exports_consent_rule_and_escaped_ids(tmp_path: Path) -> None:
    from churnrec.exports import mark_stale_exports, record_export, stale_marker
    from churnrec.files import write_csv, write_parquet

    ws = Workspace.at(tmp_path / "ws")
    ids = ['=HYPERLINK("x")', "c1", "c2"]

    def consent(*values: bool | None) -> None:
        frame = pd.DataFrame({C.CUSTOMER_ID: ids, C.MARKETING_CONSENT: list(values)})
        frame[C.MARKETING_CONSENT] = frame[C.MARKETING_CONSENT].astype("boolean")
        write_parquet(frame, ws.table_path(C.CUSTOMERS))

    consent(True, True, None)
    listed = pd.DataFrame({C.CUSTOMER_ID: ids[:2]})
    targets = write_csv(listed, ws.outputs_dir / "targets.csv")  # holds '=HYPERLINK("x")
    explicit = write_parquet(listed, ws.outputs_dir / "explicit.parquet")
    everyone = write_csv(pd.DataFrame({C.CUSTOMER_ID: ids}), ws.outputs_dir / "allow.csv")
    record_export(ws, targets, "target_list")
    record_export(ws, explicit, "scores")
    record_export(ws, everyone, "scores", "not_refused")  # consent_default: allow
    assert mark_stale_exports(ws) == []

    consent(True, None, True)  # c1's consent became unknown; c2 said yes
    assert set(mark_stale_exports(ws)) == {targets, explicit}  # unknown is no ...
    assert not stale_marker(everyone).exists()  # ... except where unknown was allowed

    consent(False, None, True)  # the escaped id opts out
    assert everyone in mark_stale_exports(ws)
