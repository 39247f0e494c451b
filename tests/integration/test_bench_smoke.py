"""The benchmark suite runs: ``bench/*.py --quick`` write their JSON and print their tables.

Structure only: the rates and timings they measure depend on the machine's noise, so none is asserted.
What is asserted beyond structure is deterministic: ``--replay`` of the recorded samples gives exactly
the decisions the live run took, and the synthetic part is the same in both (seeded).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT, base_env

pytestmark = pytest.mark.slow

RULES = {"ci-autoresearch", "one-run", "median-of-5", "gab-200", "gab-110", "asv", "pyperf"}
EFFECTS = {"+0", "-2", "-5", "-10", "+5"}


def run_bench(script: str, out_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--quick", "--out-dir", str(out_dir), *extra],
        cwd=ROOT,
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def check_machine(doc: dict[str, Any]) -> None:
    machine = doc["machine"]
    assert machine["cpu_model"] and machine["cores"] >= 1
    assert machine["date"].endswith("Z") and machine["python"] and machine["tool_version"]


def check_results(results: dict[str, Any], rules: set[str]) -> None:
    assert rules <= set(results)
    for rule in rules:
        assert EFFECTS | {"all"} <= set(results[rule])
        for cell in results[rule].values():
            assert cell["n"] >= 1
            assert 0.0 <= cell["keep_rate"] <= 1.0
            lo, hi = cell["keep_ci95"]
            assert 0.0 <= lo <= cell["keep_rate"] <= hi <= 1.0
            assert cell["runs_median"] >= 1


def test_decision_quality_quick_then_replay(tmp_path: Path) -> None:
    # one A/A trial per workload instead of the quick mode's two: every cell still has a trial
    live = run_bench("decision_quality.py", tmp_path, "--trials-aa", "1")
    doc = json.loads((tmp_path / "decision_quality-quick.json").read_text())
    assert doc["schema"] == "ci-autoresearch-bench/decision_quality@1"
    assert doc["quick"] is True and doc["mode"] == "live"
    check_machine(doc)
    assert set(doc["live"]) == {"cpu", "io"}
    for workload, part in doc["live"].items():
        check_results(part["results"], RULES)
        assert set(part["noise"]["realised_effect"]) == EFFECTS
        samples = json.loads((tmp_path / f"samples-{workload}-quick.json").read_text())
        assert samples["schema"] == "ci-autoresearch-bench/samples@1"
        for cell in samples["cells"].values():
            for trial in cell["trials"]:
                for side in ("baseline", "candidate"):
                    assert len(trial[side]["wall_time"]) == samples["rounds"]
    assert set(doc["synthetic"]) == {"cv1", "cv3", "cv10", "bimodal"}
    for part in doc["synthetic"].values():
        check_results(part["results"], RULES)
    targets = doc["targets"]
    assert targets and all({"target", "where", "shown", "met"} <= set(t) for t in targets)
    assert "instructions" in doc
    assert "| ci-autoresearch (defaults) |" in live.stdout and "## Targets" in live.stdout
    # the rule before the sequential method, on the same samples
    assert "previous" in doc["live"]["cpu"]["results"] and "previous" in doc["synthetic"]["cv1"]["results"]
    # worker mode: pools of fresh worker processes, judged by the defaults (and min_effect 0.5 %)
    assert set(doc["worker"]) == {"cpu-separate", "cpu-together", "cpu-unpinned"}
    for key, part in doc["worker"].items():
        pool = json.loads((tmp_path / f"samples-worker-{key}-quick.json").read_text())
        assert pool["schema"] == "ci-autoresearch-bench/worker-samples@1"
        for cell in pool["cells"].values():
            for trial in cell["trials"]:
                assert 1 <= len(trial["rounds"]) <= pool["rounds"] == 15 and trial["calls"] >= 1
                assert all(r["b"][0] > 0 and r["c"][0] > 0 and len(r["bb"]) == 1 for r in trial["rounds"])
        aa = part["results"]["ci-autoresearch"]["+0"]
        assert aa["n"] >= 1 and aa["seconds_max"] > 0 and 0.0 <= aa["unchanged_rate"] <= 1.0
        assert part["noise"]["round_log_ratio_sd_robust"] is not None
    assert doc["equal_time"] and doc["worker_targets"]
    assert "## Worker mode" in live.stdout

    replay = run_bench("decision_quality.py", tmp_path, "--replay")
    again = json.loads((tmp_path / "decision_quality-quick.json").read_text())
    assert again["mode"].startswith("replay")
    for workload in ("cpu", "io"):
        assert again["live"][workload]["results"] == doc["live"][workload]["results"]
    assert again["synthetic"] == doc["synthetic"]
    assert {k: w["results"] for k, w in again["worker"].items()} == {
        k: w["results"] for k, w in doc["worker"].items()
    }
    assert "| ci-autoresearch (defaults) |" in replay.stdout


def test_worker_designs_quick(tmp_path: Path) -> None:
    res = run_bench("worker_designs.py", tmp_path)
    doc = json.loads((tmp_path / "worker_designs-quick.json").read_text())
    assert doc["schema"] == "ci-autoresearch-bench/worker-designs@1"
    check_machine(doc)
    assert {"before", "defaults", "together"} <= set(doc["designs"])
    for key in ("ahead", "ahead_together"):
        assert set(doc[key]) == {"one-by-one", "ahead"}
        assert [row["rounds"] for row in doc[key].values()] == [8, 8]  # two runs of four rounds each
    assert doc["ahead_together"]["ahead"]["sides"] == "together"
    for design in [*doc["designs"].values(), *doc["ahead"].values(), *doc["ahead_together"].values()]:
        assert design["seconds_per_round_median"] > 0 and design["calls_per_block"] >= 1
        for metric in ("wall_time", "cpu_time"):
            assert design[metric]["sd_robust"] >= 0 and design[metric]["half_width_60s"] >= 0
    cost = doc["progress_estimate_cost"]
    assert len(cost["glance"]["seconds"]) == len(cost["added_look"]["seconds"]) == len(cost["rounds"])
    assert "| `defaults`: one block of 20 ms, pinned (the defaults, one by one) |" in res.stdout
    assert "| `ahead`: the defaults, the next round's workers starting while a round measures |" in res.stdout
    assert "| `ahead`: both sides in one worker, pinned, the next round's workers starting" in res.stdout


def test_machine_noise_quick(tmp_path: Path) -> None:
    res = run_bench("machine_noise.py", tmp_path)
    doc = json.loads((tmp_path / "machine_noise-quick.json").read_text())
    assert doc["schema"] == "ci-autoresearch-bench/machine-noise@1"
    check_machine(doc)
    over, fresh = doc["over_time"], doc["fresh"]
    assert over["blocks"] == 10 and fresh["processes"] == 6 and fresh["blocks_per_process"] == 3
    for metric in ("cpu_time", "wall_time"):
        assert 0 < over[metric]["median_s"] < 1 and 0 < fresh[metric]["median_s"] < 1
        assert 0.0 <= over[metric]["slow"]["share"] <= 1.0
        for part in (over[metric]["block"], over[metric]["adjacent_pair"], fresh[metric]["process"]):
            assert part["sd"] >= 0 and part["sd_robust"] >= 0
    if Path("/proc/stat").is_file():
        assert isinstance(over["steal_ticks"], int) and over["steal_ticks"] >= 0
    assert "| fresh processes, each one's median block |" in res.stdout


def test_machine_noise_counts_slow_spells(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import machine_noise

    times = [1.0, 1.0, 1.3, 1.4, 1.0, 1.0, 1.2, 1.0, 1.0, 1.0]  # median 1.0; slow: > 1.15
    assert machine_noise.slow_spells(times) == {"share": 0.3, "spells": 2, "mean_length": 1.5, "longest": 2}
    assert machine_noise.slow_spells([1.0, 1.0, 1.0])["spells"] == 0
    assert machine_noise.lag1([0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]) == pytest.approx(1 / 6)
    assert machine_noise.lag1([1.0, 1.0, 1.0]) is None


def test_overhead_quick(tmp_path: Path) -> None:
    res = run_bench("overhead.py", tmp_path)
    doc = json.loads((tmp_path / "overhead-quick.json").read_text())
    assert doc["schema"] == "ci-autoresearch-bench/overhead@1"
    check_machine(doc)
    assert len(doc["compare"]) == 2
    for c in doc["compare"]:
        for r in c["repeats"]:
            assert r["measured_runs"] >= 2 and r["benchmark_s"] > 0 and r["ratio"] > 0
    for name in ("ci-autoresearch --help", "ci-autoresearch validate"):
        assert doc["startup"][name]["median_s"] > 0
        assert isinstance(doc["startup"][name]["pygithub_imported"], bool)
    assert doc["history"]["notes"] == 300
    for name in ("status --json", "history --json"):
        assert doc["history"][name]["cold_s"] > 0 and doc["history"][name]["warm_s"] > 0
    assert doc["history"]["history --json"]["evaluations_listed"] == 300
    assert isinstance(doc["api_calls"]["available"], bool)
    assert doc["targets"]
    assert "## Tool overhead of `compare`" in res.stdout and "| `ci-autoresearch --help` |" in res.stdout


def test_crossover_quick(tmp_path: Path) -> None:
    """Both units replayed on the first trials of each cell of the recorded defaults' pool."""
    samples = ROOT / "bench" / "results" / "samples-worker-cpu-separate.json"
    res = run_bench("crossover.py", tmp_path, "--samples", str(samples))
    doc = json.loads((tmp_path / "crossover-quick.json").read_text())
    assert doc["schema"] == "ci-autoresearch-bench/crossover@1" and doc["pool"] == "cpu-separate"
    check_machine(doc)
    for metric in ("wall_time", "cpu_time"):
        cells = doc["results"][metric]
        assert set(cells) == {"+0@0.01", "-2@0.01", "-1@0.01", "-1@0.005"}
        for r in cells.values():
            assert r["trials"] == 3
            assert sum(r["rounds"].values()) == sum(r["pairs"].values()) == 3
            assert "censored" not in r["rounds"]  # recorded until the tool's rule decided
        assert doc["order_effect"][metric]["pairs"] > 0
    assert "| each round a unit |" in res.stdout


def test_pairs_of_rounds_cancel_the_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two pairs of rounds in opposite orders, the side measured first 10 % slower, the candidate 2 %
    faster: each pair's mean log-ratio is the 2 %, its order effect the 10 %; a pair measured in the
    same order twice is left out."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import math

    import worker_pools

    def rnd(first: str, b: float, c: float) -> dict[str, Any]:
        return {"first": first, "b": [b, b], "c": [c, c]}

    slow = 1.1
    trial = {
        "rounds": [
            rnd("baseline", 100 * slow, 98),
            rnd("candidate", 100, 98 * slow),
            rnd("baseline", 100 * slow, 98),
            rnd("candidate", 100, 98 * slow),
            rnd("baseline", 100, 98),
            rnd("baseline", 100, 98),
        ]
    }
    means, effects = worker_pools.pairs_of_rounds([trial], 1)
    assert means == pytest.approx([math.log(0.98)] * 2)
    assert effects == pytest.approx([math.log(slow)] * 2)
