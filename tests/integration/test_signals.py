"""One signal path: SIGINT, SIGTERM and SIGHUP during a measurement, and `kill -9` of the tool itself.

The benchmark starts a child that calls ``setsid`` (it leaves the process group, as daemons do) and
writes every pid it starts to a file, so the tests can check that nothing outlives the run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ci_autoresearch.artifacts import parse_document
from tests.helpers import base_env, cli, git, make_repo

BENCH = """\
import os, subprocess, time
child = subprocess.Popen(["setsid", "sleep", "1000"])
with open(os.environ["PIDS"], "a") as fh:
    fh.write(f"{os.getpid()}\\n{child.pid}\\n")
time.sleep(0.25)
print("METRIC score=1")
"""

CONFIG = """\
objective: {metric: score}
benchmark: {command: python3 bench.py, timeout_seconds: 60, pass_env: [PIDS]}
metrics: {collection: {warmup_runs: 0, measurement_runs: 30}}
decision: {max_rounds: 30}
"""


def make(tmp_path: Path) -> Path:
    return make_repo(
        tmp_path / "repo", {".autoresearch.yml": CONFIG, "bench.py": BENCH, ".gitignore": ".autoresearch/\n"}
    )


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def survivors(pids_file: Path, timeout: float = 10.0) -> list[int]:
    pids = [int(x) for x in pids_file.read_text().split()] if pids_file.exists() else []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def folders_of(pid: int) -> list[Path]:
    """Temporary folders still owned by process ``pid``."""
    out = []
    for folder in Path(tempfile.gettempdir()).glob("autoresearch-*"):
        try:
            owner = json.loads((folder / ".autoresearch-owner").read_text())
        except (OSError, ValueError):
            continue
        if owner.get("pid") == pid:
            out.append(folder)
    return out


def wait_for(pattern: str, root: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not list(root.glob(pattern)):
        assert time.monotonic() < deadline, f"{pattern} never appeared"
        time.sleep(0.05)


def start(repo: Path, args: list[str], pids: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ci_autoresearch", *args],
        cwd=repo,
        env=base_env({"PIDS": str(pids)}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_stops_the_tree_removes_checkouts_keeps_the_partial_result(
    tmp_path: Path, sig: signal.Signals
) -> None:
    repo = make(tmp_path)
    pids = tmp_path / "pids"
    proc = start(repo, ["compare", "main", "main"], pids)
    wait_for(".git/autoresearch/runs/*-compare/candidate.round3.stdout.log", repo)  # two rounds complete
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)

    assert proc.returncode == 128 + sig  # 130, 143, 129: README "Exit codes"
    lines = err.strip().splitlines()
    assert "Traceback" not in err and [x for x in lines if "interrupted" in x] == [lines[-1]]
    prefix = f"interrupted by {sig.name}: its processes were stopped and checkouts removed; "
    assert lines[-1].startswith(prefix + "what was measured is in ")
    partial = Path(lines[-1].removeprefix(prefix + "what was measured is in "))
    kind, doc = parse_document(partial.read_text(), source=str(partial))
    assert kind == "comparison" and doc["verdict"] == "inconclusive"
    assert doc["reason"].startswith(f"interrupted by {sig.name} after ")
    assert len(doc["metrics"]["score"]["samples"]["candidate"]) >= 2  # the rounds measured are kept
    assert survivors(pids) == []  # the benchmark and its setsid child: nothing outlives the run
    assert folders_of(proc.pid) == []
    assert git(repo, "worktree", "list").count("\n") == 0


def test_bench_interrupted_keeps_the_runs_measured(tmp_path: Path) -> None:
    repo = make(tmp_path)
    pids = tmp_path / "pids"
    proc = start(repo, ["bench", "main", "--out", str(tmp_path / "r.json")], pids)
    wait_for("r.json.logs/baseline.run2.stdout.log", tmp_path)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    kind, doc = parse_document((tmp_path / "r.json.logs" / "partial.result.json").read_text(), source="r")
    assert kind == "result" and doc["runs"] >= 1 and doc["error"].startswith("interrupted by SIGTERM")
    assert survivors(pids) == []


def test_kill_9_of_the_tool_still_ends_the_benchmark_and_the_next_run_prunes(tmp_path: Path) -> None:
    repo = make(tmp_path)
    pids = tmp_path / "pids"
    proc = start(repo, ["compare", "main", "main"], pids)
    wait_for(".git/autoresearch/runs/*-compare/candidate.round1.stdout.log", repo)
    os.kill(proc.pid, signal.SIGKILL)  # no handler runs: the launcher notices its parent died
    proc.communicate(timeout=30)
    assert survivors(pids) == []
    left = folders_of(proc.pid)
    assert left  # nobody removed the checkouts of the killed run…
    # the next run only has to start to prune: two rounds, no extension (30 rounds of 0.25 s otherwise)
    (repo / ".autoresearch.yml").write_text(
        CONFIG.replace("measurement_runs: 30", "measurement_runs: 2").replace(
            "max_rounds: 30", "max_rounds: 2"
        )
    )
    res = cli(["compare", "main", "main"], cwd=repo, env={"PIDS": str(pids)})
    assert res.returncode == 0, res.stderr
    assert "removed 1 checkout folder(s) left by an interrupted run" in res.stderr
    assert not any(folder.exists() for folder in left)  # …until the next run did
