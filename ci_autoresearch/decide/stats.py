"""The statistics every method shares: per-round log-ratios, the classical rank tests, one metric's
verdict from an estimate, summaries. Pure.

Standard library only, deterministic. The estimate, interval and p-value of a session (one sequential
rank method) are in :mod:`ci_autoresearch.decide.sequential`; when a session adds rounds, in
:mod:`ci_autoresearch.decide.stopping`.

Metric values must be positive: ratios and logarithms of zero or negative values mean nothing here.
Callers that may see zeros (a counter that did not fire) decide what to show instead; these functions
raise :class:`ValueError`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

from ci_autoresearch.model import Direction, Estimate

Classification = Literal["improved", "regressed", "unchanged", "inconclusive"]

#: Up to this many non-zero differences the Wilcoxon p-value is exact (also with ties); above it,
#: the normal approximation with tie and continuity correction.
WILCOXON_EXACT_MAX_N = 25
#: Up to this product of the sample sizes the Mann-Whitney p-value is exact when there are no ties.
MANN_WHITNEY_EXACT_MAX_CELLS = 2500

_NORMAL = statistics.NormalDist()
_TOLERANCE = 1e-9  # of the band edges in classify(): far below any meaningful effect

# --------------------------------------------------------------------------------------------------
# small helpers


def finite_values(values: Sequence[float], what: str, *, positive: bool = False) -> list[float]:
    """``values`` as floats; :class:`ValueError` naming ``what`` for one not finite (or not positive)."""
    out = [float(v) for v in values]
    for v in out:
        if not math.isfinite(v):
            raise ValueError(f"{what}: {v!r} is not a finite number")
        if positive and v <= 0.0:
            raise ValueError(f"{what}: {v!r} is not positive (ratios need positive values)")
    return out


def check_confidence(confidence: float) -> None:
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


# --------------------------------------------------------------------------------------------------
# public API: log-ratios and the classical rank tests


def log_ratios(baseline: Sequence[float], candidate: Sequence[float]) -> list[float]:
    """Per-round ``ln(candidate / baseline)``.

    Raises :class:`ValueError` when the sides have different lengths or a value is not a positive
    finite number (metrics are positive; a caller that may see zeros must handle them before).
    """
    if len(baseline) != len(candidate):
        raise ValueError(
            f"paired samples differ in length: {len(baseline)} baseline, {len(candidate)} candidate"
        )
    base = finite_values(baseline, "baseline", positive=True)
    cand = finite_values(candidate, "candidate", positive=True)
    return [math.log(c) - math.log(b) for b, c in zip(base, cand, strict=True)]


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
    nonzero = [d for d in finite_values(diffs, "diffs") if d != 0.0]
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
def mann_whitney_counts(m: int, n: int) -> tuple[int, ...]:
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
    x = finite_values(a, "a")
    y = finite_values(b, "b")
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("Mann-Whitney U needs two non-empty samples")
    ranks, ties = _midranks(x + y)
    u1 = math.fsum(ranks[:n1]) - n1 * (n1 + 1) / 2.0
    u = max(u1, n1 * n2 - u1)
    if not ties and n1 * n2 <= MANN_WHITNEY_EXACT_MAX_CELLS:
        counts = mann_whitney_counts(min(n1, n2), max(n1, n2))
        upper = sum(counts[round(u) :])
        return min(1.0, 2 * upper / math.comb(n1 + n2, n1))
    n = n1 + n2
    var = n1 * n2 / 12.0 * ((n + 1) - sum(t**3 - t for t in ties) / (n * (n - 1)))
    if var <= 0.0:
        return 1.0
    z = (u - n1 * n2 / 2.0 - 0.5) / math.sqrt(var)
    return max(0.0, min(1.0, 2.0 * _NORMAL.cdf(-z)))


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


def median_of(samples: Sequence[float]) -> float | None:
    """The median of one side's samples, None for none (what tables and documents show)."""
    return _median(finite_values(samples, "samples")) if samples else None


def summary(samples: Sequence[float]) -> dict[str, float]:
    """n, median, mean, stdev (sample, n - 1), min, max and cv (stdev / |mean|) of one side.

    With no samples every field is 0 (JSON has no NaN); with one sample stdev and cv are 0.
    """
    data = finite_values(samples, "samples")
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
