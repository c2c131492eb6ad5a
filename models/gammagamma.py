"""Gamma-Gamma model of spend per transaction (Fader, Hardie and Lee 2005, "RFM and CLV"): few
repeat purchases shrink towards the population's mean spend. Inputs: `frequency` (repeat
transactions) and `monetary` (their average value)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self

import numpy as np
import numpy.typing as npt
from scipy.special import gammaln

from churnrec.models.base import NotFittedError
from churnrec.models.bgnbd import _LOG_PARAM_LIMIT, BTYDFitError, FloatArray, maximise_likelihood

PARAM_NAMES = ("p", "q", "v")


class GammaGammaFitError(BTYDFitError):
    """Too few repeat buyers, or no spend variation; a BTYDFitError, so one except clause
    handles every BTYD fit's failure."""


def _check(frequency: npt.ArrayLike, monetary: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    x = np.atleast_1d(np.asarray(frequency, dtype=np.float64))
    m = np.atleast_1d(np.asarray(monetary, dtype=np.float64))
    if x.shape != m.shape or x.ndim != 1:
        raise ValueError(f"frequency and monetary must be 1-d, same length: {x.shape}, {m.shape}")
    bad = ~np.isfinite(x) | (x < 0) | ((x > 0) & ~(np.isfinite(m) & (m > 0)))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"row {row} (frequency={x[row]}, monetary={m[row]}): frequency must be >= 0 and the "
            "average repeat spend positive for repeat buyers"
        )
    return x, m


class GammaGamma:
    """Spend per transaction ~ gamma(p, nu), nu ~ gamma(q, v) across customers."""

    KIND = "gammagamma"

    def __init__(self) -> None:
        self._params: FloatArray | None = None
        self.fit_notes: list[str] = []  # what the fit ran into without failing

    @classmethod
    def from_params(cls, params: Mapping[str, float]) -> Self:
        model = cls()
        model._params = np.array([float(params[k]) for k in PARAM_NAMES])
        return model

    @property
    def params(self) -> dict[str, float]:
        if self._params is None:
            raise NotFittedError("GammaGamma has no parameters yet: call fit() first")
        return dict(zip(PARAM_NAMES, self._params.tolist(), strict=True))

    @staticmethod
    def _log_likelihood(params: FloatArray, x: FloatArray, m: FloatArray) -> FloatArray:
        # Fader, Hardie and Lee (2005b), eq. 3 for the distribution of the mean m_x of x values.
        p, q, v = params
        return (
            gammaln(p * x + q)
            - gammaln(p * x)
            - gammaln(q)
            + q * np.log(v)
            + (p * x - 1) * np.log(m)
            + p * x * np.log(x)
            - (p * x + q) * np.log(x * m + v)
        )

    def fit(self, frequency: npt.ArrayLike, monetary: npt.ArrayLike) -> Self:
        """Maximum likelihood on the repeat buyers (frequency > 0): finite parameters or
        GammaGammaFitError, within the time cap, as for BG/NBD."""
        x, m = _check(frequency, monetary)
        keep = x > 0
        x, m = x[keep], m[keep]
        if x.size < 3:
            raise GammaGammaFitError(f"need at least 3 repeat buyers to fit, got {x.size}")
        scale = float(np.mean(m))  # fit in units of the mean spend: well-conditioned start

        def objective(log_params: FloatArray) -> float:
            return -float(np.mean(self._log_likelihood(np.exp(log_params), x, m / scale)))

        found = maximise_likelihood(objective, 3)  # BG/NBD's penalty and caps
        if found is None or not found.usable:
            why = "; ".join(found.notes) if found is not None else "no finite likelihood"
            raise GammaGammaFitError(f"Gamma-Gamma fit did not converge ({why})")
        if np.any(np.abs(found.x) > _LOG_PARAM_LIMIT):
            raise GammaGammaFitError(
                "Gamma-Gamma fit ran off to a boundary (the repeat buyers' average spends "
                "barely vary); the data do not identify the model"
            )
        p, q, v = np.exp(found.x)
        self._params = np.array([p, q, v * scale])
        self.fit_notes = found.notes
        return self

    def expected_spend(self, frequency: npt.ArrayLike, monetary: npt.ArrayLike) -> FloatArray:
        """E[spend per transaction | history]: the shrunk average order value (the population
        mean p v / (q - 1) for one-time buyers)."""
        x, m = _check(frequency, np.nan_to_num(np.asarray(monetary, dtype=float), nan=1.0))
        p, q, v = self._params if self._params is not None else self.params.values()
        population = p * v / (q - 1) if q > 1 else np.nan
        weight = (q - 1) / (p * x + q - 1)
        individual = np.where(x > 0, x * m / np.maximum(x, 1), 0.0)
        return np.where(x > 0, weight * population + (1 - weight) * individual, population)
