"""Guest lines (no customer id) feed the recommender's item-level statistics, nothing else.

A small generated shop plus guest baskets that each hold one guest-only item (GUEST_ITEM)
and one item the shop's customers buy (PARTNER): the guest item must become popular (what a
new customer gets) and PARTNER's basket partner (`similar_items`), while the customers, the
holdout customers and their truth stay exactly those of the shop without guests. Guest lines
after a cut-off change nothing at that cut-off.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnrec import columns as C
from churnrec.ingest.validate import GUEST_ORDER_PREFIX
from churnrec.models.recommender import RankerConfig, Recommender
from churnrec.synthetic import ShopConfig, generate_shop
from churnrec.training.rec_ranker import model_before
from churnrec.training.rec_split import RecWindows, rec_windows

GUEST_ITEM = "guest-only-item"
LATE_ITEM = "late-guest-item"
N_GUEST_BASKETS = 400
CONFIG = RankerConfig(mode="rule", als_factors=4, als_iterations=2)
NEWCOMER = "brand-new-customer"


@pytest.fixture(scope="module")
def shop() -> tuple[pd.DataFrame, pd.DataFrame]:
    made = generate_shop(
        ShopConfig(n_customers=200, n_items=40, n_categories=4, seed=5, with_events=False)
    )
    orders = made.orders[made.orders[C.STATUS] != "returned"]
    return orders[[C.CUSTOMER_ID, C.ORDER_ID, C.ORDERED_AT, C.ITEM_ID]], made.items


def _partner(lines: pd.DataFrame) -> str:
    """A mid-popular customer item: popular enough to be known, not already on top."""
    counts = lines[C.ITEM_ID].value_counts()
    return str(counts.index[len(counts) // 2])


def _guest_baskets(partner: str, start: pd.Timestamp, end: pd.Timestamp, item: str):
    """Guest lines: N_GUEST_BASKETS baskets of {item, partner} spread over [start, end); half
    keyed by an order id, half as ingest keys guests without one (`guest|ordered_at`)."""
    when = pd.date_range(start, end, periods=N_GUEST_BASKETS + 1, inclusive="left")
    stamps = when.strftime("%Y-%m-%dT%H:%M:%S")
    keys = [f"g-{item}-{n}" if n % 2 else f"{GUEST_ORDER_PREFIX}|{s}" for n, s in enumerate(stamps)]
    return pd.DataFrame(
        {
            C.CUSTOMER_ID: pd.Series([None] * (2 * len(keys)), dtype=object),
            C.ORDER_ID: keys * 2,
            C.ORDERED_AT: list(when) * 2,
            C.ITEM_ID: [item] * len(keys) + [partner] * len(keys),
            C.IS_RETURN: False,
        }
    )


@pytest.fixture(scope="module")
def windows(shop) -> tuple[RecWindows, RecWindows, RecWindows, str]:
    """(no guests, guests before the validation start, those plus guests after it), partner."""
    lines, _ = shop
    plain = rec_windows(lines, holdout_days=28, n_train_cutoffs=2)
    partner = _partner(plain.before(plain.val_start))
    first = lines[C.ORDERED_AT].min()
    early = _guest_baskets(partner, first, plain.val_start, GUEST_ITEM)
    late = _guest_baskets(partner, plain.val_start, plain.end, LATE_ITEM)
    with_early = rec_windows(lines, 28, 2, guests=early)
    with_late = rec_windows(lines, 28, 2, guests=pd.concat([early, late], ignore_index=True))
    return plain, with_early, with_late, partner


def _at_validation(win: RecWindows, items: pd.DataFrame) -> Recommender:
    return model_before(win, items, CONFIG, win.val_start)


def test_guest_baskets_make_an_item_popular_for_a_new_customer(shop, windows) -> None:
    _, items = shop
    plain, guests, _, partner = windows
    before = _at_validation(plain, items).recommend(NEWCOMER, k=5)
    assert GUEST_ITEM not in set(before[C.ITEM_ID]) and before[C.ITEM_ID].iloc[0] != partner
    recs = _at_validation(guests, items).recommend(NEWCOMER, k=5)
    # in 400 guest baskets each: the partner (also bought by customers) first, then the guest item
    assert recs[C.ITEM_ID].iloc[:2].tolist() == [partner, GUEST_ITEM]
    assert set(recs["source"]) == {"popular"}


def test_guest_baskets_make_an_item_its_partners_basket_partner(shop, windows) -> None:
    _, items = shop
    plain, guests, _, partner = windows
    model = _at_validation(guests, items)
    similar = model.similar_items(partner, k=5)
    assert similar[C.ITEM_ID].iloc[0] == GUEST_ITEM
    assert similar["source"].iloc[0] == "bought_together"
    # and the guest-only item is a known item with its own partner
    back = model.similar_items(GUEST_ITEM, k=3)
    assert back[C.ITEM_ID].iloc[0] == partner and back["source"].iloc[0] == "bought_together"
    assert not _at_validation(plain, items).known_item(GUEST_ITEM)


def test_guests_are_no_customers_anywhere(shop, windows) -> None:
    _, items = shop
    plain, guests, _, _ = windows
    for cutoff in [*plain.train_cutoffs, plain.val_start, plain.holdout_start, plain.end]:
        assert guests.log_before(cutoff).users.to_list() == plain.log_before(cutoff).users.to_list()
        assert guests.truth(cutoff) == plain.truth(cutoff)
    model = _at_validation(guests, items)
    log = model.sources.log
    assert log.n_guest_baskets == N_GUEST_BASKETS
    assert log.n_orders_total == plain.log_before(plain.val_start).n_orders_total
    assert model.sources.user_factors.shape[0] == len(log.users)
    assert not model.known_customer("nan") and not model.known_customer(GUEST_ORDER_PREFIX)


def test_guest_lines_after_the_cutoff_change_nothing(shop, windows) -> None:
    _, items = shop
    _, guests, with_late, partner = windows
    base, late = _at_validation(guests, items), _at_validation(with_late, items)
    assert not late.known_item(LATE_ITEM)
    ids = [*sorted(guests.truth(guests.val_start))[:30], NEWCOMER]
    pd.testing.assert_frame_equal(late.rank(ids, 10), base.rank(ids, 10))
    pd.testing.assert_frame_equal(late.similar_items(partner, 5), base.similar_items(partner, 5))
    assert np.array_equal(late.sources.stats.popularity, base.sources.stats.popularity)
    # at the end, the late guest baskets are history and count
    assert model_before(with_late, items, CONFIG, with_late.end).known_item(LATE_ITEM)


def test_a_shop_without_guest_lines_ranks_as_before(shop, windows) -> None:
    """No guest lines (None, or none usable) gives the model of the customers' lines alone."""
    lines, items = shop
    plain, _, _, partner = windows
    returned = _guest_baskets(partner, plain.val_start, plain.end, GUEST_ITEM).assign(
        **{C.IS_RETURN: True}
    )
    empty = rec_windows(lines, 28, 2, guests=returned)
    assert empty.guest_lines is not None and empty.guest_lines.empty
    direct = Recommender.fit(plain.before(plain.val_start), items, CONFIG, plain.val_start)
    ids = [*sorted(plain.truth(plain.val_start))[:30], NEWCOMER]
    for win in (plain, empty):
        model = _at_validation(win, items)
        assert model.sources.log.n_guest_baskets == 0
        pd.testing.assert_frame_equal(model.rank(ids, 10), direct.rank(ids, 10))
        pd.testing.assert_frame_equal(
            model.similar_items(partner, 5), direct.similar_items(partner, 5)
        )
        assert (model.sources.cooc != direct.sources.cooc).nnz == 0


def test_guest_baskets_survive_save_and_load(shop, windows, tmp_path: Path) -> None:
    _, items = shop
    _, guests, _, partner = windows
    model = _at_validation(guests, items)
    model.save(tmp_path / "m")
    loaded = Recommender.load(tmp_path / "m")
    pd.testing.assert_frame_equal(loaded.recommend(NEWCOMER, 5), model.recommend(NEWCOMER, 5))
    pd.testing.assert_frame_equal(loaded.similar_items(partner, 5), model.similar_items(partner, 5))
    # a version saved before guest baskets were kept (no guest arrays) still loads
    arrays_path = tmp_path / "m" / "arrays.npz"
    with np.load(arrays_path) as z:
        older = {k: z[k] for k in z.files if not k.startswith("guest_")}
    np.savez(arrays_path, **older)
    assert Recommender.load(tmp_path / "m").sources.log.n_guest_baskets == 0


def test_trained_recommender_reads_the_workspaces_guest_lines(tmp_path: Path) -> None:
    """End to end: ingest keeps the guest lines apart, `train_recommender` serves an item that
    only guests bought to a new customer, and its customers are the orders' customers."""
    from churnrec.ingest import ingest
    from churnrec.store.registry import load_champion
    from churnrec.synthetic import write_shop
    from churnrec.training.rec_ranker import RerankerParams
    from churnrec.training.recommender import RecommenderTrainConfig, train_recommender
    from churnrec.workspace import Workspace

    made = generate_shop(
        ShopConfig(n_customers=200, n_items=40, n_categories=4, seed=5, with_events=False)
    )
    files = write_shop(made, tmp_path / "shop", "csv")
    orders = pd.read_csv(files["orders"])
    partner = _partner(orders)
    first, last = pd.to_datetime(orders[C.ORDERED_AT]).agg(["min", "max"])
    guests = _guest_baskets(partner, first, last, GUEST_ITEM)
    rows = guests.assign(**{C.CUSTOMER_ID: "", C.QUANTITY: 1, C.UNIT_PRICE: 9.99})
    rows = rows.drop(columns=[C.IS_RETURN]).iloc[::3]  # a third of the baskets lose a line
    no_id = rows[C.ORDER_ID].str.startswith(GUEST_ORDER_PREFIX)  # ingest keys them by time
    rows[C.ORDER_ID] = rows[C.ORDER_ID].mask(no_id, "")
    pd.concat([orders, rows], ignore_index=True).to_csv(files["orders"], index=False)
    ws = Workspace.at(tmp_path / "ws")
    summary = ingest(ws, files["orders"], customers=files["customers"], items=files["items"])
    assert summary.tables[C.ORDERS].rows_guest == len(rows)
    config = RecommenderTrainConfig(
        n_train_cutoffs=1,
        n_bootstrap=100,
        ranker=RankerConfig(als_factors=4, als_iterations=2),
        reranker_grid=[RerankerParams(n_estimators=20)],
    )
    result = train_recommender(ws, config)
    assert result.skipped is None, result.skipped
    model = load_champion(ws, "recommender").model
    assert GUEST_ITEM in set(model.recommend(NEWCOMER, k=5)[C.ITEM_ID])
    bought = orders[orders[C.STATUS] != "returned"]
    assert set(model.sources.log.users.to_list()) == set(bought[C.CUSTOMER_ID].astype(str))
    assert model.sources.log.n_guest_baskets > 0
