"""Worker mode, recorded on this machine: trials of fresh worker processes, for ``decision_quality.py``.

Each pool is one way of measuring one workload: ``cpu`` (the CPU workload of the live pools: the same
pure-Python loop, now called as a function, about 30 ms a call) or ``long`` (the same loop twelve
times longer, about 0.35 s a call); ``separate`` (one worker process per side, the default) or
``together`` (one process holds both sides); and, for the experiment the issue asks for, ``pinned``
(both workers of a round on one core, with ``taskset``).

A trial is one comparison as ``compare`` makes it in worker mode, through the tool's own code
(``measure.worker.WorkerRounds`` with ``measure.worker_process.start_worker`` and the Python adapter): the
block size is calibrated once, then every round starts fresh workers -- a fresh hash seed and memory
layout each -- that run one warm-up block and three measured blocks per side (the defaults), ABBA. A trial
records rounds until every rule judged on it (the defaults; for the 1 % gain also ``min_effect`` 0.5 %; on
wall time and on CPU time) has decided without stopping for futility -- at most ``max_rounds`` -- so that
they, with any futility rule, decide the same samples; it also records how long each round took, so that
each rule's time to its decision is known. The candidate is a copy of the baseline's module that does ``1
+ effect`` times the work (``UNITS`` differs); an A/A pair is two identical copies in two directories.

Trials of all pools and effects are shuffled together, so that the machine's load changes hit every
cell alike; the pools are written to ``samples-worker-<pool>.json`` at least once a minute, and
``--resume`` continues them.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common

from ci_autoresearch.config.model import (
    WORKER_MAX_ROUNDS,
    WORKER_MAX_SECONDS,
    BenchmarkConfig,
    CollectionConfig,
    Config,
    WorkerConfig,
)
from ci_autoresearch.decide.sequential import look_schedule
from ci_autoresearch.decide.stopping import PLAN_SHARE, rounds_within
from ci_autoresearch.measure.rounds import round_order
from ci_autoresearch.measure.scrub import scrub_env
from ci_autoresearch.measure.worker import Channel, SideName, WorkerPlan, WorkerRounds
from ci_autoresearch.measure.worker_process import WorkerProcess, available_cpus, start_worker

WORKER_SAMPLES_SCHEMA = "ci-autoresearch-bench/worker-samples@1"
WORKER_EFFECTS: tuple[float, ...] = (0.0, -0.02, -0.01)
FIRST_LOOK = CollectionConfig.measurement_runs  # rounds before the first look (the tool's default)

SOURCE = '''\
"""The CPU workload of the bench as a function: UNITS steps of a linear congruential generator."""

UNITS = {units}


def spin(units):
    x = 1
    for _ in range(units):
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
    return x


def run():
    return spin(UNITS)
'''


Enough = Callable[[str, Sequence[Mapping[str, Any]], int], bool]
"""Given the effect key of a trial, its rounds so far and the pool's ``max_rounds``: whether every rule
judged on it has decided."""


@dataclass(frozen=True)
class TimePlan:
    share: float  # of decision.max_seconds, planned for at the first look
    deadline: bool  # a session ends at a look whose next would end after decision.max_seconds


@dataclass(frozen=True)
class PoolSpec:
    key: str
    workload: str  # "cpu" | "long"
    sides: str  # "separate" | "together"
    pin: bool
    scale: int  # units per call, as a multiple of the CPU workload's
    trials: Mapping[str, int]  # effect key -> trials
    description: str
    max_rounds: int = WORKER_MAX_ROUNDS  # decision.max_rounds of the comparisons (worker mode's default)
    max_seconds: float | None = WORKER_MAX_SECONDS  # decision.max_seconds (worker mode's default)
    # how the tool plans to max_seconds: the share of it the first look plans rounds for, and whether a
    # session ends at a look whose next would end after it (the tool's since 2026-12-07)
    time_plan: TimePlan = TimePlan(share=PLAN_SHARE, deadline=True)
    # the next round's workers start while a round measures (``WorkerRounds.round``'s ``then``; the
    # tool's since 2026-12-07, with pinning and a worker per side)
    ahead: bool = True


def pool_specs(*, quick: bool, scale: float = 1.0, rounds: int = 20) -> list[PoolSpec]:
    """The pools recorded: the CPU workload with a worker per side (the defaults) and with both sides
    in one, a longer workload, and the pinning experiment (the defaults without ``pin``).

    ``scale`` records that fraction of each cell's trials (at least 2 A/A and 1 per effect): a shorter
    recording whose rates carry wider intervals, for machines or sessions without hours to spare.
    ``rounds``: the most rounds of a quick trial (full pools have worker mode's defaults).
    """
    if scale != 1.0 and not quick:
        return [
            dataclasses.replace(
                s, trials={k: max(2 if k == "+0" else 1, round(n * scale)) for k, n in s.trials.items()}
            )
            for s in pool_specs(quick=False)
        ]
    if quick:
        few = {"+0": 1, "-2": 1, "-1": 1}
        brief: dict[str, Any] = {"max_rounds": min(rounds, 15), "max_seconds": None}
        alone = {**brief, "ahead": False}  # workers that do not start ahead
        return [
            PoolSpec("cpu-separate", "cpu", "separate", True, 1, few, "one worker per side", **brief),
            PoolSpec("cpu-together", "cpu", "together", True, 1, few, "both sides in one", **brief),
            PoolSpec("cpu-unpinned", "cpu", "separate", False, 1, {"+0": 1}, "not pinned", **alone),
        ]
    return [
        PoolSpec(
            "cpu-separate",
            "cpu",
            "separate",
            True,
            1,
            {"+0": 300, "-2": 100, "-1": 100},
            "CPU workload (about 15 ms a call), one worker process per side (the defaults)",
        ),
        PoolSpec(
            "cpu-together",
            "cpu",
            "together",
            True,
            1,
            {"+0": 300, "-2": 100, "-1": 100},
            "CPU workload, both sides in one worker process (benchmark.worker.sides: together)",
            # recorded on 2026-11-30, when a worker holding both sides imported them in its round's
            # order and so could not start before its round: each round started its own
            ahead=False,
        ),
        PoolSpec(
            "long-separate",
            "long",
            "separate",
            True,
            24,
            {"+0": 30, "-2": 15, "-1": 15},
            "the CPU loop 24 times longer (about 0.35 s a call), one worker process per side",
        ),
        PoolSpec(
            "cpu-separate-400",
            "cpu",
            "separate",
            True,
            1,
            {"+0": 300, "-2": 100, "-1": 100},
            "the defaults of 2026-12-07 before workers started ahead: up to 400 rounds, each round "
            "starting its workers",
            max_rounds=400,
            ahead=False,
        ),
        PoolSpec(
            "cpu-separate-200",
            "cpu",
            "separate",
            True,
            1,
            {"+0": 300, "-2": 100, "-1": 100},
            "the defaults of 2026-11-30: up to 200 rounds, the first look planning all of the 60 s",
            max_rounds=200,
            time_plan=TimePlan(share=1.0, deadline=False),
            ahead=False,
        ),
        PoolSpec(
            "cpu-unpinned",
            "cpu",
            "separate",
            False,
            1,
            {"+0": 100, "-2": 50},
            "CPU workload, one worker per side, not pinned (benchmark.worker.pin: false)",
            ahead=False,  # workers start ahead only when pinned
        ),
    ]


def effect_value(key: str) -> float:
    return int(key) / 100.0


def worker_config(*, quick: bool, sides: str, pin: bool = True) -> Config:
    """The configuration a user would write for this workload: the callable, the worker defaults."""
    worker = WorkerConfig(sides=sides, pin=pin)  # type: ignore[arg-type]
    if quick:
        worker = WorkerConfig(sides=sides, pin=pin, block_seconds=0.004)  # type: ignore[arg-type]
    return Config(
        path="<bench>",
        hash="bench",
        benchmark=BenchmarkConfig(
            callable="work:run", python=sys.executable, worker=worker, timeout_seconds=120.0
        ),
        collection=CollectionConfig(),
    )


class WorkerRecorder:
    """Checkouts of the workload module (one directory per ``UNITS`` value, two for A/A) and trials."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = scrub_env(common.python_env())
        self.runs = 0

    def checkout(self, units: int, copy: str) -> Path:
        path = self.root / f"{copy}-{units}"
        if not path.is_dir():
            path.mkdir(parents=True)
            (path / "work.py").write_text(SOURCE.format(units=units))
        return path

    def trial(
        self,
        spec: PoolSpec,
        base_units: int,
        cand_units: int,
        *,
        quick: bool,
        effect: str = "+0",
        enough: Enough | None = None,
    ) -> dict[str, Any]:
        """One comparison's rounds: up to the rounds ``decision.max_seconds`` lets it plan at its first
        look (as the tool plans them), fewer once ``enough`` says every rule has decided."""
        config = worker_config(quick=quick, sides=spec.sides, pin=spec.pin)
        plan = WorkerPlan.from_config(config)
        checkouts: dict[SideName, Path] = {
            "baseline": self.checkout(base_units, "a"),
            "candidate": self.checkout(cand_units, "b"),
        }
        log_dir = Path(tempfile.mkdtemp(prefix="wlogs-", dir=self.root))

        def launch(command: str, cwd: Path, name: str) -> Channel:
            worker: WorkerProcess = start_worker(command, cwd=cwd, env=self.env, log_dir=log_dir, name=name)
            return worker

        stack = ExitStack()  # ends workers started ahead for a round that does not come
        try:
            session = stack.enter_context(WorkerRounds(plan, launch, checkouts, cpus=available_cpus()))
            session.ahead = session.ahead and spec.ahead
            t0 = time.perf_counter()
            calls = session.calibrate("baseline")
            calibration_s = time.perf_counter() - t0
            out: list[dict[str, Any]] = []
            cap = spec.max_rounds
            looks = set(look_schedule(FIRST_LOOK, cap))
            for i, order in enumerate(round_order("abba", spec.max_rounds, random.Random(0))):
                t = time.perf_counter()
                values = session.round(list(order), f"round{i + 1}", then=f"round{i + 2}")
                seconds = time.perf_counter() - t
                blocks = session.last_blocks
                out.append(
                    {
                        "b": [_ns(values["baseline"]["wall_time"]), _ns(values["baseline"].get("cpu_time"))],
                        "c": [
                            _ns(values["candidate"]["wall_time"]),
                            _ns(values["candidate"].get("cpu_time")),
                        ],
                        "bb": [_ns(b.wall / b.calls) for b in blocks["baseline"]],
                        "cb": [_ns(b.wall / b.calls) for b in blocks["candidate"]],
                        "first": order[0],
                        "ms": round(seconds * 1000, 1),
                    }
                )
                if len(out) == FIRST_LOOK:
                    cap = planned_rounds(
                        spec.max_rounds, spec.max_seconds, calibration_s, out, share=spec.time_plan.share
                    )
                    looks = set(look_schedule(FIRST_LOOK, cap))
                if len(out) >= cap:
                    break
                # the rules can only change their minds at a look: judge there, not after every round
                if enough is not None and len(out) in looks and enough(effect, out, cap):
                    break
            self.runs += session.processes
            return {"calls": calls, "calibration_ms": round(calibration_s * 1000, 1), "rounds": out}
        finally:
            stack.close()
            shutil.rmtree(log_dir, ignore_errors=True)


def planned_rounds(
    max_rounds: int,
    max_seconds: float | None,
    calibration_s: float,
    rounds: Sequence[Mapping[str, Any]],
    *,
    share: float = PLAN_SHARE,
) -> int:
    """The ``max_rounds`` the tool plans at its first look (``FIRST_LOOK`` rounds, calibration
    included) for ``decision.max_seconds`` (``stopping.rounds_within``); ``max_rounds`` without it."""
    if max_seconds is None or len(rounds) < FIRST_LOOK:
        return max_rounds
    elapsed = calibration_s + math.fsum(r["ms"] for r in rounds[:FIRST_LOOK]) / 1000.0
    return rounds_within(max_seconds, rounds=FIRST_LOOK, elapsed=elapsed, max_rounds=max_rounds, share=share)


def replayed_plan(
    pool: Mapping[str, Any], calibration: float, rounds_s: Sequence[float]
) -> tuple[int, list[float]]:
    """A recorded trial's time plan as the tool made it: the rounds its first look planned (from the
    calibration's and the first rounds' seconds), and the seconds by the end of each round (its clock,
    for the deadline at later looks)."""
    planned = planned_rounds(
        pool["rounds"],
        pool.get("max_seconds"),
        calibration,
        [{"ms": x * 1000} for x in rounds_s],
        share=time_plan(pool).share,
    )
    return planned, list(itertools.accumulate(rounds_s, initial=calibration))[1:]


def time_plan(pool: Mapping[str, Any]) -> TimePlan:
    """How the tool planned a recorded pool's rounds (pools recorded before the key: all of the time,
    no deadline at later looks)."""
    plan = pool.get("time_plan") or {"share": 1.0, "deadline": False}
    return TimePlan(share=float(plan["share"]), deadline=bool(plan["deadline"]))


def _ns(seconds: float | None) -> int:
    return 0 if seconds is None else round(seconds * 1e9)


def worker_samples_path(out_dir: Path, key: str, quick: bool) -> Path:
    return out_dir / (f"samples-worker-{key}-quick.json" if quick else f"samples-worker-{key}.json")


def new_worker_pool(spec: PoolSpec, units: int, machine: Mapping[str, Any], *, quick: bool) -> dict[str, Any]:
    base = units * spec.scale
    config = worker_config(quick=quick, sides=spec.sides, pin=spec.pin)
    w = config.benchmark.worker_settings
    return {
        "schema": WORKER_SAMPLES_SCHEMA,
        "machine": dict(machine),
        "key": spec.key,
        "workload": spec.workload,
        "sides": spec.sides,
        "pinned": spec.pin,
        "description": spec.description,
        "baseline_units": base,
        "callable": "work:run (spin(UNITS))",
        "worker": {
            "block_seconds": w.block_seconds,
            "warmup_blocks": w.warmup_blocks,
            "blocks": w.blocks,
            "pin": w.pin,
            "aggregate": config.collection.aggregate,
            "ahead": spec.ahead,
        },
        "rounds": spec.max_rounds,
        "max_seconds": spec.max_seconds,
        "time_plan": dataclasses.asdict(spec.time_plan),
        "order": "abba",
        "unit": "nanoseconds per call",
        "cells": {
            key: {
                "effect": effect_value(key),
                "candidate_units": max(1, round(base * (1 + effect_value(key)))),
                "trials": [],
            }
            for key in spec.trials
        },
    }


def record_worker_pools(
    *,
    units: int,
    rounds: int,
    out_dir: Path,
    machine: Mapping[str, Any],
    quick: bool,
    resume: bool,
    seed: int,
    say: Any,
    enough: Enough | None = None,
    scale: float = 1.0,
    only: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Record (or continue) every worker pool, or only those named in ``only`` (the others as recorded
    in ``out_dir``); returns ``{pool key: pool}``."""
    specs = pool_specs(quick=quick, scale=scale, rounds=rounds)
    recorded: dict[str, Any] = {}
    if only is not None:
        keys = [s.key for s in specs]
        unknown = sorted(set(only) - set(keys))
        if unknown:
            raise SystemExit(f"--worker-pools: no pool {', '.join(unknown)}; the pools: {', '.join(keys)}")
        recorded = {k: v for k, v in load_worker_pools(out_dir, quick).items() if k not in only}
        specs = [s for s in specs if s.key in only]
    pools: dict[str, Any] = {}
    for spec in specs:
        path = worker_samples_path(out_dir, spec.key, quick)
        if resume and path.is_file():
            pools[spec.key] = json.loads(path.read_text())
            design = (
                pools[spec.key]["rounds"],
                pools[spec.key].get("max_seconds"),
                time_plan(pools[spec.key]),
                pools[spec.key]["worker"].get("ahead", False),
            )
            if design != (spec.max_rounds, spec.max_seconds, spec.time_plan, spec.ahead):
                raise SystemExit(
                    f"--resume: {path} was recorded with other limits, time plan or start of workers "
                    "than the pool has now "
                    f"{design}; record it anew (move the file away) or name other pools (--worker-pools)"
                )
            done = sum(len(c["trials"]) for c in pools[spec.key]["cells"].values())
            say(f"worker {spec.key}: resuming {path} ({done} trials recorded)")
        else:
            pools[spec.key] = new_worker_pool(spec, units, machine, quick=quick)
    todo: list[tuple[str, str]] = []
    for spec in specs:
        for key, want in spec.trials.items():
            have = len(pools[spec.key]["cells"][key]["trials"])
            todo += [(spec.key, key)] * max(0, want - have)
    random.Random(f"{seed}:worker").shuffle(todo)
    by_key = {s.key: s for s in specs}
    total = len(todo)
    say(f"worker mode: recording {total} trials (up to each pool's max_rounds, within its max_seconds)")
    started = time.perf_counter()
    last_save = started
    with tempfile.TemporaryDirectory(prefix="autoresearch-dq-worker-") as tmp, ExitStack() as stack:
        rec = WorkerRecorder(Path(tmp))
        # Stopped early (Ctrl-C, SIGTERM), the trials recorded so far and their time are kept for --resume.
        stack.callback(_save_all, pools, out_dir, quick, started)
        stack.callback(signal.signal, signal.SIGTERM, signal.signal(signal.SIGTERM, _interrupt))
        for i, (pool_key, cell_key) in enumerate(todo, 1):
            pool = pools[pool_key]
            cell = pool["cells"][cell_key]
            cell["trials"].append(
                rec.trial(
                    by_key[pool_key],
                    pool["baseline_units"],
                    cell["candidate_units"],
                    quick=quick,
                    effect=cell_key,
                    enough=enough,
                )
            )
            now = time.perf_counter()
            if now - last_save > 60 and i < total:
                for key, p in pools.items():
                    common.write_json(worker_samples_path(out_dir, key, quick), p, compact=True)
                last_save = now
            if i % max(1, total // 80) == 0 or i == total:
                eta = (now - started) / i * (total - i)
                say(f"  worker {i}/{total} trials, {now - started:.0f} s, about {eta / 60:.1f} min left")
    order = [s.key for s in pool_specs(quick=quick)]
    both = recorded | pools
    return {k: both[k] for k in sorted(both, key=order.index)}


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _save_all(pools: Mapping[str, dict[str, Any]], out_dir: Path, quick: bool, started: float) -> None:
    """Write every pool with the time spent recording added, however the recording ended."""
    for key, p in pools.items():
        p["recording_seconds"] = p.get("recording_seconds", 0.0) + (time.perf_counter() - started)
        common.write_json(worker_samples_path(out_dir, key, quick), p, compact=True)


def load_worker_pools(out_dir: Path, quick: bool) -> dict[str, Any]:
    """The worker pools recorded in ``out_dir`` (those that exist)."""
    pools = {}
    for spec in pool_specs(quick=quick):
        path = worker_samples_path(out_dir, spec.key, quick)
        if path.is_file():
            pool = json.loads(path.read_text())
            if pool.get("schema") != WORKER_SAMPLES_SCHEMA:
                raise SystemExit(f"{path} is not a {WORKER_SAMPLES_SCHEMA} file")
            pools[spec.key] = pool
    return pools


Trial = tuple[list[float], list[float]]


def worker_cells(pool: Mapping[str, Any], metric: str) -> dict[float, list[Trial]]:
    """``{effect: [(baseline per-call values, candidate per-call values), ...]}`` in seconds."""
    index = 0 if metric == "wall_time" else 1
    return {
        cell["effect"]: [
            ([r["b"][index] / 1e9 for r in t["rounds"]], [r["c"][index] / 1e9 for r in t["rounds"]])
            for t in cell["trials"]
        ]
        for cell in pool["cells"].values()
    }


def round_seconds(pool: Mapping[str, Any]) -> dict[float, list[tuple[float, list[float]]]]:
    """``{effect: [(calibration seconds, [seconds of each round]), ...]}``."""
    return {
        cell["effect"]: [
            (t["calibration_ms"] / 1000.0, [r["ms"] / 1000.0 for r in t["rounds"]]) for t in cell["trials"]
        ]
        for cell in pool["cells"].values()
    }


def pairs_of_rounds(trials: Sequence[Mapping[str, Any]], index: int) -> tuple[list[float], list[float]]:
    """Consecutive rounds in opposite orders (ABBA) of ``trials``, on wall (``index`` 0) or CPU time
    (1): each pair's mean log-ratio, and the order's effect in it -- how much slower (log) the side
    measured first ran."""
    means, effects = [], []
    for t in trials:
        d = [
            (r["first"], math.log(r["c"][index] / r["b"][index]))
            for r in t["rounds"]
            if r["b"][index] and r["c"][index]
        ]
        for (first_a, a), (first_b, b) in zip(d[::2], d[1::2], strict=False):
            if first_a == first_b:
                continue
            means.append((a + b) / 2.0)
            # ln(c/b) with the baseline first minus with the candidate first: -2 x (the first's slowdown)
            effects.append(-((a - b) if first_a == "baseline" else (b - a)) / 2.0)
    return means, effects


def worker_noise(pool: Mapping[str, Any]) -> dict[str, Any]:
    """Per-process and per-block spread: why the process, not the block, is the unit."""
    aa = pool["cells"].get("+0", {"trials": []})["trials"]
    rounds = [r for t in aa for r in t["rounds"]]
    between = [math.log(r["c"][0] / r["b"][0]) for r in rounds if r["b"][0] and r["c"][0]]
    # within a process: each block against the median of its process's blocks
    within = [
        math.log(v / statistics.median(r[side]))
        for r in rounds
        for side in ("bb", "cb")
        for v in r[side]
        if len(r[side]) > 1
    ]
    # block-level pairs: the i-th baseline block against the i-th candidate block of the same round
    pairs = [math.log(c / b) for r in rounds for b, c in zip(r["bb"], r["cb"], strict=False) if b and c]
    # the A/A bias of single process pairs: each trial's first round, its median block log-ratio
    first = [
        statistics.median(
            math.log(c / b) for b, c in zip(t["rounds"][0]["bb"], t["rounds"][0]["cb"], strict=False)
        )
        for t in aa
        if t["rounds"]
    ]
    pair_means, order_effect = pairs_of_rounds(aa, 0)
    seconds = [r["ms"] / 1000.0 for t in aa for r in t["rounds"]]
    realised = {}
    for key, cell in pool["cells"].items():
        logs = [math.log(r["c"][0] / r["b"][0]) for t in cell["trials"] for r in t["rounds"] if r["b"][0]]
        realised[key] = math.expm1(statistics.median(logs)) if logs else None
    calls = [t["calls"] for c in pool["cells"].values() for t in c["trials"]]
    return {
        "median_call_s": statistics.median(r["b"][0] / 1e9 for r in rounds) if rounds else None,
        "calls_per_block_median": statistics.median(calls) if calls else None,
        "round_log_ratio_sd_robust": common.robust_sd(between),
        "round_log_ratio_sd": statistics.stdev(between) if len(between) > 1 else None,
        "pair_of_rounds_log_ratio_sd_robust": common.robust_sd(pair_means),
        "order_effect_median": math.expm1(statistics.median(order_effect)) if order_effect else None,
        "order_effect_share_beyond_5pct": sum(abs(v) > math.log1p(0.05) for v in order_effect)
        / len(order_effect)
        if order_effect
        else None,
        "block_within_process_sd_robust": common.robust_sd(within),
        "block_pair_log_ratio_sd_robust": common.robust_sd(pairs),
        "single_pair_aa_medians": {
            "n": len(first),
            "min": min(first) if first else None,
            "max": max(first) if first else None,
            "sd_robust": common.robust_sd(first),
            "share_beyond_1pct": sum(abs(v) > math.log1p(0.01) for v in first) / len(first)
            if first
            else None,
        },
        "seconds_per_round_median": statistics.median(seconds) if seconds else None,
        "realised_effect": realised,
    }
