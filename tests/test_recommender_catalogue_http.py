"""The storefront's controls over real HTTP: catalogue rules (items table, `POST /items`) and
per-request filters, on a generated shop whose orders carry non-products (postage, a fee,
carriage) and whose items table hides 5% of the items. Nothing hidden is ever served or
exported, before and after a `POST /items` change, and k items still come back."""

from __future__ import annotations

import dataclasses
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.workspace import Workspace
from tests.server_process import running_server

pytestmark = pytest.mark.slow
API_KEY = "catalogue-key-789"
K = 10
NON_PRODUCTS = {"POST": 4.95, "AMAZONFEE": 0.0, "CARRIAGE": 2.5}


def catalogue_shop(root: Path, *, flags: bool = True) -> tuple[Workspace, pd.DataFrame]:
    """Generate a shop, add non-product lines to many baskets, ingest it with an items table
    that (with `flags`) marks 5% of the real items unavailable and the non-products not
    recommendable. Returns the workspace and the items table written."""
    from churnrec.ingest import ingest
    from churnrec.synthetic import ShopConfig, generate_shop, write_shop

    shop = generate_shop(
        ShopConfig(n_customers=400, n_items=80, n_categories=5, seed=8, with_events=False)
    )
    rng = np.random.default_rng(0)
    orders = shop.orders.drop_duplicates(C.ORDER_ID)
    extra = []
    for item, price in NON_PRODUCTS.items():
        baskets = orders.sample(frac=0.3 if item == "POST" else 0.1, random_state=len(item))
        extra.append(baskets.assign(**{C.ITEM_ID: item, C.QUANTITY: 1, C.UNIT_PRICE: price}))
    orders = pd.concat([shop.orders, *extra], ignore_index=True)
    items = pd.concat(
        [
            shop.items,
            pd.DataFrame({C.ITEM_ID: list(NON_PRODUCTS), C.PRICE: list(NON_PRODUCTS.values())}),
        ],
        ignore_index=True,
    )
    if flags:
        popular = orders[C.ITEM_ID].value_counts().index
        real = [i for i in popular if i not in NON_PRODUCTS]
        # 5% of the items, among the popular ones so that they would be recommended
        unavailable = set(rng.choice(real[:20], size=len(shop.items) // 20, replace=False))
        items[C.AVAILABLE] = ~items[C.ITEM_ID].isin(unavailable)
        items[C.RECOMMENDABLE] = ~items[C.ITEM_ID].isin(set(NON_PRODUCTS))
    files = write_shop(dataclasses.replace(shop, orders=orders, items=items), root / "shop", "csv")
    ws = Workspace.at(root / "ws")
    ingest(ws, files["orders"], customers=files["customers"], items=files["items"])
    return ws, items


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory):
    from churnrec.models.recommender import RankerConfig
    from churnrec.training.rec_ranker import RerankerParams
    from churnrec.training.recommender import RecommenderTrainConfig, train_recommender

    ws, items = catalogue_shop(tmp_path_factory.mktemp("catalogue"))
    config = RecommenderTrainConfig(
        n_train_cutoffs=1,
        n_bootstrap=100,
        ranker=RankerConfig(als_factors=8, als_iterations=3),
        reranker_grid=[RerankerParams(n_estimators=20)],
    )
    train_recommender(ws, config)
    return ws, items


@pytest.fixture(scope="module")
def client(shop) -> Iterator[httpx.Client]:
    ws, _ = shop
    with running_server(ws.root, API_KEY, "--reload-seconds", "0", log_name="cat.log") as base:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            yield http


def _hidden(items: pd.DataFrame) -> set[str]:
    shown = items[C.AVAILABLE].astype(bool) & items[C.RECOMMENDABLE].astype(bool)
    return set(items.loc[~shown, C.ITEM_ID])


def _customers(ws: Workspace, n: int = 25) -> list[str]:
    orders = pd.read_parquet(ws.orders_path, columns=[C.CUSTOMER_ID])
    return orders[C.CUSTOMER_ID].value_counts().index[:n].tolist()


def _recs(client: httpx.Client, body: dict) -> list[dict]:
    response = client.post("/recommendations", json={"k": K, **body})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def _served(client: httpx.Client, ws: Workspace, items: pd.DataFrame) -> set[str]:
    """Every item in answers to known and new customers, carts and similar items (k each)."""
    seen: set[str] = set()
    bodies = [{"customer_id": c} for c in _customers(ws)] + [
        {"customer_id": "walk-in"},
        {"customer_id": "walk-in", "cart_item_ids": ["POST", str(items[C.ITEM_ID].iloc[0])]},
        {"customer_id": _customers(ws)[0], "exclude_purchased": True},
    ]
    for body in bodies:
        answer = _recs(client, body)
        assert len(answer) == K, body
        seen |= {i["item_id"] for i in answer}
    for item in ["POST", *items[C.ITEM_ID].iloc[:5]]:
        answer = client.post("/similar_items", json={"item_id": item, "k": K}).json()["items"]
        assert len(answer) == K, item
        seen |= {i["item_id"] for i in answer}
    return seen


def _exported(ws: Workspace, out: Path, *args: str) -> pd.DataFrame:
    result = CliRunner().invoke(
        app, ["recommend", "--workspace", str(ws.root), "--out", str(out), "--k", str(K), *args]
    )
    assert result.exit_code == 0, result.output
    return pd.read_csv(out, dtype={C.CUSTOMER_ID: str, C.ITEM_ID: str})


def test_hidden_items_are_never_served_or_exported_before_and_after_a_post(
    shop, client, tmp_path: Path
) -> None:
    ws, items = shop
    hidden = _hidden(items)
    assert len(hidden) == 4 + len(NON_PRODUCTS)
    orders = pd.read_parquet(ws.orders_path)
    post_buyers = orders.loc[orders[C.ITEM_ID] == "POST", C.CUSTOMER_ID].nunique()
    assert post_buyers > 60  # buy-again would recommend postage without the catalogue
    assert not _served(client, ws, items) & hidden
    export = _exported(ws, tmp_path / "before.csv")
    assert not set(export[C.ITEM_ID]) & hidden and (export.groupby(C.CUSTOMER_ID).size() == K).all()

    # the most recommended visible item goes out of stock; one hidden item comes back
    top = pd.Series(
        [i["item_id"] for c in _customers(ws) for i in _recs(client, {"customer_id": c})]
    )
    gone = top.value_counts().index[0]
    back = min(hidden - set(NON_PRODUCTS))
    change = {
        "items": [{"item_id": gone, "available": False}, {"item_id": back, "available": True}]
    }
    assert httpx.post(f"{client.base_url}/items", json=change).status_code == 401
    accepted = client.post("/items", json=change).json()
    assert accepted == {"accepted": 2, "hidden": len(hidden)}
    hidden = hidden - {back} | {gone}
    assert not _served(client, ws, items) & hidden
    log = ws.data_dir / "catalogue" / "items.csv"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    after = _exported(ws, tmp_path / "after.csv")  # the export reads the same rules from disk
    assert not set(after[C.ITEM_ID]) & hidden and (after.groupby(C.CUSTOMER_ID).size() == K).all()
    assert gone in set(export[C.ITEM_ID]) and back in set(after[C.ITEM_ID]) | set(top)


def test_every_filter_over_http(shop, client) -> None:
    ws, items = shop
    cat = items.set_index(C.ITEM_ID)[C.CATEGORY]
    price = items.set_index(C.ITEM_ID)[C.PRICE]
    who = _customers(ws, 5)
    two = sorted(cat.dropna().unique())[:2]

    def each(filters: dict | None = None, **body) -> list[list[str]]:
        answers = []
        for cid in who:
            payload = {"customer_id": cid, **body}
            if filters is not None:
                payload["filters"] = filters
            answer = _recs(client, payload)
            assert len(answer) == K, payload
            answers.append(answer)
        return answers

    def ids(answers: list[list[dict]]) -> list[str]:
        return [i["item_id"] for a in answers for i in a]

    assert set(cat[ids(each({"categories": two}))]) <= set(two)
    assert not set(cat[ids(each({"exclude_categories": two}))]) & set(two)
    plain = ids(each())
    banned = pd.Series(plain).value_counts().index[:5].tolist()
    assert not set(ids(each({"exclude_item_ids": banned}))) & set(banned)
    low, high = float(price.quantile(0.25)), float(price.quantile(0.75))
    priced = price[ids(each({"min_price": low, "max_price": high}))]
    assert priced.between(low, high).all()
    model_end = pd.read_parquet(ws.orders_path)[C.ORDERED_AT].max()
    orders = pd.read_parquet(ws.orders_path)
    recent = orders[orders[C.ORDERED_AT] > model_end - pd.Timedelta(days=120)]
    for cid, answer in zip(who, each({"exclude_bought_within_days": 120}), strict=True):
        assert not {i["item_id"] for i in answer} & set(
            recent.loc[recent[C.CUSTOMER_ID] == cid, C.ITEM_ID]
        )
    promoted = [i for i in price.index if i not in set(plain) and i not in _hidden(items)][:4]
    for answer in each(promoted_item_ids=promoted, promoted_share=0.2):
        mine = [i for i in answer if i["item_id"] in promoted]
        assert len(mine) == 2 and {i["source"] for i in mine} == {"promoted"}
    for answer in each(max_per_category=2):
        assert pd.Series([cat[i["item_id"]] for i in answer]).value_counts().max() <= 2

    item = str(pd.Series(plain).value_counts().index[0])
    similar = client.post(
        "/similar_items",
        json={
            "item_id": item,
            "k": K,
            "filters": {"exclude_categories": two},
            "max_per_category": 1,
        },
    ).json()["items"]
    got = [cat[i["item_id"]] for i in similar]
    assert not set(got) & set(two) and pd.Series(got).value_counts().max() == 1

    bad = [
        ("/recommendations", {"customer_id": who[0], "promoted_item_ids": promoted}),
        ("/recommendations", {"customer_id": who[0], "filters": {"min_price": 9, "max_price": 1}}),
        ("/recommendations", {"customer_id": who[0], "filters": {"min_price": True}}),
        ("/recommendations", {"customer_id": who[0], "filters": {"colour": "red"}}),
        ("/similar_items", {"item_id": item, "filters": {"exclude_bought_within_days": 3}}),
    ]
    for path, body in bad:
        response = client.post(path, json=body)
        assert response.status_code == 400, (body, response.text)


def test_filters_file_shapes_the_export(shop, tmp_path: Path) -> None:
    ws, items = shop
    cat = items.set_index(C.ITEM_ID)[C.CATEGORY]
    keep = sorted(cat.dropna().unique())[:3]
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"filters:\n  categories: {keep}\nmax_per_category: 4\n")
    table = _exported(ws, tmp_path / "f.csv", "--filters", str(rules))
    assert set(cat[table[C.ITEM_ID]]) <= set(keep)
    assert (table.groupby(C.CUSTOMER_ID).size() == K).all()
    assert (
        table.assign(c=cat[table[C.ITEM_ID]].to_numpy()).groupby([C.CUSTOMER_ID, "c"]).size().max()
        <= 4
    )
    rules.write_text("filters: {colour: red}\n")
    result = CliRunner().invoke(
        app,
        [
            "recommend",
            "--workspace",
            str(ws.root),
            "--out",
            str(tmp_path / "x.csv"),
            "--filters",
            str(rules),
        ],
    )
    assert result.exit_code == 2 and "filters.colour" in result.output


def test_suspects_name_the_non_products_and_feed_back_through_ingest(tmp_path: Path) -> None:
    ws, items = catalogue_shop(tmp_path, flags=False)
    out = tmp_path / "suspects.csv"
    result = CliRunner().invoke(
        app, ["items", "suspects", "--workspace", str(ws.root), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, dtype={C.ITEM_ID: str})
    assert set(table[C.ITEM_ID]) == set(NON_PRODUCTS), table
    assert {"customers", "customer_share", "median_price", "zero_price_share", "evidence"} <= set(
        table.columns
    )
    assert "zero_price" in table.set_index(C.ITEM_ID).loc["AMAZONFEE", "evidence"]
    result = CliRunner().invoke(app, ["ingest", "--items", str(out), "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    stored = pd.read_parquet(ws.table_path(C.ITEMS)).set_index(C.ITEM_ID)
    assert not stored.loc[list(NON_PRODUCTS), C.RECOMMENDABLE].astype(bool).any()
    real = items[C.ITEM_ID].iloc[0]
    assert stored.loc[real, C.CATEGORY] == items.set_index(C.ITEM_ID).loc[real, C.CATEGORY]
