"""Pareto/NBD (Schmittlein, Morrison and Colombo 1987): Poisson purchases at a gamma(r, alpha)
rate while alive, an exponential lifetime at a gamma(s, beta) rate; the likelihood follows Fader
and Hardie's "A note on deriving the Pareto/NBD model and related expressions" (2005)."""

from __future__ import annotations

import numpy as np
from scipy.special import expit, gammaln, hyp2f1

from churnrec.models.bgnbd import BTYDModel, FloatArray, _log1mexp


def _log_tail(
    p: float | FloatArray, q: float, alpha: FloatArray, beta: FloatArray, lo: FloatArray
) -> FloatArray:
    """log of integral_lo^inf (alpha+tau)^-p (beta+tau)^-q, p+q > 1, as 2F1(e, m; m+1; z) / (m
    big^m) under Euler's transformation, (1-z)^(1-e) 2F1(p+q-e, 1; m+1; z): its terms stay
    below z^k, so hundreds of purchases do not overflow it."""
    m = p + q - 1.0
    alpha, beta = np.broadcast_arrays(np.asarray(alpha, float), np.asarray(beta, float))
    big = np.maximum(alpha, beta) + lo
    z = np.abs(alpha - beta) / big
    # alpha >= beta: (beta+tau) = (alpha+tau)(1 - z), so e = q; otherwise e = p.
    e = np.where(alpha >= beta, q, p)
    log_f = (1.0 - e) * np.log1p(-z) + np.log(hyp2f1(p + q - e, 1.0, m + 1.0, z))
    return log_f - m * np.log(big) - np.log(m)


def log_integral(
    p: float | FloatArray,
    q: float,
    alpha: FloatArray,
    beta: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
) -> FloatArray:
    """log of the integral over tau in [lo, hi] of (alpha+tau)^-p (beta+tau)^-q; -inf if lo == hi."""
    g_lo = _log_tail(p, q, alpha, beta, lo)
    g_hi = _log_tail(p, q, alpha, beta, hi)
    return g_lo + _log1mexp(np.minimum(g_hi - g_lo, 0.0))


class ParetoNBD(BTYDModel):
    """Pareto/NBD with parameters r, alpha (purchase rate) and s, beta (dropout rate)."""

    KIND = "paretonbd"
    PARAM_NAMES = ("r", "alpha", "s", "beta")

    @staticmethod
    def _terms(
        p: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Log of the likelihood terms 'alive at T', (alpha+T)^-(r+x) (beta+T)^-s, and 'left in
        (t_x, T]', s * integral_{t_x}^T (alpha+tau)^-(r+x) (beta+tau)^-(s+1), without their
        common factor Gamma(r+x) alpha^r beta^s / Gamma(r)."""
        r, alpha, s, beta = p
        alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        left = np.log(s) + log_integral(r + x, s + 1.0, alpha, beta, tx, T)
        return alive, left

    def _log_likelihood(
        self, p: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray
    ) -> FloatArray:
        r, alpha, s, beta = p
        common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        alive, left = self._terms(p, x, tx, T)
        # A far-off trial point can make a term NaN: the optimiser rejects it, so no warning.
        with np.errstate(invalid="ignore"):
            return common + np.logaddexp(alive, left)

    def _p_alive(self, p: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray) -> FloatArray:
        alive, left = self._terms(p, x, tx, T)
        return expit(alive - left)

    def _expected_purchases(
        self, p: FloatArray, t: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray
    ) -> FloatArray:
        # Alive at T: lambda ~ gamma(r+x, alpha+T), mu ~ gamma(s, beta+T); E[lambda/mu (1 -
        # e^{-mu t})] = (r+x)/(alpha+T) * (beta+T)/(s-1) * (1 - ((beta+T)/(beta+T+t))^(s-1)).
        r, alpha, s, beta = p
        rate = (r + x) / (alpha + T)
        log_ratio = np.log(beta + T + t) - np.log(beta + T)
        if abs(s - 1.0) < 1e-9:
            horizon = (beta + T) * log_ratio
        else:
            horizon = (beta + T) / (s - 1.0) * -np.expm1(-(s - 1.0) * log_ratio)
        return self._p_alive(p, x, tx, T) * rate * horizon

    def _prob_purchase_within(
        self, p: FloatArray, t: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray
    ) -> FloatArray:
        # Alive at T with rates (lambda, mu): the first purchase comes at u in (0, t] before the
        # end of life with density lambda e^{-(lambda+mu) u}. Averaged over the alive posterior
        # lambda ~ gamma(r+x, alpha+T), mu ~ gamma(s, beta+T):
        #   (r+x) (alpha+T)^(r+x) (beta+T)^s * integral_T^{T+t} (alpha+tau)^-(r+x+1) (beta+tau)^-s.
        r, alpha, s, beta = p
        t = np.broadcast_to(t, np.broadcast_shapes(np.shape(t), np.shape(T)))
        log_alive_mass = (
            np.log(r + x)
            + (r + x) * np.log(alpha + T)
            + s * np.log(beta + T)
            + log_integral(r + x + 1.0, s, alpha, beta, T, T + t)
        )
        return self._p_alive(p, x, tx, T) * np.exp(log_alive_mass)
