"""One contract, every model class: round trip, unknown ids, relabelling, not fitted.

The table `CASES` says per class how it is fitted on the tiny shop of `tests/model_contract.py`
and how it is asked; the four checks below are written once and run over every case.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from churnrec import columns as C
from churnrec.btyd_summary import TIME_UNIT_DAYS as BTYD_TIME_UNIT_DAYS
from churnrec.models.baseline_models import (
    BTYDChurnBaseline,
    MedianGapRepurchase,
    RecencyChurnBaseline,
)
from churnrec.models.bgnbd import BGNBD, BTYDConfig
from churnrec.models.churn import ChurnModel, ChurnModelConfig, btyd_inputs
from churnrec.models.clv import STACK_FEATURES, BoostedConfig, BTYDValue, ClvModel
from churnrec.models.gammagamma import GammaGamma
from churnrec.models.logistic_churn import LogisticChurnModel
from churnrec.models.paretonbd import ParetoNBD
from churnrec.models.ranking.rank_features import SOURCE_POPULAR
from churnrec.models.recommender import RankerConfig, Recommender
from churnrec.models.repurchase import RepurchaseModel, RepurchaseModelConfig
from churnrec.models.uplift import UpliftConfig, UpliftModel
from churnrec.training.rec_ranker import RerankerParams, build_rank_frame, fit_reranker
from churnrec.training.repurchase import gap_rule
from tests.model_contract import (
    HORIZON_DAYS,
    NEW_CUSTOMER,
    NEW_ITEM,
    VALID_AT,
    K,
    ModelCase,
    Shop,
    asked_customers,
    assert_finite,
    assert_new_customer_answered,
    build_shop,
    by_customer,
    frame_by_customer,
    ranked,
    relabel,
    relabel_keep_order,
)

FEATURES = [
    "recency_days",
    "frequency",
    "tenure_days",
    "repeat_purchase_days",
    "orders_90d",
    "orders_trend",
    "distinct_items",
]
# No row sampling: bagging draws rows by position, and training frames are sorted by id (see
# `test_churn_row_sampling_is_not_blind_to_relabelling`).
CHURN = ChurnModelConfig(
    n_estimators=30, learning_rate=0.2, min_child_samples=10, subsample=1.0, n_threads=1
)
REPURCHASE = RepurchaseModelConfig(num_boost_round=30, learning_rate=0.2, n_threads=1)
RANKER = RankerConfig(mode="rule", als_factors=8, als_iterations=3)
NOT_FITTED = r"fit"  # every refusal names the way out: fit() (or load())


# --- snapshot models: one float (or a frame of them) per customer row ---------------------------
def _snapshot_case(name, fit, predict, cls, *, id_free=True, **kw) -> ModelCase:
    """A model asked row by row: the new customer gets a finite answer, and (when the model
    reads no ids) a known customer's row under a never-seen id gets that customer's answer."""

    def answer(model, shop: Shop) -> pd.Series:
        out = predict(model, shop.score)
        if isinstance(out, pd.DataFrame):
            return frame_by_customer(shop, out)
        return by_customer(shop, out)

    def unknown(model, shop: Shop) -> None:
        for seen in (shop.train, shop.valid):
            assert NEW_CUSTOMER not in set(seen[C.CUSTOMER_ID])
        out = predict(model, shop.score)
        flat = out if isinstance(out, pd.DataFrame) else pd.DataFrame({"value": out})
        flat = flat.set_axis(shop.score[C.CUSTOMER_ID].to_numpy())
        for col in flat.columns:
            assert_new_customer_answered(flat[col], f"{name} {col}")
        if id_free:
            known = shop.score[shop.score[C.CUSTOMER_ID] != NEW_CUSTOMER].iloc[[0]]
            stranger = known.assign(**{C.CUSTOMER_ID: "never-seen-copy"})
            np.testing.assert_array_equal(
                np.asarray(predict(model, stranger), dtype="float64"),
                np.asarray(predict(model, known), dtype="float64"),
            )

    return ModelCase(name, fit, answer, unknown, cls, **kw)


def _churn_fit(learner: str):
    def fit(shop: Shop, model: ChurnModel | None = None) -> ChurnModel:
        return (model or ChurnModel()).fit(
            shop.train, FEATURES, CHURN, learner=learner, valid_frame=shop.valid
        )

    return fit


def _unfitted_churn(shop: Shop, path: Path):
    model = ChurnModel()
    return [lambda: model.predict_proba(shop.score), lambda: model.save(path)]


def _repurchase_fit(shop: Shop) -> RepurchaseModel:
    return RepurchaseModel.fit(shop.train, FEATURES, REPURCHASE, valid_frame=shop.valid)


def _gap_unknown(model: MedianGapRepurchase, shop: Shop) -> None:
    days = model.predict(shop.score).set_axis(shop.score[C.CUSTOMER_ID].to_numpy())
    # the documented fallback: a customer without two order days gets the population median
    assert days.loc[NEW_CUSTOMER, "expected_days_to_next_order"] == max(model.population_days, 1)
    assert_finite(days.loc[NEW_CUSTOMER], "median_gap for a new customer")


def _btyd_frame(model, frame: pd.DataFrame) -> pd.DataFrame:
    x, tx, age = btyd_inputs(frame)
    t = HORIZON_DAYS / BTYD_TIME_UNIT_DAYS
    return pd.DataFrame(
        {
            "p_alive": model.p_alive(x, tx, age),
            "expected_purchases": model.expected_purchases(t, x, tx, age),
            "p_purchase": model.prob_purchase_within(t, x, tx, age),
        },
        index=frame.index,
    )


def _btyd_fit(cls, cutoff: str):
    """Fit on the rows of one cut-off: BG/NBD needs the later one's history to be identified,
    Pareto/NBD's fit is fast only on the earlier, smaller one."""

    def fit(shop: Shop, model=None):
        model = model or cls(BTYDConfig(time_unit_days=BTYD_TIME_UNIT_DAYS))
        return model.fit(*btyd_inputs(getattr(shop, cutoff)))

    return fit


def _unfitted_btyd(cls):
    def calls(shop: Shop, path: Path):
        model = cls()
        return [lambda: _btyd_frame(model, shop.score)]

    return calls


def _spend_inputs(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    x = btyd_inputs(frame)[0]
    m = frame["monetary_avg"].to_numpy(dtype="float64", na_value=np.nan)
    usable = (x > 0) & np.isfinite(m) & (m > 0)
    return np.where(usable, x, 0.0), np.where(usable, m, 1.0)


def _gg_fit(shop: Shop, model: GammaGamma | None = None) -> GammaGamma:
    return (model or GammaGamma()).fit(*_spend_inputs(shop.train))


def _unfitted_gg(shop: Shop, path: Path):
    model = GammaGamma()
    return [lambda: model.expected_spend(*_spend_inputs(shop.score))]


CLV_FEATURES = ["recency_days", "frequency", "monetary_total", *STACK_FEATURES]


def _clv_fit(predictor: str):
    def fit(shop: Shop) -> ClvModel:
        btyd = BTYDValue.fit(shop.train)
        model = ClvModel(predictor, HORIZON_DAYS, btyd, CLV_FEATURES, _CLV_CONFIG)
        if predictor == "btyd":
            return model
        frame = pd.concat([shop.train, btyd.features(shop.train, HORIZON_DAYS)], axis=1)
        spend = (~shop.train[C.CHURNED]).to_numpy() * shop.train["monetary_avg"].fillna(0.0)
        return model.fit(frame, spend.to_numpy(dtype="float64"))

    return fit


_CLV_CONFIG = BoostedConfig(n_estimators=20, min_child_samples=10)


def _unfitted_clv(shop: Shop, path: Path):
    model = ClvModel("boosted", HORIZON_DAYS, BTYDValue.fit(shop.train), CLV_FEATURES)
    return [lambda: model.predict(shop.score), lambda: model.save(path)]


_LABELS = [C.CHURNED, C.DAYS_TO_NEXT_ORDER, C.CENSORED]


def _uplift_fit(learner: str):
    def fit(shop: Shop, model: UpliftModel | None = None) -> UpliftModel:
        config = UpliftConfig(n_estimators=20, min_child_samples=10)
        frame = shop.valid.drop(columns=_LABELS)
        return (model or UpliftModel(learner, C.REVENUE, config)).fit(
            frame, shop.campaign["treated"], shop.campaign["outcome"]
        )

    return fit


def _unfitted_uplift(shop: Shop, path: Path):
    model = UpliftModel("x", C.REVENUE)
    return [lambda: model.predict(shop.score), lambda: model.save(path)]


# --- recommenders: ranked (item, source) lists per customer ---------------------------------------
def _lists(recs: pd.DataFrame) -> list[tuple[str, str]]:
    return list(zip(recs[C.ITEM_ID], recs["source"], strict=True))


def _ask_recommender(model, shop: Shop) -> dict:
    return ranked(shop, {c: _lists(model.recommend(c, K)) for c in asked_customers(shop)})


def _unknown_recommender(model, shop: Shop) -> None:
    """A stranger gets k popular items, flagged so; an unknown item gets popular ones too."""
    for recs in (model.recommend(NEW_CUSTOMER, K), model.similar_items(NEW_ITEM, K)):
        assert len(recs) == K, recs
        assert set(recs["source"]) == {SOURCE_POPULAR}, recs
        assert_finite(recs["score"].tolist(), "fallback scores")
    assert not model.known_customer(NEW_CUSTOMER) and not model.known_item(NEW_ITEM)
    someone = asked_customers(shop)[0]  # a cart (or live order) of unknown items
    with_cart = model.recommend(someone, K, cart_item_ids=[NEW_ITEM])
    live = model.recommend(someone, K, live_orders=[(model.as_of_day, [NEW_ITEM])])
    # items the model never saw are left out, so the answer is the one without them
    assert _lists(with_cart) == _lists(live) == _lists(model.recommend(someone, K))


def _reranker_fit(mode: str):
    def fit(shop: Shop) -> Recommender:
        booster = None
        if mode == "reranker":
            split = pd.Timestamp(VALID_AT) - pd.Timedelta(days=56)
            early = shop.lines[shop.lines[C.ORDERED_AT] < split]
            late = shop.lines[shop.lines[C.ORDERED_AT] >= split]
            probe = Recommender.fit(early, shop.items, RANKER, split)
            truth = late.groupby(C.CUSTOMER_ID)[C.ITEM_ID].agg(set).to_dict()
            frame = build_rank_frame(probe, truth, seed=0, limit=1000)
            booster = fit_reranker(frame, frame, RerankerParams(n_estimators=15), seed=0, k=10)
        config = RANKER.model_copy(update={"mode": mode})
        return Recommender.fit(shop.lines, shop.items, config, pd.Timestamp(VALID_AT), booster)

    return fit


_NEEDS_FITTED_PARTS = "construction already requires fitted parts ({})"
# ALS starts from random factors drawn in the id index's (sorted) order, and ties are broken by
# that index: ids that sort differently start elsewhere. What must hold is that no id string is
# read as data, so those cases are relabelled with ids that keep their order.
_SORTED_IDS = "random ALS start and tie-breaks follow the sorted id index"

CASES = [
    _snapshot_case(
        "churn_lightgbm",
        _churn_fit("lightgbm"),
        lambda m, f: m.predict_proba(f),
        ChurnModel,
        instance_fit=True,
        unfitted=_unfitted_churn,
    ),
    _snapshot_case(
        "churn_xgboost",
        _churn_fit("xgboost"),
        lambda m, f: m.predict_proba(f),
        ChurnModel,
        instance_fit=True,
        unfitted=_unfitted_churn,
    ),
    _snapshot_case(
        "logistic_churn",
        lambda s: LogisticChurnModel.fit(s.train, s.valid),
        lambda m, f: m.predict_proba(f),
        LogisticChurnModel,
        unfitted_skip=_NEEDS_FITTED_PARTS.format("coefficients, means, scales"),
    ),
    _snapshot_case(
        "btyd_churn_rule",
        lambda s: BTYDChurnBaseline.fit(s.valid, "bgnbd", HORIZON_DAYS),
        lambda m, f: m.predict_proba(f),
        BTYDChurnBaseline,
        unfitted_skip=_NEEDS_FITTED_PARTS.format("BTYD parameters"),
    ),
    _snapshot_case(
        "recency_churn_rule",
        lambda s: RecencyChurnBaseline.fit(s.valid),
        lambda m, f: m.predict_proba(f),
        RecencyChurnBaseline,
        unfitted_skip=_NEEDS_FITTED_PARTS.format("the Platt map a, b"),
    ),
    ModelCase(
        "median_gap_repurchase",
        lambda s: gap_rule(s.con, VALID_AT, "median_gap", 30.0),
        lambda m, s: frame_by_customer(s, m.predict(s.score)),
        _gap_unknown,
        MedianGapRepurchase,
        unfitted_skip=_NEEDS_FITTED_PARTS.format("the per-customer gaps"),
    ),
    _snapshot_case(
        "repurchase_aft",
        _repurchase_fit,
        lambda m, f: m.predict(f),
        RepurchaseModel,
        unfitted_skip=_NEEDS_FITTED_PARTS.format("an XGBoost booster"),
    ),
    _snapshot_case(
        "clv_btyd",
        _clv_fit("btyd"),
        lambda m, f: m.predict(f),
        ClvModel,
        unfitted_skip=_NEEDS_FITTED_PARTS.format("a fitted BG/NBD x Gamma-Gamma"),
    ),
    _snapshot_case(
        "clv_boosted",
        _clv_fit("boosted"),
        lambda m, f: m.predict(f),
        ClvModel,
        unfitted=_unfitted_clv,
    ),
    _snapshot_case(
        "uplift_t",
        _uplift_fit("t"),
        lambda m, f: m.predict(f),
        UpliftModel,
        instance_fit=True,
        unfitted=_unfitted_uplift,
    ),
    _snapshot_case(
        "uplift_x",
        _uplift_fit("x"),
        lambda m, f: m.predict(f),
        UpliftModel,
        instance_fit=True,
        unfitted=_unfitted_uplift,
    ),
    _snapshot_case(
        "bgnbd",
        _btyd_fit(BGNBD, "valid"),
        _btyd_frame,
        None,  # parts of the churn and CLV models, saved with them
        instance_fit=True,
        unfitted=_unfitted_btyd(BGNBD),
    ),
    _snapshot_case(
        "paretonbd",
        _btyd_fit(ParetoNBD, "train"),
        _btyd_frame,
        None,
        instance_fit=True,
        unfitted=_unfitted_btyd(ParetoNBD),
    ),
    _snapshot_case(
        "gammagamma",
        _gg_fit,
        lambda m, f: m.expected_spend(*_spend_inputs(f)),
        None,
        instance_fit=True,
        unfitted=_unfitted_gg,
    ),
    ModelCase(
        "repeat_aware_rule",
        _reranker_fit("rule"),
        _ask_recommender,
        _unknown_recommender,
        Recommender,
        unfitted_skip=_NEEDS_FITTED_PARTS.format("fitted candidate sources"),
        relabel_with=relabel_keep_order,
        relabel_note=_SORTED_IDS,
    ),
    ModelCase(
        "repeat_aware_reranker",
        _reranker_fit("reranker"),
        _ask_recommender,
        _unknown_recommender,
        Recommender,
        unfitted_skip=_NEEDS_FITTED_PARTS.format("fitted sources and a trained booster"),
        relabel_with=relabel_keep_order,
        relabel_note=_SORTED_IDS,
    ),
]
IDS = [case.name for case in CASES]
_FITTED: dict[tuple[str, Any], Any] = {}


def fitted(case: ModelCase, shop: Shop) -> Any:
    """One fit per case and shop, shared by the checks (fitting is the slow part)."""
    key = (case.name, shop.label)
    if key not in _FITTED:
        _FITTED[key] = case.fit(shop)
    return _FITTED[key]


def assert_same_answers(got: Any, expected: Any, what: str, rtol: float = 0.0) -> None:
    if isinstance(expected, pd.Series):
        pd.testing.assert_series_equal(got, expected, check_exact=rtol == 0, rtol=rtol, obj=what)
    else:
        assert got == expected, what


@pytest.fixture(scope="module")
def shop() -> Shop:
    return build_shop()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_save_load_and_refit_give_the_same_answers(case: ModelCase, shop, tmp_path) -> None:
    model = fitted(case, shop)
    expected = case.answer(model, shop)
    assert len(expected) > 0
    assert_same_answers(case.answer(case.fit(shop), shop), expected, f"{case.name} refit")
    if case.cls is None:
        assert not hasattr(model, "save"), f"{case.name} can save: give its case a class"
        return
    model.save(tmp_path / "model")
    loaded = case.cls.load(tmp_path / "model")
    assert type(loaded) is type(model)
    assert_same_answers(case.answer(loaded, shop), expected, f"{case.name} after load")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_second_fit_refits_the_model(case: ModelCase, shop) -> None:
    """Nothing of an earlier fit (other ids, other row order) survives fitting again, as in
    RecTools' `assert_second_fit_refits_model`."""
    if not case.instance_fit:
        pytest.skip(
            "fit makes a new model every time (a classmethod, or parts given to the constructor)"
        )
    refitted = case.fit(shop, case.fit(build_shop(relabel)))
    assert_same_answers(case.answer(refitted, shop), case.answer(fitted(case, shop), shop), "refit")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_unknown_ids_get_a_defined_answer(case: ModelCase, shop) -> None:
    case.unknown(fitted(case, shop), shop)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_relabelling_ids_changes_nothing(case: ModelCase, shop) -> None:
    if case.relabel_with is not relabel:
        assert case.relabel_note, f"{case.name}: say why ids must keep their order"
    relabelled = build_shop(case.relabel_with)
    expected = case.answer(fitted(case, shop), shop)
    got = case.answer(fitted(case, relabelled), relabelled)
    # Rows come in another order, so sums run in another order: equal up to rounding.
    assert_same_answers(got, expected, f"{case.name} relabelled", rtol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_unfitted_model_refuses_clearly(case: ModelCase, shop, tmp_path) -> None:
    if case.unfitted is None:
        pytest.skip(case.unfitted_skip)
    for call in case.unfitted(shop, tmp_path / "unfitted"):
        with pytest.raises(RuntimeError, match=NOT_FITTED):
            call()


@pytest.mark.xfail(
    strict=True,
    reason="known gap: with subsample < 1 the churn learners draw rows by position, and "
    "training frames are sorted by customer_id, so relabelling draws other rows",
)
def test_churn_row_sampling_is_not_blind_to_relabelling(shop) -> None:
    config = CHURN.model_copy(update={"subsample": 0.8})

    def answer(shop: Shop) -> pd.Series:
        model = ChurnModel().fit(shop.train, FEATURES, config, valid_frame=shop.valid)
        return by_customer(shop, model.predict_proba(shop.score))

    assert_same_answers(answer(build_shop(relabel)), answer(shop), "subsample 0.8", rtol=1e-6)


# --- the base contract (models/base.py) ---------------------------------------------------------
SERVABLE = [
    "churnrec.models.churn:ChurnModel",
    "churnrec.models.logistic_churn:LogisticChurnModel",
    "churnrec.models.baseline_models:RecencyChurnBaseline",
    "churnrec.models.baseline_models:BTYDChurnBaseline",
    "churnrec.models.repurchase:RepurchaseModel",
    "churnrec.models.baseline_models:MedianGapRepurchase",
    "churnrec.models.clv:ClvModel",
    "churnrec.models.uplift:UpliftModel",
    "churnrec.models.recommender:Recommender",
    "churnrec.models.reranker:RepeatAwareRecommender",  # moved: old versions load the new class
    "churnrec.models.demand:DemandModel",
]


@pytest.mark.parametrize("path", SERVABLE)
def test_every_servable_class_follows_the_one_contract(path: str) -> None:
    """Every class a registered version can hold is a `ChurnrecModel` of its kind, states how
    it answers unknown ids, and implements the `_` methods the public ones call."""
    from churnrec.models.base import MODEL_CLASSES, ChurnrecModel, resolve_class

    cls = resolve_class(path)
    assert issubclass(cls, ChurnrecModel), path
    assert cls.kind in MODEL_CLASSES, path
    assert cls.unknown_ids in ("features", "population", "popular")
    for name in ("_save", "_load", "_answer"):
        assert getattr(cls, name) is not getattr(ChurnrecModel, name), (path, name)
    # the public entry points are the base's (the checks live in one place)
    for name in ("predict", "answer", "save", "load"):
        assert getattr(cls, name).__qualname__.startswith(
            ("ChurnrecModel.", "ChurnScorer.", "RecommenderModel.")
        ), (path, name)


def test_base_checks_columns_fitted_and_folder(tmp_path) -> None:
    from churnrec.models.base import MissingColumnsError, NotFittedError
    from churnrec.models.baseline_models import RecencyChurnBaseline
    from churnrec.models.churn import ChurnModel

    with pytest.raises(NotFittedError, match=NOT_FITTED):
        ChurnModel().answer(pd.DataFrame({"recency_days": [1.0]}))
    with pytest.raises(FileNotFoundError, match="no saved ChurnModel"):
        ChurnModel.load(tmp_path / "nothing-here")
    rule = RecencyChurnBaseline(0.01, -1.0, 30.0)
    with pytest.raises(MissingColumnsError, match="recency_days"):
        rule.predict_proba(pd.DataFrame({"frequency": [1]}))
    answer = rule.answer(pd.DataFrame({C.CUSTOMER_ID: ["a"], "recency_days": [30.0]}))
    assert list(answer.columns) == [C.CUSTOMER_ID, "churn_probability"]
