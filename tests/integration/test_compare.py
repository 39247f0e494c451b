"""`compare` and `bench` end to end: a real git repository, real processes, deterministic metrics.

The benchmark prints ``METRIC score=<value.txt>`` so each verdict is decided by the data, not by noise.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import cli, commit_branch, git, make_repo

BENCH = """\
import pathlib, sys
value = pathlib.Path("value.txt").read_text().strip()
if value == "crash":
    sys.exit(3)
memory = pathlib.Path("memory.txt").read_text().strip() if pathlib.Path("memory.txt").exists() else "100"
print("warming up")
print(f"METRIC score={value}")
print(f"METRIC memory={memory}")
"""

CONFIG = """\
objective:
  metric: score
  direction: minimize
benchmark:
  command: python3 bench.py
  timeout_seconds: 20
  metrics:
    - {name: memory, source: stdout, unit: MB}
guards:
  - {metric: memory, max_regression: 0.05}
gate:
  command: python3 check.py
  protected_paths: [bench.py, "tests/"]
metrics:
  collection: {warmup_runs: 1, measurement_runs: 6}
decision: {max_rounds: 10, min_effect: 0.01}
"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    r = make_repo(
        tmp_path_factory.mktemp("compare") / "repo",
        {
            ".autoresearch.yml": CONFIG,
            "bench.py": BENCH,
            "value.txt": "100\n",
            "check.py": "print('ok')\n",
            "tests/test_x.py": "def test_x():\n    assert True\n",
        },
    )
    commit_branch(r, "better", {"value.txt": "75\n"})
    commit_branch(r, "same", {})
    commit_branch(r, "worse", {"value.txt": "110\n"})
    commit_branch(r, "gamed", {"value.txt": "50\n", "check.py": "raise SystemExit('tests broken')\n"})
    commit_branch(r, "protected", {"value.txt": "50\n", "bench.py": BENCH + "# tampered\n"})
    commit_branch(r, "greedy", {"value.txt": "80\n", "memory.txt": "130\n"})
    commit_branch(r, "crash", {"value.txt": "crash\n"}, message="crash")
    commit_branch(r, "with-test", {"value.txt": "75\n", "tests/unit/test_speed.py": "def test_s(): pass\n"})
    commit_branch(r, "edits-test", {"value.txt": "75\n", "tests/test_x.py": "def test_x(): pass\n"})
    return r


def compare_json(repo: Path, cand: str, *extra: str) -> dict:
    res = cli(["compare", "main", cand, "--json", *extra], cwd=repo)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_improved_candidate(repo: Path) -> None:
    doc = compare_json(repo, "better")
    assert doc["schema"] == "ci-autoresearch/comparison@1"
    assert doc["verdict"] == "improved"
    m = doc["metrics"]["score"]
    assert m["role"] == "objective"
    assert m["delta"] == pytest.approx(-0.25)
    assert m["ci"] == [pytest.approx(-0.25), pytest.approx(-0.25)]
    assert m["p_value"] < 0.05
    # the same ratio every round: the first look (6 rounds) is held to the stricter level of a session
    # that may look again at 9 and 10 rounds, which 6 rounds cannot reach; the second look decides
    assert len(m["samples"]["baseline"]) == doc["rounds"] == 9
    assert doc["measurement"] == {
        "mode": "process",
        "processes": 18,
        "sides_per_process": 1,
        "blocks": None,
        "warmup_blocks": None,
        "calls_per_block": None,
    }
    assert doc["lean"] is None and doc["resolution"] is None
    assert doc["guards"] == [{"metric": "memory", "max_regression": 0.05, "delta": 0.0, "ok": True}]
    assert doc["gate"]["passed"] is True
    assert doc["paired"] is True
    assert doc["baseline"]["sha"] == git(repo, "rev-parse", "main")


def test_noop_commit_is_unchanged(repo: Path) -> None:
    doc = compare_json(repo, "same")
    assert doc["verdict"] == "unchanged"
    assert doc["metrics"]["score"]["delta"] == 0.0
    assert doc["rounds"] == 9


def test_regression(repo: Path) -> None:
    assert compare_json(repo, "worse")["verdict"] == "regressed"


def test_gate_failure_is_invalid_whatever_the_numbers(repo: Path) -> None:
    doc = compare_json(repo, "gamed")
    assert doc["verdict"] == "invalid"
    assert doc["gate"]["passed"] is False
    assert "gate failed" in doc["reason"]
    assert doc["rounds"] == 0


def test_protected_path_is_invalid_without_measuring(repo: Path) -> None:
    doc = compare_json(repo, "protected")
    assert doc["verdict"] == "invalid"
    assert doc["gate"]["protected_paths_touched"] == ["bench.py"]
    assert doc["metrics"] == {}


def test_adding_a_test_under_a_protected_folder_is_allowed(repo: Path) -> None:
    doc = compare_json(repo, "with-test")
    assert doc["verdict"] == "improved"
    assert doc["gate"]["protected_paths_touched"] == []


def test_modifying_or_deleting_a_protected_file_is_invalid(repo: Path) -> None:
    doc = compare_json(repo, "edits-test")
    assert doc["verdict"] == "invalid"
    assert doc["reason"] == "candidate changes protected file tests/test_x.py"
    git(repo, "checkout", "-q", "-b", "deletes-test", "main")
    git(repo, "rm", "-q", "tests/test_x.py")
    git(repo, "commit", "-q", "-m", "drop a test")
    git(repo, "checkout", "-q", "main")
    assert compare_json(repo, "deletes-test")["gate"]["protected_paths_touched"] == ["tests/test_x.py"]


def test_guard_turns_improved_into_rejected(repo: Path) -> None:
    doc = compare_json(repo, "greedy")
    assert doc["verdict"] == "rejected"
    assert doc["metrics"]["score"]["verdict"] == "improved"
    assert doc["guards"][0]["ok"] is False
    assert "guard memory" in doc["reason"]


def test_candidate_crash_is_invalid(repo: Path) -> None:
    doc = compare_json(repo, "crash")
    assert doc["verdict"] == "invalid"
    assert "exit 3" in doc["reason"]


def test_table_output_and_out_file(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "cmp.json"
    res = cli(["compare", "main", "better", "--out", str(out), "--fresh"], cwd=repo)
    assert res.returncode == 0, res.stderr
    assert "verdict: IMPROVED" in res.stdout
    assert "score *" in res.stdout and "−25.0%" in res.stdout
    assert json.loads(out.read_text())["verdict"] == "improved"
    logs = sorted(p.name for p in (tmp_path / "cmp.json.logs").iterdir())
    assert "baseline.round1.stdout.log" in logs and "candidate.gate.stdout.log" in logs
    # not a TTY: one progress line per round
    assert res.stderr.count("round ") >= 6


def test_compare_records_its_evaluation_and_reuses_it(tmp_path: Path) -> None:
    r = make_repo(
        tmp_path / "r", {".autoresearch.yml": CONFIG, "bench.py": BENCH, "value.txt": "100\n", "check.py": ""}
    )
    commit_branch(r, "better", {"value.txt": "80\n"})
    first = cli(["compare", "main", "better", "--json"], cwd=r)
    assert first.returncode == 0, first.stderr
    assert "recorded as " in first.stderr
    doc = json.loads(first.stdout)
    assert doc["measured_by"] == "compare"
    note = json.loads(git(r, "notes", "--ref=autoresearch", "show", "better"))
    assert (
        note["key"] == f"{git(r, 'rev-parse', 'better')}:{git(r, 'rev-parse', 'main')}:{doc['config_hash']}"
    )
    assert (note["decision"], note["source"], note["iteration"]) == ("pending", "compare:better", 0)
    # the same pair again: reused, not measured, and said so
    again = cli(["compare", "main", "better", "--json"], cwd=r)
    assert again.returncode == 0
    assert json.loads(again.stdout) == doc
    assert again.stderr.startswith(f"reused: measured by compare at {doc['finished_at']}")
    assert "round " not in again.stderr
    # --fresh measures again and records the new measurement
    fresh = cli(["compare", "main", "better", "--json", "--fresh"], cwd=r)
    assert "round 6/6" in fresh.stderr
    assert len(git(r, "notes", "--ref=autoresearch", "show", "better").splitlines()) == 2
    # a compare measurement is not an iteration of the loop
    status = json.loads(cli(["status", "--json"], cwd=r).stdout)
    assert status["iterations"] == 0


def test_worktrees_are_removed(repo: Path) -> None:
    compare_json(repo, "same")
    assert git(repo, "worktree", "list").count("\n") == 0


def test_unknown_ref_is_one_line_exit_2(repo: Path) -> None:
    res = cli(["compare", "main", "nope"], cwd=repo)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "error: unknown git ref 'nope' (check the branch name; `git branch -a` lists them)"
    ]


def test_offline_compare_of_two_results(repo: Path, tmp_path: Path) -> None:
    git(repo, "checkout", "-q", "better")
    try:
        assert cli(["bench", "--out", str(tmp_path / "b.json"), "--runs", "5"], cwd=repo).returncode == 0
    finally:
        git(repo, "checkout", "-q", "main")
    res = cli(["bench", "--out", str(tmp_path / "a.json"), "--runs", "5"], cwd=repo)
    assert res.returncode == 0, res.stderr
    res = cli(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--json"], cwd=repo)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["offline"] is True and doc["paired"] is False
    assert doc["verdict"] == "improved"
    assert any("weaker" in n or "not interleaved" in n for n in doc["notes"])


def test_bench_json_result(repo: Path) -> None:
    res = cli(["bench", "main", "--json", "--runs", "3"], cwd=repo)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["schema"] == "ci-autoresearch/result@1"
    assert doc["metrics"]["score"]["samples"] == [100.0, 100.0, 100.0]
    assert doc["metrics"]["wall_time"]["unit"] == "s"
    assert doc["runs"] == 3 and doc["warmup_runs"] == 1
    assert doc["environment"]["cores"] >= 1


def make_simple(tmp_path: Path, bench: str, extra_config: str = "") -> Path:
    cfg = (
        "objective: {metric: score}\nbenchmark:\n  command: python3 bench.py\n  timeout_seconds: 2\n"
        "metrics:\n  collection: {warmup_runs: 0, measurement_runs: 4}\n" + extra_config
    )
    return make_repo(tmp_path / "r", {".autoresearch.yml": cfg, "bench.py": bench})


@pytest.mark.parametrize(
    ("bench", "message"),
    [
        ("print('hello')", "metric 'score'"),
        ("print('METRIC score=fast')", "fast"),
        ("raise SystemExit(7)", "exit 7"),
        ("import time; time.sleep(60)", "timed out after 2 s"),
    ],
)
def test_bench_failures_are_one_line_exit_3(tmp_path: Path, bench: str, message: str) -> None:
    repo = make_simple(tmp_path, bench)
    res = cli(["bench"], cwd=repo)
    assert res.returncode == 3, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert "Traceback" not in res.stderr


def test_command_not_found(tmp_path: Path) -> None:
    repo = make_simple(tmp_path, "")
    cfg = (
        (repo / ".autoresearch.yml").read_text().replace("python3 bench.py", "no-such-benchmark-tool --fast")
    )
    (repo / ".autoresearch.yml").write_text(cfg)
    res = cli(["bench"], cwd=repo)
    assert res.returncode == 3
    assert "command not found" in res.stderr


def test_partial_result_is_written_before_the_error(tmp_path: Path) -> None:
    bench = (
        "import pathlib\np = pathlib.Path('count')\nn = int(p.read_text()) + 1 if p.exists() else 1\n"
        "p.write_text(str(n))\nif n == 3:\n    raise SystemExit(1)\nprint(f'METRIC score={n}')\n"
    )
    repo = make_simple(tmp_path, bench)
    out = tmp_path / "partial.json"
    res = cli(["bench", "--out", str(out)], cwd=repo)
    assert res.returncode == 3
    doc = json.loads(out.read_text())
    assert doc["metrics"]["score"]["samples"] == [1.0, 2.0]
    assert doc["error"] and "exit 1" in doc["error"]


def test_no_config_and_debug_traceback(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"x": "1"})
    res = cli(["compare", "main", "main"], cwd=repo)
    assert res.returncode == 2
    assert ".autoresearch.yml" in res.stderr and "Traceback" not in res.stderr
    res = cli(["--debug", "compare", "main", "main"], cwd=repo)
    assert res.returncode == 2 and "Traceback" in res.stderr


def test_not_a_git_repository(tmp_path: Path) -> None:
    res = cli(["bench"], cwd=tmp_path)
    assert res.returncode == 2
    assert "not inside a git repository" in res.stderr


def test_dirty_tree_is_said_when_it_matters(tmp_path: Path) -> None:
    # the notes are the point, not the verdict: no extra rounds after the first four
    repo = make_simple(tmp_path, "print('METRIC score=1')", "decision: {max_rounds: 4}\n")
    (repo / "bench.py").write_text("print('METRIC score=2')")
    doc = json.loads(cli(["compare", "main", "HEAD", "--json"], cwd=repo).stdout)
    assert any("uncommitted changes" in n for n in doc["notes"])
    res = cli(["run"], cwd=repo)  # the loop would move the checked-out branch under the edits
    assert res.returncode == 2 and "uncommitted changes" in res.stderr


def test_plot_needs_matplotlib_or_says_so(tmp_path: Path) -> None:
    import importlib.util

    repo = make_simple(tmp_path, "print('METRIC score=1')")
    res = cli(["history", "--plot", str(tmp_path / "p.png")], cwd=repo)
    if importlib.util.find_spec("matplotlib") is None:
        assert res.returncode == 2
        assert "needs matplotlib" in res.stderr and "ci-autoresearch[plot]" in res.stderr
    else:
        assert res.returncode == 0 and (tmp_path / "p.png").stat().st_size > 0
