"""Worker mode's design choices, side by side: how much each way of spending a round resolves per second.

Every design measures A/A pairs of the bench's CPU workload (``worker_pools.SOURCE``, two identical
copies in two directories) through the tool's own code (``measure.worker.WorkerRounds``, the Python
adapter, fresh workers every round); the designs take turns round by round in a shuffled order, so the
machine's load changes hit them alike. For each design: the spread of a round's log-ratio (its SD and
its robust SD, 1.4826 x MAD -- the heavy tails of a busy machine inflate the first), the median seconds
a round takes, and the half-width of a 95 % interval after 60 s of rounds, ``2 x SD / sqrt(rounds that
fit)``, on wall and on CPU time. The designs vary what the defaults chose: measured blocks per worker
(3 or 1), the block's duration (50 or 20 ms), one worker per side or both sides in one, pinned to one CPU
per round or not. Then the defaults with and without the next round's workers started on the other
CPU while a round measures (``ahead``), in runs of consecutive rounds taking turns (starting ahead
needs rounds that follow each other). Beside them, the tool's own cost of the progress line's
estimate between looks in a 200-round session, as a glance on the planned design against an added
look (what it did before).

``python bench/worker_designs.py`` (about 5 minutes; ``--rounds`` to change the 60 rounds per design,
``--ahead-chunks`` the 16 runs of 25 rounds of the ``ahead`` comparison) writes
``bench/results/worker_designs.json``; ``--quick`` checks that it works.
"""

from __future__ import annotations

import math
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import worker_pools

from ci_autoresearch.config.model import BenchmarkConfig, CollectionConfig, Config, WorkerConfig
from ci_autoresearch.decide import sequential
from ci_autoresearch.measure.scrub import scrub_env
from ci_autoresearch.measure.worker import Channel, SideName, WorkerPlan, WorkerRounds
from ci_autoresearch.measure.worker_process import available_cpus, start_worker

BUDGET_S = 60.0
CPU_UNITS = 168_095  # the CPU workload of samples-cpu.json and the worker pools (their baseline_units)
AHEAD_CHUNK = 25  # consecutive rounds of one session in the comparison of starting workers ahead


@dataclass(frozen=True)
class Design:
    key: str
    sides: str
    blocks: int
    block_seconds: float
    pin: bool
    note: str


DESIGNS = (
    Design("before", "separate", 3, 0.05, False, "the defaults before: 3 blocks of 50 ms, not pinned"),
    Design("blocks-1", "separate", 1, 0.05, False, "one measured block of 50 ms"),
    Design("short", "separate", 1, 0.02, False, "one measured block of 20 ms"),
    Design("defaults", "separate", 1, 0.02, True, "one block of 20 ms, pinned (the defaults, one by one)"),
    Design("together-before", "together", 3, 0.05, False, "both sides in one worker, 3 blocks of 50 ms"),
    Design("together-short", "together", 1, 0.02, False, "both sides in one worker, one block of 20 ms"),
    Design("together", "together", 1, 0.02, True, "both sides in one worker, one block, pinned"),
)


def _session(design: Design, root: Path, env: dict[str, str], units: int, quick: bool) -> WorkerRounds:
    worker = WorkerConfig(
        sides=design.sides,  # type: ignore[arg-type]
        blocks=design.blocks,
        block_seconds=design.block_seconds / (10 if quick else 1),
        pin=design.pin,
    )
    config = Config(
        path="<bench>",
        hash="bench",
        benchmark=BenchmarkConfig(
            callable="work:run", python=sys.executable, worker=worker, timeout_seconds=60.0
        ),
        collection=CollectionConfig(),
    )
    checkouts: dict[SideName, Path] = {"baseline": root / "a", "candidate": root / "b"}
    for path in checkouts.values():
        if not path.is_dir():
            path.mkdir(parents=True)
            (path / "work.py").write_text(worker_pools.SOURCE.format(units=units))
    logs = root / "logs" / design.key

    def launch(command: str, cwd: Path, name: str) -> Channel:
        return start_worker(command, cwd=cwd, env=env, log_dir=logs, name=name)

    return WorkerRounds(WorkerPlan.from_config(config), launch, checkouts, cpus=available_cpus())


def measure(rounds: int, units: int, *, quick: bool, seed: int = 1) -> dict[str, Any]:
    """Every design, ``rounds`` A/A rounds each, taking turns; their spreads, paces and resolutions."""
    env = scrub_env(common.python_env())
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="autoresearch-designs-") as tmp:
        root = Path(tmp)
        sessions = {d.key: _session(d, root, env, units, quick) for d in DESIGNS}
        # one calibration per block length, shared: a work near a block size's edge calibrates to one
        # call or two from one calibration to the next, which would compare block sizes, not designs
        sizes: dict[float, int] = {}
        for d in DESIGNS:
            s = sessions[d.key]
            s.calls = sizes.get(d.block_seconds) or sizes.setdefault(d.block_seconds, s.calibrate("baseline"))
        logs: dict[str, list[tuple[float, float]]] = {d.key: [] for d in DESIGNS}
        seconds: dict[str, list[float]] = {d.key: [] for d in DESIGNS}
        for i in range(rounds):
            order = ["baseline", "candidate"] if i % 2 == 0 else ["candidate", "baseline"]
            keys = [d.key for d in DESIGNS]
            rng.shuffle(keys)
            for key in keys:
                t = time.perf_counter()
                v = sessions[key].round(order, f"round{i + 1}")  # type: ignore[arg-type]
                seconds[key].append(time.perf_counter() - t)
                logs[key].append(_log_ratios(v))
        return {d.key: _row(d, d.note, sessions[d.key].calls, seconds[d.key], logs[d.key]) for d in DESIGNS}


AHEAD_OF = {"defaults": "the defaults", "together": "both sides in one worker, pinned"}


def measure_ahead(chunks: int, units: int, *, quick: bool, design_key: str = "defaults") -> dict[str, Any]:
    """A pinned design (the defaults, or ``together``) with each round starting its workers and with
    the next round's workers started on the other CPU while a round measures (``WorkerRounds.round``'s
    ``then``), side by side: ``chunks`` runs of ``AHEAD_CHUNK`` consecutive rounds of one session
    each, alternating between the two (starting ahead pays only when rounds follow each other, so the
    two cannot take turns round by round)."""
    design = next(d for d in DESIGNS if d.key == design_key)
    notes = {
        "one-by-one": f"{AHEAD_OF[design_key]}, each round starting its workers when it begins",
        "ahead": f"{AHEAD_OF[design_key]}, the next round's workers starting while a round measures",
    }
    env = scrub_env(common.python_env())
    size = 4 if quick else AHEAD_CHUNK
    logs: dict[str, list[tuple[float, float]]] = {key: [] for key in notes}
    seconds: dict[str, list[float]] = {key: [] for key in notes}
    calls: dict[str, int | None] = {}
    block_calls: int | None = None  # calibrated once: both take the same block size throughout
    with tempfile.TemporaryDirectory(prefix="autoresearch-ahead-") as tmp:
        for chunk in range(chunks):
            for key in list(notes) if chunk % 2 == 0 else list(reversed(notes)):
                with _session(design, Path(tmp), env, units, quick) as session:
                    session.calls = block_calls = block_calls or session.calibrate("baseline")
                    for i in range(size):
                        label, then = f"{key}{chunk}-{i + 1}", f"{key}{chunk}-{i + 2}"
                        order = ["baseline", "candidate"] if i % 2 == 0 else ["candidate", "baseline"]
                        t = time.perf_counter()
                        v = session.round(order, label, then=then if key == "ahead" else None)  # type: ignore[arg-type]
                        seconds[key].append(time.perf_counter() - t)
                        logs[key].append(_log_ratios(v))
                    calls[key] = session.calls
    return {key: _row(design, notes[key], calls[key], seconds[key], logs[key]) for key in notes}


def _log_ratios(values: dict[SideName, dict[str, float]]) -> tuple[float, float]:
    """A round's log-ratio candidate/baseline, on wall and on CPU time."""
    return (
        math.log(values["candidate"]["wall_time"] / values["baseline"]["wall_time"]),
        math.log(values["candidate"]["cpu_time"] / values["baseline"]["cpu_time"]),
    )


def _row(
    d: Design, note: str, calls: int | None, seconds: list[float], logs: list[tuple[float, float]]
) -> dict[str, Any]:
    """A design's pace, spreads and resolution in ``BUDGET_S``."""
    pace = statistics.median(seconds)
    fit = BUDGET_S / pace
    row: dict[str, Any] = {
        "description": note,
        "sides": d.sides,
        "blocks": d.blocks,
        "block_seconds": d.block_seconds,
        "pin": d.pin,
        "calls_per_block": calls,
        "rounds": len(seconds),
        "seconds_per_round_median": pace,
    }
    for index, metric in ((0, "wall_time"), (1, "cpu_time")):
        values = [pair[index] for pair in logs]
        sd, robust = statistics.stdev(values), common.robust_sd(values) or 0.0
        row[metric] = {
            "median": statistics.median(values),
            "sd": sd,
            "sd_robust": robust,
            "half_width_60s": 2.0 * sd / math.sqrt(fit),
            "half_width_60s_robust": 2.0 * robust / math.sqrt(fit),
        }
    return row


def glance_cost(quick: bool) -> dict[str, Any]:
    """The tool's own CPU per progress estimate between looks, in a 200-round worker session: as a
    glance on the planned design (``interim``, today) and as an added look (before: every round's
    progress line computed a design of its own)."""
    rng = random.Random(7)
    base = [1.0 + rng.gauss(0, 0.03) for _ in range(200)]
    cand = [1.0 + rng.gauss(0, 0.03) for _ in range(200)]
    looks = sequential.look_schedule(10, 40 if quick else 200)
    sequential.paired_estimate(base[:10], cand[:10], confidence=0.95, looks=looks)  # the design, once
    ns = (17, 29) if quick else (41, 57, 77, 99, 121, 150, 190)
    out: dict[str, Any] = {"rounds": list(ns)}
    for key, interim in (("glance", True), ("added_look", False)):
        times = []
        for n in ns:
            t = time.perf_counter()
            sequential.paired_estimate(base[:n], cand[:n], confidence=0.95, looks=looks, interim=interim)
            times.append(time.perf_counter() - t)
        out[key] = {"seconds": times, "median": statistics.median(times)}
    out["ratio_median"] = out["added_look"]["median"] / out["glance"]["median"]
    return out


def table(designs: dict[str, Any]) -> str:
    rows = []
    for key, r in designs.items():
        w, c = r["wall_time"], r["cpu_time"]
        rows.append(
            [
                f"`{key}`: {r['description']}",
                common.seconds(r["seconds_per_round_median"]),
                f"{common.pct(w['sd'], 2)} / {common.pct(w['sd_robust'], 2)}",
                f"{common.pct(c['sd'], 2)} / {common.pct(c['sd_robust'], 2)}",
                f"{common.pct(w['half_width_60s_robust'], 2)} / {common.pct(c['half_width_60s_robust'], 2)}",
            ]
        )
    return common.markdown_table(
        [
            "design",
            "seconds / round",
            "SD round, wall (plain / robust)",
            "SD round, CPU (plain / robust)",
            "±half-width in 60 s, wall / CPU (robust SD)",
        ],
        rows,
    )


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=60, help="A/A rounds per design (default 60)")
    p.add_argument(
        "--ahead-chunks",
        type=int,
        default=16,
        help=f"runs of {AHEAD_CHUNK} rounds in the comparison of starting workers ahead (default 16)",
    )
    p.add_argument(
        "--units",
        type=int,
        default=CPU_UNITS,
        help=f"steps per call (default {CPU_UNITS}: the recorded CPU workload's, about 15 ms here)",
    )
    args = p.parse_args()
    rounds = 4 if args.quick else args.rounds
    units = 20_000 if args.quick else args.units
    started = time.perf_counter()
    machine = common.machine_info()  # the load average as the run starts
    designs = measure(rounds, units, quick=args.quick)
    chunks = 2 if args.quick else args.ahead_chunks
    ahead = {key: measure_ahead(chunks, units, quick=args.quick, design_key=key) for key in AHEAD_OF}
    glance = glance_cost(args.quick)
    doc = {
        "schema": "ci-autoresearch-bench/worker-designs@1",
        "machine": machine,
        "rounds_per_design": rounds,
        "units_per_call": units,
        "budget_s": BUDGET_S,
        "seconds": time.perf_counter() - started,
        "designs": designs,
        "ahead": ahead["defaults"],
        "ahead_together": ahead["together"],
        "progress_estimate_cost": glance,
    }
    path = common.write_json(args.out_dir / common.result_name("worker_designs", args.quick), doc)
    print(table(designs))
    for key, rows in ahead.items():
        print(
            f"\n{AHEAD_OF[key]}, starting workers ahead or not "
            f"({AHEAD_CHUNK} consecutive rounds at a time, alternating):"
        )
        print(table(rows))
    print(
        f"\nprogress estimate between looks (200-round session): {glance['glance']['median'] * 1000:.1f} ms "
        f"as a glance, {glance['added_look']['median'] * 1000:.0f} ms as an added look "
        f"({glance['ratio_median']:.0f}x)"
    )
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
