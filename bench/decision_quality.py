"""How good are the keep/discard decisions? ci-autoresearch's rule against the rules other tools use.

Live mode (the default) records a pool of real paired rounds on this machine and decides every trial's
samples with each rule; ``--replay`` recomputes everything from the recorded pool; a synthetic part
(seeded lognormal noise at CV 1 %, 3 %, 10 % and a bimodal mixture) is always computed, so its table is
reproducible anywhere.

Live recording. Two workloads, each run through the tool's own runner (``measure.runner.run_measured``, the
function ``compare`` uses, so the launcher, the shell and the wait4 accounting are all in):

* ``cpu``: a pure-Python loop (``units`` steps of a linear congruential generator) in a fresh
  interpreter (``python -S -I``) — CPU-bound, with Python's start-up in every run as in real benchmarks;
* ``io``: ``sleep`` for ``units`` microseconds — bound by waiting; its noise is the scheduler's.

A candidate with true effect ``e`` does less or more work. Each run also pays a fixed cost (process and
interpreter start-up) that the candidate cannot change, so the work is scaled by ``1 + e * T / (T - S)``
(``T`` a baseline run, ``S`` a run with no work, both measured before recording, interleaved): the
candidate's *whole run* then differs by ``e``. The effect actually realised is estimated from the pool
afterwards (the median log-ratio of all its rounds) and reported next to the nominal one.

Each trial is one comparison as ``compare`` does it: ``max_rounds`` rounds in ABBA order
(``measure.rounds.round_order``), the wall time and CPU time of every run recorded. Trials of all
workloads and effects are shuffled together so that the machine's slow changes of load hit every cell
alike. Each rule then reads only the samples it would have measured:

1. ``ci-autoresearch``: the tool's defaults (``Config`` defaults: objective ``wall_time``, min_effect 1 %,
   confidence 95 %, 10 rounds, then ``stopping.rounds_to_add`` while ``decide`` says inconclusive and a
   verdict is still reachable, up to 30), run through ``decide.decide``; keep = verdict ``improved``.
2. ``one run each``: keep if the candidate's single run is faster (karpathy/autoresearch, autoloop).
3. ``median of 5``: keep if the median of 5 runs is better by more than 1 % (the autoresearch article's
   AutoOptimizer, threshold 0.01).
4. ``github-action-benchmark``: one value against the previous one; the alert fires when
   ``current / previous`` exceeds the threshold (200 %, its default, and 110 %). It only ever blocks, so
   a candidate counts as kept when no alert fires.
5. ``asv continuous``: 10 samples per side (asv's default: 2 rounds x 5 repeats); better when
   Mann-Whitney U gives p < 0.002 and the medians differ by more than the factor 1.1.
6. ``pyperf compare_to``: 20 values per side (pyperf runs 20 processes); better when its two-sample
   t-test at 95 % says significant and the mean is lower (``pyperf._utils.is_significant`` when pyperf is
   installed, otherwise the same test reimplemented).

Every rule gets the same interleaved samples; tools that measure one side after the other would see
the machine's drift too, so this favours them, not ci-autoresearch.

Run ``python bench/decision_quality.py --quick`` to check it works (under 2 minutes), without
``--quick`` for the real measurement (about 1.5 hours on a busy 2-core machine), ``--replay`` to
recompute the tables from the recorded samples (about 5 minutes).
"""

from __future__ import annotations

import json
import math
import os
import random
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import previous_rule
import worker_pools

from ci_autoresearch.config.model import (
    CollectionConfig,
    Config,
    DecisionConfig,
    MetricSpec,
    ObjectiveConfig,
)
from ci_autoresearch.decide import sequential, stats, stopping
from ci_autoresearch.decide.verdict import decide
from ci_autoresearch.errors import AutoresearchError
from ci_autoresearch.measure import metrics
from ci_autoresearch.measure.rounds import round_order
from ci_autoresearch.measure.runner import run_measured
from ci_autoresearch.measure.scrub import scrub_env
from ci_autoresearch.measure.valgrind import require_valgrind, wrap_for_instructions
from ci_autoresearch.model import Estimate

EFFECTS: tuple[float, ...] = (0.0, -0.02, -0.05, -0.10, 0.05)
GAINS: tuple[float, ...] = (-0.02, -0.05, -0.10)
SLOWDOWN = 0.05
WORKLOADS = ("cpu", "io")
SAMPLES_SCHEMA = "ci-autoresearch-bench/samples@1"
RESULT_SCHEMA = "ci-autoresearch-bench/decision_quality@1"

WORKLOAD_SOURCE = '''\
"""A CPU-bound benchmark: `units` steps of a linear congruential generator.

The loop runs in a function (local variables only) so that its instruction count does not depend on
the string hash seed, which `-I` leaves random.
"""
import sys


def spin(units):
    x = 1
    for _ in range(units):
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
    return x


spin(int(sys.argv[1]))
'''


# --------------------------------------------------------------------------------------------------
# settings


@dataclass(frozen=True)
class Settings:
    quick: bool
    trials_aa: int
    trials_effect: int
    rounds: int
    cpu_work_s: float
    io_sleep_s: float
    calibration_pairs: int
    synthetic_aa: int
    synthetic_effect: int
    instructions_rounds: int
    instructions_units: int
    seed: int


FULL = Settings(
    quick=False,
    trials_aa=300,
    trials_effect=100,
    rounds=30,
    cpu_work_s=0.025,
    io_sleep_s=0.025,
    calibration_pairs=20,
    synthetic_aa=2000,
    synthetic_effect=1000,
    instructions_rounds=10,
    instructions_units=100_000,
    seed=2024,
)
QUICK = Settings(
    quick=True,
    trials_aa=2,
    trials_effect=1,
    rounds=30,
    cpu_work_s=0.002,
    io_sleep_s=0.002,
    calibration_pairs=3,
    synthetic_aa=40,
    synthetic_effect=20,
    instructions_rounds=2,
    instructions_units=2_000,
    seed=2024,
)


def effect_key(e: float) -> str:
    """``0.0`` → ``"+0"``, ``-0.05`` → ``"-5"`` (percent; the keys of every result map)."""
    return f"{round(e * 100):+d}"


def effect_label(e: float) -> str:
    return "A/A" if e == 0 else common.signed_pct(e, 0)


def tool_config(*, metric: str = "wall_time", aggregate: str = "median", **decision: Any) -> Config:
    """ci-autoresearch's configuration with every default, objective ``metric`` minimised."""
    return Config(
        path="<bench>",
        hash="bench",
        objective=ObjectiveConfig(metric=metric, direction="minimize"),
        collection=CollectionConfig(aggregate=aggregate),  # type: ignore[arg-type]
        decision=DecisionConfig(**decision),
    )


# --------------------------------------------------------------------------------------------------
# the rules


@dataclass(frozen=True)
class Outcome:
    keep: bool
    regress: bool | None  # None: the rule has no notion of a regression
    runs: int  # benchmark executions spent, both sides (warm-ups included where the protocol has them)
    rounds: int  # samples per side it looked at
    verdict: str = ""


DecideFn = Callable[[Sequence[float], Sequence[float]], Outcome]


@dataclass(frozen=True)
class Rule:
    key: str
    label: str
    description: str
    decide: DecideFn
    needs_rounds: int  # the most samples per side it may read
    variant: bool = False  # a method change under study, not a tool's rule


def tool_rule(
    config: Config,
    *,
    previous: bool = False,
    shape: float | None = None,
    futility: bool | None = None,
    clock: Sequence[float] | None = None,
    crossover: bool = False,
) -> DecideFn:
    """ci-autoresearch's decision exactly as ``measure.session.compare_refs`` takes it (its loop, not a copy
    of its statistics): ``measurement_runs`` rounds, then ``stopping.rounds_to_add`` more while
    inconclusive and a verdict is still reachable, ``decide.decide`` at every look with the session's
    schedule.

    ``previous``: the rule before the sequential rank method (``previous_rule.py``: the bootstrapped
    median with Wilcoxon's p at 95 % at every look, and its futility rule), on the same loop.
    ``shape``: the same method with other critical values (0.5: Pocock's constant ones), a design
    alternative under study. ``futility``: None as the tool (a session stops early for futility unless
    its rounds are planned to ``decision.max_seconds``); False never (rounds are added while
    inconclusive, up to ``max_rounds``: the most rounds any futility rule can need); True always (the
    tool's worker mode before 2026-12-07). ``clock``: the
    seconds by the end of each round (calibration included), for ``decision.max_seconds``: a session
    ends at a look when the next would end after it (``stopping.next_look_in_time``). ``crossover``:
    the same method on pairs of rounds in opposite orders (``sequential.crossover_units``), a design
    alternative under study (``crossover.py``).
    """
    name = config.objective.metric
    first = min(config.collection.measurement_runs, config.decision.max_rounds)
    warmup = config.collection.warmup_runs
    confidence, min_effect = config.decision.confidence, config.decision.min_effect
    looks = sequential.look_schedule(first, config.decision.max_rounds)

    def in_time(rounds: int, target: int) -> bool:
        limit = config.decision.max_seconds
        if clock is None or limit is None:
            return True
        return stopping.next_look_in_time(limit, rounds=rounds, elapsed=clock[rounds - 1], target=target)

    def rule(base: Sequence[float], cand: Sequence[float]) -> Outcome:
        target = first
        while True:
            if target > len(base):
                raise ValueError(f"the rule needs {target} rounds, the trial has {len(base)}")
            rounds = target
            est: Estimate | None
            if not previous:
                if shape is not None or crossover:
                    est = sequential.paired_estimate(
                        base[:rounds],
                        cand[:rounds],
                        confidence=confidence,
                        looks=looks,
                        shape=sequential.SHAPE if shape is None else shape,
                        crossover=crossover,
                    )
                    verdict = stats.classify(est, direction="minimize", min_effect=min_effect)
                else:
                    decision = decide(
                        config, {name: base[:rounds]}, {name: cand[:rounds]}, paired=True, looks=looks
                    )
                    verdict = decision.verdict
                    est = decision.metrics[name].estimate
                more = stopping.rounds_to_add(
                    est,
                    verdict,
                    rounds=rounds,
                    max_rounds=config.decision.max_rounds,
                    min_effect=min_effect,
                    futility=config.decision.max_seconds is None if futility is None else futility,
                )
            else:
                est = previous_rule.paired_estimate(
                    base[:rounds], cand[:rounds], confidence=confidence, seed=config.decision.seed
                )
                verdict = stats.classify(est, direction="minimize", min_effect=min_effect)
                more = previous_rule.rounds_to_add(
                    est, verdict, rounds=rounds, max_rounds=config.decision.max_rounds, min_effect=min_effect
                )
            if more <= 0 or not in_time(rounds, rounds + more):
                break
            target = rounds + more
        return Outcome(
            keep=verdict == "improved",
            regress=verdict == "regressed",
            runs=2 * (rounds + warmup),
            rounds=rounds,
            verdict=verdict,
        )

    return rule


def one_run_each(base: Sequence[float], cand: Sequence[float]) -> Outcome:
    return Outcome(keep=cand[0] < base[0], regress=None, runs=2, rounds=1)


def median_of_5(base: Sequence[float], cand: Sequence[float], threshold: float = 0.01) -> Outcome:
    b, c = statistics.median(base[:5]), statistics.median(cand[:5])
    improvement = (b - c) / b
    return Outcome(keep=improvement > threshold, regress=None, runs=10, rounds=5)


def github_action_benchmark(threshold: float) -> DecideFn:
    def rule(base: Sequence[float], cand: Sequence[float]) -> Outcome:
        alert = cand[0] / base[0] > threshold  # smaller is better: ratio = current / previous
        return Outcome(keep=not alert, regress=alert, runs=2, rounds=1)

    return rule


def asv_continuous(
    base: Sequence[float],
    cand: Sequence[float],
    factor: float = 1.1,
    p_threshold: float = 0.002,
    samples: int = 10,
) -> Outcome:
    b, c = list(base[:samples]), list(cand[:samples])
    significant = stats.mann_whitney_u(b, c) < p_threshold
    mb, mc = statistics.median(b), statistics.median(c)
    return Outcome(
        keep=significant and mc < mb / factor,
        regress=significant and mb < mc / factor,
        runs=2 * samples,
        rounds=samples,
    )


def _pyperf_significant() -> tuple[Callable[[Sequence[float], Sequence[float]], tuple[bool, float]], str]:
    try:
        from pyperf._utils import is_significant  # the function `pyperf compare_to` uses
    except ImportError:
        return _t_test_95, "reimplemented (pyperf not installed)"
    import pyperf

    return is_significant, f"pyperf {pyperf.__version__}"


def _t_test_95(a: Sequence[float], b: Sequence[float]) -> tuple[bool, float]:
    """pyperf's rule: Student's two-sample t-test (pooled variance), two-sided, 95 %."""
    n = len(a)
    df = 2 * n - 2
    ma, mb = statistics.fmean(a), statistics.fmean(b)
    pooled = (math.fsum((x - ma) ** 2 for x in a) + math.fsum((x - mb) ** 2 for x in b)) / df
    t = (ma - mb) / math.sqrt(2 * pooled / n) if pooled > 0 else 0.0
    return abs(t) >= previous_rule.t_quantile(0.975, df), t


PYPERF_SIGNIFICANT, PYPERF_SOURCE = _pyperf_significant()


def pyperf_compare_to(base: Sequence[float], cand: Sequence[float], samples: int = 20) -> Outcome:
    b, c = list(base[:samples]), list(cand[:samples])
    significant, _ = PYPERF_SIGNIFICANT(b, c)
    mb, mc = statistics.fmean(b), statistics.fmean(c)
    return Outcome(
        keep=bool(significant) and mc < mb,
        regress=bool(significant) and mc > mb,
        runs=2 * samples,
        rounds=samples,
    )


def rules(max_rounds: int, metric: str = "wall_time") -> list[Rule]:
    defaults = tool_config(metric=metric)
    return [
        Rule(
            "ci-autoresearch",
            "ci-autoresearch (defaults)",
            "paired log-ratios, Hodges-Lehmann estimate, signed-rank repeated 95 % interval beyond ±1 % "
            "(O'Brien-Fleming boundaries over the looks at 10, 15, 23, 30 rounds); 1 warm-up run per side",
            tool_rule(defaults),
            max_rounds,
        ),
        Rule(
            "one-run",
            "one run each, keep if lower",
            "karpathy/autoresearch, githubnext/autoloop",
            one_run_each,
            1,
        ),
        Rule(
            "median-of-5",
            "median of 5, keep if ≥ 1 % better",
            "the autoresearch article's AutoOptimizer",
            median_of_5,
            5,
        ),
        Rule(
            "gab-200",
            "github-action-benchmark, alert at 200 %",
            "one value against the previous one; kept unless the alert fires",
            github_action_benchmark(2.0),
            1,
        ),
        Rule(
            "gab-110",
            "github-action-benchmark, alert at 110 %",
            "one value against the previous one; kept unless the alert fires",
            github_action_benchmark(1.1),
            1,
        ),
        Rule(
            "asv",
            "asv continuous (p < 0.002, factor 1.1)",
            "10 samples per side, Mann-Whitney U p < 0.002 and medians beyond the factor 1.1",
            asv_continuous,
            10,
        ),
        Rule(
            "pyperf",
            "pyperf compare_to (t-test 95 %)",
            f"20 values per side, two-sample t-test at 95 % ({PYPERF_SOURCE}), lower mean",
            pyperf_compare_to,
            20,
        ),
    ]


SHORT = {
    "ci-autoresearch": "defaults",
    "pocock": "Pocock",
    "previous": "before",
    "previous-c98": "before, 0.98",
}


def variants(max_rounds: int, metric: str = "wall_time") -> list[Rule]:
    """Design alternatives and the previous rule, decided on the same samples (apart from the tools')."""
    return [
        Rule(
            "pocock",
            "ci-autoresearch with Pocock boundaries",
            "the same method with Pocock's constant critical values over the looks (2.34 at each of "
            "10, 15, 23, 30 rounds) instead of O'Brien-Fleming's (3.51, 2.87, 2.32, 2.03)",
            tool_rule(tool_config(metric=metric), shape=0.5),
            max_rounds,
            variant=True,
        ),
        Rule(
            "previous",
            "ci-autoresearch before (bootstrap median, 95 % at each look)",
            "the rule before the sequential rank method: expanded bootstrap interval of the median "
            "log-ratio and Wilcoxon p < 0.05 at each look (previous_rule.py)",
            tool_rule(tool_config(metric=metric), previous=True),
            max_rounds,
            variant=True,
        ),
        Rule(
            "previous-c98",
            "ci-autoresearch before, confidence 0.98",
            "the previous rule with decision.confidence: 0.98 (the setting recommended before)",
            tool_rule(tool_config(metric=metric, confidence=0.98), previous=True),
            max_rounds,
            variant=True,
        ),
    ]


# --------------------------------------------------------------------------------------------------
# deciding a set of trials


def summarise(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    n = len(outcomes)
    keep = sum(o.keep for o in outcomes)
    has_regress = bool(outcomes) and outcomes[0].regress is not None
    regress = sum(bool(o.regress) for o in outcomes) if has_regress else None
    runs = [o.runs for o in outcomes]
    rounds = [o.rounds for o in outcomes]
    verdicts: dict[str, int] = {}
    for o in outcomes:
        if o.verdict:
            verdicts[o.verdict] = verdicts.get(o.verdict, 0) + 1
    return {
        "n": n,
        "keep": keep,
        "keep_rate": keep / n if n else None,
        "keep_ci95": list(common.wilson(keep, n)),
        "regress": regress,
        "regress_rate": regress / n if (n and regress is not None) else None,
        "runs_mean": statistics.fmean(runs) if runs else None,
        "runs_median": statistics.median(runs) if runs else None,
        "rounds_median": statistics.median(rounds) if rounds else None,
        "rounds_max": max(rounds) if rounds else None,
        "verdicts": verdicts or None,
    }


Trial = tuple[Sequence[float], Sequence[float]]


def decide_all(cells: Mapping[float, Sequence[Trial]], rule_list: Sequence[Rule]) -> dict[str, Any]:
    """``{rule key: {effect key: summary, "all": summary}}``."""
    out: dict[str, Any] = {}
    for rule in rule_list:
        per: dict[str, Any] = {}
        everything: list[Outcome] = []
        for effect, trials in cells.items():
            outcomes = [rule.decide(b, c) for b, c in trials]
            per[effect_key(effect)] = summarise(outcomes)
            everything += outcomes
        per["all"] = summarise(everything)
        out[rule.key] = per
    return out


# --------------------------------------------------------------------------------------------------
# live: recording the pool


def workload_command(workload: str, units: int) -> str:
    if workload == "cpu":
        return f"{shlex.quote(sys.executable)} -S -I work.py {units}"
    return f"sleep {units / 1e6:.6f}"


class Recorder:
    """Runs workloads through ``measure.runner.run_measured`` in a scratch directory."""

    def __init__(self, root: Path) -> None:
        self.cwd = root
        (root / "work.py").write_text(WORKLOAD_SOURCE)
        self.log_dir = root / "logs"
        self.env = scrub_env(common.python_env())
        self.runs = 0

    def run(self, command: str, name: str = "run") -> tuple[int, int]:
        """One run: (wall time, CPU time) in microseconds."""
        res = run_measured(command, cwd=self.cwd, env=self.env, timeout=120, log_dir=self.log_dir, name=name)
        if not res.ok:
            raise SystemExit(f"workload failed (exit {res.returncode}): {command}\n{res.stderr[-2000:]}")
        self.runs += 1
        return round(res.wall_time * 1e6), round(res.cpu_time * 1e6)

    def calibrate(self, workload: str, units: int, pairs: int) -> dict[str, Any]:
        """Median wall time with no work (S) and with ``units`` (T), interleaved."""
        empty, full = [], []
        for i in range(pairs):
            order = (0, units) if i % 2 == 0 else (units, 0)
            for u in order:
                wall, _ = self.run(workload_command(workload, u))
                (full if u else empty).append(wall / 1e6)
        s, t = statistics.median(empty), statistics.median(full)
        amplification = t / (t - s) if t > s else 1.0
        amplification = min(max(amplification, 1.0), 5.0)
        return {"units": units, "fixed_s": s, "total_s": t, "amplification": amplification, "pairs": pairs}

    def cpu_units(self, work_s: float) -> int:
        """How many loop steps take ``work_s`` seconds here (a rough first measurement)."""
        probe = 200_000
        empty = statistics.median(self.run(workload_command("cpu", 0))[0] for _ in range(3))
        full = statistics.median(self.run(workload_command("cpu", probe))[0] for _ in range(3))
        per_unit = max(full - empty, 1.0) / 1e6 / probe
        return max(1000, round(work_s / per_unit))

    def trial(self, base_cmd: str, cand_cmd: str, rounds: int) -> dict[str, dict[str, list[int]]]:
        commands = {"baseline": base_cmd, "candidate": cand_cmd}
        samples: dict[str, dict[str, list[int]]] = {s: {"wall_time": [], "cpu_time": []} for s in commands}
        for order in round_order("abba", rounds, random.Random(0)):
            for side in order:
                wall, cpu = self.run(commands[side], side)
                samples[side]["wall_time"].append(wall)
                samples[side]["cpu_time"].append(cpu)
        return samples


def samples_path(out_dir: Path, workload: str, quick: bool) -> Path:
    return out_dir / (f"samples-{workload}-quick.json" if quick else f"samples-{workload}.json")


def new_pool(rec: Recorder, workload: str, settings: Settings, machine: Mapping[str, Any]) -> dict[str, Any]:
    if workload == "cpu":
        units = rec.cpu_units(settings.cpu_work_s)
        description = "pure-Python loop in a fresh `python -S -I` (CPU-bound, interpreter start-up included)"
    else:
        units = round(settings.io_sleep_s * 1e6)
        description = "`sleep` (bound by waiting; noise from process start-up and the scheduler)"
    cal = rec.calibrate(workload, units, settings.calibration_pairs)
    cells = {}
    for e in EFFECTS:
        cand_units = max(0, round(units * (1 + e * cal["amplification"])))
        cells[effect_key(e)] = {
            "effect": e,
            "candidate_units": cand_units,
            "candidate_command": workload_command(workload, cand_units),
            "trials": [],
        }
    return {
        "schema": SAMPLES_SCHEMA,
        "machine": dict(machine),
        "workload": workload,
        "description": description,
        "baseline_units": units,
        "baseline_command": workload_command(workload, units),
        "calibration": cal,
        "rounds": settings.rounds,
        "order": "abba",
        "unit": "microseconds",
        "metrics": ["wall_time", "cpu_time"],
        "cells": cells,
    }


def record_pools(
    settings: Settings, out_dir: Path, machine: Mapping[str, Any], *, resume: bool
) -> dict[str, Any]:
    pools: dict[str, Any] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="autoresearch-dq-") as tmp:
        rec = Recorder(Path(tmp))
        for w in WORKLOADS:
            path = samples_path(out_dir, w, settings.quick)
            if resume and path.is_file():
                pools[w] = json.loads(path.read_text())
                _say(f"{w}: resuming {path} ({_done(pools[w])} trials recorded)")
            else:
                pools[w] = new_pool(rec, w, settings, machine)
                cal = pools[w]["calibration"]
                _say(
                    f"{w}: {pools[w]['baseline_command']} — fixed {cal['fixed_s'] * 1000:.1f} ms, "
                    f"run {cal['total_s'] * 1000:.1f} ms, work scaled by {cal['amplification']:.2f} x effect"
                )
        todo: list[tuple[str, str]] = []
        for w, pool in pools.items():
            for key, cell in pool["cells"].items():
                want = settings.trials_aa if cell["effect"] == 0 else settings.trials_effect
                todo += [(w, key)] * max(0, want - len(cell["trials"]))
        random.Random(settings.seed).shuffle(todo)
        total = len(todo)
        _say(f"recording {total} trials x {settings.rounds} rounds x 2 runs")
        t0 = time.perf_counter()
        last_save = t0
        for i, (w, key) in enumerate(todo, 1):
            pool = pools[w]
            cell = pool["cells"][key]
            pool["cells"][key]["trials"].append(
                rec.trial(pool["baseline_command"], cell["candidate_command"], settings.rounds)
            )
            now = time.perf_counter()
            if now - last_save > 60 or i == total:
                for ww, p in pools.items():
                    common.write_json(samples_path(out_dir, ww, settings.quick), p, compact=True)
                last_save = now
            if i % max(1, total // 40) == 0 or i == total:
                eta = (now - t0) / i * (total - i)
                _say(f"  {i}/{total} trials, {now - t0:.0f} s, about {eta / 60:.1f} min left")
        for w, p in pools.items():
            p["recording_seconds"] = p.get("recording_seconds", 0.0) + (time.perf_counter() - started)
            common.write_json(samples_path(out_dir, w, settings.quick), p, compact=True)
    return pools


def _done(pool: Mapping[str, Any]) -> int:
    return sum(len(c["trials"]) for c in pool["cells"].values())


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def pool_cells(pool: Mapping[str, Any], metric: str) -> dict[float, list[Trial]]:
    return {
        cell["effect"]: [
            ([v / 1e6 for v in t["baseline"][metric]], [v / 1e6 for v in t["candidate"][metric]])
            for t in cell["trials"]
        ]
        for cell in pool["cells"].values()
    }


def noise_of(cells: Mapping[float, Sequence[Trial]]) -> dict[str, Any]:
    """How noisy the pool is: per-side CV within a trial, spread of the round log-ratios, realised effects."""
    aa = cells.get(0.0, [])
    cvs = [statistics.stdev(side) / statistics.fmean(side) for b, c in aa for side in (b, c) if len(side) > 1]
    logs = [math.log(y / x) for b, c in aa for x, y in zip(b, c, strict=True)]
    med = statistics.median(logs) if logs else 0.0
    mad = statistics.median(abs(v - med) for v in logs) if logs else 0.0
    realised = {}
    for e, trials in cells.items():
        pooled = [math.log(y / x) for b, c in trials for x, y in zip(b, c, strict=True)]
        realised[effect_key(e)] = math.exp(statistics.median(pooled)) - 1 if pooled else None
    level = [v for b, _ in aa for v in b]
    return {
        "median_run_s": statistics.median(level) if level else None,
        "cv_within_trial_median": statistics.median(cvs) if cvs else None,
        "log_ratio_sd_robust": 1.4826 * mad,
        "log_ratio_sd": statistics.stdev(logs) if len(logs) > 1 else None,
        "realised_effect": realised,
    }


# --------------------------------------------------------------------------------------------------
# synthetic noise


def _lognormal(cv: float) -> Callable[[random.Random], float]:
    sigma = math.sqrt(math.log1p(cv * cv))
    return lambda rng: math.exp(rng.gauss(0.0, sigma))


def _bimodal(rng: random.Random) -> float:
    """CV 2 % around one of two modes: 80 % of the runs normal, 20 % 25 % slower (a noisy neighbour)."""
    return math.exp(rng.gauss(0.0, 0.02)) * (1.25 if rng.random() < 0.2 else 1.0)


NOISES: dict[str, tuple[str, Callable[[random.Random], float]]] = {
    "cv1": ("lognormal, CV 1 %", _lognormal(0.01)),
    "cv3": ("lognormal, CV 3 %", _lognormal(0.03)),
    "cv10": ("lognormal, CV 10 %", _lognormal(0.10)),
    "bimodal": ("bimodal: CV 2 %, 20 % of runs 25 % slower", _bimodal),
}


def synthetic_results(noise: str, settings: Settings) -> dict[str, Any]:
    """Every rule on the synthetic trials of ``noise`` (a function of its arguments alone, so that it
    can run in another process)."""
    return decide_all(synthetic_cells(noise, settings), [*rules(settings.rounds), *variants(settings.rounds)])


def synthetic_cells(noise: str, settings: Settings) -> dict[float, list[Trial]]:
    draw = NOISES[noise][1]
    cells: dict[float, list[Trial]] = {}
    for e in EFFECTS:
        rng = random.Random(f"{settings.seed}:{noise}:{effect_key(e)}")
        n = settings.synthetic_aa if e == 0 else settings.synthetic_effect
        cells[e] = [
            (
                [draw(rng) for _ in range(settings.rounds)],
                [(1 + e) * draw(rng) for _ in range(settings.rounds)],
            )
            for _ in range(n)
        ]
    return cells


# --------------------------------------------------------------------------------------------------
# instructions


def instructions_check(settings: Settings) -> dict[str, Any]:
    """The CPU workload and a 2 %-less-work candidate under callgrind, interleaved: CV and the verdict."""
    env = scrub_env(common.python_env())
    try:
        valgrind = require_valgrind(env)
    except AutoresearchError as err:
        return {"available": False, "reason": str(err)}
    spec = MetricSpec(name="instructions", source="instructions", tool="callgrind")
    units = settings.instructions_units
    cand_units = round(units * 0.98)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="autoresearch-dq-instr-") as tmp:
        rec = Recorder(Path(tmp))
        values: dict[str, list[float]] = {"baseline": [], "candidate": []}
        commands = {
            "baseline": workload_command("cpu", units),
            "candidate": workload_command("cpu", cand_units),
        }
        for i, order in enumerate(round_order("abba", settings.instructions_rounds, random.Random(0))):
            for side in order:
                out = Path(tmp) / f"{side}{i}.callgrind"
                out.mkdir()
                rec.run(wrap_for_instructions(commands[side], spec, out, valgrind), side)
                values[side].append(metrics.read_instruction_count(out, "callgrind"))
    config = tool_config(metric="instructions")
    d = decide(
        config, {"instructions": values["baseline"]}, {"instructions": values["candidate"]}, paired=True
    )
    est = d.metrics["instructions"].estimate
    cv = {s: (statistics.stdev(v) / statistics.fmean(v) if len(v) > 1 else 0.0) for s, v in values.items()}
    return {
        "available": True,
        "command": commands["baseline"],
        "candidate_command": commands["candidate"],
        "runs_per_side": settings.instructions_rounds,
        "values": values,
        "cv": cv,
        "cv_max": max(cv.values()),
        "delta": est.delta if est else None,
        "verdict": d.verdict,
        "reason": d.reason,
        "seconds": time.perf_counter() - started,
    }


# --------------------------------------------------------------------------------------------------
# report


def rate_cell(s: Mapping[str, Any], *, ci: bool = False) -> str:
    if s is None or s["n"] == 0:
        return "—"
    text = common.pct(s["keep_rate"])
    if ci:
        lo, hi = s["keep_ci95"]
        text += f" [{lo * 100:.1f}, {hi * 100:.1f}]"
    return text


def regress_cell(s: Mapping[str, Any]) -> str:
    return "—" if s["regress_rate"] is None else common.pct(s["regress_rate"])


def table(results: Mapping[str, Any], rule_list: Sequence[Rule]) -> str:
    headers = [
        "rule",
        "false keep (A/A)",
        "keeps −2 %",
        "keeps −5 %",
        "keeps −10 %",
        "wrong-direction keep (+5 %)",
        "flags +5 % as slower",
        "false alarm (A/A)",
        "runs / decision",
    ]
    rows = []
    for rule in rule_list:
        r = results[rule.key]
        runs = r["all"]
        runs_text = (
            f"{runs['runs_median']:g}"
            if runs["runs_mean"] == runs["runs_median"]
            else f"{runs['runs_median']:g} (mean {runs['runs_mean']:.1f})"
        )
        rows.append(
            [
                rule.label,
                rate_cell(r["+0"], ci=True),
                rate_cell(r["-2"]),
                rate_cell(r["-5"]),
                rate_cell(r["-10"]),
                rate_cell(r["+5"]),
                regress_cell(r["+5"]),
                regress_cell(r["+0"]),
                runs_text,
            ]
        )
    return common.markdown_table(headers, rows)


def rounds_line(results: Mapping[str, Any], key: str = "ci-autoresearch") -> str:
    r = results[key]
    parts = [
        f"{effect_label(e)} {r[effect_key(e)]['rounds_median']:g}" for e in EFFECTS if r[effect_key(e)]["n"]
    ]
    return f"ci-autoresearch median rounds: {', '.join(parts)} (all: {r['all']['rounds_median']:g})"


def check_targets(doc: Mapping[str, Any], rule: str = "ci-autoresearch") -> list[dict[str, Any]]:
    """The issue's targets for one rule (the defaults unless told), on every pool and noise model."""
    out: list[dict[str, Any]] = []

    def add(target: str, where: str, value: float | None, met: bool | None, shown: str) -> None:
        out.append({"target": target, "where": where, "value": value, "met": met, "shown": shown})

    sources: list[tuple[str, Mapping[str, Any]]] = [
        (f"live {w}", v["results"]) for w, v in doc["live"].items()
    ]
    sources += [
        (f"live {w}, cpu_time", v["results_cpu_time"])
        for w, v in doc["live"].items()
        if "results_cpu_time" in v
    ]
    sources += [(f"synthetic {k}", v["results"]) for k, v in doc.get("synthetic", {}).items()]
    for where, res in sources:
        if rule not in res:
            continue
        r = res[rule]
        aa, g5, g2, wd = r["+0"], r["-5"], r["-2"], r["+5"]
        add(
            "false keeps ≤ 1 % on A/A",
            where,
            aa["keep_rate"],
            aa["keep_rate"] <= 0.01,
            f"{rate_cell(aa, ci=True)} of {aa['n']}",
        )
        add(
            "≥ 95 % detection of a 5 % gain",
            where,
            g5["keep_rate"],
            g5["keep_rate"] >= 0.95,
            f"{rate_cell(g5)} of {g5['n']}",
        )
        if where.startswith(("live cpu", "synthetic")):
            add(
                "≥ 80 % detection of a 2 % gain",
                where,
                g2["keep_rate"],
                g2["keep_rate"] >= 0.80,
                f"{rate_cell(g2)} of {g2['n']}",
            )
        add(
            "never a wrong-direction keep (+5 %)",
            where,
            wd["keep_rate"],
            wd["keep"] == 0,
            f"{wd['keep']} of {wd['n']}",
        )
        med = r["all"]["rounds_median"]
        add("median ≤ 20 rounds", where, med, med <= 20, f"{med:g}")
        before = res.get("previous")
        gain = {"synthetic cv1": "-2", "synthetic cv3": "-5"}.get(where)
        if rule == "ci-autoresearch" and before is not None and gain is not None:
            now, then = r[gain]["keep_rate"], before[gain]["keep_rate"]
            add(
                f"detects a {gain[1:]} % gain no less often than before",
                where,
                now,
                now >= then,
                f"{rate_cell(r[gain])} (before: {rate_cell(before[gain])})",
            )
    ins = doc.get("instructions") or {}
    if rule == "ci-autoresearch":
        name = "`instructions`: CV < 0.1 % across 10 runs"
        if ins.get("available"):
            add(
                name,
                "live cpu, callgrind",
                ins["cv_max"],
                ins["cv_max"] < 0.001,
                f"{ins['cv_max'] * 100:.4f} % over {ins['runs_per_side']} runs per side",
            )
        else:
            add(name, "live cpu, callgrind", None, None, ins.get("reason", "not measured"))
    return out


def targets_matrix(doc: Mapping[str, Any], keys: Sequence[str], labels: Sequence[str]) -> str:
    """One row per target and place, one column per rule: the measured value and whether it is met."""
    columns = [check_targets(doc, k) for k in keys]
    rows = []
    for t in columns[0]:
        cells = []
        for col in columns:
            match = [c for c in col if c["target"] == t["target"] and c["where"] == t["where"]]
            if not match:
                cells.append("—")
                continue
            c = match[0]
            mark = "" if c["met"] is None else (" ✓" if c["met"] else " **✗**")
            cells.append(c["shown"].split(" of ")[0].split(" [")[0] + mark)
        rows.append([t["target"], t["where"], *cells])
    return common.markdown_table(["target", "where", *labels], rows, "ll" + "r" * len(labels))


def synthetic_summary(synthetic: Mapping[str, Any], rule_list: Sequence[Rule]) -> str:
    def cell(r: Mapping[str, Any]) -> str:
        return " / ".join(
            f"{r[k]['keep_rate'] * 100:.{0 if k in ('-2', '-5') else 1}f}" for k in ("+0", "-2", "-5", "+5")
        )

    rows = [
        [rule.label, *[cell(syn["results"][rule.key]) for syn in synthetic.values()]] for rule in rule_list
    ]
    return common.markdown_table(["rule", *[syn["noise"] for syn in synthetic.values()]], rows)


def render(doc: Mapping[str, Any], rule_list: Sequence[Rule], variant_list: Sequence[Rule]) -> str:
    study = [rule_list[0], *variant_list]
    lines = [
        f"# Decision quality{' (quick: a check that it works, not a measurement)' if doc['quick'] else ''}",
        "",
        f"Machine: {common.platform_summary(doc['machine'])}.",
        f"Mode: {doc['mode']}; pyperf rule: {PYPERF_SOURCE}.",
        "",
    ]
    for w, live in doc.get("live", {}).items():
        noise = live["noise"]
        realised = ", ".join(
            f"{effect_label(e)} → {common.signed_pct(noise['realised_effect'][effect_key(e)])}"
            for e in EFFECTS
            if noise["realised_effect"].get(effect_key(e)) is not None
        )
        trials = ", ".join(f"{effect_label(float(k) / 100)} {n}" for k, n in live["trials"].items())
        lines += [
            f"## Live, `{w}` workload: {live['description']}",
            "",
            f"`{live['baseline_command']}`. Trials: {trials}. Baseline run "
            f"{common.seconds(noise['median_run_s'])}; CV within a trial "
            f"{common.pct(noise['cv_within_trial_median'])} (median); SD of a round's log-ratio "
            f"{common.pct(noise['log_ratio_sd_robust'])} (robust). Realised effects: {realised}.",
            "",
            table(live["results"], rule_list),
            rounds_line(live["results"]),
            "",
            f"Method changes under study (`{w}`, `wall_time`):",
            "",
            table(live["results"], study),
        ]
        if "results_cpu_time" in live:
            cn = live["noise_cpu_time"]
            lines += [
                f"Objective `cpu_time` instead (`{w}`; CV within a trial "
                f"{common.pct(cn['cv_within_trial_median'])}, SD of a round's log-ratio "
                f"{common.pct(cn['log_ratio_sd_robust'])}):",
                "",
                table(live["results_cpu_time"], study),
            ]
    for key, syn in doc.get("synthetic", {}).items():
        lines += [
            f"## Synthetic, {syn['noise']} ({key})",
            "",
            table(syn["results"], rule_list),
            rounds_line(syn["results"]),
            "",
            "Method changes under study:",
            "",
            table(syn["results"], study),
        ]
    if doc.get("synthetic"):
        lines += [
            "## Synthetic, summary",
            "",
            "Each cell: false keeps on A/A / keeps at −2 % / at −5 % / wrong-direction keeps at +5 %, in %.",
            "",
            synthetic_summary(doc["synthetic"], [*rule_list, *variant_list]),
        ]
    ins = doc.get("instructions") or {}
    if ins.get("available"):
        lines += [
            "## `instructions` (callgrind)",
            "",
            f"`{ins['command']}` against 2 % less work, {ins['runs_per_side']} runs per side: CV "
            f"{ins['cv']['baseline'] * 100:.4f} % (baseline), {ins['cv']['candidate'] * 100:.4f} % "
            f"(candidate); verdict **{ins['verdict']}**: {ins['reason']}.",
            "",
        ]
    lines += worker_tables(doc)
    lines += [
        "## Targets",
        "",
        "ci-autoresearch's defaults and the method changes under study (✓ met, ✗ missed):",
        "",
        targets_matrix(doc, [r.key for r in study], [SHORT.get(r.key, r.key) for r in study]),
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# worker mode


WORKER_RULES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("ci-autoresearch", "defaults (min_effect 1 %)", {}),
    ("futility", "defaults, stopping for futility (before)", {"futility": True}),
    ("min-effect-0.005", "min_effect 0.5 %", {"min_effect": 0.005}),
    (
        "min-effect-0.005-futility",
        "min_effect 0.5 %, stopping for futility",
        {"min_effect": 0.005, "futility": True},
    ),
)
"""The rules worker pools are decided by: the tool's, and -- on the same samples -- with the futility
stop that worker mode had before 2026-12-07 (a time-planned session now uses its time)."""
#: The rules each cell of a worker pool is judged by (and recorded until they have decided).
WORKER_CELL_RULES = {
    "-1": ("ci-autoresearch", "futility", "min-effect-0.005", "min-effect-0.005-futility"),
}
DEFAULT_CELL_RULES = ("ci-autoresearch", "futility")
WORKER_DEADLINE_S = 60.0


def _decision_keys(params: Mapping[str, Any]) -> dict[str, Any]:
    """A worker rule's ``decision`` settings (its ``futility`` goes to ``tool_rule``)."""
    return {k: v for k, v in params.items() if k != "futility"}


def _worker_config(
    params: Mapping[str, Any], metric: str, max_rounds: int, max_seconds: float | None
) -> Config:
    """The tool's configuration in worker mode for a trial whose first look planned ``max_rounds``
    (``worker_pools.planned_rounds``: the rounds that fit in ``decision.max_seconds``)."""
    return tool_config(metric=metric, max_rounds=max_rounds, max_seconds=max_seconds, **params)


def worker_enough(effect: str, rounds: Sequence[Mapping[str, Any]], max_rounds: int) -> bool:
    """Whether every worker rule judged on this cell, on wall and on CPU time, has decided even without
    stopping for futility (so that any futility rule can be replayed on the rounds recorded);
    ``max_rounds``: the trial's planned rounds."""
    keys = WORKER_CELL_RULES.get(effect, DEFAULT_CELL_RULES)
    for index, metric in ((0, "wall_time"), (1, "cpu_time")):
        base = [r["b"][index] / 1e9 for r in rounds]
        cand = [r["c"][index] / 1e9 for r in rounds]
        if min(base + cand) <= 0:
            continue
        for key, _, params in WORKER_RULES:
            if key not in keys:
                continue
            try:
                config = tool_config(metric=metric, max_rounds=max_rounds, **_decision_keys(params))
                tool_rule(config, futility=False)(base, cand)
            except ValueError:  # the rule needs more rounds than recorded
                return False
    return True


def _quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    data = sorted(values)
    return data[min(len(data) - 1, math.ceil(q * len(data)) - 1)]


def decide_worker_pool(pool: Mapping[str, Any], metric: str = "wall_time") -> dict[str, Any]:
    """Every worker rule on every trial of a pool: rates, verdicts, rounds, processes and seconds."""
    cells = worker_pools.worker_cells(pool, metric)
    times = worker_pools.round_seconds(pool)
    per_process = 1 if pool["sides"] == "together" else 2
    out: dict[str, Any] = {}
    plan = worker_pools.time_plan(pool)
    configs: dict[tuple[str, int], Config] = {}
    for key, _, params in WORKER_RULES:
        if params.get("futility") and not plan.deadline:
            continue  # recorded when worker mode still stopped for futility: its defaults are this rule
        per: dict[str, Any] = {}
        for effect, trials in cells.items():
            if key not in WORKER_CELL_RULES.get(effect_key(effect), DEFAULT_CELL_RULES):
                continue
            outcomes, seconds = [], []
            for (b, c), (calibration, rounds_s) in zip(trials, times[effect], strict=True):
                planned, clock = worker_pools.replayed_plan(pool, calibration, rounds_s)
                if (key, planned) not in configs:
                    limit = pool.get("max_seconds") if plan.deadline else None
                    configs[key, planned] = _worker_config(_decision_keys(params), metric, planned, limit)
                o = tool_rule(configs[key, planned], futility=params.get("futility"), clock=clock)(b, c)
                outcomes.append(o)
                seconds.append(calibration + math.fsum(rounds_s[: o.rounds]))
            summary = summarise(outcomes)
            n = len(outcomes)
            summary["unchanged_rate"] = sum(o.verdict == "unchanged" for o in outcomes) / n if n else None
            summary["processes_median"] = summary["rounds_median"] * per_process if n else None
            summary["seconds_median"] = statistics.median(seconds) if seconds else None
            summary["seconds_p95"] = _quantile(seconds, 0.95)
            summary["seconds_max"] = max(seconds) if seconds else None
            per[effect_key(effect)] = summary
        out[key] = per
    return out


def equal_time(doc: Mapping[str, Any], budget_s: float = 60.0) -> list[dict[str, Any]]:
    """How finely each way of measuring resolves an effect in ``budget_s`` seconds of measuring:
    the half-width of a 95 % interval, 2 x (SD of a round's log-ratio) / sqrt(rounds that fit)."""
    rows = []
    live = doc.get("live", {}).get("cpu")
    overhead = doc.get("overhead_per_run_s") or 0.04
    if live is not None:
        noise = live["noise"]
        t_round = 2 * (noise["median_run_s"] + overhead)
        sd = noise["log_ratio_sd_robust"]
        rows.append(
            {
                "way": "process per run (the live CPU pool, wall time)",
                "sd": sd,
                "seconds_per_round": t_round,
                "half_width": 2.0 * sd / math.sqrt(budget_s / t_round),
            }
        )
    for key, w in doc.get("worker", {}).items():
        noise = w["noise"]
        sd, t_round = noise["round_log_ratio_sd_robust"], noise["seconds_per_round_median"]
        if sd is None or not t_round:
            continue
        rows.append(
            {
                "way": f"worker mode, {key}",
                "sd": sd,
                "seconds_per_round": t_round,
                "half_width": 2.0 * sd / math.sqrt(budget_s / t_round),
            }
        )
    return rows


def worker_targets(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The issue's worker-mode targets, per pool at the defaults (the unpinned pool is an experiment,
    not judged)."""
    out: list[dict[str, Any]] = []

    def add(target: str, where: str, value: float | None, met: bool | None, shown: str) -> None:
        out.append({"target": target, "where": where, "value": value, "met": met, "shown": shown})

    for pool, w in doc.get("worker", {}).items():
        if not w["pinned"]:
            continue
        for metric, results in (("wall_time", w["results"]), ("cpu_time", w["results_cpu_time"])):
            _worker_pool_targets(add, f"{pool}, {metric}", results)
    return out


def _worker_pool_targets(add: Callable[..., None], key: str, results: Mapping[str, Any]) -> None:
    """The worker targets for one pool and objective."""
    r, r5 = results["ci-autoresearch"], results["min-effect-0.005"]
    aa = r.get("+0")
    if aa and aa["n"]:
        bad = aa["keep"] + (aa["regress"] or 0)
        add(
            "A/A kept or flagged slower in ≤ 1 % of ≥ 300 trials",
            key,
            bad / aa["n"],
            bad / aa["n"] <= 0.01 and aa["n"] >= 300,
            f"{bad} of {aa['n']} ({common.pct(bad / aa['n'])})",
        )
        add(
            "`unchanged` on ≥ 90 % of A/A pairs",
            key,
            aa["unchanged_rate"],
            aa["unchanged_rate"] >= 0.90,
            f"{common.pct(aa['unchanged_rate'])} of {aa['n']}",
        )
    g2 = r.get("-2")
    if g2 and g2["n"]:
        add(
            "a 2 % gain kept in ≥ 95 %",
            key,
            g2["keep_rate"],
            g2["keep_rate"] >= 0.95,
            f"{rate_cell(g2)} of {g2['n']}",
        )
    g1 = r5.get("-1")
    if g1 and g1["n"]:
        add(
            "a 1 % gain kept in ≥ 80 % (min_effect 0.005)",
            key,
            g1["keep_rate"],
            g1["keep_rate"] >= 0.80,
            f"{rate_cell(g1)} of {g1['n']}",
        )
    longest = [c["seconds_max"] for c in r.values() if c["n"]]
    if g1 and g1["n"]:
        longest.append(g1["seconds_max"])
    worst = max(longest)
    add("each decision within 60 s", key, worst, worst <= WORKER_DEADLINE_S, f"longest {worst:.1f} s")


def _range(single: Mapping[str, Any]) -> str:
    if not single["n"]:
        return "—"
    return f"{common.signed_pct(math.expm1(single['min']))} … {common.signed_pct(math.expm1(single['max']))}"


def worker_tables(doc: Mapping[str, Any]) -> list[str]:
    """The worker-mode section of the report."""
    pools = doc.get("worker", {})
    if not pools:
        return []
    lines = ["## Worker mode", ""]
    noise_rows = []
    for key, w in pools.items():
        n = w["noise"]
        single = n["single_pair_aa_medians"]
        first = n.get("order_effect_median")
        noise_rows.append(
            [
                key,
                common.seconds(n["median_call_s"]),
                f"{n['calls_per_block_median']:g}" if n["calls_per_block_median"] else "—",
                common.pct(n["block_within_process_sd_robust"], 2),
                common.pct(n["block_pair_log_ratio_sd_robust"], 2),
                common.pct(n["round_log_ratio_sd_robust"], 2),
                common.pct(n.get("pair_of_rounds_log_ratio_sd_robust"), 2),
                "—" if first is None else common.signed_pct(first, 2),
                _range(single),
                common.seconds(n["seconds_per_round_median"]),
            ]
        )
    lines += [
        "Noise, from the A/A trials: a block against the median of its process's blocks; the i-th "
        "baseline block against the i-th candidate block of the same round; a round (a process pair) "
        "against another; two rounds in opposite orders (the mean of their log-ratios) against another; "
        "how much slower the side measured first ran (the median over those pairs of rounds); and each "
        "A/A trial's first process pair taken alone (the median of its block pairs), as one long-lived "
        "pair of workers would measure it.",
        "",
        common.markdown_table(
            [
                "pool",
                "call",
                "calls / block",
                "SD block in process",
                "SD block pair",
                "SD round (process pair)",
                "SD pair of rounds",
                "measured first",
                "one pair's A/A median, range",
                "seconds / round",
            ],
            noise_rows,
        ),
        "",
    ]
    labels = {k: label for k, label, _ in WORKER_RULES}
    for key, w in pools.items():
        rows = []
        both = [("wall_time", k, per) for k, per in w["results"].items()]
        both += [("cpu_time", k, per) for k, per in w["results_cpu_time"].items()]
        for metric, rule_key, per in both:
            for effect, c in per.items():
                if not c["n"]:
                    continue
                v = c["verdicts"] or {}
                rows.append(
                    [
                        metric,
                        labels[rule_key],
                        "A/A" if effect == "+0" else f"{effect} %",
                        str(c["n"]),
                        rate_cell(c),
                        common.pct(c["regress_rate"]),
                        common.pct(c["unchanged_rate"]),
                        common.pct(v.get("inconclusive", 0) / c["n"]),
                        f"{c['rounds_median']:g}",
                        f"{c['processes_median']:g}",
                        f"{c['seconds_median']:.1f} / {c['seconds_max']:.1f}",
                    ]
                )
        realised = ", ".join(
            f"{'A/A' if k == '+0' else k + ' %'} → {common.signed_pct(v)}"
            for k, v in w["noise"]["realised_effect"].items()
            if v is not None
        )
        lines += [
            f"### `{key}`: {w['description']}",
            "",
            f"Realised effects: {realised}.",
            "",
            common.markdown_table(
                [
                    "objective",
                    "rule",
                    "effect",
                    "trials",
                    "kept",
                    "flagged slower",
                    "unchanged",
                    "inconclusive",
                    "median rounds",
                    "median processes",
                    "seconds: median / max",
                ],
                rows,
            ),
            "",
        ]
    et = doc.get("equal_time") or []
    if et:
        lines += [
            "At equal time (60 s of measuring): the half-width of a 95 % interval, "
            "2 x SD(round log-ratio) / sqrt(rounds that fit in 60 s).",
            "",
            common.markdown_table(
                ["way of measuring", "SD of a round", "seconds / round", "±half-width in 60 s"],
                [
                    [
                        r["way"],
                        common.pct(r["sd"], 2),
                        common.seconds(r["seconds_per_round"]),
                        common.pct(r["half_width"], 2),
                    ]
                    for r in et
                ],
            ),
            "",
        ]
    wt = doc.get("worker_targets") or []
    if wt:
        lines += [
            "Worker-mode targets (✓ met, ✗ missed):",
            "",
            common.markdown_table(
                ["target", "pool", "measured", "met"],
                [[t["target"], t["where"], t["shown"], "✓" if t["met"] else "**✗**"] for t in wt],
            ),
            "",
        ]
    return lines


# --------------------------------------------------------------------------------------------------
# main


def main(argv: Sequence[str] | None = None) -> int:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument(
        "--replay",
        action="store_true",
        help="recompute the tables from the recorded samples (samples-*.json in --out-dir); runs nothing",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted recording from the samples files in --out-dir",
    )
    p.add_argument("--trials-aa", type=int, help="A/A trials per workload (default 300; quick 2)")
    p.add_argument("--trials-effect", type=int, help="trials per effect and workload (default 100; quick 1)")
    p.add_argument("--no-synthetic", action="store_true", help="skip the synthetic noise part")
    p.add_argument("--no-instructions", action="store_true", help="skip the callgrind part")
    p.add_argument("--no-worker", action="store_true", help="skip worker mode")
    p.add_argument(
        "--worker-scale",
        type=float,
        default=1.0,
        help="record this fraction of each worker pool's trials (default 1: 300 A/A, 100 per effect)",
    )
    p.add_argument(
        "--worker-pools",
        metavar="KEY,...",
        help="record only these worker pools (e.g. cpu-separate); the others as recorded in --out-dir",
    )
    p.add_argument(
        "--record-worker-only",
        action="store_true",
        help="take the process pools from their samples files (as --replay) and record worker mode",
    )
    args = p.parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.trials_aa is not None:
        settings = replace(settings, trials_aa=args.trials_aa)
    if args.trials_effect is not None:
        settings = replace(settings, trials_effect=args.trials_effect)
    out_dir: Path = args.out_dir
    machine = common.machine_info()
    rule_list, variant_list = rules(settings.rounds), variants(settings.rounds)
    elapsed: dict[str, float] = {}

    if args.replay or args.record_worker_only:
        pools = {}
        for w in WORKLOADS:
            path = samples_path(out_dir, w, settings.quick)
            if not path.is_file():
                raise SystemExit(f"--replay: {path} does not exist; record it first (run without --replay)")
            pools[w] = json.loads(path.read_text())
            if pools[w].get("schema") != SAMPLES_SCHEMA:
                raise SystemExit(f"--replay: {path} is not a {SAMPLES_SCHEMA} file")
    else:
        t0 = time.perf_counter()
        pools = record_pools(settings, out_dir, machine, resume=args.resume)
        elapsed["recording"] = time.perf_counter() - t0
    wpools: dict[str, Any] | None = None
    if not args.no_worker and not args.replay:
        # recorded first: deciding the process pools takes minutes of CPU a recording need not wait for
        t0 = time.perf_counter()
        wpools = worker_pools.record_worker_pools(
            units=pools["cpu"]["baseline_units"],
            rounds=settings.rounds,
            out_dir=out_dir,
            machine=machine,
            quick=settings.quick,
            resume=args.resume,
            seed=settings.seed,
            say=_say,
            enough=worker_enough,
            scale=args.worker_scale,
            only=args.worker_pools.split(",") if args.worker_pools else None,
        )
        elapsed["worker_recording"] = time.perf_counter() - t0

    doc: dict[str, Any] = {
        "schema": RESULT_SCHEMA,
        "machine": machine,
        "mode": "replay of recorded samples"
        if args.replay
        else ("process pools replayed, worker mode live" if args.record_worker_only else "live"),
        "quick": settings.quick,
        "settings": settings.__dict__,
        "defaults": {
            "objective": "wall_time",
            **tool_config().decision.__dict__,
            **tool_config().collection.__dict__,
        },
        "pyperf": PYPERF_SOURCE,
        "rules": [
            {"key": r.key, "label": r.label, "description": r.description, "variant": r.variant}
            for r in [*rule_list, *variant_list]
        ],
        "live": {},
    }
    t0 = time.perf_counter()
    for w, pool in pools.items():
        cells = pool_cells(pool, "wall_time")
        live: dict[str, Any] = {
            "description": pool["description"],
            "baseline_command": pool["baseline_command"],
            "calibration": pool["calibration"],
            "recorded_on": pool["machine"],
            "recording_seconds": pool.get("recording_seconds"),
            "trials": {effect_key(e): len(t) for e, t in cells.items()},
            "noise": noise_of(cells),
            "results": decide_all(cells, [*rule_list, *variant_list]),
        }
        if w == "cpu":
            cpu_cells = pool_cells(pool, "cpu_time")
            live["noise_cpu_time"] = noise_of(cpu_cells)
            cpu_rules = [rules(settings.rounds, "cpu_time")[0], *variants(settings.rounds, "cpu_time")]
            live["results_cpu_time"] = decide_all(cpu_cells, cpu_rules)
        doc["live"][w] = live
    elapsed["deciding_live"] = time.perf_counter() - t0

    # the replays below are independent and CPU-bound: one process per CPU
    replays = ProcessPoolExecutor(max_workers=os.cpu_count() or 1)
    try:
        if not args.no_synthetic:
            t0 = time.perf_counter()
            synthetic = {key: replays.submit(synthetic_results, key, settings) for key in NOISES}
            doc["synthetic"] = {
                key: {"noise": NOISES[key][0], "results": job.result()} for key, job in synthetic.items()
            }
            elapsed["synthetic"] = time.perf_counter() - t0
        if not args.no_instructions and not (args.replay or args.record_worker_only):
            t0 = time.perf_counter()
            doc["instructions"] = instructions_check(settings)
            elapsed["instructions"] = time.perf_counter() - t0
        elif args.replay or args.record_worker_only:
            old = out_dir / common.result_name("decision_quality", settings.quick)
            if old.is_file():
                doc["instructions"] = json.loads(old.read_text()).get("instructions")
        if not args.no_worker:
            t0 = time.perf_counter()
            if wpools is None:
                wpools = worker_pools.load_worker_pools(out_dir, settings.quick)
            overhead = out_dir / "overhead.json"
            if overhead.is_file():
                compares = json.loads(overhead.read_text()).get("compare") or []
                per_run = [r["overhead_per_run_ms"] / 1000.0 for c in compares for r in c.get("repeats", [])]
                doc["overhead_per_run_s"] = statistics.median(per_run) if per_run else None
            jobs = {
                (key, metric): replays.submit(decide_worker_pool, pool, metric)
                for key, pool in wpools.items()
                for metric in ("wall_time", "cpu_time")
            }
            doc["worker"] = {
                key: {
                    "description": pool["description"],
                    "sides": pool["sides"],
                    "pinned": pool["pinned"],
                    "worker": pool["worker"],
                    "baseline_units": pool["baseline_units"],
                    "recorded_on": pool["machine"],
                    "recording_seconds": pool.get("recording_seconds"),
                    "trials": {k: len(c["trials"]) for k, c in pool["cells"].items()},
                    "noise": worker_pools.worker_noise(pool),
                    "results": jobs[key, "wall_time"].result(),
                    "results_cpu_time": jobs[key, "cpu_time"].result(),
                }
                for key, pool in wpools.items()
            }
            doc["equal_time"] = equal_time(doc)
            doc["worker_targets"] = worker_targets(doc)
            elapsed["worker_deciding"] = time.perf_counter() - t0
    finally:
        # a failing replay ends the run at once: the replays still queued are cancelled
        replays.shutdown(cancel_futures=True)
    doc["targets"] = check_targets(doc)
    doc["targets_variants"] = {r.key: check_targets(doc, r.key) for r in variant_list}
    doc["elapsed_seconds"] = elapsed
    text = render(doc, rule_list, variant_list)
    doc["markdown"] = text
    path = common.write_json(out_dir / common.result_name("decision_quality", settings.quick), doc)
    print(text)
    _say(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
