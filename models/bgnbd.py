"""BG/NBD "buy till you die" model (Fader, Hardie and Lee 2005), fitted by maximum likelihood.

It is a baseline for the churn model: from frequency, recency and T alone it gives P(alive),
expected purchases and P(at least one purchase in the next t). The shared fitting, checking
and save/load machinery (`BTYDModel`) lives here too; `models.paretonbd` reuses it.

Times (recency, T, t) are in one unit, the one the summary used (`time_unit_days`, weeks by
default; the summary is built by `features.btyd.build_btyd_summary`).
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar, Self

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import OptimizeResult, minimize
from scipy.special import betaln, expit, gammaln, hyp2f1

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]

MODEL_FILE = "model.json"
# A fitted log-parameter beyond this is a parameter running off to 0 or infinity: the data
# do not identify the model (for example nobody ever bought twice).
_LOG_PARAM_LIMIT = 15.0
# Largest gradient of the mean per-customer log-likelihood (in log-parameters) taken as zero.
_FLAT_GRADIENT = 1e-5


class BTYDFitError(RuntimeError):
    """Maximum likelihood did not converge, or converged to a degenerate boundary."""


class NotFittedError(RuntimeError):
    """A prediction was asked of a model that has neither been fitted nor given parameters."""


class BTYDConfig(BaseModel):
    """How the fit runs, and the time unit its parameters are expressed in."""

    model_config = ConfigDict(extra="forbid")

    time_unit_days: float = Field(7.0, gt=0, description="days per time unit of recency/T/t")
    max_iter: int = Field(10_000, gt=0, description="optimizer iteration limit")
    tol: float = Field(1e-10, gt=0, description="optimizer tolerance on the scaled objective")


def check_rfm(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> tuple[FloatArray, ...]:
    """Frequency / recency / T as equal-length float arrays; raises naming the first bad row."""
    x = np.atleast_1d(np.asarray(frequency, dtype=np.float64))
    tx = np.atleast_1d(np.asarray(recency, dtype=np.float64))
    age = np.atleast_1d(np.asarray(T, dtype=np.float64))
    if not (x.shape == tx.shape == age.shape) or x.ndim != 1:
        raise ValueError(
            f"frequency, recency and T must be 1-d and the same length, got shapes "
            f"{x.shape}, {tx.shape}, {age.shape}"
        )
    checks = (
        (~np.isfinite(x) | ~np.isfinite(tx) | ~np.isfinite(age), "is not finite"),
        ((x < 0) | (x != np.round(x)), "frequency is not a non-negative whole number"),
        ((tx < 0) | (tx > age), "recency is not within [0, T]"),
        ((x == 0) & (tx != 0), "frequency is 0 but recency is not 0"),
    )
    for bad, what in checks:
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"row {row} (frequency={x[row]}, recency={tx[row]}, T={age[row]}): {what}"
            )
    return x, tx, age


def _log1mexp(d: FloatArray) -> FloatArray:
    """log(1 - exp(d)) for d <= 0, -inf at d == 0."""
    with np.errstate(divide="ignore"):
        return np.where(d > -0.693, np.log(-np.expm1(d)), np.log1p(-np.exp(d)))


class BTYDModel(ABC):
    """Fit by maximum likelihood on log-parameters; predict from frequency / recency / T.

    Subclasses give the parameter names and the per-customer log-likelihood and predictions
    as functions of a parameter vector.
    """

    KIND: ClassVar[str]
    PARAM_NAMES: ClassVar[tuple[str, ...]]

    def __init__(self, config: BTYDConfig | None = None) -> None:
        self.config = config or BTYDConfig()
        self._params: FloatArray | None = None
        self.log_likelihood: float | None = None
        self.n_customers: int = 0
        self.fit_seconds: float | None = None

    # --- parameters ---------------------------------------------------------------------
    @classmethod
    def from_params(cls, params: Mapping[str, float], config: BTYDConfig | None = None) -> Self:
        """A model with given parameters (no fit), e.g. published values or a simulation."""
        model = cls(config)
        model._params = model._check_params(params)
        return model

    def _check_params(self, params: Mapping[str, float]) -> FloatArray:
        if set(params) != set(self.PARAM_NAMES):
            raise ValueError(
                f"{self.KIND} needs parameters {self.PARAM_NAMES}, got {sorted(params)}"
            )
        values = np.array([float(params[n]) for n in self.PARAM_NAMES])
        if not np.all(np.isfinite(values) & (values > 0)):
            raise ValueError(
                f"{self.KIND} parameters must be positive and finite, got {dict(params)}"
            )
        return values

    @property
    def params(self) -> dict[str, float]:
        """Fitted (or given) parameters by name."""
        return dict(zip(self.PARAM_NAMES, self._fitted().tolist(), strict=True))

    def _fitted(self) -> FloatArray:
        if self._params is None:
            raise NotFittedError(f"{type(self).__name__} has no parameters yet: call fit() first")
        return self._params

    # --- fitting ------------------------------------------------------------------------
    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        *,
        max_customers: int | None = None,
        seed: int = 0,
    ) -> Self:
        """Maximum-likelihood fit; raises ValueError on empty data, BTYDFitError if it fails.

        `max_customers` fits on a seeded random sample of that many customers when there are
        more: the model has only four population parameters, so a uniform sample of a few
        hundred thousand estimates them as well as millions do (their standard errors shrink
        with 1/sqrt(n)), at a fraction of the time. Predictions still work for everyone.
        """
        x, tx, age = check_rfm(frequency, recency, T)
        if x.size == 0:
            raise ValueError(f"cannot fit {self.KIND} on no customers")
        if max_customers is not None and x.size > max_customers:
            pick = np.random.default_rng(seed).choice(x.size, size=max_customers, replace=False)
            x, tx, age = x[pick], tx[pick], age[pick]
        if not (x > 0).any():
            raise BTYDFitError(
                f"cannot fit {self.KIND}: none of the {x.size} customers made a repeat purchase"
            )
        started = time.perf_counter()
        # Customers with the same (frequency, recency, T) share a likelihood term: fit on the
        # distinct rows, weighted by how often each occurs.
        rows, weights = np.unique(np.stack([x, tx, age], axis=1), axis=0, return_counts=True)
        ux, utx, uage = rows.T
        total = float(weights.sum())

        def objective(log_params: FloatArray) -> float:
            ll = self._log_likelihood(np.exp(log_params), ux, utx, uage)
            value = -float(np.dot(weights, ll)) / total
            return value if np.isfinite(value) else 1e100

        result = self._minimize(objective, np.zeros(len(self.PARAM_NAMES)))
        if not result.success or not np.isfinite(result.fun):
            raise BTYDFitError(f"{self.KIND} maximum likelihood did not converge: {result.message}")
        if np.any(np.abs(result.x) > _LOG_PARAM_LIMIT):
            raise BTYDFitError(
                f"{self.KIND} fit ran off to a boundary (parameters "
                f"{dict(zip(self.PARAM_NAMES, np.exp(result.x).tolist(), strict=True))}); "
                "the data do not identify the model"
            )
        self._params = np.exp(result.x)
        self.log_likelihood = -result.fun * total
        self.n_customers = int(x.size)
        self.fit_seconds = time.perf_counter() - started
        return self

    def _minimize(
        self, objective: Callable[[FloatArray], float], start: FloatArray
    ) -> OptimizeResult:
        """BFGS (fast); when it stops short, Nelder-Mead from there, polished by BFGS again."""
        bfgs = {"maxiter": self.config.max_iter, "gtol": 1e-7}
        result = minimize(objective, start, method="BFGS", options=bfgs)
        # BFGS often ends with "precision loss" right at the optimum: accept a flat gradient
        # (the objective is the mean log-likelihood per customer, so the scale is fixed).
        if result.success or np.max(np.abs(result.jac)) < _FLAT_GRADIENT:
            result.success = True
            return result
        # Otherwise it stalled on a flat stretch or a bad step; Nelder-Mead needs no gradient
        # and confirms (or finds) the optimum.
        coarse = minimize(
            objective,
            result.x,
            method="Nelder-Mead",
            options={"maxiter": self.config.max_iter, "xatol": 1e-8, "fatol": 1e-12},
        )
        # Polish with BFGS even when Nelder-Mead ran out of iterations: it is usually close by
        # then, and a flat gradient at the polished point is the convergence check that counts.
        fine = minimize(objective, coarse.x, method="BFGS", options=bfgs)
        converged = (
            coarse.success or fine.success or bool(np.max(np.abs(fine.jac)) < _FLAT_GRADIENT)
        )
        best = fine if fine.fun <= coarse.fun else coarse
        best.success = converged
        return best

    # --- predictions --------------------------------------------------------------------
    def individual_log_likelihood(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Each customer's log-likelihood under the current parameters."""
        return self._log_likelihood(self._fitted(), *check_rfm(frequency, recency, T))

    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """P(still a customer at T | history)."""
        return self._p_alive(self._fitted(), *check_rfm(frequency, recency, T))

    def expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[number of purchases in (T, T + t] | history]."""
        x, tx, age = check_rfm(frequency, recency, T)
        return self._expected_purchases(self._fitted(), _check_t(t), x, tx, age)

    def prob_purchase_within(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """P(at least one purchase in (T, T + t] | history)."""
        x, tx, age = check_rfm(frequency, recency, T)
        return self._prob_purchase_within(self._fitted(), _check_t(t), x, tx, age)

    @abstractmethod
    def _log_likelihood(
        self, p: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray
    ) -> FloatArray: ...

    @abstractmethod
    def _p_alive(
        self, p: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray
    ) -> FloatArray: ...

    @abstractmethod
    def _expected_purchases(
        self, p: FloatArray, t: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray
    ) -> FloatArray: ...

    @abstractmethod
    def _prob_purchase_within(
        self, p: FloatArray, t: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray
    ) -> FloatArray: ...

    # --- persistence --------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write parameters, fit summary and config as `model.json` in folder `path`."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        payload = {
            "kind": self.KIND,
            "params": self.params,
            "log_likelihood": self.log_likelihood,
            "n_customers": self.n_customers,
            "config": self.config.model_dump(),
        }
        (path / MODEL_FILE).write_text(json.dumps(payload, indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read a model written by `save`; refuses a file of another model kind."""
        file = Path(path) / MODEL_FILE
        if not file.is_file():
            raise FileNotFoundError(f"no {MODEL_FILE} in {path}")
        payload = json.loads(file.read_text())
        if payload.get("kind") != cls.KIND:
            raise ValueError(f"{file} holds a {payload.get('kind')!r} model, not {cls.KIND!r}")
        model = cls.from_params(payload["params"], BTYDConfig(**payload["config"]))
        model.log_likelihood = payload["log_likelihood"]
        model.n_customers = int(payload["n_customers"])
        return model


def _check_t(t: ArrayLike) -> FloatArray:
    values = np.asarray(t, dtype=np.float64)
    if not np.all(np.isfinite(values) & (values >= 0)):
        raise ValueError(f"horizon t must be finite and >= 0, got {t!r}")
    return values


class BGNBD(BTYDModel):
    """Beta-geometric / NBD: Poisson purchases at a gamma(r, alpha) rate; after each repeat
    purchase the customer leaves with a beta(a, b) probability."""

    KIND = "bgnbd"
    PARAM_NAMES = ("r", "alpha", "a", "b")

    def _log_likelihood(
        self, p: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray
    ) -> FloatArray:
        # Fader, Hardie and Lee (2005), eq. 6, in logs.
        r, alpha, a, b = p
        common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
        alive = -(r + x) * np.log(alpha + T)
        with np.errstate(divide="ignore", invalid="ignore"):
            gone = np.where(
                x > 0, np.log(a) - np.log(b + x - 1) - (r + x) * np.log(alpha + tx), -np.inf
            )
        return common + np.logaddexp(alive, gone)

    def _log_odds_dead(
        self, p: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray
    ) -> FloatArray:
        """log(P(gone at T | history) / P(alive at T | history)); -inf when x == 0."""
        r, alpha, a, b = p
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(
                x > 0,
                np.log(a) - np.log(b + x - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx)),
                -np.inf,
            )

    def _p_alive(self, p: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray) -> FloatArray:
        return expit(-self._log_odds_dead(p, x, tx, T))

    def _expected_purchases(
        self, p: FloatArray, t: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray
    ) -> FloatArray:
        # Fader, Hardie and Lee (2005), eq. 10.
        r, alpha, a, b = p
        z = t / (alpha + T + t)
        decay = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
        bracket = 1.0 - decay * hyp2f1(r + x, b + x, a + b + x - 1, z)
        return (a + b + x - 1) / (a - 1) * bracket * self._p_alive(p, x, tx, T)

    def _prob_purchase_within(
        self, p: FloatArray, t: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray
    ) -> FloatArray:
        # A customer who is alive at T leaves only right after a purchase, so "no purchase in
        # (T, T+t]" is just "no Poisson event in t". The posterior rate of an alive customer is
        # gamma(r + x, alpha + T), whose chance of no event in t is ((alpha+T)/(alpha+T+t))^(r+x):
        #   P(>= 1 purchase) = P(alive) * (1 - ((alpha+T) / (alpha+T+t))^(r+x)).
        r, alpha, _, _ = p
        log_none = (r + x) * (np.log(alpha + T) - np.log(alpha + T + t))
        return self._p_alive(p, x, tx, T) * -np.expm1(log_none)
