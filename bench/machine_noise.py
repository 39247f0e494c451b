"""Where this machine's noise comes from: the same block of CPU work timed over time in one process,
and in fresh processes one after another.

Worker mode counts processes, not blocks, and pins a round's two workers to one CPU; both choices rest
on how the noise is made. This script measures its parts on the machine it runs on:

- **over time, one process**: a worker-like process pinned to one CPU times a block (the CPU workload
  of the worker pools, about 15 ms) every ``--interval`` seconds, and a second block right after it.
  The spread of the first blocks is what the machine's moment adds (its other load, and on a virtual
  machine what shares the host's core); the log-ratio of the two adjacent blocks is what is left of
  it when two measurements follow each other, as a round's two blocks do;
- **fresh processes**: processes started one after another on that CPU, each timing a warm-up and
  three blocks. The spread of their medians adds each process's own luck (memory layout, hash seed)
  to the moment's; the spread of their blocks around their own median is what one process sees.

CPU time is reported beside wall time, and the steal time the kernel counted on that CPU meanwhile
(``/proc/stat``; a virtual machine whose host does not report it shows 0 while its CPU time still
moves with the host's load).
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import common
import worker_pools

from ci_autoresearch.measure.worker_process import available_cpus

CPU_UNITS = 168_095  # the worker pools' CPU workload (about 15 ms a call here)
SLOW = 1.15  # a block this much slower than the median counts as slow

CHILD = """\
import json, os, sys, time
{source}
cpu, mode, count, interval = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
if cpu >= 0 and hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {{cpu}})


def block():
    w, c = time.perf_counter_ns(), time.process_time_ns()
    spin(UNITS)
    return time.process_time_ns() - c, time.perf_counter_ns() - w


block()  # warm-up
out = []
for _ in range(count):
    if mode == "over-time":
        out.append([*block(), *block()])
        time.sleep(interval)
    else:
        out.append(list(block()))
print(json.dumps(out))
"""


def _child(
    mode: str, count: int, interval: float, *, units: int, cpu: int, env: dict[str, str]
) -> list[list[int]]:
    code = CHILD.format(source=worker_pools.SOURCE.format(units=units))  # the worker pools' ``spin``
    args = [sys.executable, "-S", "-I", "-c", code, str(cpu), mode, str(count), str(interval)]
    out = subprocess.run(args, capture_output=True, text=True, check=True, env=env).stdout
    rows: list[list[int]] = json.loads(out)
    return rows


def steal_ticks(cpu: int) -> int | None:
    """The steal time counted on ``cpu`` so far (clock ticks), where the kernel reports it."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if fields and fields[0] == f"cpu{cpu}" and len(fields) > 8:
            return int(fields[8])
    return None


def spread(values: Sequence[float]) -> dict[str, float | None]:
    return {
        "sd": statistics.stdev(values) if len(values) > 1 else None,
        "sd_robust": common.robust_sd(values),
    }


def lag1(values: Sequence[float]) -> float | None:
    """The correlation of each value with the next: near 0 for independent blocks, high when slow
    spells last longer than the interval."""
    if len(values) < 3:
        return None
    a, b = values[:-1], values[1:]
    try:
        return statistics.correlation(a, b)
    except statistics.StatisticsError:  # constant
        return None


def slow_spells(times: Sequence[float]) -> dict[str, Any]:
    """How often a block is slow (beyond ``SLOW`` x the median) and how many slow ones follow each other."""
    med = statistics.median(times)
    slow = [t > SLOW * med for t in times]
    spells, run = [], 0
    for s in [*slow, False]:
        if s:
            run += 1
        elif run:
            spells.append(run)
            run = 0
    return {
        "share": sum(slow) / len(slow),
        "spells": len(spells),
        "mean_length": statistics.fmean(spells) if spells else 0.0,
        "longest": max(spells, default=0),
    }


def over_time(units: int, cpu: int, count: int, interval: float, env: dict[str, str]) -> dict[str, Any]:
    before = steal_ticks(cpu)
    rows = _child("over-time", count, interval, units=units, cpu=cpu, env=env)
    after = steal_ticks(cpu)
    out: dict[str, Any] = {"blocks": count, "interval_s": interval}
    for index, metric in ((0, "cpu_time"), (1, "wall_time")):
        first = [r[index] / 1e9 for r in rows]
        logs = [math.log(t) for t in first]
        pairs = [math.log(r[index + 2] / r[index]) for r in rows]
        out[metric] = {
            "median_s": statistics.median(first),
            "block": spread(logs),
            "lag1_correlation": lag1(logs),
            "slow": slow_spells(first),
            "adjacent_pair": spread(pairs),
        }
    out["steal_ticks"] = None if before is None or after is None else after - before
    return out


def fresh(units: int, cpu: int, count: int, env: dict[str, str]) -> dict[str, Any]:
    medians: dict[str, list[float]] = {"cpu_time": [], "wall_time": []}
    within: dict[str, list[float]] = {"cpu_time": [], "wall_time": []}
    for _ in range(count):
        rows = _child("fresh", 3, 0.0, units=units, cpu=cpu, env=env)
        for index, metric in ((0, "cpu_time"), (1, "wall_time")):
            logs = [math.log(r[index] / 1e9) for r in rows]
            med = statistics.median(logs)
            medians[metric].append(med)
            within[metric] += [x - med for x in logs]
    out: dict[str, Any] = {"processes": count, "blocks_per_process": 3}
    for metric in ("cpu_time", "wall_time"):
        m = medians[metric]
        pairs = [m[i + 1] - m[i] for i in range(0, len(m) - 1, 2)]
        out[metric] = {
            "median_s": math.exp(statistics.median(m)),
            "process": spread(m),
            "within_process": spread(within[metric]),
            "pair_of_processes": spread(pairs),
        }
    return out


def table(doc: dict[str, Any]) -> str:
    o, f = doc["over_time"], doc["fresh"]
    every = f"{o['interval_s'] * 1000:.0f} ms"

    def row(what: str, key: str, part: dict[str, Any], sub: str) -> list[str]:
        c, w = part["cpu_time"][sub], part["wall_time"][sub]
        return [
            what,
            f"{common.pct(c['sd_robust'], 2)} / {common.pct(c['sd'], 2)}",
            f"{common.pct(w['sd_robust'], 2)} / {common.pct(w['sd'], 2)}",
            key,
        ]

    rows = [
        row(f"one process, a block every {every}", "the machine's moment", o, "block"),
        row(
            "one process, two adjacent blocks (log-ratio)",
            "what two blocks in a row still differ by",
            o,
            "adjacent_pair",
        ),
        row(
            "one process, its three blocks around their median",
            "a block within its process",
            f,
            "within_process",
        ),
        row(
            "fresh processes, each one's median block", "the moment and each process's own luck", f, "process"
        ),
        row(
            "two fresh processes in a row (log-ratio)",
            "an A/A round of worker mode, roughly",
            f,
            "pair_of_processes",
        ),
    ]
    return common.markdown_table(
        ["blocks of the same work", "CPU time: robust SD / SD", "wall time: robust SD / SD", "what it shows"],
        rows,
        align="lrrl",
    )


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument(
        "--blocks", type=int, default=300, help="blocks timed over time in one process (default 300)"
    )
    p.add_argument("--interval", type=float, default=0.1, help="seconds between them (default 0.1)")
    p.add_argument("--processes", type=int, default=200, help="fresh processes (default 200)")
    p.add_argument("--units", type=int, default=CPU_UNITS, help=f"steps per block (default {CPU_UNITS})")
    args = p.parse_args()
    quick = args.quick
    units = 20_000 if quick else args.units
    cpus = available_cpus()
    cpu = cpus[-1] if cpus else -1
    env = common.python_env()
    started = time.perf_counter()
    doc: dict[str, Any] = {
        "schema": "ci-autoresearch-bench/machine-noise@1",
        "machine": common.machine_info(),
        "units_per_block": units,
        "cpu": cpu,
        "slow_factor": SLOW,
        "over_time": over_time(
            units, cpu, 10 if quick else args.blocks, 0.01 if quick else args.interval, env
        ),
        "fresh": fresh(units, cpu, 6 if quick else args.processes, env),
    }
    doc["seconds"] = time.perf_counter() - started
    path = common.write_json(args.out_dir / common.result_name("machine_noise", quick), doc)
    o = doc["over_time"]["cpu_time"]
    print(table(doc))
    print(
        f"\nover time, CPU time: {common.pct(o['slow']['share'])} of blocks slower than {SLOW} x the median, "
        f"in {o['slow']['spells']} spells (mean {o['slow']['mean_length']:.1f} blocks, longest "
        f"{o['slow']['longest']}); correlation with the next block {o['lag1_correlation'] or 0:.2f}; "
        f"steal ticks counted meanwhile: {doc['over_time']['steal_ticks']}"
    )
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
