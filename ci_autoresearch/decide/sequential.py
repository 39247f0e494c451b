"""The estimate, interval and p-value of a session: one sequential rank method. Pure.

Standard library only, deterministic, and fast enough for one decision in a few milliseconds.

**One method.** Paired (both sides measured in the same job, one round = one run -- or one worker
process -- of each side): the per-round log-ratio ``d = ln(candidate / baseline)``. The effect is the
Hodges-Lehmann estimate, the median of the ``n (n + 1) / 2`` Walsh averages ``(d_i + d_j) / 2``; the
interval is the set of shifts the Wilcoxon signed-rank test does not reject, which is an interval of
Walsh averages; the p-value is that same test's at a shift of 0. The three are one computation, so the
interval excludes 0 (a ratio of 1) exactly when ``p < 1 - confidence``. Unpaired (the candidate against
a stored artifact, or two result files): the same with the ``m n`` differences ``ln c_j - ln b_i`` and
the Mann-Whitney test (the Hodges-Lehmann shift and Moses' interval). Ties (deterministic metrics
repeat the same value) are handled by counting a difference equal to the tested shift on both sides,
which keeps the test conservative: five identical rounds at a ratio of 0.75 are not significant at 95 %
(two of 32 sign patterns are as extreme), six are.

**Pairs of rounds** (``crossover``, a design alternative measured in ``bench/crossover.py``, not the
tool's): the unit is the mean log-ratio of rounds ``2j`` and ``2j + 1``, which ABBA order measures in
opposite orders, and the looks count these pairs, so that an effect of the order (the side measured
first slower) cancels within each unit. On the recorded worker sessions it decided less often than the
rounds themselves (``docs/performance.md``): the rank interval over rounds already pairs rounds of
opposite orders among its Walsh averages, and half the units cost more than the order took.

The signed-rank null distribution is exact up to :data:`EXACT_SIGNED_RANK_MAX_N` rounds, the
Mann-Whitney one up to :data:`EXACT_U_MAX_CELLS` pairs; above, their normal approximations with a
continuity correction. The ranks need no bootstrap and no seed: the same samples give the same answer.

**Sequential.** A measuring session looks at the data several times (10 rounds, then more while the
answer is inconclusive: 15, 23, 30 -- :func:`look_schedule`) and may stop at any look. Deciding at 95 %
at every look would let a false verdict through at each of them; instead the interval at each look is a
*repeated confidence interval* (Jennison & Turnbull, "Group Sequential Methods", 2000, ch. 9): the
intervals of all the looks cover the true effect *simultaneously* with probability ``confidence``, so a
verdict read from whichever look the session stops at -- for whatever reason it stopped -- is wrong with
probability at most ``1 - confidence`` (a false keep, which needs the interval to miss on one side, at
most half of that). The critical values have the O'Brien-Fleming shape ``c_k = C / sqrt(t_k)``
(``t_k``: the share of the last look's rounds seen so far; Wang & Tsiatis' family with Delta = 0), with
``C`` chosen so that a Brownian motion crosses ``+-c_k`` at some look with probability ``1 - confidence``
(:func:`crossing_probability`, by numerical integration over the looks; the standardised signed-rank
statistic is asymptotically such a process). Each look's interval is then the rank interval at the
nominal level ``2 * Phi(-c_k)``. The reported p-value is the repeated p-value: the smallest overall
``1 - confidence`` at which this look's interval would exclude 0.

Why this design and not an anytime-valid confidence sequence: a session has at most ``max_rounds``
rounds at looks fixed in advance, and an interval valid at *every* round pays for looks that never
happen: by a rough calculation, a sign-test martingale needs about 27 rounds to clear a 1 % band for a
2 % gain at 1 % noise, where these boundaries need 10-15. Why the O'Brien-Fleming shape: it spends
almost nothing on the early looks, where the rank test has the fewest rounds, and keeps the last
look's critical value near the fixed-sample one (2.03 instead of 1.96 for looks at 10, 15, 23 and 30
rounds): on the same samples it detected more and kept less noise than Pocock's constant boundary
(``docs/performance.md``), at the price of more rounds. The first look (10 rounds) can only stop for
futility: the exact signed-rank test of 10 rounds cannot reach its level of 0.00045, so its interval is
unbounded, and the session goes on to 15 rounds.
"""

from __future__ import annotations

import bisect
import itertools
import math
import statistics
import sys
from collections.abc import Callable, Sequence
from functools import lru_cache

from ci_autoresearch.decide.stats import check_confidence, finite_values, log_ratios, mann_whitney_counts
from ci_autoresearch.model import Estimate, Look

#: Up to this many rounds the signed-rank null distribution behind the paired interval is exact.
EXACT_SIGNED_RANK_MAX_N = 100
#: Up to this many pairs (m * n) the Mann-Whitney null distribution behind the unpaired interval is exact.
EXACT_U_MAX_CELLS = 2500
#: Wang & Tsiatis' shape parameter of the critical values: ``c_k = C * t_k ** (SHAPE - 1/2)``.
#: 0 is O'Brien-Fleming's shape, 0.5 Pocock's constant one.
SHAPE = 0.0
#: A first look whose boundary a path crosses with less than this probability is left out of the
#: crossing computation (:func:`crossing_probability`).
NEGLIGIBLE_CROSSING = 1e-9
#: The nominal two-sided level of the interval whose half-width is one standard error.
_ONE_SE_LEVEL = 2.0 * statistics.NormalDist().cdf(-1.0)

_NORMAL = statistics.NormalDist()

# --------------------------------------------------------------------------------------------------
# the sequential design: looks, critical values, crossing probabilities


def extra_rounds(rounds_so_far: int, max_rounds: int) -> int:
    """How many rounds to add after an inconclusive look: half as many again, at least 2.

    Never past ``max_rounds``; 0 once there. From 10 rounds with ``max_rounds=30`` the looks are at
    10, 15, 23 and 30 rounds.
    """
    if rounds_so_far < 0:
        raise ValueError(f"rounds_so_far must not be negative, not {rounds_so_far!r}")
    if rounds_so_far >= max_rounds:
        return 0
    return min(max(math.ceil(rounds_so_far / 2), 2), max_rounds - rounds_so_far)


def look_schedule(first: int, max_rounds: int) -> tuple[int, ...]:
    """The rounds at which a session looks: ``first`` (at most ``max_rounds``), then
    :func:`extra_rounds` more each time, up to ``max_rounds``. Fixed in advance, as the sequential
    design requires: the data decide only *whether* the session goes on to the next look."""
    if first < 1 or max_rounds < 1:
        raise ValueError(f"looks need at least one round, not first={first!r}, max_rounds={max_rounds!r}")
    looks = [min(first, max_rounds)]
    while more := extra_rounds(looks[-1], max_rounds):
        looks.append(looks[-1] + more)
    return tuple(looks)


def _simpson(lo: float, hi: float, step: float) -> tuple[list[float], list[float]]:
    """Nodes and weights of the composite Simpson rule on ``[lo, hi]`` with spacing about ``step``."""
    intervals = 2 * max(2, math.ceil((hi - lo) / (2 * step)))
    width = (hi - lo) / intervals
    nodes = [lo + i * width for i in range(intervals + 1)]
    weights = [width / 3 * (1 if i in (0, intervals) else (4 if i % 2 else 2)) for i in range(intervals + 1)]
    return nodes, weights


def crossing_probability(c: float, fractions: Sequence[float], *, shape: float = SHAPE) -> float:
    """P(|Z_k| >= c * t_k ** (shape - 1/2) at some look k) for a standard Brownian motion observed at
    the information fractions ``t_k`` (increasing, the last 1), ``Z_k = W(t_k) / sqrt(t_k)``.

    Armitage, McPherson & Rowe's recursion on the score scale ``W(t_k)``: the density of the paths
    that have not crossed, carried from look to look by the Gaussian increments (composite Simpson
    rule, nodes about a sixth of the smallest increment's standard deviation apart -- the first look's
    included, a first look no path can cross (below :data:`NEGLIGIBLE_CROSSING`) left out; the last
    look in closed form). Accurate to about 1e-6 (the tests compare it with the bivariate normal and with
    simulation).
    """
    ts = [float(t) for t in fractions]
    if not ts or any(b <= a for a, b in itertools.pairwise(ts)) or ts[0] <= 0.0:
        raise ValueError(f"information fractions must increase from above 0, not {fractions!r}")
    if c <= 0.0:
        return 1.0
    bounds = [c * t**shape for t in ts]  # on the score scale: c_k * sqrt(t_k)
    # a first look that (almost) no path can cross -- its boundary many standard deviations out, as
    # for a glance after two rounds of a long session -- changes nothing; carrying its narrow density
    # would need a grid finer than the later looks use, so it is left out
    while len(ts) > 1 and 2.0 * _NORMAL.cdf(-bounds[0] / math.sqrt(ts[0])) < NEGLIGIBLE_CROSSING:
        ts, bounds = ts[1:], bounds[1:]
    if len(ts) == 1:
        return min(1.0, 2.0 * _NORMAL.cdf(-bounds[0] / math.sqrt(ts[0])))
    increments = [ts[0]] + [b - a for a, b in itertools.pairwise(ts)]
    step = min(math.sqrt(v) for v in increments) / 6.0
    nodes, weights = _simpson(-bounds[0], bounds[0], step)
    sd = math.sqrt(ts[0])
    density = [math.exp(-0.5 * (x / sd) ** 2) / (sd * math.sqrt(2.0 * math.pi)) for x in nodes]
    for k in range(1, len(ts) - 1):
        new_nodes, new_weights = _simpson(-bounds[k], bounds[k], step)
        inv = 1.0 / math.sqrt(increments[k])
        mass = [w * f * inv / math.sqrt(2.0 * math.pi) for w, f in zip(weights, density, strict=True)]
        new_density = []
        for s in new_nodes:
            acc = 0.0
            for u, m in zip(nodes, mass, strict=True):
                z = (s - u) * inv
                if -9.0 < z < 9.0:
                    acc += m * math.exp(-0.5 * z * z)
            new_density.append(acc)
        nodes, weights, density = new_nodes, new_weights, new_density
    sd_last = math.sqrt(increments[-1])
    last = bounds[-1]
    stay = math.fsum(
        w * f * (_NORMAL.cdf((last - u) / sd_last) - _NORMAL.cdf((-last - u) / sd_last))
        for u, w, f in zip(nodes, weights, density, strict=True)
    )
    return min(1.0, max(0.0, 1.0 - stay))


@lru_cache(maxsize=256)
def boundary_constant(alpha: float, fractions: tuple[float, ...], *, shape: float = SHAPE) -> float:
    """``C`` such that :func:`crossing_probability` ``(C, fractions) == alpha`` (bisection to 1e-12)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, not {alpha!r}")
    if len(fractions) == 1:
        return -_NORMAL.inv_cdf(alpha / 2.0)
    lo, hi = 0.0, 1.0
    while crossing_probability(hi, fractions, shape=shape) > alpha:
        lo, hi = hi, 2.0 * hi
    while hi - lo > 1e-12:
        mid = (lo + hi) / 2.0
        if crossing_probability(mid, fractions, shape=shape) > alpha:
            lo = mid
        else:
            hi = mid
    return hi


def _fractions(
    looks: Sequence[int] | None, n: int, information: Callable[[int], float], *, interim: bool = False
) -> tuple[tuple[float, ...], int, float]:
    """The information fractions of the looks, the index of the look at ``n`` rounds, and ``n``'s
    own fraction.

    A look at ``n`` that the schedule does not have (a session cut short by a failure) is added to it,
    which only makes the design more cautious; a schedule ending before ``n`` ends at ``n``.
    ``interim``: ``n`` is a glance between the planned looks (the progress line, not a decision): the
    planned design is kept (no new critical values to compute), ``n`` is placed on its information
    scale, and the index is that of the next look.
    """
    planned = sorted({k for k in (looks or ()) if k > 0})
    if interim and planned and n < planned[-1] and n not in planned:
        total = information(planned[-1])
        fractions = tuple(information(k) / total for k in planned)
        return fractions, bisect.bisect_left(planned, n), information(n) / total
    at = sorted(set(planned) | {n})
    total = information(at[-1])
    fractions = tuple(information(k) / total for k in at)
    index = at.index(n)
    return fractions, index, fractions[index]


# --------------------------------------------------------------------------------------------------
# null distributions of the rank statistics (as cumulative probabilities P(T <= a), a = 0 .. M)


@lru_cache(maxsize=128)
def _signed_rank_cdf(n: int) -> tuple[float, ...]:
    """P(T <= a) for Wilcoxon's signed-rank statistic of ``n`` values without ties, ``a = 0..n(n+1)/2``."""
    counts = [1]
    for r in range(1, n + 1):
        grown = [*counts, *([0] * r)]
        for total, c in enumerate(counts):
            grown[total + r] += c
        counts = grown
    whole = 1 << n
    out, cum = [], 0
    for c in counts:
        cum += c
        out.append(cum / whole)
    return tuple(out)


@lru_cache(maxsize=128)
def _u_cdf(m: int, n: int) -> tuple[float, ...]:
    """P(U <= a) for the Mann-Whitney statistic of samples of ``m`` and ``n`` without ties."""
    counts = mann_whitney_counts(min(m, n), max(m, n))
    whole = math.comb(m + n, m)
    out, cum = [], 0
    for c in counts:
        cum += c
        out.append(cum / whole)
    return tuple(out)


def _null_cdf(paired: bool, m: int, n: int) -> Callable[[int], float]:
    """``a -> P(T <= a)`` under the null: exact for small samples, else normal with continuity."""
    if paired:
        if n <= EXACT_SIGNED_RANK_MAX_N:
            table = _signed_rank_cdf(n)
            return table.__getitem__
        mean, var = n * (n + 1) / 4.0, n * (n + 1) * (2 * n + 1) / 24.0
    else:
        if m * n <= EXACT_U_MAX_CELLS:
            table = _u_cdf(m, n)
            return table.__getitem__
        mean, var = m * n / 2.0, m * n * (m + n + 1) / 12.0
    sd = math.sqrt(var)
    return lambda a: _NORMAL.cdf((a + 0.5 - mean) / sd)


def _smallest_count(cdf: Callable[[int], float], top: int, level: float) -> int:
    """The smallest ``a`` in ``0..top`` with ``2 * P(T <= a) >= level`` (``top`` always qualifies)."""
    lo, hi = 0, top
    while lo < hi:
        mid = (lo + hi) // 2
        if 2.0 * cdf(mid) >= level:
            hi = mid
        else:
            lo = mid + 1
    return lo


# --------------------------------------------------------------------------------------------------
# estimates


def _rank_estimate(
    values: list[float],
    *,
    cdf: Callable[[int], float],
    confidence: float,
    fractions: tuple[float, ...],
    look: int,
    t: float,
    n: int,
    paired: bool,
    final_n: int,
    shape: float,
) -> Estimate:
    """Estimate, interval and p-value from the sorted Walsh averages (or pairwise differences);
    ``t``: the information fraction at ``n`` (:func:`_fractions`)."""
    values.sort()
    total = len(values)
    alpha = round(1.0 - confidence, 12)
    big_c = boundary_constant(alpha, fractions, shape=shape)
    boundary = big_c * t ** (shape - 0.5)
    final_boundary = big_c * fractions[-1] ** (shape - 0.5)
    nominal = alpha if len(fractions) == 1 else 2.0 * _NORMAL.cdf(-boundary)
    half = total // 2
    cut = _smallest_count(cdf, half, nominal)
    if cut >= 1:
        low, high = values[cut - 1], values[total - cut]
    else:
        low, high = -math.inf, math.inf
    se_cut = _smallest_count(cdf, half, _ONE_SE_LEVEL)
    se = (values[total - se_cut] - values[se_cut - 1]) / 2.0 if se_cut >= 1 else math.inf
    at_zero = min(bisect.bisect_right(values, 0.0), total - bisect.bisect_left(values, 0.0))
    excluded = at_zero < cut
    p_exact = min(1.0, 2.0 * cdf(at_zero))
    if len(fractions) == 1:
        p = p_exact
    else:
        # far beyond the boundary (hundreds of rounds all on one side) the normal tail can underflow
        # to 0, whose z-score does not exist: the smallest float's stands in (the p-value is 0 either way)
        z = -_NORMAL.inv_cdf(max(p_exact / 2.0, sys.float_info.min)) if p_exact < 1.0 else 0.0
        p = crossing_probability(z * t ** (0.5 - shape), fractions, shape=shape)
    # the repeated p-value is computed by numerical integration; where it lands within that error of
    # alpha, the interval (exact counts) has the last word, so that the two never disagree
    p = min(p, math.nextafter(alpha, 0.0)) if excluded else max(p, alpha)
    return Estimate(
        ratio=math.exp(statistics.median(values)),
        ci_low=math.exp(low),
        ci_high=math.exp(high),
        p_value=min(1.0, p),
        n=n,
        confidence=confidence,
        paired=paired,
        look=Look(final_n=final_n, boundary=boundary, final_boundary=final_boundary, se=se, index=look),
    )


def crossover_units(d: Sequence[float]) -> list[float]:
    """The log-ratios of pairs of rounds: the mean of rounds ``2j`` and ``2j + 1`` (measured in
    opposite orders under ``decision.order: abba``), in which an effect of the order cancels. The last
    round of an odd count waits for its partner; a single round is its own unit."""
    if len(d) < 2:
        return list(d)
    return [(d[2 * j] + d[2 * j + 1]) / 2.0 for j in range(len(d) // 2)]


def paired_estimate(
    baseline: Sequence[float],
    candidate: Sequence[float],
    *,
    confidence: float,
    looks: Sequence[int] | None = None,
    shape: float = SHAPE,
    interim: bool = False,
    crossover: bool = False,
) -> Estimate:
    """The effect of the candidate from paired rounds (``baseline[i]`` and ``candidate[i]`` together).

    ratio = ``exp`` of the Hodges-Lehmann estimate of the round log-ratios; the interval inverts the
    signed-rank test at this look's nominal level; p = that test's repeated p-value (module docstring).
    ``looks``: the rounds at which the session looks (:func:`look_schedule`); None for a single look
    (a fixed-sample interval at ``confidence``). ``shape``: of the critical values (:data:`SHAPE`, the
    tool's; 0.5 gives Pocock's, for comparisons in ``bench/``). ``interim``: a glance between looks,
    for the progress line (:func:`_fractions`); decisions are taken at looks. ``crossover``: the unit
    is a pair of rounds in opposite orders (:func:`crossover_units`), not a round, a design alternative
    for ``bench/``; the looks and the information count pairs, ``n`` and ``final_n`` still rounds.
    """
    rounds = log_ratios(baseline, candidate)
    if not rounds:
        raise ValueError("no rounds to compare")
    check_confidence(confidence)
    d = crossover_units(rounds) if crossover else rounds
    n = len(d)
    unit_looks = looks
    if crossover and looks and len(rounds) > 1:
        unit_looks = sorted({k // 2 for k in looks if k >= 2})
    fractions, look, t = _fractions(unit_looks, n, float, interim=interim)
    walsh = [(d[i] + d[j]) / 2.0 for i in range(n) for j in range(i, n)]
    final_n = max(*(looks or (len(rounds),)), len(rounds))
    return _rank_estimate(
        walsh,
        cdf=_null_cdf(True, n, n),
        confidence=confidence,
        fractions=fractions,
        look=look,
        t=t,
        n=len(rounds),
        paired=True,
        final_n=final_n,
        shape=shape,
    )


def unpaired_estimate(
    baseline: Sequence[float],
    candidate: Sequence[float],
    *,
    confidence: float,
    looks: Sequence[int] | None = None,
) -> Estimate:
    """The effect of the candidate from two independent samples (e.g. against a stored artifact).

    ratio = ``exp`` of the Hodges-Lehmann shift of the logarithms (the median of the ``m n``
    differences ``ln c_j - ln b_i``); the interval inverts the Mann-Whitney test (Moses' interval);
    p = that test's. ``looks`` count the candidate's samples (the baseline's are fixed, so the
    information of a look is ``m n / (m + n)``); ``n`` = the smaller sample size.
    """
    base = finite_values(baseline, "baseline", positive=True)
    cand = finite_values(candidate, "candidate", positive=True)
    if not base or not cand:
        raise ValueError("both sides need at least one sample")
    check_confidence(confidence)
    m, k = len(base), len(cand)
    logs_b = [math.log(b) for b in base]
    diffs = [math.log(c) - lb for c in cand for lb in logs_b]
    fractions, look, t = _fractions(looks, k, lambda j: m * j / (m + j))
    return _rank_estimate(
        diffs,
        cdf=_null_cdf(False, m, k),
        confidence=confidence,
        fractions=fractions,
        look=look,
        t=t,
        n=min(m, k),
        paired=False,
        final_n=max(*(looks or (k,)), k),
        shape=SHAPE,
    )
