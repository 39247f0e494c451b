"""Crash points: the tool killed (`kill -9`) just before a given git call, then run again.

A `git` on PATH stands in front of the real one: when its arguments contain ``$KILL_GIT_AT`` for the
``$KILL_GIT_NTH`` time, it kills the tool (its parent) with SIGKILL before the call happens. The run
after that must converge to the end state of a run that was never interrupted: the same decisions, the
same best, the same archive refs, nothing measured twice, no folder left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ci_autoresearch.artifacts import comparison_from_json
from ci_autoresearch.errors import GitError
from ci_autoresearch.history import notes as history
from ci_autoresearch.model import Evaluation
from tests.helpers import cli, git, python_path
from tests.integration.test_loop import UNINTERRUPTED, decisions, make_loop_repo, score_of

FAKE_GIT = """\
#!/bin/sh
if [ -n "$KILL_GIT_AT" ]; then
  case "$*" in
    *"$KILL_GIT_AT"*)
      n=$(cat "$KILL_GIT_COUNT" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "$KILL_GIT_COUNT"
      if [ "$n" -eq "${KILL_GIT_NTH:-1}" ]; then kill -9 "$PPID"; exit 137; fi ;;
  esac
fi
exec "$REAL_GIT" "$@"
"""


def end_state(repo: Path) -> dict[str, object]:
    """What an uninterrupted run leaves, in terms that do not depend on commit dates."""
    archive = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/autoresearch/")
    archived = {}
    for line in archive.splitlines():
        ref, sha = line.split()
        branch = ref.removeprefix("refs/autoresearch/discarded/")
        archived[branch] = sha == git(repo, "rev-parse", f"refs/heads/{branch}")
    return {"decisions": decisions(repo), "best": score_of(repo, "main"), "archived": archived}


@pytest.fixture
def uninterrupted() -> dict[str, object]:
    """The end state of an uninterrupted run of :func:`make_loop_repo`, as
    test_loop.test_sequential_loop_keeps_real_wins_and_advances_main asserts it (the benchmark is
    deterministic): its decisions, a best of 72, the two discarded branches archived at their heads."""
    return {
        "decisions": UNINTERRUPTED,
        "best": 72.0,
        "archived": {"autoresearch/c": True, "autoresearch/d": True},
    }


def killing_env(tmp_path: Path, at: str, nth: int) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "git"
    fake.write_text(FAKE_GIT)
    fake.chmod(0o755)
    real = shutil.which("git")
    assert real is not None
    return {
        "PATH": f"{bin_dir}{os.pathsep}{python_path(os.environ['PATH'])}",
        "REAL_GIT": real,
        "KILL_GIT_AT": at,
        "KILL_GIT_NTH": str(nth),
        "KILL_GIT_COUNT": str(tmp_path / "count"),
    }


def owned_by(pid: int) -> list[Path]:
    out = []
    for folder in Path(tempfile.gettempdir()).glob("autoresearch-*"):
        try:
            if json.loads((folder / ".autoresearch-owner").read_text()).get("pid") == pid:
                out.append(folder)
        except (OSError, ValueError):
            continue
    return out


@pytest.mark.parametrize(
    ("at", "nth"),
    [
        ("update-ref refs/autoresearch/discarded/", 1),  # between a discard's note and its archive ref
        ("notes --ref=refs/notes/autoresearch add", 2),  # between measuring and the second note
        ("merge --ff-only", 1),  # between a keep's note and moving main
    ],
    ids=["archive-ref", "second-note", "advance"],
)
def test_a_kill_at_any_git_call_converges_to_the_uninterrupted_end_state(
    tmp_path: Path, uninterrupted: dict[str, object], at: str, nth: int
) -> None:
    repo = make_loop_repo(tmp_path / "r")
    env = killing_env(tmp_path, at, nth)
    killed = subprocess.run(
        [sys.executable, "-m", "ci_autoresearch", "run"],
        cwd=repo,
        env={**os.environ, **env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr  # the fake git did kill it at that call
    time.sleep(0.2)
    again = cli(["run"], cwd=repo)
    assert again.returncode == 0, again.stderr
    assert end_state(repo) == uninterrupted
    keys = [e["key"] for e in json.loads(cli(["history", "--json"], cwd=repo).stdout)["evaluations"]]
    assert len(keys) == len(set(keys)) == 4  # nobody measured twice
    if at.startswith("update-ref"):
        assert "resuming: archiving the discarded autoresearch/c" in again.stdout
    assert git(repo, "worktree", "list").count("\n") == 0


def test_a_stale_notes_lock_is_named_and_cleared_when_provably_stale(tmp_path: Path) -> None:
    repo = make_loop_repo(tmp_path / "r")
    lock = repo / ".git" / "refs" / "notes" / "autoresearch.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("0" * 40 + "\n")
    old = time.time() - 3600
    os.utime(lock, (old, old))
    holder = subprocess.Popen(["git", "cat-file", "--batch"], cwd=repo, stdin=subprocess.PIPE)
    try:  # a git process works in the repository: the lock may be live, so it is only named
        res = cli(["run"], cwd=repo)
        assert res.returncode == 2
        assert res.stderr.strip().splitlines() == [
            f"error: {lock}: refs/notes/autoresearch is locked (git process {holder.pid} is working in "
            "this repository) (if no git command is running in this repository, delete the file and "
            "run again)"
        ]
        assert not (repo / ".git" / "autoresearch" / "runs").exists() or not any(
            (repo / ".git" / "autoresearch" / "runs").iterdir()
        )  # said before anything was measured
    finally:
        holder.kill()
        holder.communicate()
    res = cli(["run", "--max-evaluations", "1"], cwd=repo)  # nobody holds it now: provably stale
    assert res.returncode == 0, res.stderr
    assert f"removed the stale lock {lock}" in res.stdout
    assert decisions(repo) == [("branch:autoresearch/a", "improved", "kept")]  # its note was written


def test_an_evaluation_that_could_not_be_written_is_kept_and_recorded_next_time(tmp_path: Path) -> None:
    repo = make_loop_repo(tmp_path / "r")
    out = tmp_path / "c.json"
    assert cli(["compare", "main", "autoresearch/c", "--out", str(out)], cwd=repo).returncode == 0
    comparison = comparison_from_json(json.loads(out.read_text()))
    c = comparison.candidate.sha
    ev = Evaluation(
        comparison=comparison,
        decision="discarded",
        decision_reason="regressed",
        iteration=1,
        key=history.evaluation_key(c, comparison.baseline.sha, comparison.config_hash),
        source="branch:autoresearch/c",
        candidate_head=c,
        objective_value=110.0,
        measured_seconds=1.0,
    )
    lock = repo / ".git" / "refs" / "notes" / "autoresearch.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("")
    with pytest.raises(GitError, match=f"{lock} exists .* it is kept in .*unrecorded"):
        history.record(repo, ev)
    lock.unlink()
    saved = list((repo / ".git" / "autoresearch" / "unrecorded").glob("*.json"))
    assert len(saved) == 1
    res = cli(["run", "--max-evaluations", "1"], cwd=repo)
    assert res.returncode == 0, res.stderr
    assert "recorded 1 evaluation(s) measured by an earlier run" in res.stdout
    assert ("branch:autoresearch/c", "regressed", "discarded") in decisions(repo)
    assert not saved[0].exists()


def test_stale_folders_are_pruned_live_and_foreign_ones_kept(tmp_path: Path) -> None:
    repo = make_loop_repo(tmp_path / "r")
    dead = subprocess.run(["true"], check=True)  # a pid that has ended (and may never be reused soon)
    assert dead.returncode == 0
    gone = Path(tempfile.mkdtemp(prefix="autoresearch-"))
    probe = subprocess.Popen(["sleep", "0"])
    probe.wait()
    (gone / ".autoresearch-owner").write_text(
        json.dumps({"pid": probe.pid, "start": "1", "host": os.uname().nodename})
    )
    git(repo, "worktree", "add", "--detach", "--quiet", str(gone / "baseline"), "main")  # an old-style one
    live = Path(tempfile.mkdtemp(prefix="autoresearch-"))
    (live / ".autoresearch-owner").write_text(
        json.dumps({"pid": os.getpid(), "start": owned_start(), "host": os.uname().nodename})
    )
    foreign = Path(tempfile.mkdtemp(prefix="autoresearch-"))  # no owner file: not provably ours
    try:
        res = cli(["run", "--max-evaluations", "1"], cwd=repo)
        assert res.returncode == 0, res.stderr
        assert not gone.exists() and live.exists() and foreign.exists()
        assert git(repo, "worktree", "list").count("\n") == 0
        assert owned_by(os.getpid()) == [live]
    finally:
        shutil.rmtree(live, ignore_errors=True)
        shutil.rmtree(foreign, ignore_errors=True)


def owned_start() -> str:
    fields = Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()
    return fields[19]


def test_a_second_process_measuring_in_the_same_repository_stops_at_once(tmp_path: Path) -> None:
    """The guard puts back any ref changed during a candidate run: a second process's notes would be
    lost, so one process measures in a repository at a time."""
    repo = make_loop_repo(tmp_path / "r")
    first = subprocess.Popen(
        [sys.executable, "-m", "ci_autoresearch", "run"],
        cwd=repo,
        env={
            **os.environ,
            "PATH": python_path(os.environ["PATH"]),
            "BENCH_SLEEP": "0.3",
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not list((repo / ".git" / "autoresearch" / "runs").glob("*/candidate.round1.stdout.log")):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        res = cli(["compare", "main", "autoresearch/a"], cwd=repo)
        assert res.returncode == 2
        assert res.stderr.strip().splitlines() == [
            f"error: {repo / '.git' / 'ci-autoresearch.lock'}: another ci-autoresearch process (pid "
            f"{first.pid}) is measuring in this repository (run one at a time; the lock goes away with that "
            "process)"
        ]
    finally:
        first.terminate()
        first.wait(timeout=60)
    assert cli(["compare", "main", "autoresearch/a"], cwd=repo).returncode == 0  # released with it
