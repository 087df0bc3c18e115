"""Funnel plots: control limits for comparing shares measured on groups of very different sizes.

An employee with 12 responses at 58 % positive and one with 900 at 58 % are not alike: the
first could be anyone. A funnel plot (Spiegelhalter, "Funnel plots for comparing
institutional performance", Statistics in Medicine 24, 2005) draws each group's share
against its number of responses, with the limits inside which a group whose true share is
the overall mean would fall 95 % and 99.8 % of the time. The limits narrow as n grows, so
only a point outside them says something about the person rather than about chance.

Limits are the exact binomial ones with Spiegelhalter's interpolation between the integer
steps (so the funnel is a smooth curve, not a staircase); past ``EXACT_UP_TO`` responses the
normal approximation is used, which by then agrees to well under a tenth of a percent point.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

# Two-sided coverage of the limits drawn, with their standard normal quantiles.
LEVELS = {0.95: 1.959963984540054, 0.998: 3.090232306167813}
EXACT_UP_TO = 2000


# Outside this many standard deviations either side of n p (plus a margin for small n) a
# binomial's mass is below 1e-15: the CDF is summed over that window only, about 16 sd wide
# instead of n + 1 terms (a funnel of 2,000 responses: ~300 instead of 2,001). The window's
# own total is checked, and the whole range summed when it falls short.
_WINDOW_SD = 8.0
_WINDOW_MARGIN = 10
_MASS_MISSING = 1e-12


@lru_cache(maxsize=1024)
def _binomial_cdf(n: int, p: float) -> tuple[int, tuple[float, ...]]:
    """(first, cdf): cdf[i] = P(X <= first + i) for X ~ Binomial(n, p), over the values holding
    its mass (P(X < first) is below 1e-12); summed in log space so large n does not underflow.

    Cached: a funnel asks each n's once for both limit levels, and every employee's position
    asks their own n again around the same mean."""
    if p <= 0.0:
        return 0, (1.0,) * (n + 1)
    if p >= 1.0:
        return 0, (0.0,) * n + (1.0,)
    spread = _WINDOW_SD * math.sqrt(n * p * (1.0 - p)) + _WINDOW_MARGIN
    first, last = max(0, math.floor(n * p - spread)), min(n, math.ceil(n * p + spread))
    pmf = _pmf(n, p, first, last)
    if sum(pmf) < 1.0 - _MASS_MISSING:
        first, pmf = 0, _pmf(n, p, 0, n)
    total, out = 0.0, []
    for mass in pmf:
        total += mass
        out.append(min(total, 1.0))
    return first, tuple(out)


def _pmf(n: int, p: float, first: int, last: int) -> list[float]:
    log_p, log_q, log_n = math.log(p), math.log1p(-p), math.lgamma(n + 1)
    return [math.exp(log_n - math.lgamma(r + 1) - math.lgamma(n - r + 1) + r * log_p + (n - r) * log_q)
            for r in range(first, last + 1)]  # fmt: skip


def _quantile(first: int, cdf: Sequence[float], n: int, prob: float) -> float:
    """Spiegelhalter's interpolated binomial quantile, as a share of n (his equation for r_p - alpha)."""
    i = next((i for i, f in enumerate(cdf) if f >= prob), len(cdf) - 1)
    below = cdf[i - 1] if i > 0 else 0.0
    step = cdf[i] - below
    alpha = (cdf[i] - prob) / step if step > 0 else 0.0
    return min(1.0, max(0.0, (first + i - alpha) / n))


def limits(mean: float, n: int, coverage: float) -> tuple[float, float]:
    """(lower, upper) share a group of ``n`` responses stays within with probability ``coverage``
    when its true share is ``mean``."""
    if not 0.0 <= mean <= 1.0:
        raise ValueError(f"mean: {mean!r} is not a share between 0 and 1")
    if n < 1:
        raise ValueError(f"n: {n!r} must be at least 1")
    tail = (1.0 - coverage) / 2.0
    if n > EXACT_UP_TO:
        z = LEVELS.get(coverage) or _normal_quantile(1.0 - tail)
        half = z * math.sqrt(mean * (1.0 - mean) / n)
        return max(0.0, mean - half), min(1.0, mean + half)
    first, cdf = _binomial_cdf(n, mean)
    return _quantile(first, cdf, n, tail), _quantile(first, cdf, n, 1.0 - tail)


def _normal_quantile(prob: float) -> float:
    # Bisection on erf: only reached for a coverage not in LEVELS, so speed does not matter.
    lo, hi = -10.0, 10.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < prob:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


@dataclass(frozen=True)
class Funnel:
    """A funnel's mean and its limit curves, sampled at ``n`` values from 1 to the largest group."""

    mean: float | None
    n: list[int]
    bands: dict[float, list[tuple[float, float]]]  # coverage -> [(lower, upper)] at each n

    def as_json(self) -> dict:
        return {
            "mean": self.mean,
            "n": self.n,
            "bands": {f"{c:g}": [[round(lo, 4), round(hi, 4)] for lo, hi in v] for c, v in self.bands.items()},
        }


def sample_sizes(largest: int, points: int = 60) -> list[int]:
    """Whole n from 1 to ``largest``, spaced evenly on a log scale (the funnel bends most at small n)."""
    if largest < 1:
        return []
    values = {1, largest}
    for i in range(points):
        values.add(max(1, round(math.exp(math.log(largest) * i / (points - 1)))))
    return sorted(values)


def pooled_share(groups: Iterable[tuple[int, int]]) -> float | None:
    """The positive share of (positive, responses) groups taken together; None without responses."""
    pairs = [(k, n) for k, n in groups if n > 0]
    total = sum(n for _, n in pairs)
    return sum(k for k, _ in pairs) / total if total else None


def funnel(
    groups: Iterable[tuple[int, int]], coverages: Iterable[float] = tuple(LEVELS), reference: float | None = None
) -> Funnel:
    """The funnel for groups given as (positive, responses), around ``reference`` (a wider
    population's share: a branch's people against the whole chain's), by default the pooled
    share of the groups themselves."""
    pairs = [(k, n) for k, n in groups if n > 0]
    mean = reference if reference is not None else pooled_share(pairs)
    if mean is None or not pairs:
        return Funnel(mean, [], {c: [] for c in coverages})
    sizes = sample_sizes(max(n for _, n in pairs))
    return Funnel(mean, sizes, {c: [limits(mean, n, c) for n in sizes] for c in coverages})


def position(share: float, n: int, mean: float, coverage: float = 0.998) -> str:
    """``above``, ``below`` or ``within`` the funnel's limits at ``coverage`` for a group of ``n``."""
    low, high = limits(mean, n, coverage)
    return "above" if share > high else "below" if share < low else "within"
