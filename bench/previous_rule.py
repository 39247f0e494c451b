"""The decision rule of ci-autoresearch before the sequential rank method, kept to compare against.

This is the rule of commit 779b4bf (``ci_autoresearch/stats.py`` then), frozen here so that
``decision_quality.py`` can decide the same recorded samples with it beside today's rule: per look,
the median of the round log-ratios, its expanded-percentile bootstrap interval (Hesterberg 2015) at
``confidence`` and Wilcoxon's signed-rank p-value; ``improved`` when the interval lies beyond
``-min_effect`` and ``p < 1 - confidence``, at each of the looks (10, 15, 23, 30 rounds), with the
futility rule of that time. It is not used by the tool.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Literal

from ci_autoresearch.decide import sequential, stats
from ci_autoresearch.model import Estimate

Aggregate = Literal["median", "mean"]
BootstrapMethod = Literal["expanded", "percentile"]
Statistic = Callable[[Sequence[float]], float]

DEFAULT_RESAMPLES = 2000
_NORMAL = statistics.NormalDist()


def _checked(values: Sequence[float], what: str, *, positive: bool = False) -> list[float]:
    out = [float(v) for v in values]
    for v in out:
        if not math.isfinite(v):
            raise ValueError(f"{what}: {v!r} is not a finite number")
        if positive and v <= 0.0:
            raise ValueError(f"{what}: {v!r} is not positive (ratios need positive values)")
    return out


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, not {confidence!r}")


def _median(values: Sequence[float]) -> float:
    data = sorted(values)
    n = len(data)
    if n == 0:
        raise ValueError("the median of no values")
    half = n // 2
    if n % 2:
        return data[half]
    return (data[half - 1] + data[half]) / 2.0


def _mean(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("the mean of no values")
    return math.fsum(values) / len(values)


def _aggregate(aggregate: Aggregate) -> Statistic:
    if aggregate == "median":
        return _median
    if aggregate == "mean":
        return _mean
    raise ValueError(f"aggregate must be 'median' or 'mean', not {aggregate!r}")


def _interpolated_quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default, Hyndman-Fan type 7)."""
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


# --------------------------------------------------------------------------------------------------
# Student's t quantile (for the expanded bootstrap), via the regularised incomplete beta function


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz, Numerical Recipes 6.4)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def _t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom, ``t >= 0``."""
    return 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))


@lru_cache(maxsize=256)
def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t distribution with ``df >= 1`` degrees of freedom."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must lie strictly between 0 and 1, not {p!r}")
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, not {df!r}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    if p == 0.5:
        return 0.0
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2.0 * p - 1.0) / math.sqrt(2.0 * p * (1.0 - p))
    tail = 1.0 - p
    lo = 0.0
    hi = max(1.0, _NORMAL.inv_cdf(p))
    while _t_sf(hi, df) > tail:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if _t_sf(mid, df) > tail:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return (lo + hi) / 2.0


def expanded_alpha(alpha: float, n: int) -> float:
    """The tail probability the expanded percentile interval reads for a nominal ``alpha`` and ``n``.

    ``2 * Phi(-sqrt(n / (n - 1)) * t(1 - alpha / 2, n - 1))``; for ``n < 2`` the interval is
    degenerate anyway and ``alpha`` is returned.
    """
    if n < 2:
        return alpha
    z = math.sqrt(n / (n - 1)) * t_quantile(1.0 - alpha / 2.0, n - 1)
    return 2.0 * _NORMAL.cdf(-z)


def _resample_indices(rng: random.Random, n: int, count: int) -> Sequence[int]:
    """``count`` indices drawn uniformly from ``range(n)``.

    For up to 256 values from random bytes mapped at C speed (bytes that would bias the modulo are
    rejected), which makes the bootstrap about twice as fast as ``rng.choices``.
    """
    if n > 256:
        return rng.choices(range(n), k=count)
    limit = 256 - 256 % n
    table = bytes(i % n for i in range(256))
    reject = bytes(range(limit, 256))
    out = bytearray()
    while len(out) < count:
        need = count - len(out)
        out += rng.randbytes(need * 256 // limit + 16).translate(table, reject)
    return bytes(out[:count])


@lru_cache(maxsize=64)
def _median_order_statistics(n: int) -> tuple[tuple[tuple[int, int], ...], tuple[float, ...]]:
    """The law of the middle order statistics of ``n`` indices drawn uniformly from ``range(n)``.

    Returns the possible ``(i, j)`` (``i == j`` for odd ``n``; the two middle ones for even ``n``) and
    their cumulative probabilities: the median of a bootstrap resample of the sorted values ``v`` is
    ``(v[i] + v[j]) / 2`` with exactly this probability. With ``X ~ Binomial(n, (a + 1) / n)``, the
    count of indices ``<= a``: for odd ``n = 2h + 1``, ``P(median index <= a) = P(X >= h + 1)``; for
    even ``n = 2h``, ``P(i <= a, j <= b) = P(X >= h + 1) + P(X = h) * (1 - ((n-1-b) / (n-1-a))**h)``
    for ``a <= b`` (the ``h`` indices above ``a`` are uniform on ``a+1 .. n-1``, at least one ``<= b``).
    """
    h = n // 2
    at_h: list[float] = []
    above_h: list[float] = []
    for a in range(n):
        p = (a + 1) / n
        pmf = [math.comb(n, k) * p**k * (1.0 - p) ** (n - k) for k in range(n + 1)]
        at_h.append(pmf[h])
        above_h.append(math.fsum(pmf[h + 1 :]))
    pairs: list[tuple[int, int]] = []
    probs: list[float] = []
    if n % 2:
        for a in range(n):
            pairs.append((a, a))
            probs.append(above_h[a] - (above_h[a - 1] if a else 0.0))
    else:

        def joint_cdf(a: int, b: int) -> float:
            a = min(a, b)
            if a < 0:
                return 0.0
            if a == n - 1:
                return 1.0
            return above_h[a] + at_h[a] * (1.0 - ((n - 1 - b) / (n - 1 - a)) ** h)

        for a in range(n):
            for b in range(a, n):
                pairs.append((a, b))
                probs.append(
                    joint_cdf(a, b) - joint_cdf(a - 1, b) - joint_cdf(a, b - 1) + joint_cdf(a - 1, b - 1)
                )
    cumulative: list[float] = []
    total = 0.0
    for prob in probs:
        total += max(prob, 0.0)
        cumulative.append(total)
    return tuple(pairs), tuple(cumulative)


#: Up to this many values the bootstrap of the median draws from the law of the middle order
#: statistics instead of sorting every resample (about five times faster; the table for ``n`` is
#: computed once, in about 25 ms for ``n = 100``).
_MEDIAN_SHORTCUT_MAX_N = 100


def _bootstrap_stats(
    data: Sequence[float], statistic: Statistic, rng: random.Random, resamples: int
) -> list[float]:
    """``statistic`` of ``resamples`` resamples (with replacement, same size) of ``data``.

    Resamples index the *sorted* data. For the median (up to :data:`_MEDIAN_SHORTCUT_MAX_N` values)
    the middle order statistics of the resampled indices are drawn directly from their law
    (:func:`_median_order_statistics`): the same distribution as building each resample and taking
    its median, one random number per resample instead of ``n`` and a sort.
    """
    values = sorted(data)
    n = len(values)
    if statistic is _median and n <= _MEDIAN_SHORTCUT_MAX_N:
        pairs, cumulative = _median_order_statistics(n)
        medians = [(values[i] + values[j]) / 2.0 for i, j in pairs]
        return rng.choices(medians, cum_weights=cumulative, k=resamples)
    idx = _resample_indices(rng, n, n * resamples)
    starts = range(0, n * resamples, n)
    get = values.__getitem__
    if statistic is _mean:
        return [math.fsum(map(get, idx[i : i + n])) / n for i in starts]
    return [statistic(list(map(get, idx[i : i + n]))) for i in starts]


def _percentile_interval(
    stats: list[float], *, confidence: float, n: int, method: BootstrapMethod
) -> tuple[float, float]:
    alpha = 1.0 - confidence
    if method == "expanded":
        alpha = expanded_alpha(alpha, n)
    elif method != "percentile":
        raise ValueError(f"method must be 'expanded' or 'percentile', not {method!r}")
    stats.sort()
    return _interpolated_quantile(stats, alpha / 2.0), _interpolated_quantile(stats, 1.0 - alpha / 2.0)


def bootstrap_ci(
    values: Sequence[float],
    *,
    statistic: Statistic,
    confidence: float,
    seed: int,
    resamples: int = DEFAULT_RESAMPLES,
    method: BootstrapMethod = "expanded",
) -> tuple[float, float]:
    """A bootstrap confidence interval of ``statistic(values)``, reproducible for a given ``seed``.

    ``statistic`` must not depend on the order of the values (resamples are drawn from the sorted
    values). ``method="expanded"`` (the default) is the expanded percentile interval described in the
    module docstring; ``"percentile"`` the plain percentile interval. With one value, or all values
    equal, every resample is the same and the interval is a single point.
    """
    data = _checked(values, "values")
    if not data:
        raise ValueError("bootstrap of no values")
    _check_confidence(confidence)
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, not {resamples!r}")
    stats = _bootstrap_stats(data, statistic, random.Random(seed), resamples)
    n = len(data)
    return _percentile_interval(stats, confidence=confidence, n=n, method=method)


def paired_estimate(
    baseline: Sequence[float],
    candidate: Sequence[float],
    *,
    confidence: float,
    seed: int,
    aggregate: Aggregate = "median",
    resamples: int = DEFAULT_RESAMPLES,
) -> Estimate:
    """The effect of the candidate from paired rounds (``baseline[i]`` and ``candidate[i]`` together).

    ratio = ``exp(aggregate(log-ratios))`` (the median ratio, or the geometric mean ratio), interval =
    ``exp`` of the bootstrap interval of that aggregate, p = Wilcoxon signed-rank on the log-ratios.
    """
    ratios = stats.log_ratios(baseline, candidate)
    if not ratios:
        raise ValueError("no rounds to compare")
    _check_confidence(confidence)
    stat = _aggregate(aggregate)
    low, high = bootstrap_ci(ratios, statistic=stat, confidence=confidence, seed=seed, resamples=resamples)
    return Estimate(
        ratio=math.exp(stat(ratios)),
        ci_low=math.exp(low),
        ci_high=math.exp(high),
        p_value=stats.wilcoxon_signed_rank(ratios),
        n=len(ratios),
        confidence=confidence,
        paired=True,
    )


def verdict_reachable(estimate: Estimate, *, min_effect: float, max_rounds: int) -> bool:
    """Whether some verdict (improved, regressed or unchanged) can still be reached by ``max_rounds``.

    Futility check for adaptive rounds. The interval is projected to ``max_rounds`` (its width shrinks
    like 1/sqrt(n)) and the estimate may still move by one current standard error in either direction;
    if even then the interval could neither clear the ±``min_effect`` band on one side nor fit inside
    it, more rounds would end ``inconclusive`` anyway and are not spent. Direction-free: improved and
    regressed are the two sides of the band.
    """
    n = estimate.n
    if n >= max_rounds or n < 2:
        return n < max_rounds
    d = math.log(estimate.ratio)
    low = d - math.log(estimate.ci_low)  # widths in log space
    high = math.log(estimate.ci_high) - d
    shrink = math.sqrt(n / max_rounds)
    z = _NORMAL.inv_cdf(0.5 + estimate.confidence / 2)
    slack = (low + high) / 2 / z  # one current standard error
    lo_band, hi_band = math.log1p(-min_effect), math.log1p(min_effect)
    below = d - slack + high * shrink < lo_band
    above = d + slack - low * shrink > hi_band
    inside = max(d - slack, lo_band + low * shrink) <= min(d + slack, hi_band - high * shrink)
    return below or above or inside


def rounds_to_add(
    estimate: Estimate | None, verdict: str, *, rounds: int, max_rounds: int, min_effect: float
) -> int:
    """The adaptive rule of a measuring session: how many rounds to add after deciding on ``rounds``.

    None while a verdict other than ``inconclusive`` stands; ``extra_rounds`` while one can still be
    reached (:func:`verdict_reachable`); none once it cannot.
    """
    if verdict != "inconclusive":
        return 0
    more = sequential.extra_rounds(rounds, max_rounds)
    if (
        more
        and estimate is not None
        and not verdict_reachable(estimate, min_effect=min_effect, max_rounds=max_rounds)
    ):
        return 0
    return more
