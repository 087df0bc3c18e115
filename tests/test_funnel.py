"""Funnel plot limits (hub.funnel): Spiegelhalter's interpolated exact binomial limits.

The expected values were computed separately with exact rational arithmetic (fractions.Fraction
and math.comb: the binomial CDF, the first r with F(r) >= p, alpha = (F(r) - p) / (F(r) - F(r-1)),
limit = (r - alpha) / n; Spiegelhalter, Statistics in Medicine 24 (2005), appendix A.1.1).
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from hub import funnel

# (mean, n): (95 % lower, 95 % upper, 99.8 % lower, 99.8 % upper)
KNOWN = {
    (0.5, 100): (0.39682, 0.59318, 0.34122, 0.64878),
    (0.8, 20): (0.58388, 0.93832, 0.46075, 0.99566),
    (0.7, 50): (0.55986, 0.81386, 0.48093, 0.87687),
}


@pytest.mark.parametrize(("mean", "n"), list(KNOWN))
def test_limits_match_the_exact_binomial_values(mean: float, n: int) -> None:
    low95, high95, low998, high998 = KNOWN[(mean, n)]
    assert funnel.limits(mean, n, 0.95) == pytest.approx((low95, high95), abs=1e-5)
    assert funnel.limits(mean, n, 0.998) == pytest.approx((low998, high998), abs=1e-5)


def _exact_limit(mean: Fraction, n: int, prob: Fraction) -> float:
    """Spiegelhalter's interpolated quantile from the whole CDF in exact rational arithmetic, within [0, 1]."""
    cdf, total = [], Fraction(0)
    for r in range(n + 1):
        total += math.comb(n, r) * mean**r * (1 - mean) ** (n - r)
        cdf.append(total)
    r = next(i for i, f in enumerate(cdf) if f >= prob)
    below = cdf[r - 1] if r else Fraction(0)
    return min(1.0, max(0.0, float((r - (cdf[r] - prob) / (cdf[r] - below)) / n)))


@pytest.mark.parametrize("mean", ["1/1000", "1/20", "1/2", "7/10", "199/200", "999/1000"])
@pytest.mark.parametrize("n", [1, 3, 12, 60, 400])
def test_limits_summed_near_the_mean_equal_the_whole_distribution(mean: str, n: int) -> None:
    """The CDF is summed only where the mass is (hub.funnel's window): near 0 and 1 and at small n too,
    the limits are those of the whole distribution."""
    exact = Fraction(mean)
    for coverage, tail in ((0.95, Fraction(1, 40)), (0.998, Fraction(1, 1000))):
        expected = (_exact_limit(exact, n, tail), _exact_limit(exact, n, 1 - tail))
        assert funnel.limits(float(exact), n, coverage) == pytest.approx(expected, abs=1e-9)


def test_the_funnel_narrows_with_more_responses_and_meets_the_normal_limits() -> None:
    widths = [funnel.limits(0.7, n, 0.95) for n in (10, 40, 160, 640, 1999)]
    spans = [hi - lo for lo, hi in widths]
    assert spans == sorted(spans, reverse=True) and spans[0] > 3 * spans[-1]
    # Past the exact range the normal approximation takes over without a visible step.
    exact = funnel.limits(0.7, funnel.EXACT_UP_TO, 0.95)
    normal = funnel.limits(0.7, funnel.EXACT_UP_TO + 1, 0.95)
    assert exact == pytest.approx(normal, abs=1e-3)
    half = 1.959963984540054 * math.sqrt(0.7 * 0.3 / 5000)
    assert funnel.limits(0.7, 5000, 0.95) == pytest.approx((0.7 - half, 0.7 + half))


def test_the_outer_limits_are_wider_and_stay_inside_zero_and_one() -> None:
    for n in (1, 3, 12, 90):
        lo95, hi95 = funnel.limits(0.9, n, 0.95)
        lo998, hi998 = funnel.limits(0.9, n, 0.998)
        assert 0.0 <= lo998 <= lo95 <= 0.9 <= hi95 <= hi998 <= 1.0


def test_a_group_is_judged_by_its_own_size() -> None:
    # 58 % of 12 responses is chance; 58 % of 900 against a mean of 70 % is not.
    assert funnel.position(0.58, 12, 0.70) == "within"
    assert funnel.position(0.58, 900, 0.70) == "below"
    assert funnel.position(0.80, 900, 0.70) == "above"


def test_the_funnel_of_a_team_is_around_their_pooled_share() -> None:
    shape = funnel.funnel([(30, 40), (5, 10), (0, 0)])  # the empty group counts for nothing
    assert shape.mean == pytest.approx(35 / 50)
    assert shape.n[0] == 1 and shape.n[-1] == 40 and shape.n == sorted(set(shape.n))
    assert len(shape.bands[0.95]) == len(shape.n) == len(shape.bands[0.998])
    assert funnel.funnel([]).mean is None


def test_bad_input_names_the_field() -> None:
    with pytest.raises(ValueError, match="mean"):
        funnel.limits(1.5, 10, 0.95)
    with pytest.raises(ValueError, match="n:"):
        funnel.limits(0.5, 0, 0.95)
