"""The loop on real git repositories with a deterministic benchmark.

``score = 100 × product of factors/*.txt``: each candidate adds its own factor file, so candidates merge
onto any best without conflicts and every verdict follows from the data.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import base_env, cli, commit_branch, git, make_repo

BENCH = """\
import math, pathlib, time, os
time.sleep(float(os.environ.get("BENCH_SLEEP", "0")))
factors = [float(p.read_text()) for p in sorted(pathlib.Path("factors").glob("*.txt"))]
print(f"METRIC score={100 * math.prod(factors):.6f}")
"""


def config(extra: str = "", *, rounds: int = 6) -> str:
    return f"""\
objective: {{metric: score, direction: minimize}}
benchmark: {{command: python3 bench.py, timeout_seconds: 30}}
metrics: {{collection: {{warmup_runs: 0, measurement_runs: {rounds}}}}}
decision: {{max_rounds: 8}}
{extra}"""


def make_loop_repo(path: Path, extra: str = "", **kw: int) -> Path:
    repo = make_repo(
        path,
        {
            ".autoresearch.yml": config(extra, **kw),
            "bench.py": BENCH,
            "factors/base.txt": "1.0\n",
        },
    )
    commit_branch(repo, "autoresearch/a", {"factors/a.txt": "0.8\n"})
    commit_branch(repo, "autoresearch/b", {"factors/b.txt": "0.9\n"})
    commit_branch(repo, "autoresearch/c", {"factors/c.txt": "1.1\n"})
    commit_branch(repo, "autoresearch/d", {"README": "a no-op\n"})
    return repo


UNINTERRUPTED = [
    ("branch:autoresearch/a", "improved", "kept"),
    ("branch:autoresearch/b", "improved", "kept"),
    ("branch:autoresearch/c", "regressed", "discarded"),
    ("branch:autoresearch/d", "unchanged", "discarded"),
]
"""What a run of :func:`make_loop_repo` decides when nothing interrupts it (the benchmark is
deterministic, so this is the same for every such run, however slow)."""


def history_of(repo: Path) -> list[dict]:
    res = cli(["history", "--json"], cwd=repo)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["schema"] == "ci-autoresearch/history@1"
    return doc["evaluations"]


def decisions(repo: Path) -> list[tuple[str, str, str]]:
    return [(e["source"], e["verdict"], e["decision"]) for e in history_of(repo)]


def score_of(repo: Path, ref: str) -> float:
    files = git(repo, "ls-tree", "--name-only", f"{ref}:factors").split()
    prod = 100.0
    for name in files:
        prod *= float(git(repo, "show", f"{ref}:factors/{name}"))
    return round(prod, 6)


def test_sequential_loop_keeps_real_wins_and_advances_main(tmp_path: Path) -> None:
    repo = make_loop_repo(tmp_path / "r")
    res = cli(["run"], cwd=repo)
    assert res.returncode == 0, res.stderr
    assert decisions(repo) == UNINTERRUPTED
    assert "stopped: no untried candidates left" in res.stdout
    assert score_of(repo, "main") == 72.0
    # the keep is a merge commit with trailers; the discarded work is archived
    log = git(repo, "log", "-1", "--format=%B", "main")
    assert "Autoresearch-Metric: score" in log and "Autoresearch-Delta: -10.0%" in log
    archived = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/autoresearch/")
    assert archived.splitlines() == [
        f"refs/autoresearch/discarded/autoresearch/{b} {git(repo, 'rev-parse', f'autoresearch/{b}')}"
        for b in ("c", "d")
    ]
    # the local forge recorded what GitHub would have seen
    actions = [
        json.loads(x) for x in (repo / ".git" / "autoresearch" / "forge.jsonl").read_text().splitlines()
    ]
    assert [a["branch"] for a in actions if a["action"] == "open"] == ["autoresearch/a", "autoresearch/b"]
    body = Path(next(a for a in actions if a["action"] == "open")["body"]).read_text()
    assert body.startswith(
        "# autoresearch: score −20.0% (autoresearch/a)\n\n"
        "ci-autoresearch measured `autoresearch/a` against `main` and found it **improved**: score −20.0%"
    )
    assert "| metric |" not in body  # says what it is; the full report is the comment
    assert sum(a["action"] == "publish" for a in actions) == 4
    # a second run has nothing left to do and measures nothing again
    again = cli(["run"], cwd=repo)
    assert again.returncode == 0 and "no untried candidates" in again.stdout
    assert len(history_of(repo)) == 4
    # the working files (logs, forge records, reports, cache) live in the git directory, not the tree
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    assert (repo / ".git" / "autoresearch" / "runs").is_dir()
    assert (repo / ".git" / "autoresearch" / "cache").is_dir()


def test_status_starts_from_the_first_measured_base(tmp_path: Path) -> None:
    repo = make_loop_repo(tmp_path / "r", "gate: {protected_paths: [bench.py]}\n")
    commit_branch(repo, "autoresearch/0-tampers", {"bench.py": BENCH + "# faster?\n"})
    assert cli(["run", "--max-evaluations", "2"], cwd=repo).returncode == 0
    assert decisions(repo)[0] == ("branch:autoresearch/0-tampers", "invalid", "discarded")
    doc = json.loads(cli(["status", "--json"], cwd=repo).stdout)
    assert (doc["start_value"], doc["best_value"], doc["gain"]) == (100.0, 80.0, pytest.approx(0.2))
    assert "start: 100" in cli(["status"], cwd=repo).stdout


def test_open_prs_false_opens_none(tmp_path: Path) -> None:
    repo = make_loop_repo(tmp_path / "r", "github: {open_prs: false}\n")
    assert cli(["run", "--max-evaluations", "1"], cwd=repo).returncode == 0
    assert decisions(repo) == [("branch:autoresearch/a", "improved", "kept")]
    actions = [
        json.loads(x) for x in (repo / ".git" / "autoresearch" / "forge.jsonl").read_text().splitlines()
    ]
    assert [a["action"] for a in actions] == ["publish"]


def test_run_takes_up_what_compare_measured(tmp_path: Path) -> None:
    repo = make_loop_repo(tmp_path / "r")
    compared = cli(["compare", "main", "autoresearch/a", "--json"], cwd=repo)
    assert compared.returncode == 0, compared.stderr
    finished = json.loads(compared.stdout)["finished_at"]
    res = cli(["run"], cwd=repo)
    assert res.returncode == 0, res.stderr
    assert (
        f"#1 autoresearch/a: improved, measured by compare at {finished}; not measuring again" in res.stdout
    )
    rows = history_of(repo)
    assert [(r["iteration"], r["source"], r["decision"]) for r in rows][:2] == [
        (1, "branch:autoresearch/a", "kept"),
        (2, "branch:autoresearch/b", "kept"),
    ]
    assert rows[0]["finished_at"] == finished  # the same measurement, decided by the loop


def test_status_json_and_chart(tmp_path: Path) -> None:
    repo = make_loop_repo(tmp_path / "r", "constraints: {no_improvement_limit: 2}\n")
    assert cli(["run"], cwd=repo).returncode == 0
    res = cli(["status", "--json"], cwd=repo)
    doc = json.loads(res.stdout)
    assert doc["schema"] == "ci-autoresearch/status@1"
    assert doc["iterations"] == 4 and doc["kept"] == 2 and doc["no_improvement_streak"] == 2
    assert doc["start_value"] == 100.0 and doc["best_value"] == 72.0
    assert doc["gain"] == pytest.approx(0.28)
    assert doc["converged"] is True and doc["stop"]["code"] == "no_improvement_limit"
    assert "converged: " in cli(["status"], cwd=repo).stdout
    chart = tmp_path / "chart.md"
    assert cli(["history", "--chart", str(chart)], cwd=repo).returncode == 0
    text = chart.read_text()
    assert (
        "xychart-beta" in text
        and "line [100, 80, 72, 72, 72]" in text
        and "bar [100, 80, 72, 79.2, 72]" in text
    )


@pytest.mark.parametrize(
    ("extra", "code", "evaluated"),
    [
        ("objective: {metric: score, direction: minimize, target: 85}\n", "target", 1),
        ("constraints: {no_improvement_limit: 1}\n", "no_improvement_limit", 3),
        ("constraints: {max_iterations: 2}\n", "max_iterations", 2),
        ("constraints: {max_time_hours: 0.0000001}\n", "max_time_hours", 1),
    ],
)
def test_stop_reasons(tmp_path: Path, extra: str, code: str, evaluated: int) -> None:
    text = config(extra)
    if extra.startswith("objective"):
        text = text.replace("objective: {metric: score, direction: minimize}\n", "")
    repo = make_loop_repo(tmp_path / "r")
    (repo / ".autoresearch.yml").write_text(text)
    git(repo, "commit", "-qam", "config")
    res = cli(["run"], cwd=repo)
    assert res.returncode == 0, res.stderr
    assert len(history_of(repo)) == evaluated
    status = json.loads(cli(["status", "--json"], cwd=repo).stdout)
    assert status["stop"]["code"] == code, status
    assert f"stopped: {status['stop']['reason']}" in res.stdout


def test_parallel_keeps_only_the_best_of_a_round(tmp_path: Path) -> None:
    repo = make_loop_repo(tmp_path / "r", "branching: {strategy: parallel, max_branches: 2}\n")
    assert cli(["run"], cwd=repo).returncode == 0
    rows = history_of(repo)
    assert [(r["source"], r["decision"], r["round"]) for r in rows] == [
        ("branch:autoresearch/a", "kept", 1),
        ("branch:autoresearch/b", "discarded", 1),
        ("branch:autoresearch/c", "discarded", 2),
        ("branch:autoresearch/d", "discarded", 2),
    ]
    assert rows[1]["verdict"] == "improved" and "improved more" in rows[1]["reason"]
    assert rows[0]["baseline"]["sha"] == rows[1]["baseline"]["sha"]  # both against the same best
    assert score_of(repo, "main") == 80.0


def test_hypotheses_are_tried_best_first(tmp_path: Path) -> None:
    repo = make_loop_repo(
        tmp_path / "r",
        "hypotheses:\n  - {branch: autoresearch/c, expected_gain: 0.3}\n"
        "  - {branch: autoresearch/b, expected_gain: 0.5}\n"
        "constraints: {max_iterations: 2}\n",
    )
    assert cli(["run"], cwd=repo).returncode == 0
    assert [r["source"] for r in history_of(repo)] == ["branch:autoresearch/b", "branch:autoresearch/c"]


def test_search_space_one_commit_per_value(tmp_path: Path) -> None:
    extra = (
        "search_space:\n  parameters:\n    - name: f\n      file: factors/base.txt\n"
        "      pattern: '([0-9.]+)'\n      values: ['1.2', '0.5', '0.7']\n"
        "candidates: {branches: ['none/*']}\n"
    )
    repo = make_loop_repo(tmp_path / "r", extra)
    assert cli(["run"], cwd=repo).returncode == 0
    assert decisions(repo) == [
        ("search:f=1.2", "regressed", "discarded"),
        ("search:f=0.5", "improved", "kept"),
        ("search:f=0.7", "regressed", "discarded"),
    ]
    assert score_of(repo, "main") == 50.0
    assert git(repo, "rev-parse", "--verify", "autoresearch/search/f-0.5")


def test_propose_command_in_the_loop(tmp_path: Path) -> None:
    agent = """\
import json, subprocess, sys
payload = json.load(sys.stdin)
n = len(payload["history"])
if n >= 2:
    sys.exit(0)
branch = f"agent/try{n}"
subprocess.run(["git", "checkout", "-q", "-b", branch], check=True)
open("factors/agent.txt", "w").write("0.5\\n" if n == 0 else "1.5\\n")
subprocess.run(["git", "add", "-A"], check=True)
subprocess.run(["git", "commit", "-qm", "agent idea"], check=True)
print(f"BRANCH {branch} idea number {n}")
"""
    extra = "propose: {command: python3 agent.py}\ncandidates: {branches: ['none/*']}\n"
    repo = make_repo(
        tmp_path / "r",
        {
            ".autoresearch.yml": config(extra),
            "bench.py": BENCH,
            "agent.py": agent,
            "factors/base.txt": "1.0\n",
        },
    )
    res = cli(["run"], cwd=repo)
    assert res.returncode == 0, res.stderr
    assert decisions(repo) == [
        ("propose:agent/try0", "improved", "kept"),
        ("propose:agent/try1", "regressed", "discarded"),
    ]


def test_sigkill_mid_measurement_then_resume_equals_uninterrupted(tmp_path: Path) -> None:
    # the uninterrupted end state is UNINTERRUPTED and a best of 72.0, as
    # test_sequential_loop_keeps_real_wins_and_advances_main shows on the same repository
    repo = make_loop_repo(tmp_path / "killed")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ci_autoresearch", "run"],
        cwd=repo,
        env=base_env({"BENCH_SLEEP": "0.15"}),  # slow runs, so the kill lands in a measurement
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not git(repo, "notes", "--ref=autoresearch", "list") and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # now in the middle of measuring the second candidate
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = history_of(repo)
    assert 1 <= len(first) < 4
    res = cli(["run"], cwd=repo)
    assert res.returncode == 0, res.stderr
    assert decisions(repo) == UNINTERRUPTED
    lines = [
        line
        for _, sha in (x.split() for x in git(repo, "notes", "--ref=autoresearch", "list").splitlines())
        for line in git(repo, "notes", "--ref=autoresearch", "show", sha).splitlines()
    ]
    keys = [json.loads(line)["key"] for line in lines]
    assert len(keys) == len(set(keys)) == 4  # nobody measured twice
    assert score_of(repo, "main") == 72.0


def test_notes_pushed_and_concurrent_pushes_keep_both(tmp_path: Path) -> None:
    origin = make_loop_repo(tmp_path / "origin", "checkpoint: {remote: origin}\n")
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(origin), str(bare))
    clones = []
    for name in ("one", "two"):
        git(tmp_path, "clone", "-q", str(bare), name)
        clone = tmp_path / name
        for b in ("a", "b", "c", "d"):
            git(clone, "branch", "-q", f"autoresearch/{b}", f"origin/autoresearch/{b}")
        clones.append(clone)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ci_autoresearch", "run", "--no-advance", "--max-evaluations", "2"],
            cwd=c,
            env=base_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for c in clones
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    check = tmp_path / "check"
    git(tmp_path, "clone", "-q", str(bare), "check")
    git(check, "fetch", "-q", "origin", "refs/notes/autoresearch:refs/notes/autoresearch")
    lines = [
        line
        for _, sha in (x.split() for x in git(check, "notes", "--ref=autoresearch", "list").splitlines())
        for line in git(check, "notes", "--ref=autoresearch", "show", sha).splitlines()
    ]
    assert len(lines) == 4  # each run recorded two evaluations: all four survived the racing pushes


def test_demo_keeps_exactly_the_real_speedups(tmp_path: Path) -> None:
    res = cli(["demo", "--keep", str(tmp_path / "demo")], cwd=tmp_path, timeout=600)
    assert res.returncode == 0, res.stderr
    rows = history_of(tmp_path / "demo")
    kept = {r["source"] for r in rows if r["decision"] == "kept"}
    assert kept in (
        {"branch:autoresearch/sieve", "search:sort=builtin"},
        {
            "branch:autoresearch/sieve",
            "search:sort=insertion",
            "search:sort=builtin",
        },
    )
    verdicts = {r["source"]: r["verdict"] for r in rows}
    assert verdicts["branch:autoresearch/skip-sort"] == "invalid"
    assert verdicts["branch:autoresearch/resort"] in ("regressed", "inconclusive", "unchanged")
    assert "report with chart:" in res.stdout
    assert (tmp_path / "demo" / ".git" / "autoresearch" / "autoresearch-demo-report.md").is_file()
    assert git(tmp_path / "demo", "status", "--porcelain", "--untracked-files=all") == ""
    # then one candidate again in worker mode: fresh worker processes timing blocks of calls
    showcase = res.stdout.split("worker mode (worker.yml), autoresearch/sieve against demo-start:", 1)[1]
    assert "measured: worker mode, " in showcase and "worker processes (one per side and round)" in showcase
    assert "verdict: IMPROVED — cpu_time −9" in showcase
