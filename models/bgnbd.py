"""BG/NBD "buy till you die" model (Fader, Hardie and Lee 2005), fitted by maximum likelihood,
and `BTYDModel`, the fitting that Pareto/NBD shares. Times are in the summary's
unit (`time_unit_days`, weeks by default)."""

from __future__ import annotations

import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Self

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import minimize
from scipy.special import betaln, expit, gammaln, hyp2f1

from churnrec.models.base import NotFittedError
from churnrec.progress import say

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]

# A fitted log-parameter beyond this runs off to 0 or infinity: the data do not identify it.
_LOG_PARAM_LIMIT = 15.0
# Largest gradient of the mean per-customer log-likelihood (in log-parameters) taken as zero.
_FLAT_GRADIENT = 1e-5
# A search cut short by a cap keeps its best point only where the objective is this flat (a
# ridge, as good as the optimum); elsewhere the fit fails with its reason.
_CAPPED_GRADIENT = 1e-3
# L2 penalty on the log-parameters (`lifetimes`' `penalizer_coef`): along a flat ridge an
# unpenalised search wanders for minutes, with 1e-4 it ends in a second. A polish without it
# within _POLISH_RADIUS then gives the plain MLE (published CDNOW values) when it converges.
PENALIZER_COEF = 1e-4
_POLISH_RADIUS = 1.0  # in log-parameters: a factor e either way
# Wall-clock cap of one fit; at the cap the fit ends with its best point so far (see above).
FIT_SECONDS = 20.0
# Optimizer iterations per stage; converged fits of these models take well under 500.
MAX_ITER = 2_000


class BTYDFitError(RuntimeError):
    """A BTYD fit (BG/NBD, Pareto/NBD, Gamma-Gamma) with no usable answer; the message is a
    one-line reason that callers log when they drop the fit."""


class BTYDConfig(BaseModel):
    """How the fit runs, and the time unit its parameters are expressed in."""

    model_config = ConfigDict(extra="forbid")

    time_unit_days: float = Field(7.0, gt=0, description="days per time unit of recency/T/t")
    max_iter: int = Field(MAX_ITER, gt=0, description="optimizer iteration limit per stage")
    penalizer_coef: float = Field(
        PENALIZER_COEF, ge=0, description="L2 penalty on the log-parameters (mean scale)"
    )
    max_seconds: float = Field(FIT_SECONDS, gt=0, description="wall-clock cap of one fit")


def check_rfm(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> tuple[FloatArray, ...]:
    """Frequency / recency / T as equal-length float arrays; raises naming the first bad row."""
    x, tx, age = (np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (frequency, recency, T))
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
    """The objective, counting evaluations and keeping the best finite point seen; a
    non-finite value comes back as a large number, so the optimizer rejects the step."""

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
    """BFGS, then Nelder-Mead and a BFGS polish if it stops short, within the caps; `within` =
    (centre, radius) gives up once a trial point strays further. Warnings are not failures: the
    best finite point and its gradient count. None when no trial point was finite."""
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
    return Optimum(tracked.best_x, converged, gradient, notes, timed_out)


def maximise_likelihood(
    neg_mean_ll: Callable[[FloatArray], float],
    n_params: int,
    *,
    penalizer_coef: float = PENALIZER_COEF,
    max_iter: int = MAX_ITER,
    max_seconds: float = FIT_SECONDS,
) -> Optimum | None:
    """Penalised search from log-parameters 0, then an unpenalised polish (see PENALIZER_COEF),
    of `neg_mean_ll` (mean negative log-likelihood per customer); both share `max_seconds`."""
    started = time.perf_counter()

    def penalised(z: FloatArray) -> float:
        return neg_mean_ll(z) + penalizer_coef * float(np.dot(z, z))

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
    Subclasses give the parameter names, the log-likelihood and the predictions."""

    KIND: ClassVar[str]
    PARAM_NAMES: ClassVar[tuple[str, ...]]

    def __init__(self, config: BTYDConfig | None = None) -> None:
        self.config = config or BTYDConfig()
        self._params: FloatArray | None = None
        self.log_likelihood: float | None = None
        self.n_customers: int = 0
        self.fit_notes: list[str] = []  # what the fit ran into without failing

    @classmethod
    def from_params(cls, params: Mapping[str, float], config: BTYDConfig | None = None) -> Self:
        """A model with given parameters (no fit), e.g. published values or a simulation."""
        if set(params) != set(cls.PARAM_NAMES):
            raise ValueError(f"{cls.KIND} needs parameters {cls.PARAM_NAMES}, got {sorted(params)}")
        values = np.array([float(params[n]) for n in cls.PARAM_NAMES])
        if not np.all(np.isfinite(values) & (values > 0)):
            raise ValueError(
                f"{cls.KIND} parameters must be positive and finite, got {dict(params)}"
            )
        model = cls(config)
        model._params = values
        return model

    @property
    def params(self) -> dict[str, float]:
        """Fitted (or given) parameters by name."""
        return dict(zip(self.PARAM_NAMES, self._fitted().tolist(), strict=True))

    def _fitted(self) -> FloatArray:
        if self._params is None:
            raise NotFittedError(f"{type(self).__name__} has no parameters yet: call fit() first")
        return self._params

    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        *,
        max_customers: int | None = None,
        seed: int = 0,
    ) -> Self:
        """Penalised, capped fit: finite parameters, ValueError on empty data or BTYDFitError,
        never a hang. `max_customers` fits a seeded sample: four population parameters are
        estimated as well from a few hundred thousand customers as from millions."""
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
        # Equal (frequency, recency, T) share a likelihood term: fit distinct rows, weighted.
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
        self.fit_notes = found.notes
        if found.timed_out:  # a fit that ran long says so, not silently
            say(f"[churnrec] {self.KIND} fit on {x.size} customers: {'; '.join(found.notes)}")
        return self

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

    def _p_alive(self, p: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray) -> FloatArray:
        # expit(-log odds of gone at T); the odds are 0 (log -inf) when x == 0.
        r, alpha, a, b = p
        with np.errstate(divide="ignore", invalid="ignore"):
            log_odds_dead = np.where(
                x > 0,
                np.log(a) - np.log(b + x - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx)),
                -np.inf,
            )
        return expit(-log_odds_dead)

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
        # Alive at T, a customer leaves only right after a purchase, so "no purchase in t" is
        # "no Poisson event in t" at the posterior rate gamma(r + x, alpha + T):
        #   P(>= 1 purchase) = P(alive) * (1 - ((alpha+T) / (alpha+T+t))^(r+x)).
        r, alpha, _, _ = p
        log_none = (r + x) * (np.log(alpha + T) - np.log(alpha + T + t))
        return self._p_alive(p, x, tx, T) * -np.expm1(log_none)
