"""Rounds or pairs of rounds: which unit decides worker sessions better, on the recorded samples.

Under ``decision.order: abba`` consecutive rounds measure the sides in opposite orders. When something
else competes for the CPUs, the side measured first in a round can run slower (the next round's workers
start while a round measures), which spreads the rounds' log-ratios into two groups. Taking the mean
of each pair of rounds as the unit (a 2 x 2 crossover's analysis, ``sequential.crossover_units``)
cancels that order effect, at the price of half the units. This script replays both on a recorded
worker pool (``samples-worker-<pool>.json``, from ``decision_quality.py``) exactly as the tool's
session takes its decision: the same time plan, looks and deadline, one with each round its unit (the
tool's rule), one with each pair of rounds.

A trial was recorded until the tool's rules had decided; where the pair rule needs rounds beyond those,
its verdict is unknown and the trial is counted as *censored* (neither kept nor unchanged). Both rules
are also compared on the trials the pair rule decided. Writes ``crossover.json``.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import decision_quality
import worker_pools

RULES = (("rounds", False), ("pairs", True))
QUICK_TRIALS = 3


def order_effect(pool: dict[str, Any], metric: str) -> dict[str, Any]:
    """How much slower the side measured first ran, from the A/A pairs of rounds in opposite orders."""
    aa = pool["cells"].get("+0", {"trials": []})["trials"]
    _, effects = worker_pools.pairs_of_rounds(aa, 0 if metric == "wall_time" else 1)
    if not effects:
        return {"pairs": 0, "median": None, "share_beyond_5pct": None}
    return {
        "pairs": len(effects),
        "median": math.expm1(statistics.median(effects)),
        "share_beyond_5pct": sum(abs(v) > math.log1p(0.05) for v in effects) / len(effects),
    }


def replay(pool: dict[str, Any], metric: str, limit: int | None) -> dict[str, Any]:
    """Both rules on every trial of every cell (and at ``min_effect: 0.005`` on the 1 % gain)."""
    cells = worker_pools.worker_cells(pool, metric)
    times = worker_pools.round_seconds(pool)
    plan = worker_pools.time_plan(pool)
    max_seconds = pool.get("max_seconds") if plan.deadline else None
    out: dict[str, Any] = {}
    for effect, trials in cells.items():
        key = decision_quality.effect_key(effect)
        for min_effect in (0.01, 0.005) if key == "-1" else (0.01,):
            verdicts: dict[str, list[str]] = {name: [] for name, _ in RULES}
            for (b, c), (calibration, rounds_s) in list(zip(trials, times[effect], strict=True))[:limit]:
                planned, clock = worker_pools.replayed_plan(pool, calibration, rounds_s)
                config = decision_quality.tool_config(
                    metric=metric, max_rounds=planned, max_seconds=max_seconds, min_effect=min_effect
                )
                for name, crossover in RULES:
                    try:
                        o = decision_quality.tool_rule(config, clock=clock, crossover=crossover)(b, c)
                        verdicts[name].append(o.verdict)
                    except ValueError:  # the rule needs rounds beyond those recorded
                        verdicts[name].append("censored")
            decided = [i for i, v in enumerate(verdicts["pairs"]) if v != "censored"]
            out[f"{key}@{min_effect:g}"] = {
                "trials": len(verdicts["rounds"]),
                **{name: dict(Counter(v)) for name, v in verdicts.items()},
                "where_pairs_decided": {
                    "trials": len(decided),
                    **{name: dict(Counter(verdicts[name][i] for i in decided)) for name, _ in RULES},
                },
            }
    return out


def _share(counts: dict[str, int], verdict: str, n: int) -> str:
    return f"{counts.get(verdict, 0)} ({common.pct(counts.get(verdict, 0) / n) if n else '—'})"


def table(doc: dict[str, Any]) -> str:
    rows = []
    for metric, cells in doc["results"].items():
        for cell, r in cells.items():
            want = "unchanged" if cell.startswith("+0") else "improved"
            n, d = r["trials"], r["where_pairs_decided"]
            rows.append(
                [
                    metric,
                    cell,
                    str(n),
                    f"{want}: {_share(r['rounds'], want, n)}",
                    f"{want}: {_share(r['pairs'], want, n)}",
                    str(r["pairs"].get("censored", 0)),
                    f"{_share(d['rounds'], want, d['trials'])} / {_share(d['pairs'], want, d['trials'])}",
                ]
            )
    return common.markdown_table(
        [
            "objective",
            "cell @ min_effect",
            "trials",
            "each round a unit",
            "each pair of rounds a unit",
            "pairs: censored",
            "where pairs decided: rounds / pairs",
        ],
        rows,
    )


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--pool", default="cpu-separate", help="the recorded worker pool (default cpu-separate)")
    p.add_argument(
        "--samples",
        type=Path,
        default=None,
        help="the samples file (default: samples-worker-POOL.json in bench/results)",
    )
    args = p.parse_args()
    path = args.samples or common.RESULTS / f"samples-worker-{args.pool}.json"
    pool = json.loads(path.read_text())
    limit = QUICK_TRIALS if args.quick else None
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2) as jobs:
        futures = {m: jobs.submit(replay, pool, m, limit) for m in ("wall_time", "cpu_time")}
        results = {m: f.result() for m, f in futures.items()}
    doc: dict[str, Any] = {
        "schema": "ci-autoresearch-bench/crossover@1",
        "machine": common.machine_info(),
        "pool": pool["key"],
        "samples": path.name,
        "recorded_on": pool["machine"],
        "order_effect": {m: order_effect(pool, m) for m in ("wall_time", "cpu_time")},
        "results": results,
        "seconds": time.perf_counter() - started,
    }
    doc["markdown"] = table(doc)
    out = common.write_json(args.out_dir / common.result_name("crossover", args.quick), doc)
    print(doc["markdown"])
    for m, e in doc["order_effect"].items():
        if e["median"] is not None:
            print(
                f"{m}: the side measured first {common.signed_pct(e['median'], 2)} (median of {e['pairs']} "
                f"A/A pairs of rounds), beyond ±5 % in {common.pct(e['share_beyond_5pct'])}"
            )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
