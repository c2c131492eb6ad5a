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
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Self

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import minimize
from scipy.special import betaln, expit, gammaln, hyp2f1

from churnrec.progress import say

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]

MODEL_FILE = "model.json"
# A fitted log-parameter beyond this is a parameter running off to 0 or infinity: the data
# do not identify the model (for example nobody ever bought twice).
_LOG_PARAM_LIMIT = 15.0
# Largest gradient of the mean per-customer log-likelihood (in log-parameters) taken as zero.
_FLAT_GRADIENT = 1e-5
# A search cut short by a cap keeps its best point only where the objective is this flat: on
# a ridge (a parameter pair the data barely tell apart) the point is as good as the optimum;
# further away it is not an answer, and the fit fails with its reason.
_CAPPED_GRADIENT = 1e-3
# L2 penalty on the log-parameters, added to the mean negative log-likelihood per customer
# (`lifetimes`' `penalizer_coef`, which it adds to the same mean). Where the likelihood is
# flat along a ridge (e.g. dropout with no heterogeneity: s, beta -> infinity at a fixed
# s / beta), an unpenalised search wanders off for minutes (25+ on one generated shop, where
# each step costs more the further out it gets); with 1e-4 the ridge has an optimum at a
# finite point, found in about a second, at a cost of ~0.001 in mean log-likelihood per
# customer. The fit then polishes without the penalty and keeps that (the plain maximum
# likelihood estimate, e.g. the published CDNOW values) when it converges within
# _POLISH_RADIUS of the penalised point; otherwise the likelihood is flat there and the
# penalised optimum stands (noted in `fit_notes`).
PENALIZER_COEF = 1e-4
_POLISH_RADIUS = 1.0  # in log-parameters: a factor e either way
# Wall-clock cap of one fit; at the cap the fit ends with its best point so far (see above).
FIT_SECONDS = 20.0
# Optimizer iterations per stage (BFGS, Nelder-Mead, BFGS polish): converged fits of these
# three- and four-parameter models take well under 500.
MAX_ITER = 2_000


class BTYDFitError(RuntimeError):
    """Maximum likelihood did not converge, or converged to a degenerate boundary.

    The one error a BTYD fit (BG/NBD, Pareto/NBD, Gamma-Gamma) raises for a fit that has no
    usable answer; its message is a one-line reason that callers log when they drop the fit.
    """


class NotFittedError(RuntimeError):
    """A prediction was asked of a model that has neither been fitted nor given parameters."""


class BTYDConfig(BaseModel):
    """How the fit runs, and the time unit its parameters are expressed in."""

    model_config = ConfigDict(extra="forbid")

    time_unit_days: float = Field(7.0, gt=0, description="days per time unit of recency/T/t")
    max_iter: int = Field(MAX_ITER, gt=0, description="optimizer iteration limit per stage")
    tol: float = Field(1e-10, gt=0, description="optimizer tolerance on the scaled objective")
    penalizer_coef: float = Field(
        PENALIZER_COEF, ge=0, description="L2 penalty on the log-parameters (mean scale)"
    )
    max_seconds: float = Field(FIT_SECONDS, gt=0, description="wall-clock cap of one fit")


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


class _OutOfTime(Exception):
    """Raised inside the objective at the wall-clock cap to end the search."""


class _Strayed(Exception):
    """Raised inside the objective when a polish leaves its neighbourhood (a flat ridge)."""


class _Tracked:
    """The objective, counting evaluations and keeping the best finite point seen.

    Non-finite values (trial points where a term overflows) come back as a large number, so
    the optimizer rejects the step; past the deadline the next evaluation ends the search.
    """

    def __init__(
        self,
        objective: Callable[[FloatArray], float],
        max_seconds: float,
        within: tuple[FloatArray, float] | None = None,
    ) -> None:
        self.objective = objective
        self.deadline = time.perf_counter() + max_seconds
        self.within = within
        self.evaluations = 0
        self.best_x: FloatArray | None = None
        self.best_fun = np.inf

    def __call__(self, z: FloatArray) -> float:
        if time.perf_counter() > self.deadline:
            raise _OutOfTime
        if self.within is not None and np.max(np.abs(z - self.within[0])) > self.within[1]:
            raise _Strayed
        self.evaluations += 1
        value = float(self.objective(z))
        if not np.isfinite(value):
            return 1e100
        if value < self.best_fun:
            self.best_fun, self.best_x = value, np.array(z, dtype=np.float64)
        return value


@dataclass
class Optimum:
    """Where a capped search ended: the best finite point, and whether it is trustworthy."""

    x: FloatArray
    fun: float
    converged: bool
    gradient: float  # largest |d objective / d log-parameter| at x
    notes: list[str] = field(default_factory=list)
    timed_out: bool = False

    @property
    def usable(self) -> bool:
        """Converged, or cut short by a cap on a flat stretch (as good as the optimum)."""
        return self.converged or self.gradient <= _CAPPED_GRADIENT


def _gradient(objective: Callable[[FloatArray], float], z: FloatArray) -> float:
    """Largest central-difference partial derivative of `objective` at `z`."""
    worst = 0.0
    for i in range(z.size):
        step = np.zeros_like(z)
        step[i] = 1e-5
        worst = max(worst, abs(objective(z + step) - objective(z - step)) / 2e-5)
    return worst if np.isfinite(worst) else np.inf


def minimize_capped(
    objective: Callable[[FloatArray], float],
    start: FloatArray,
    *,
    max_iter: int = MAX_ITER,
    max_seconds: float = FIT_SECONDS,
    within: tuple[FloatArray, float] | None = None,
) -> Optimum | None:
    """Minimise within `max_iter` iterations per stage and `max_seconds` in all.

    `within` = (centre, radius): give up (not converged) as soon as a trial point is further
    than `radius` from `centre` in any coordinate.

    BFGS (fast); when it stops short, Nelder-Mead from there (no gradient needed), polished
    by BFGS. Numerical warnings along the way (a precision-loss stop, an overflow at a trial
    point) are not failures: what counts is the best finite point and the gradient there.
    None when no trial point had a finite value.
    """
    tracked = _Tracked(objective, max_seconds, within)
    notes: list[str] = []
    converged = timed_out = False
    bfgs = {"maxiter": max_iter, "gtol": 1e-7}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            result = minimize(tracked, start, method="BFGS", options=bfgs)
            converged = bool(result.success)
            if not converged and np.max(np.abs(result.jac)) >= _FLAT_GRADIENT:
                coarse = minimize(
                    tracked,
                    tracked.best_x if tracked.best_x is not None else result.x,
                    method="Nelder-Mead",
                    options={"maxiter": max_iter, "xatol": 1e-8, "fatol": 1e-12},
                )
                fine = minimize(tracked, tracked.best_x, method="BFGS", options=bfgs)
                converged = bool(coarse.success or fine.success)
                if not converged:
                    notes.append(f"optimizer stopped: {fine.message}")
        except _Strayed:
            notes.append("left the neighbourhood of its start")
        except _OutOfTime:
            timed_out = True
            notes.append(
                f"stopped at the {max_seconds:g} s time cap after {tracked.evaluations} "
                "evaluations, at the best point so far"
            )
        if tracked.best_x is None:
            return None
        gradient = _gradient(objective, tracked.best_x)
    converged = converged or gradient < _FLAT_GRADIENT
    return Optimum(tracked.best_x, tracked.best_fun, converged, gradient, notes, timed_out)


def l2_penalty(log_params: FloatArray, coef: float) -> float:
    """`coef` x the sum of squared log-parameters (see PENALIZER_COEF)."""
    return coef * float(np.dot(log_params, log_params))


def maximise_likelihood(
    neg_mean_ll: Callable[[FloatArray], float],
    n_params: int,
    *,
    penalizer_coef: float = PENALIZER_COEF,
    max_iter: int = MAX_ITER,
    max_seconds: float = FIT_SECONDS,
) -> Optimum | None:
    """Penalised search from log-parameters 0, then an unpenalised polish (see PENALIZER_COEF).

    `neg_mean_ll` maps log-parameters to the mean negative log-likelihood per customer. Both
    stages together stay within `max_seconds`. None when no point had a finite likelihood.
    """
    started = time.perf_counter()

    def penalised(z: FloatArray) -> float:
        return neg_mean_ll(z) + l2_penalty(z, penalizer_coef)

    first = minimize_capped(
        penalised, np.zeros(n_params), max_iter=max_iter, max_seconds=max_seconds
    )
    if first is None or penalizer_coef == 0 or not first.usable or first.timed_out:
        return first
    left = max_seconds - (time.perf_counter() - started)
    polish = minimize_capped(
        neg_mean_ll,
        first.x,
        max_iter=max_iter,
        max_seconds=max(min(left, max_seconds / 4), 0.1),
        within=(first.x, _POLISH_RADIUS),
    )
    if polish is not None and polish.converged and not polish.timed_out:
        polish.notes = first.notes + polish.notes
        return polish
    first.notes.append(
        f"likelihood flat near the optimum: kept the penalised fit (penalizer_coef={penalizer_coef:g})"
    )
    return first


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
        # What the fit ran into without failing (a cap reached, an optimizer stop).
        self.fit_notes: list[str] = []

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

        The search is penalised (`penalizer_coef`) and capped (`max_iter`, `max_seconds`):
        it ends with finite parameters or BTYDFitError, never a hang; what it ran into on the
        way (a precision-loss stop, the time cap) is kept in `fit_notes`.

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
            return -float(np.dot(weights, ll)) / total

        found = maximise_likelihood(
            objective,
            len(self.PARAM_NAMES),
            penalizer_coef=self.config.penalizer_coef,
            max_iter=self.config.max_iter,
            max_seconds=self.config.max_seconds,
        )
        if found is None:
            raise BTYDFitError(f"{self.KIND}: the likelihood is not finite anywhere it looked")
        if not found.usable:
            why = "; ".join(found.notes) or "optimizer stopped short"
            raise BTYDFitError(
                f"{self.KIND} maximum likelihood did not converge ({why}; gradient "
                f"{found.gradient:.1e})"
            )
        if np.any(np.abs(found.x) > _LOG_PARAM_LIMIT):
            raise BTYDFitError(
                f"{self.KIND} fit ran off to a boundary (parameters "
                f"{dict(zip(self.PARAM_NAMES, np.exp(found.x).tolist(), strict=True))}); "
                "the data do not identify the model"
            )
        self._params = np.exp(found.x)
        with np.errstate(all="ignore"):
            ll = self._log_likelihood(self._params, ux, utx, uage)
        self.log_likelihood = float(np.dot(weights, ll))
        self.n_customers = int(x.size)
        self.fit_seconds = time.perf_counter() - started
        self.fit_notes = found.notes
        if found.timed_out:  # a fit that ran long says so, not silently
            say(f"[churnrec] {self.KIND} fit on {x.size} customers: {'; '.join(found.notes)}")
        return self

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
