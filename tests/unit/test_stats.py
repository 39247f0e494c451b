"""Tests of ci_autoresearch.decide.stats: cross-checks against scipy, properties, and the decision procedure.

scipy, numpy and hypothesis are test-only dependencies; the module under test uses the standard
library alone.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
import pytest
import scipy.stats
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ci_autoresearch.decide import stats
from ci_autoresearch.model import Estimate

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# small integers (as floats) give ties and zeros; plain floats give distinct values
tied_values = st.lists(st.integers(-4, 4).map(float), min_size=1, max_size=14)
small_tied_values = st.lists(st.integers(-4, 4).map(float), min_size=2, max_size=8)
distinct_values = st.lists(
    st.floats(-100, 100, allow_nan=False, allow_infinity=False, allow_subnormal=False).filter(
        lambda x: x != 0
    ),
    min_size=1,
    max_size=25,
    unique_by=abs,
)


def _estimate(ratio: float, low: float, high: float, p: float, *, confidence: float = 0.95) -> Estimate:
    return Estimate(
        ratio=ratio, ci_low=low, ci_high=high, p_value=p, n=10, confidence=confidence, paired=True
    )


# --------------------------------------------------------------------------------------------------
# log_ratios


def test_log_ratios() -> None:
    assert stats.log_ratios([1.0, 2.0, 4.0], [2.0, 2.0, 1.0]) == pytest.approx(
        [math.log(2), 0.0, math.log(0.25)]
    )
    assert stats.log_ratios([], []) == []


@pytest.mark.parametrize(
    ("baseline", "candidate"),
    [
        ([1.0, 2.0], [1.0]),
        ([1.0, 0.0], [1.0, 1.0]),
        ([1.0], [-1.0]),
        ([1.0], [math.nan]),
        ([math.inf], [1.0]),
    ],
)
def test_log_ratios_rejects(baseline: list[float], candidate: list[float]) -> None:
    with pytest.raises(ValueError):
        stats.log_ratios(baseline, candidate)


# --------------------------------------------------------------------------------------------------
# Wilcoxon signed-rank, cross-checked against scipy (zero_method="wilcox")


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 20, 25])
def test_wilcoxon_exact_matches_scipy(n: int) -> None:
    """No ties, no zeros, n <= 25: the exact null distribution, scipy ``method="exact"``."""
    rng = np.random.default_rng(n)
    for shift in (0.0, 0.4, 1.5):
        d = rng.normal(shift, 1.0, n)
        expected = scipy.stats.wilcoxon(d, zero_method="wilcox", method="exact").pvalue
        assert stats.wilcoxon_signed_rank(d.tolist()) == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.filterwarnings("ignore")
@settings(max_examples=25, deadline=None)
@given(small_tied_values)
def test_wilcoxon_exact_with_ties_and_zeros_matches_scipy_permutation(values: list[float]) -> None:
    """Ties and zeros, small n: exact sign-flip permutation distribution, scipy ``PermutationMethod``."""
    if sum(v != 0 for v in values) < 2:
        assert stats.wilcoxon_signed_rank(values) == 1.0
        return
    expected = scipy.stats.wilcoxon(
        values, zero_method="wilcox", method=scipy.stats.PermutationMethod(n_resamples=np.inf)
    ).pvalue
    assert stats.wilcoxon_signed_rank(values) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def _brute_force_signed_rank_p(values: list[float]) -> float:
    """An independent reference: enumerate all 2**n sign patterns of the mid-ranks with numpy."""
    d = np.array([v for v in values if v != 0])
    if d.size == 0:
        return 1.0
    ranks = scipy.stats.rankdata(np.abs(d))
    observed = ranks[d > 0].sum()
    signs = (np.arange(2**d.size)[:, None] >> np.arange(d.size)) & 1
    sums = signs @ ranks
    return float(min(1.0, 2 * min(np.mean(sums <= observed + 1e-9), np.mean(sums >= observed - 1e-9))))


@FAST
@given(st.lists(st.integers(-6, 6).map(float), min_size=1, max_size=17))
def test_wilcoxon_exact_with_ties_matches_brute_force(values: list[float]) -> None:
    assert stats.wilcoxon_signed_rank(values) == pytest.approx(_brute_force_signed_rank_p(values), rel=1e-12)


@FAST
@given(st.integers(26, 80), st.integers(0, 2**32 - 1), st.sampled_from([0.0, 0.3, 1.0]), st.booleans())
def test_wilcoxon_normal_approximation_matches_scipy(n: int, seed: int, shift: float, ties: bool) -> None:
    """More than 25 non-zero differences: scipy ``method="asymptotic", correction=True``."""
    d = np.random.default_rng(seed).normal(shift, 1.0, n)
    if ties:
        d = np.round(d * 2) / 2  # many ties and some zeros
    if np.count_nonzero(d) <= stats.WILCOXON_EXACT_MAX_N:
        return
    expected = scipy.stats.wilcoxon(d, zero_method="wilcox", method="asymptotic", correction=True).pvalue
    assert stats.wilcoxon_signed_rank(d.tolist()) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_wilcoxon_edge_cases() -> None:
    assert stats.wilcoxon_signed_rank([]) == 1.0
    assert stats.wilcoxon_signed_rank([0.0] * 40) == 1.0
    # all the same sign: 2 / 2**n exactly, also when every difference is the same (all tied)
    assert stats.wilcoxon_signed_rank([-0.25] * 5) == 0.0625
    assert stats.wilcoxon_signed_rank([-0.25] * 6) == 0.03125
    assert stats.wilcoxon_signed_rank([0.1, 0.2, 0.3, 0.4, 0.5]) == 0.0625
    # zeros are dropped, not counted
    assert stats.wilcoxon_signed_rank([0.0, 0.0, -1.0, -2.0, -3.0, -4.0, -5.0]) == 0.0625
    with pytest.raises(ValueError):
        stats.wilcoxon_signed_rank([1.0, math.nan])


@FAST
@given(st.one_of(tied_values, distinct_values), st.integers(-8, 8))
def test_wilcoxon_properties(values: list[float], power: int) -> None:
    p = stats.wilcoxon_signed_rank(values)
    assert 0.0 <= p <= 1.0
    assert stats.wilcoxon_signed_rank([-v for v in values]) == p  # symmetry
    assert stats.wilcoxon_signed_rank([v * 2.0**power for v in values]) == p  # scale invariance


# --------------------------------------------------------------------------------------------------
# Mann-Whitney U


@pytest.mark.parametrize(("n1", "n2"), [(1, 1), (2, 7), (5, 5), (8, 12), (30, 30), (10, 45), (60, 60)])
def test_mann_whitney_without_ties_matches_scipy(n1: int, n2: int) -> None:
    rng = np.random.default_rng(n1 * 100 + n2)
    for shift in (0.0, 0.5, 1.5):
        a, b = rng.normal(0.0, 1.0, n1), rng.normal(shift, 1.0, n2)
        exact = n1 * n2 <= stats.MANN_WHITNEY_EXACT_MAX_CELLS
        method = "exact" if exact else "asymptotic"
        expected = scipy.stats.mannwhitneyu(a, b, method=method, use_continuity=True).pvalue
        assert stats.mann_whitney_u(a.tolist(), b.tolist()) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@FAST
@given(tied_values, tied_values)
def test_mann_whitney_with_ties_matches_scipy(a: list[float], b: list[float]) -> None:
    ours = stats.mann_whitney_u(a, b)
    if len(set(a + b)) == 1:
        assert ours == 1.0
        return
    if len(set(a + b)) == len(a + b) and len(a) * len(b) <= stats.MANN_WHITNEY_EXACT_MAX_CELLS:
        expected = scipy.stats.mannwhitneyu(a, b, method="exact").pvalue
    else:
        expected = scipy.stats.mannwhitneyu(a, b, method="asymptotic", use_continuity=True).pvalue
    assert ours == pytest.approx(expected, rel=1e-9, abs=1e-12)


@FAST
@given(st.one_of(tied_values, distinct_values), st.one_of(tied_values, distinct_values), st.integers(-8, 8))
def test_mann_whitney_properties(a: list[float], b: list[float], power: int) -> None:
    p = stats.mann_whitney_u(a, b)
    assert 0.0 <= p <= 1.0
    assert stats.mann_whitney_u(b, a) == pytest.approx(p, rel=1e-12)  # symmetry
    assert stats.mann_whitney_u([x * 2.0**power for x in a], [x * 2.0**power for x in b]) == p  # scale


def test_mann_whitney_rejects_empty() -> None:
    with pytest.raises(ValueError):
        stats.mann_whitney_u([], [1.0])


# --------------------------------------------------------------------------------------------------
# the bootstrap


@pytest.mark.parametrize(
    ("p", "df"), [(0.975, 1), (0.975, 2), (0.975, 3), (0.975, 9), (0.995, 29), (0.6, 5), (0.01, 7)]
)
def test_t_quantile_matches_scipy(p: float, df: int) -> None:
    assert stats.t_quantile(p, df) == pytest.approx(scipy.stats.t.ppf(p, df), rel=1e-9)


def test_expanded_alpha() -> None:
    z = math.sqrt(10 / 9) * scipy.stats.t.ppf(0.975, 9)
    assert stats.expanded_alpha(0.05, 10) == pytest.approx(2 * scipy.stats.norm.sf(z), rel=1e-9)
    assert stats.expanded_alpha(0.05, 1) == 0.05
    assert stats.expanded_alpha(0.05, 1000) == pytest.approx(0.05, rel=0.01)


@pytest.mark.parametrize("statistic", [statistics.median, statistics.fmean])
def test_bootstrap_is_reproducible(statistic: Callable[[Sequence[float]], float]) -> None:
    rng = random.Random(1)
    values = [rng.gauss(0, 1) for _ in range(16)]
    a = stats.bootstrap_ci(values, statistic=statistic, confidence=0.95, seed=7)
    assert a == stats.bootstrap_ci(values, statistic=statistic, confidence=0.95, seed=7)
    assert a[0] < statistic(values) < a[1]
    if statistic is statistics.fmean:  # the median's bootstrap distribution is lumpy: often the same
        assert a != stats.bootstrap_ci(values, statistic=statistic, confidence=0.95, seed=8)


@pytest.mark.parametrize("n", [1, 2, 9, 10, 31, 300])
def test_bootstrap_mean_shortcut_equals_the_generic_path(n: int) -> None:
    rng = random.Random(n)
    values = [rng.lognormvariate(0, 1) for _ in range(n)]
    for seed in (0, 1):
        ours = stats.bootstrap_ci(values, statistic=stats._mean, confidence=0.9, seed=seed, resamples=300)
        plain = stats.bootstrap_ci(
            values, statistic=statistics.fmean, confidence=0.9, seed=seed, resamples=300
        )
        assert ours == plain


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_median_order_statistics_law_matches_enumeration(n: int) -> None:
    """The law the median shortcut draws from, against all n**n resamples of the indices."""
    pairs, cumulative = stats._median_order_statistics(n)
    law = dict(zip(pairs, np.diff([0.0, *cumulative]), strict=True))
    counts: Counter[tuple[int, int]] = Counter()
    for draw in itertools.product(range(n), repeat=n):
        ordered = sorted(draw)
        counts[(ordered[(n - 1) // 2], ordered[n // 2])] += 1
    assert cumulative[-1] == pytest.approx(1.0, abs=1e-12)
    for key in set(law) | set(counts):
        assert law.get(key, 0.0) == pytest.approx(counts[key] / n**n, abs=1e-12)


@pytest.mark.parametrize("n", [30, 31])
def test_median_shortcut_matches_resampling(n: int) -> None:
    """The shortcut and plain resampling give the same bootstrap distribution of the median."""
    rng = random.Random(n)
    values = [rng.gauss(0, 1) for _ in range(n)]
    shortcut = sorted(stats._bootstrap_stats(values, stats._median, random.Random(1), 20000))
    plain = sorted(stats._bootstrap_stats(values, statistics.median, random.Random(2), 20000))
    for q in (0.01, 0.025, 0.1, 0.5, 0.9, 0.975, 0.99):
        threshold = plain[int(q * len(plain))]
        frac = bisect.bisect_right(shortcut, threshold) / len(shortcut)
        assert frac == pytest.approx(bisect.bisect_right(plain, threshold) / len(plain), abs=0.01)


def test_bootstrap_degenerate_and_invalid() -> None:
    assert stats.bootstrap_ci([3.0] * 8, statistic=statistics.median, confidence=0.95, seed=0) == (3.0, 3.0)
    assert stats.bootstrap_ci([3.0], statistic=statistics.median, confidence=0.95, seed=0) == (3.0, 3.0)
    for kwargs in ({"confidence": 1.0}, {"confidence": 0.0}, {"resamples": 0}):
        args = {"statistic": statistics.median, "confidence": 0.95, "seed": 0, **kwargs}
        with pytest.raises(ValueError):
            stats.bootstrap_ci([1.0, 2.0], **args)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        stats.bootstrap_ci([], statistic=statistics.median, confidence=0.95, seed=0)


@functools.cache
def _coverage(n: int, aggregate: stats.Aggregate, method: stats.BootstrapMethod, trials: int = 250) -> float:
    """How often the 95 % interval covers the true centre (0) of N(0, 1) samples of size n."""
    statistic = stats._median if aggregate == "median" else stats._mean
    rng = random.Random(1000 + n)
    hits = 0
    for trial in range(trials):
        values = [rng.gauss(0.0, 1.0) for _ in range(n)]
        low, high = stats.bootstrap_ci(
            values, statistic=statistic, confidence=0.95, seed=trial, resamples=1000, method=method
        )
        hits += low <= 0.0 <= high
    return hits / trials


@pytest.mark.parametrize("n", [10, 20])
@pytest.mark.parametrize("aggregate", ["median", "mean"])
def test_bootstrap_coverage_is_near_nominal(n: int, aggregate: stats.Aggregate) -> None:
    """Measured (250 trials, so about ±1.4 points): median 0.95 / 0.95, mean 0.94 / 0.94 for n = 10 / 20."""
    assert 0.92 <= _coverage(n, aggregate, "expanded") <= 0.985


def test_plain_percentile_undercovers_the_mean_of_ten() -> None:
    """Why the expanded interval: the plain percentile interval of a mean of 10 covers about 0.90."""
    assert _coverage(10, "mean", "percentile") < _coverage(10, "mean", "expanded")


# --------------------------------------------------------------------------------------------------
# estimates


def test_paired_estimate() -> None:
    rng = random.Random(3)
    base = [100 * rng.lognormvariate(0, 0.02) for _ in range(20)]
    cand = [b * 0.9 * rng.lognormvariate(0, 0.02) for b in base]
    est = stats.paired_estimate(base, cand, confidence=0.95, seed=0)
    ratios = stats.log_ratios(base, cand)
    assert est.ratio == pytest.approx(math.exp(statistics.median(ratios)))
    assert est.ci_low < est.ratio < est.ci_high
    assert est.ci_low > 0.85 and est.ci_high < 0.95
    assert est.p_value == stats.wilcoxon_signed_rank(ratios)
    assert (est.n, est.paired, est.confidence) == (20, True, 0.95)
    mean = stats.paired_estimate(base, cand, confidence=0.9, seed=0, aggregate="mean")
    assert mean.ratio == pytest.approx(math.exp(statistics.fmean(ratios)))  # the geometric mean ratio
    assert mean.confidence == 0.9
    assert est == stats.paired_estimate(base, cand, confidence=0.95, seed=0)
    with pytest.raises(ValueError):
        stats.paired_estimate([], [], confidence=0.95, seed=0)
    with pytest.raises(ValueError):
        stats.paired_estimate(base, cand, confidence=0.95, seed=0, aggregate="max")  # type: ignore[arg-type]


def test_unpaired_estimate() -> None:
    rng = random.Random(4)
    base = [100 * rng.lognormvariate(0, 0.02) for _ in range(25)]
    cand = [110 * rng.lognormvariate(0, 0.02) for _ in range(15)]
    est = stats.unpaired_estimate(base, cand, confidence=0.95, seed=0)
    assert est.ratio == pytest.approx(statistics.median(cand) / statistics.median(base))
    assert 1.05 < est.ci_low < est.ratio < est.ci_high < 1.15
    assert est.p_value == stats.mann_whitney_u(base, cand)
    assert (est.n, est.paired) == (15, False)
    mean = stats.unpaired_estimate(base, cand, confidence=0.95, seed=0, aggregate="mean")
    assert mean.ratio == pytest.approx(statistics.fmean(cand) / statistics.fmean(base))
    assert est == stats.unpaired_estimate(base, cand, confidence=0.95, seed=0)
    same = stats.unpaired_estimate([5.0] * 6, [5.0] * 6, confidence=0.95, seed=0)
    assert (same.ratio, same.ci_low, same.ci_high, same.p_value) == (1.0, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError):
        stats.unpaired_estimate([1.0, 0.0], [1.0], confidence=0.95, seed=0)


def test_one_decision_on_30_rounds_is_fast() -> None:
    rng = random.Random(5)
    base = [rng.lognormvariate(0, 0.03) for _ in range(30)]
    cand = [rng.lognormvariate(0, 0.03) for _ in range(30)]
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        est = stats.paired_estimate(base, cand, confidence=0.95, seed=0)
        stats.classify(est, direction="minimize", min_effect=0.01)
        best = min(best, time.perf_counter() - start)
    assert best < 0.020


# --------------------------------------------------------------------------------------------------
# classify, guard_broken


@pytest.mark.parametrize(
    ("ci", "p", "minimize", "maximize"),
    [
        ((0.80, 0.90), 0.001, "improved", "regressed"),
        ((1.10, 1.20), 0.001, "regressed", "improved"),
        ((0.80, 0.90), 0.2, "inconclusive", "inconclusive"),  # beyond the band but not significant
        ((1.10, 1.20), 0.05, "inconclusive", "inconclusive"),  # p must be < alpha, not <=
        ((0.80, 0.995), 0.001, "inconclusive", "inconclusive"),  # reaches into the band
        ((0.995, 1.005), 0.9, "unchanged", "unchanged"),
        ((0.99, 1.01), 0.9, "unchanged", "unchanged"),  # the band is closed
        ((0.995, 1.005), 0.001, "unchanged", "unchanged"),  # real but smaller than min_effect
        ((0.95, 1.05), 0.5, "inconclusive", "inconclusive"),
        ((1.0, 1.0), 1.0, "unchanged", "unchanged"),
    ],
)
def test_classify_truth_table(ci: tuple[float, float], p: float, minimize: str, maximize: str) -> None:
    est = _estimate((ci[0] + ci[1]) / 2, ci[0], ci[1], p)
    assert stats.classify(est, direction="minimize", min_effect=0.01) == minimize
    assert stats.classify(est, direction="maximize", min_effect=0.01) == maximize


def test_classify_uses_the_estimates_confidence() -> None:
    est = _estimate(0.85, 0.8, 0.9, 0.03, confidence=0.99)
    assert stats.classify(est, direction="minimize", min_effect=0.01) == "inconclusive"
    est = _estimate(0.85, 0.8, 0.9, 0.03, confidence=0.95)
    assert stats.classify(est, direction="minimize", min_effect=0.01) == "improved"


def test_classify_rejects_bad_arguments() -> None:
    est = _estimate(1.0, 0.99, 1.01, 0.5)
    with pytest.raises(ValueError):
        stats.classify(est, direction="sideways", min_effect=0.01)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        stats.classify(est, direction="minimize", min_effect=-0.01)


_SWAP = {
    "improved": "regressed",
    "regressed": "improved",
    "unchanged": "unchanged",
    "inconclusive": "inconclusive",
}


@settings(max_examples=200, deadline=None)
@given(
    st.floats(0.5, 1.5),
    st.floats(0.0, 0.3),
    st.floats(0.0, 0.3),
    st.floats(0.0, 1.0),
    st.floats(0.0, 0.1),
)
def test_classify_direction_mirrors(
    ratio: float, below: float, above: float, p: float, min_effect: float
) -> None:
    est = _estimate(ratio, ratio - below, ratio + above, p)
    as_min = stats.classify(est, direction="minimize", min_effect=min_effect)
    assert stats.classify(est, direction="maximize", min_effect=min_effect) == _SWAP[as_min]
    # reflecting the effect (delta -> -delta) under the other direction gives the same verdict
    mirrored = _estimate(2 - ratio, 2 - (ratio + above), 2 - (ratio - below), p)
    assert stats.classify(mirrored, direction="maximize", min_effect=min_effect) == as_min


@pytest.mark.parametrize(
    ("rounds", "minimize", "maximize"), [(5, "inconclusive", "inconclusive"), (6, "improved", "regressed")]
)
def test_classify_deterministic_samples(rounds: int, minimize: str, maximize: str) -> None:
    """Every round the same ratio: 5 rounds cannot reach p < 0.05 (exact p = 0.0625), 6 can."""
    base = [100.0 + i for i in range(rounds)]
    faster = [0.75 * b for b in base]
    est = stats.paired_estimate(base, faster, confidence=0.95, seed=0)
    assert est.ratio == pytest.approx(0.75)
    assert est.ci_low == pytest.approx(0.75) and est.ci_high == pytest.approx(0.75)
    assert stats.classify(est, direction="minimize", min_effect=0.01) == minimize
    assert stats.classify(est, direction="maximize", min_effect=0.01) == maximize
    slower = stats.paired_estimate(faster, base, confidence=0.95, seed=0)
    assert stats.classify(slower, direction="minimize", min_effect=0.01) == _SWAP[minimize]
    same = stats.paired_estimate(base, base, confidence=0.95, seed=0)
    assert (same.ratio, same.ci_low, same.ci_high, same.p_value) == (1.0, 1.0, 1.0, 1.0)
    for direction in ("minimize", "maximize"):
        assert stats.classify(same, direction=direction, min_effect=0.01) == "unchanged"
        assert stats.classify(same, direction=direction, min_effect=0.0) == "unchanged"


def test_guard_broken() -> None:
    worse = _estimate(1.06, 1.0, 1.1, 0.01)
    better = _estimate(0.94, 0.9, 1.0, 0.01)
    assert stats.guard_broken(worse, direction="minimize", max_regression=0.05)
    assert not stats.guard_broken(worse, direction="minimize", max_regression=0.07)
    assert not stats.guard_broken(better, direction="minimize", max_regression=0.05)
    assert stats.guard_broken(better, direction="maximize", max_regression=0.05)
    assert not stats.guard_broken(better, direction="maximize", max_regression=0.07)
    assert not stats.guard_broken(worse, direction="maximize", max_regression=0.0)
    with pytest.raises(ValueError):
        stats.guard_broken(worse, direction="up", max_regression=0.05)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# extra_rounds, summary


def test_extra_rounds() -> None:
    schedule = [10]
    while more := stats.extra_rounds(schedule[-1], 30):
        schedule.append(schedule[-1] + more)
    assert schedule == [10, 15, 23, 30]
    assert stats.extra_rounds(2, 30) == 2
    assert stats.extra_rounds(29, 30) == 1
    assert stats.extra_rounds(30, 30) == 0
    assert stats.extra_rounds(31, 30) == 0
    with pytest.raises(ValueError):
        stats.extra_rounds(-1, 30)


@given(st.integers(0, 200), st.integers(1, 200))
def test_extra_rounds_properties(so_far: int, max_rounds: int) -> None:
    more = stats.extra_rounds(so_far, max_rounds)
    if so_far >= max_rounds:
        assert more == 0
    else:
        assert more >= 1 and so_far + more <= max_rounds
        assert more >= min(2, max_rounds - so_far)


def test_summary() -> None:
    s = stats.summary([1.0, 2.0, 3.0, 10.0])
    assert s["n"] == 4
    assert s["median"] == 2.5
    assert s["mean"] == 4.0
    assert s["stdev"] == pytest.approx(statistics.stdev([1.0, 2.0, 3.0, 10.0]))
    assert (s["min"], s["max"]) == (1.0, 10.0)
    assert s["cv"] == pytest.approx(s["stdev"] / 4.0)
    assert stats.summary([5.0]) == {
        "n": 1,
        "median": 5.0,
        "mean": 5.0,
        "stdev": 0.0,
        "min": 5.0,
        "max": 5.0,
        "cv": 0.0,
    }
    assert stats.summary([])["n"] == 0
    assert all(math.isfinite(v) for v in stats.summary([]).values())


# --------------------------------------------------------------------------------------------------
# the whole adaptive procedure on synthetic noise: A/A false positives and power

START, MAX_ROUNDS, MIN_EFFECT, CONFIDENCE = 10, 30, 0.01, 0.95
Noise = Callable[[random.Random], float]


def _lognormal(cv: float) -> Noise:
    sigma = math.sqrt(math.log1p(cv * cv))
    return lambda rng: 100.0 * math.exp(rng.gauss(0.0, sigma))


def _bimodal(rng: random.Random) -> float:
    """1 % noise, and in 30 % of the runs a slow mode 15 % above (a noisy neighbour, a cold cache)."""
    return 100.0 * math.exp(rng.gauss(0.0, 0.01)) * (1.15 if rng.random() < 0.3 else 1.0)


def _adaptive(rng: random.Random, noise: Noise, effect: float) -> tuple[str, int]:
    """What the measuring loop does: 10 rounds, then more while inconclusive and a verdict is still
    reachable (``stats.rounds_to_add``, the function ``measure.compare_refs`` calls), up to 30."""
    base: list[float] = []
    cand: list[float] = []
    target = START
    while True:
        while len(base) < target:
            base.append(noise(rng))
            cand.append(noise(rng) * effect)
        est = stats.paired_estimate(base, cand, confidence=CONFIDENCE, seed=0)
        verdict = stats.classify(est, direction="minimize", min_effect=MIN_EFFECT)
        more = stats.rounds_to_add(
            est, verdict, rounds=len(base), max_rounds=MAX_ROUNDS, min_effect=MIN_EFFECT
        )
        if more == 0:
            return verdict, len(base)
        target = len(base) + more


def _trials(noise: Noise, effect: float, trials: int, seed: int) -> Counter[str]:
    rng = random.Random(seed)
    return Counter(_adaptive(rng, noise, effect)[0] for _ in range(trials))


@pytest.mark.parametrize(
    "noise",
    [pytest.param(_lognormal(cv), id=f"cv{cv:.0%}") for cv in (0.01, 0.03, 0.10)]
    + [pytest.param(_bimodal, id="bimodal")],
)
def test_aa_false_improved_rate(noise: Noise) -> None:
    """Identical sides: `improved` at most 1 - confidence of the time, over all the looks (10, 15, 23, 30).

    Both sides have the same distribution, so `improved` and `regressed` are equally likely; their pooled
    rate estimates either from twice the trials, and stays under alpha / 2, the one-sided level of the
    two-sided interval. Measured (400 trials; improved / regressed / unchanged / inconclusive):
    cv 1 %: 0 / 0 / 300 / 100; cv 3 %: 2 / 4 / 1 / 393; cv 10 %: 8 / 5 / 0 / 387; bimodal: 0 / 0 / 24 / 376.
    """
    trials = 400
    verdicts = _trials(noise, 1.0, trials, seed=12345)
    assert verdicts["improved"] / trials <= 1 - CONFIDENCE
    assert verdicts["regressed"] / trials <= 1 - CONFIDENCE
    assert (verdicts["improved"] + verdicts["regressed"]) / (2 * trials) <= (1 - CONFIDENCE) / 2


def test_detects_a_five_percent_improvement_at_cv3() -> None:
    """Measured (400 trials): 394 improved, 6 inconclusive, after 13.7 rounds on average."""
    trials = 400
    verdicts = _trials(_lognormal(0.03), 0.95, trials, seed=54321)
    assert verdicts["improved"] / trials >= 0.90
    assert verdicts["regressed"] == 0


# --- futility: stop adding rounds when no verdict can be reached ------------------------------------


def _est(ratio: float, low: float, high: float, n: int = 10) -> Estimate:
    return Estimate(ratio=ratio, ci_low=low, ci_high=high, p_value=0.5, n=n, confidence=0.95, paired=True)


def test_futile_when_a_centred_noisy_estimate_can_reach_no_verdict() -> None:
    est = _est(1.0, 0.97, 1.03)  # ±3 % at 10 rounds: still ±1.7 % at 30, never inside ±1 %, never beyond it
    assert not stats.verdict_reachable(est, min_effect=0.01, max_rounds=30)
    assert stats.rounds_to_add(est, "inconclusive", rounds=10, max_rounds=30, min_effect=0.01) == 0


def test_rounds_added_while_a_gain_or_a_loss_is_still_reachable() -> None:
    gain = _est(0.97, 0.93, 1.01)
    loss = _est(1.03, 0.99, 1.07)
    for est in (gain, loss):
        assert stats.verdict_reachable(est, min_effect=0.01, max_rounds=30)
        assert stats.rounds_to_add(est, "inconclusive", rounds=10, max_rounds=30, min_effect=0.01) == 5


def test_unchanged_reachable_when_narrow_enough() -> None:
    assert stats.verdict_reachable(_est(1.001, 0.985, 1.017), min_effect=0.01, max_rounds=30)


def test_no_rounds_after_a_verdict_or_at_the_limit() -> None:
    est = _est(0.97, 0.93, 1.01)
    assert stats.rounds_to_add(est, "improved", rounds=10, max_rounds=30, min_effect=0.01) == 0
    assert stats.rounds_to_add(est, "inconclusive", rounds=30, max_rounds=30, min_effect=0.01) == 0
    assert stats.rounds_to_add(None, "inconclusive", rounds=10, max_rounds=30, min_effect=0.01) == 5
