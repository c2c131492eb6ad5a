"""Catalogue rules and request filters in the one ranking routine (model level, no server).

Every rule is applied before the top-k cut: hidden or filtered items never come back, and k
items still do whenever k pass."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnrec import columns as C
from churnrec.models.ranking.rules import Catalogue, Rules, category_cap
from churnrec.models.recommender import RankerConfig, Recommender
from churnrec.synthetic import ShopConfig, generate_shop

K = 10


@pytest.fixture(scope="module")
def shop():
    shop = generate_shop(ShopConfig(n_customers=300, n_items=80, n_categories=5, seed=4))
    lines = shop.orders[shop.orders[C.STATUS] != "returned"]
    model = Recommender.fit(
        lines[[C.CUSTOMER_ID, C.ORDER_ID, C.ORDERED_AT, C.ITEM_ID]],
        shop.items,
        RankerConfig(mode="rule", als_factors=8, als_iterations=3),
        lines[C.ORDERED_AT].max() + pd.Timedelta(days=1),
    )
    customers = sorted(lines[C.CUSTOMER_ID].unique())[:60] + ["nobody"]
    return model, shop.items, lines, customers


def _catalogue(model, items, hidden):
    table = items.assign(**{C.AVAILABLE: ~items[C.ITEM_ID].isin(hidden)})
    return Catalogue.of(model.sources.log.items, table)


def _popular(model, n):
    return [str(model._item_ids[i]) for i in model.sources.stats.popular_order[:n]]


def test_hidden_items_never_come_back_and_k_still_do(shop) -> None:
    model, items, _, customers = shop
    hidden = set(_popular(model, 15))  # the most bought items: in nearly every answer before
    before = model.rank(customers, K)
    assert set(before[C.ITEM_ID]) & hidden
    table = model.rank(customers, K, catalogue=_catalogue(model, items, hidden))
    assert not set(table[C.ITEM_ID]) & hidden
    assert (table.groupby(C.CUSTOMER_ID).size() == K).all() and table[
        C.CUSTOMER_ID
    ].nunique() == len(customers)
    for item in list(hidden)[:3] + _popular(model, 40)[20:23]:
        similar = model.similar_items(item, K, catalogue=_catalogue(model, items, hidden))
        assert not set(similar[C.ITEM_ID]) & hidden


def test_each_filter_holds_before_the_cut(shop) -> None:
    model, items, _, customers = shop
    cat = items.set_index(C.ITEM_ID)[C.CATEGORY].astype(str)
    price = items.set_index(C.ITEM_ID)[C.PRICE]
    catalogue = Catalogue.of(model.sources.log.items, items)
    two = sorted(cat.unique())[:2]
    cases = {
        "categories": (Rules(categories=two), lambda t: t[C.ITEM_ID].map(cat).isin(two).all()),
        "exclude_categories": (
            Rules(exclude_categories=two),
            lambda t: not t[C.ITEM_ID].map(cat).isin(two).any(),
        ),
        "exclude_item_ids": (
            Rules(exclude_item_ids=tuple(_popular(model, 10))),
            lambda t: not set(t[C.ITEM_ID]) & set(_popular(model, 10)),
        ),
        "price": (
            Rules(min_price=float(price.quantile(0.3)), max_price=float(price.quantile(0.8))),
            lambda t: (
                t[C.ITEM_ID].map(price).between(price.quantile(0.3), price.quantile(0.8)).all()
            ),
        ),
        "max_per_category": (
            Rules(max_per_category=2),
            lambda t: (
                t.assign(c=t[C.ITEM_ID].map(cat)).groupby([C.CUSTOMER_ID, "c"]).size() <= 2
            ).all(),
        ),
    }
    for name, (rules, holds) in cases.items():
        table = model.rank(customers, K, rules=rules, catalogue=catalogue)
        assert holds(table), name
        assert (table.groupby(C.CUSTOMER_ID).size() == K).all(), name


def test_bought_within_days_is_left_out_but_older_purchases_stay(shop) -> None:
    model, _, lines, customers = shop
    now = lines[C.ORDERED_AT].max() + pd.Timedelta(days=1)
    recent = lines[lines[C.ORDERED_AT] >= now - pd.Timedelta(days=60)]
    rules = Rules(exclude_bought_within_days=60)
    table = model.rank(customers, K, rules=rules)
    mine = set(zip(recent[C.CUSTOMER_ID], recent[C.ITEM_ID]))
    assert not any(pair in mine for pair in zip(table[C.CUSTOMER_ID], table[C.ITEM_ID]))
    assert (table.groupby(C.CUSTOMER_ID).size() == K).all()
    assert (table["kind"] == "repeat").any()  # bought before the 60 days: still buy-again


def test_promoted_items_take_their_share_of_the_slots(shop) -> None:
    model, _, _, customers = shop
    promoted = tuple(_popular(model, 60)[-5:])  # rarely bought ones
    table = model.rank(customers, K, rules=Rules(promoted_item_ids=promoted, promoted_share=0.3))
    per = table.assign(p=table[C.ITEM_ID].isin(promoted)).groupby(C.CUSTOMER_ID)["p"].sum()
    assert (per == 3).all() and (table.groupby(C.CUSTOMER_ID).size() == K).all()
    assert set(table.loc[table[C.ITEM_ID].isin(promoted), "source"]) == {"promoted"}


def test_category_cap_matches_a_greedy_walk() -> None:
    rng = np.random.default_rng(0)
    user = np.sort(rng.integers(0, 6, 300))
    score = rng.random(300)
    category = rng.integers(-1, 4, 300)
    keep = category_cap(user, score, category, 2)
    for u in range(6):
        seen: dict[int, int] = {}
        for i in sorted(np.flatnonzero(user == u), key=lambda i: -score[i]):
            expected = category[i] < 0 or seen.get(category[i], 0) < 2
            seen[category[i]] = seen.get(category[i], 0) + 1
            assert keep[i] == expected


def test_ingest_reads_the_flags_and_a_later_ingest_supersedes_posted_changes(tmp_path) -> None:
    from churnrec.ingest import ingest
    from churnrec.serving.catalogue import ItemRule, ItemsUpdate, LiveCatalogue, catalogue_table
    from churnrec.workspace import Workspace

    orders = tmp_path / "orders.csv"
    orders.write_text("customer_id,ordered_at,item_id\nc1,2024-01-01,A1\n")
    items = tmp_path / "items.csv"
    items.write_text(
        "item_id,price,available,recommendable\n"
        "A1,5,yes,\nA2,7,Nein,true\nPOST,0,,false\nA3,3,maybe,\n=X,1,,\n"
    )
    ws = Workspace.at(tmp_path / "ws")
    ingest(ws, orders, items=items)
    table = catalogue_table(ws).set_index(C.ITEM_ID)
    shown = table[C.AVAILABLE].fillna(True) & table[C.RECOMMENDABLE].fillna(True)
    # blank = true; "maybe" is not a yes: not shown on a guess, and quarantined
    assert shown.to_dict() == {"A1": True, "A2": False, "POST": False, "A3": False, "=X": True}
    quarantine = (ws.data_dir / "quarantine" / "items.csv").read_text()
    assert "bad_item_flag" in quarantine and "maybe" in quarantine

    live = LiveCatalogue(ws)
    accepted = live.record(
        ItemsUpdate(
            items=[
                ItemRule(item_id="A2", available=True),
                ItemRule(item_id="=X", recommendable=False),
            ]
        )
    )
    assert accepted.hidden == 3
    assert not live.table().set_index(C.ITEM_ID).loc["=X", C.RECOMMENDABLE]
    assert "'=X" in (ws.data_dir / "catalogue" / "items.csv").read_text()  # formula-safe
    ingest(ws, orders, items=items)  # the shop's file again: the posted changes are superseded
    again = live.table().set_index(C.ITEM_ID)
    assert not again.loc["A2", C.AVAILABLE] and pd.isna(again.loc["=X", C.RECOMMENDABLE])
