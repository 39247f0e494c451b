"""The statistics behind a verdict: paired log-ratios, bootstrap intervals, rank tests. Pure.

Standard library only, deterministic for a given seed, and fast enough for one decision on 30 rounds
in a few milliseconds.

How a comparison is judged (see ``docs/architecture.md``):

* **Paired** (both sides measured in the same job, one round = one run of each side): the per-round
  log-ratio ``ln(candidate / baseline)``; the effect is ``exp(aggregate(log-ratios))``; its confidence
  interval is ``exp`` of a bootstrap interval of that aggregate; the p-value is Wilcoxon's signed-rank
  test on the log-ratios.
* **Unpaired** (the candidate against a stored artifact): the ratio of the two medians (or means), a
  bootstrap interval that resamples each side on its own, and the Mann-Whitney U test.

The bootstrap interval is the *expanded percentile* interval (Hesterberg 2015, "What teachers should
know about the bootstrap", §4.3): the ordinary percentile interval is too narrow for small samples
(bootstrap distributions use ``n`` where a t-interval uses ``n - 1``, and ``z`` where it uses ``t``),
which for 5-20 rounds costs several points of coverage — about 83-92 % for a nominal 95 % interval of
the mean. The expanded interval reads the percentiles at ``alpha'/2`` and ``1 - alpha'/2`` with
``z(1 - alpha'/2) = sqrt(n / (n - 1)) * t(1 - alpha/2, n - 1)``; like the percentile interval it is
transformation-invariant and stays inside the range of the bootstrap statistics, and its coverage is
close to nominal from about 10 rounds on, for the median as for the mean (``tests/unit/test_stats.py``
checks it). BCa was not chosen: its jackknife acceleration is unreliable for the median, and it does
not fix the narrowness either. For two independent samples the expansion uses the smaller size, which
errs on the wide side (coverage about 97 % at 95 %).

The Wilcoxon p-value is exact up to 25 non-zero rounds *also with ties* (the exact conditional
distribution), not only without: deterministic metrics (instruction counts, every round the same
ratio) tie all the time, and the normal approximation is anti-conservative for them at small n.

A decision combines both: ``improved`` needs the whole interval beyond ``min_effect`` *and*
``p < alpha``. With the measuring loop's looks at 10, 15, 23 and 30 rounds, identical sides come out
``improved`` in at most about 2 % of trials (lognormal noise of 1-10 % CV, bimodal noise), and a true
5 % improvement at 3 % CV is found in about 98 % (see the A/A tests).

Metric values must be positive: ratios and logarithms of zero or negative values mean nothing here.
Callers that may see zeros (a counter that did not fire) decide what to show instead; these functions
raise :class:`ValueError`.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Literal

from ci_autoresearch.model import Direction, Estimate

Aggregate = Literal["median", "mean"]
Classification = Literal["improved", "regressed", "unchanged", "inconclusive"]
BootstrapMethod = Literal["expanded", "percentile"]
Statistic = Callable[[Sequence[float]], float]

DEFAULT_RESAMPLES = 2000
#: Up to this many non-zero differences the Wilcoxon p-value is exact (also with ties); above it,
#: the normal approximation with tie and continuity correction.
WILCOXON_EXACT_MAX_N = 25
#: Up to this product of the sample sizes the Mann-Whitney p-value is exact when there are no ties.
MANN_WHITNEY_EXACT_MAX_CELLS = 2500

_NORMAL = statistics.NormalDist()
_TOLERANCE = 1e-9  # of the band edges in classify(): far below any meaningful effect


# --------------------------------------------------------------------------------------------------
# small helpers


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


def _midranks(values: Sequence[float]) -> tuple[list[float], list[int]]:
    """Ranks 1..n (ties get the mean of the ranks they span) and the sizes of the tie groups."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    ties: list[int] = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        rank = (i + j + 2) / 2.0
        for k in range(i, j + 1):
            ranks[order[k]] = rank
        if j > i:
            ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


def _two_sided_normal_p(z: float) -> float:
    return min(1.0, 2.0 * _NORMAL.cdf(-abs(z)))


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


# --------------------------------------------------------------------------------------------------
# public API


def log_ratios(baseline: Sequence[float], candidate: Sequence[float]) -> list[float]:
    """Per-round ``ln(candidate / baseline)``.

    Raises :class:`ValueError` when the sides have different lengths or a value is not a positive
    finite number (metrics are positive; a caller that may see zeros must handle them before).
    """
    if len(baseline) != len(candidate):
        raise ValueError(
            f"paired samples differ in length: {len(baseline)} baseline, {len(candidate)} candidate"
        )
    base = _checked(baseline, "baseline", positive=True)
    cand = _checked(candidate, "candidate", positive=True)
    return [math.log(c) - math.log(b) for b, c in zip(base, cand, strict=True)]


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


@lru_cache(maxsize=512)
def _signed_rank_counts(scores: tuple[int, ...]) -> tuple[int, ...]:
    """counts[s] = how many of the 2**n sign patterns give the positive scores the sum ``s``."""
    counts = [1]
    for s in scores:
        pad = [0] * s
        counts = [x + y for x, y in zip([*counts, *pad], [*pad, *counts], strict=True)]
    return tuple(counts)


def wilcoxon_signed_rank(diffs: Sequence[float]) -> float:
    """Two-sided p-value of Wilcoxon's signed-rank test that ``diffs`` are symmetric about zero.

    Zero differences are dropped before ranking (Wilcoxon's own method, scipy's
    ``zero_method="wilcox"``); tied absolute differences get mid-ranks. With at most
    :data:`WILCOXON_EXACT_MAX_N` non-zero differences the p-value is exact: the permutation
    distribution of the positive rank sum over all 2**n sign patterns, which with no ties is the
    classical exact distribution (scipy ``method="exact"``) and with ties is the exact conditional
    one (scipy ``method=PermutationMethod()``). The normal approximation would be anti-conservative
    there: five equal negative differences give p = 0.037 by it but 0.0625 exactly. Above that size,
    the normal approximation with tie correction and continuity correction (scipy
    ``method="asymptotic", correction=True``). All-zero (or no) differences give p = 1.
    """
    nonzero = [d for d in _checked(diffs, "diffs") if d != 0.0]
    n = len(nonzero)
    if n == 0:
        return 1.0
    ranks, ties = _midranks([abs(d) for d in nonzero])
    r_plus = math.fsum(r for r, d in zip(ranks, nonzero, strict=True) if d > 0)
    if n <= WILCOXON_EXACT_MAX_N:
        scores = tuple(sorted(round(2 * r) for r in ranks))  # doubled mid-ranks are integers
        counts = _signed_rank_counts(scores)
        t = round(2 * r_plus)
        total = 1 << n
        lower = sum(counts[: t + 1])
        upper = sum(counts[t:])
        return min(1.0, 2 * min(lower, upper) / total)
    mean = n * (n + 1) / 4.0
    var = n * (n + 1) * (2 * n + 1) / 24.0 - sum(t**3 - t for t in ties) / 48.0
    if var <= 0.0:
        return 1.0
    se = math.sqrt(var)
    z = (r_plus - mean) / se
    z -= math.copysign(0.5 / se, z) if z != 0.0 else 0.0
    return _two_sided_normal_p(z)


@lru_cache(maxsize=256)
def _mann_whitney_counts(m: int, n: int) -> tuple[int, ...]:
    """counts[u] = how many of the C(m+n, m) arrangements give U = u (Gaussian binomial coefficient)."""
    size = m * n + 1
    poly = [0] * (size + m + n + 1)
    poly[0] = 1
    for i in range(1, m + 1):
        k = n + i
        for j in range(len(poly) - 1, k - 1, -1):  # multiply by (1 - q**k)
            poly[j] -= poly[j - k]
        for j in range(i, len(poly)):  # divide by (1 - q**i)
            poly[j] += poly[j - i]
    return tuple(poly[:size])


def mann_whitney_u(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (Wilcoxon rank-sum) of two independent samples.

    Without ties and with ``len(a) * len(b) <=`` :data:`MANN_WHITNEY_EXACT_MAX_CELLS` the p-value is
    exact (scipy ``method="exact"``); otherwise the normal approximation with tie correction and
    continuity correction (scipy ``method="asymptotic", use_continuity=True``). Identical constant
    samples give p = 1.
    """
    x = _checked(a, "a")
    y = _checked(b, "b")
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("Mann-Whitney U needs two non-empty samples")
    ranks, ties = _midranks(x + y)
    u1 = math.fsum(ranks[:n1]) - n1 * (n1 + 1) / 2.0
    u = max(u1, n1 * n2 - u1)
    if not ties and n1 * n2 <= MANN_WHITNEY_EXACT_MAX_CELLS:
        counts = _mann_whitney_counts(min(n1, n2), max(n1, n2))
        upper = sum(counts[round(u) :])
        return min(1.0, 2 * upper / math.comb(n1 + n2, n1))
    n = n1 + n2
    var = n1 * n2 / 12.0 * ((n + 1) - sum(t**3 - t for t in ties) / (n * (n - 1)))
    if var <= 0.0:
        return 1.0
    z = (u - n1 * n2 / 2.0 - 0.5) / math.sqrt(var)
    return max(0.0, min(1.0, 2.0 * _NORMAL.cdf(-z)))


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
    ratios = log_ratios(baseline, candidate)
    if not ratios:
        raise ValueError("no rounds to compare")
    _check_confidence(confidence)
    stat = _aggregate(aggregate)
    low, high = bootstrap_ci(ratios, statistic=stat, confidence=confidence, seed=seed, resamples=resamples)
    return Estimate(
        ratio=math.exp(stat(ratios)),
        ci_low=math.exp(low),
        ci_high=math.exp(high),
        p_value=wilcoxon_signed_rank(ratios),
        n=len(ratios),
        confidence=confidence,
        paired=True,
    )


def unpaired_estimate(
    baseline: Sequence[float],
    candidate: Sequence[float],
    *,
    confidence: float,
    seed: int,
    aggregate: Aggregate = "median",
    resamples: int = DEFAULT_RESAMPLES,
) -> Estimate:
    """The effect of the candidate from two independent samples (e.g. against a stored artifact).

    ratio = ``aggregate(candidate) / aggregate(baseline)``; the interval is the bootstrap interval of
    that ratio resampling each side on its own (expanded with the smaller sample size, which errs on
    the wide side); p = Mann-Whitney U; ``n`` = the smaller sample size.
    """
    base = _checked(baseline, "baseline", positive=True)
    cand = _checked(candidate, "candidate", positive=True)
    if not base or not cand:
        raise ValueError("both sides need at least one sample")
    _check_confidence(confidence)
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, not {resamples!r}")
    stat = _aggregate(aggregate)
    rng = random.Random(seed)
    cand_stats = _bootstrap_stats(cand, stat, rng, resamples)
    base_stats = _bootstrap_stats(base, stat, rng, resamples)
    stats = [math.log(c) - math.log(b) for c, b in zip(cand_stats, base_stats, strict=True)]
    nb, nc = len(base), len(cand)
    n = min(nb, nc)
    low, high = _percentile_interval(stats, confidence=confidence, n=n, method="expanded")
    return Estimate(
        ratio=stat(cand) / stat(base),
        ci_low=math.exp(low),
        ci_high=math.exp(high),
        p_value=mann_whitney_u(base, cand),
        n=n,
        confidence=confidence,
        paired=False,
    )


def _check_direction(direction: Direction) -> None:
    if direction not in ("minimize", "maximize"):
        raise ValueError(f"direction must be 'minimize' or 'maximize', not {direction!r}")


def classify(estimate: Estimate, *, direction: Direction, min_effect: float) -> Classification:
    """The verdict on one metric, in terms of ``delta = ratio - 1`` and its interval.

    With ``alpha = 1 - estimate.confidence``: for ``minimize``, ``improved`` when the whole interval
    lies below ``-min_effect`` and ``p < alpha``; ``regressed`` when it lies above ``+min_effect`` and
    ``p < alpha``; ``unchanged`` when it lies inside ``[-min_effect, +min_effect]``; otherwise
    ``inconclusive``. ``maximize`` mirrors it. alpha is rounded to 12 decimals and the band edges get
    a tolerance of 1e-9, so that float noise (``1 - 0.95``, ``0.99 - 1``) does not decide a verdict.
    """
    _check_direction(direction)
    if min_effect < 0.0:
        raise ValueError(f"min_effect must not be negative, not {min_effect!r}")
    low, high = estimate.ci_delta
    # alpha and the band edges are compared with a rounding tolerance, so that 1 - 0.95 is 0.05 and a
    # ratio of exactly 0.99 lies on (inside) a 1 % band rather than a hair outside it
    alpha = round(1.0 - estimate.confidence, 12)
    band = min_effect + _TOLERANCE
    significant = estimate.p_value < alpha
    if significant and high < -band:
        return "improved" if direction == "minimize" else "regressed"
    if significant and low > band:
        return "regressed" if direction == "minimize" else "improved"
    if -band <= low and high <= band:
        return "unchanged"
    return "inconclusive"


def guard_broken(estimate: Estimate, *, direction: Direction, max_regression: float) -> bool:
    """True when the point estimate regresses beyond ``max_regression`` (relative, e.g. 0.05)."""
    _check_direction(direction)
    if direction == "minimize":
        return estimate.delta > max_regression
    return estimate.delta < -max_regression


def extra_rounds(rounds_so_far: int, max_rounds: int) -> int:
    """How many rounds to add after an inconclusive verdict: half as many again, at least 2.

    Never past ``max_rounds``; 0 once there. From 10 rounds with ``max_rounds=30`` the decisions are
    taken at 10, 15, 23 and 30 rounds.
    """
    if rounds_so_far < 0:
        raise ValueError(f"rounds_so_far must not be negative, not {rounds_so_far!r}")
    if rounds_so_far >= max_rounds:
        return 0
    return min(max(math.ceil(rounds_so_far / 2), 2), max_rounds - rounds_so_far)


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
    more = extra_rounds(rounds, max_rounds)
    if (
        more
        and estimate is not None
        and not verdict_reachable(estimate, min_effect=min_effect, max_rounds=max_rounds)
    ):
        return 0
    return more


def summary(samples: Sequence[float]) -> dict[str, float]:
    """n, median, mean, stdev (sample, n - 1), min, max and cv (stdev / |mean|) of one side.

    With no samples every field is 0 (JSON has no NaN); with one sample stdev and cv are 0.
    """
    data = _checked(samples, "samples")
    n = len(data)
    if n == 0:
        return {"n": 0.0, "median": 0.0, "mean": 0.0, "stdev": 0.0, "min": 0.0, "max": 0.0, "cv": 0.0}
    mean = _mean(data)
    stdev = statistics.stdev(data) if n > 1 else 0.0
    return {
        "n": float(n),
        "median": _median(data),
        "mean": mean,
        "stdev": stdev,
        "min": min(data),
        "max": max(data),
        "cv": stdev / abs(mean) if mean != 0.0 else 0.0,
    }
