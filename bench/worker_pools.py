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
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common

from ci_autoresearch.config.model import (
    BenchmarkConfig,
    CollectionConfig,
    Config,
    WorkerConfig,
)
from ci_autoresearch.measure.scrub import scrub_env
from ci_autoresearch.measure.session import round_order
from ci_autoresearch.measure.worker import Channel, WorkerPlan, WorkerRounds
from ci_autoresearch.measure.worker_process import WorkerProcess, start_worker

WORKER_SAMPLES_SCHEMA = "ci-autoresearch-bench/worker-samples@1"
WORKER_EFFECTS: tuple[float, ...] = (0.0, -0.02, -0.01)

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
class PoolSpec:
    key: str
    workload: str  # "cpu" | "long"
    sides: str  # "separate" | "together"
    pin: bool
    scale: int  # units per call, as a multiple of the CPU workload's
    trials: Mapping[str, int]  # effect key -> trials
    description: str
    max_rounds: int = 30  # decision.max_rounds of the comparisons (the tool's default unless told)


def pool_specs(*, quick: bool, scale: float = 1.0) -> list[PoolSpec]:
    """The pools recorded: the CPU workload both ways, a longer one, and the pinning experiment.

    ``scale`` records that fraction of each cell's trials (at least 2 A/A and 1 per effect): a shorter
    recording whose rates carry wider intervals, for machines or sessions without five hours to spare.
    """
    if scale != 1.0 and not quick:
        return [
            dataclasses.replace(
                s, trials={k: max(2 if k == "+0" else 1, round(n * scale)) for k, n in s.trials.items()}
            )
            for s in pool_specs(quick=False)
        ]
    if quick:
        few = {"+0": 2, "-2": 1, "-1": 1}
        return [
            PoolSpec("cpu-separate", "cpu", "separate", False, 1, few, "CPU workload, one worker per side"),
            PoolSpec("cpu-together", "cpu", "together", False, 1, few, "CPU workload, both sides in one"),
            PoolSpec("cpu-pinned", "cpu", "separate", True, 1, {"+0": 1}, "CPU workload, pinned"),
        ]
    return [
        PoolSpec(
            "cpu-separate",
            "cpu",
            "separate",
            False,
            1,
            {"+0": 300, "-2": 100, "-1": 100},
            "CPU workload (about 30 ms a call), one worker process per side (the default)",
        ),
        PoolSpec(
            "cpu-together",
            "cpu",
            "together",
            False,
            1,
            {"+0": 300, "-2": 100, "-1": 100},
            "CPU workload, both sides in one worker process (benchmark.worker.sides: together)",
        ),
        PoolSpec(
            "long-separate",
            "long",
            "separate",
            False,
            12,
            {"+0": 30, "-2": 15, "-1": 15},
            "the CPU loop twelve times longer (about 0.35 s a call), one worker process per side",
        ),
        PoolSpec(
            "cpu-pinned",
            "cpu",
            "separate",
            True,
            1,
            {"+0": 40},
            "CPU workload, one worker per side, both pinned to one core per round (taskset)",
        ),
        PoolSpec(
            "cpu-together-100",
            "cpu",
            "together",
            False,
            1,
            {"+0": 100, "-2": 50, "-1": 50},
            "CPU workload, both sides in one worker, up to 100 rounds (decision.max_rounds: 100)",
            max_rounds=100,
        ),
    ]


def effect_value(key: str) -> float:
    return int(key) / 100.0


def worker_config(*, quick: bool, sides: str) -> Config:
    """The configuration a user would write for this workload: the callable, the worker defaults."""
    worker = WorkerConfig(sides=sides)  # type: ignore[arg-type]
    if quick:
        worker = WorkerConfig(sides=sides, block_seconds=0.004, blocks=2)  # type: ignore[arg-type]
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
        self.core: int | None = None
        self.cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
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
        rounds: int,
        *,
        quick: bool,
        effect: str = "+0",
        enough: Enough | None = None,
    ) -> dict[str, Any]:
        config = worker_config(quick=quick, sides=spec.sides)
        plan = WorkerPlan.from_config(config)
        checkouts = {
            "baseline": self.checkout(base_units, "a"),
            "candidate": self.checkout(cand_units, "b"),
        }
        log_dir = Path(tempfile.mkdtemp(prefix="wlogs-", dir=self.root))

        def launch(command: str, cwd: Path, name: str) -> Channel:
            if spec.pin and self.core is not None:
                command = f"taskset -c {self.core} {command}"
            worker: WorkerProcess = start_worker(command, cwd=cwd, env=self.env, log_dir=log_dir, name=name)
            return worker

        try:
            session = WorkerRounds(plan, launch, checkouts)
            t0 = time.perf_counter()
            self.core = self.cores[0]
            calls = session.calibrate("baseline")
            calibration_s = time.perf_counter() - t0
            out: list[dict[str, Any]] = []
            for i, order in enumerate(round_order("abba", rounds, random.Random(0))):
                self.core = self.cores[i % len(self.cores)]
                t = time.perf_counter()
                values = session.round(list(order), f"round{i + 1}")
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
                if enough is not None and enough(effect, out, rounds):
                    break
            self.runs += session.processes
            return {"calls": calls, "calibration_ms": round(calibration_s * 1000, 1), "rounds": out}
        finally:
            shutil.rmtree(log_dir, ignore_errors=True)


def _ns(seconds: float | None) -> int:
    return 0 if seconds is None else round(seconds * 1e9)


def worker_samples_path(out_dir: Path, key: str, quick: bool) -> Path:
    return out_dir / (f"samples-worker-{key}-quick.json" if quick else f"samples-worker-{key}.json")


def new_worker_pool(
    spec: PoolSpec, units: int, rounds: int, machine: Mapping[str, Any], *, quick: bool
) -> dict[str, Any]:
    base = units * spec.scale
    config = worker_config(quick=quick, sides=spec.sides)
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
            "aggregate": config.collection.aggregate,
        },
        "rounds": spec.max_rounds,
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
) -> dict[str, Any]:
    """Record (or continue) every worker pool; returns ``{pool key: pool}``."""
    specs = pool_specs(quick=quick, scale=scale)
    pools: dict[str, Any] = {}
    for spec in specs:
        path = worker_samples_path(out_dir, spec.key, quick)
        if resume and path.is_file():
            pools[spec.key] = json.loads(path.read_text())
            done = sum(len(c["trials"]) for c in pools[spec.key]["cells"].values())
            say(f"worker {spec.key}: resuming {path} ({done} trials recorded)")
        else:
            pools[spec.key] = new_worker_pool(spec, units, rounds, machine, quick=quick)
    todo: list[tuple[str, str]] = []
    for spec in specs:
        for key, want in spec.trials.items():
            have = len(pools[spec.key]["cells"][key]["trials"])
            todo += [(spec.key, key)] * max(0, want - have)
    random.Random(f"{seed}:worker").shuffle(todo)
    by_key = {s.key: s for s in specs}
    total = len(todo)
    say(f"worker mode: recording {total} trials of up to {rounds} rounds (or the pool's max_rounds)")
    started = time.perf_counter()
    last_save = started
    with tempfile.TemporaryDirectory(prefix="autoresearch-dq-worker-") as tmp:
        rec = WorkerRecorder(Path(tmp))
        for i, (pool_key, cell_key) in enumerate(todo, 1):
            pool = pools[pool_key]
            cell = pool["cells"][cell_key]
            cell["trials"].append(
                rec.trial(
                    by_key[pool_key],
                    pool["baseline_units"],
                    cell["candidate_units"],
                    pool["rounds"],
                    quick=quick,
                    effect=cell_key,
                    enough=enough,
                )
            )
            now = time.perf_counter()
            if now - last_save > 60 or i == total:
                for key, p in pools.items():
                    common.write_json(worker_samples_path(out_dir, key, quick), p, compact=True)
                last_save = now
            if i % max(1, total // 80) == 0 or i == total:
                eta = (now - started) / i * (total - i)
                say(f"  worker {i}/{total} trials, {now - started:.0f} s, about {eta / 60:.1f} min left")
        for key, p in pools.items():
            p["recording_seconds"] = p.get("recording_seconds", 0.0) + (time.perf_counter() - started)
            common.write_json(worker_samples_path(out_dir, key, quick), p, compact=True)
    return pools


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


def _robust_sd(values: Sequence[float]) -> float | None:
    if len(values) < 2:
        return None
    med = statistics.median(values)
    return 1.4826 * statistics.median(abs(v - med) for v in values)


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
    seconds = [r["ms"] / 1000.0 for t in aa for r in t["rounds"]]
    realised = {}
    for key, cell in pool["cells"].items():
        logs = [math.log(r["c"][0] / r["b"][0]) for t in cell["trials"] for r in t["rounds"] if r["b"][0]]
        realised[key] = math.expm1(statistics.median(logs)) if logs else None
    calls = [t["calls"] for c in pool["cells"].values() for t in c["trials"]]
    return {
        "median_call_s": statistics.median(r["b"][0] / 1e9 for r in rounds) if rounds else None,
        "calls_per_block_median": statistics.median(calls) if calls else None,
        "round_log_ratio_sd_robust": _robust_sd(between),
        "round_log_ratio_sd": statistics.stdev(between) if len(between) > 1 else None,
        "block_within_process_sd_robust": _robust_sd(within),
        "block_pair_log_ratio_sd_robust": _robust_sd(pairs),
        "single_pair_aa_medians": {
            "n": len(first),
            "min": min(first) if first else None,
            "max": max(first) if first else None,
            "sd_robust": _robust_sd(first),
            "share_beyond_1pct": sum(abs(v) > math.log1p(0.01) for v in first) / len(first)
            if first
            else None,
        },
        "seconds_per_round_median": statistics.median(seconds) if seconds else None,
        "realised_effect": realised,
    }
