"""Worker mode end to end: real worker processes, a real git repository, deterministic numbers.

The workers here report exactly what they are told to (``value.txt`` milliseconds a call) and sleep
that long, so verdicts, block counts and the order of blocks are exact; nothing asserts a timing.
Every request a worker receives is logged (process id, checkout, request) to check the protocol.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ci_autoresearch.measure.scrub import scrub_env
from ci_autoresearch.measure.worker_process import (
    WorkerGone,
    WorkerSilent,
    available_cpus,
    on_cpu,
    start_worker,
)
from tests.helpers import base_env, cli, commit_branch, make_repo

WORKER = """\
import os, pathlib, sys, time

LOG = pathlib.Path(os.environ["WORKER_LOG"])
per_call = float(pathlib.Path("value.txt").read_text()) / 1000
mode = pathlib.Path("mode.txt").read_text().split() if pathlib.Path("mode.txt").exists() else ["ok", "0"]
side = pathlib.Path.cwd().name
if hasattr(os, "sched_getaffinity"):  # where it runs, for the pinning test
    with LOG.with_suffix(".cpus").open("a") as log:
        log.write(f"{os.getpid()} {side} {','.join(map(str, sorted(os.sched_getaffinity(0))))}\\n")
print("ready ci-autoresearch-worker/1", flush=True)
served = False
for line in sys.stdin:
    served = True
    with LOG.open("a") as log:
        log.write(f"{os.getpid()} {side} {line.strip()}\\n")
    seen = sum(1 for entry in LOG.read_text().splitlines() if entry.split()[1] == side)
    if seen == int(mode[1]):  # the n-th request this side received, over all its processes
        if mode[0] == "die":
            sys.stderr.write("worker crashed\\n")
            sys.exit(3)
        if mode[0] == "hang":
            time.sleep(3600)
        if mode[0] == "garbage":
            print("garbage", flush=True)
            continue
    calls = int(line.split()[1])
    wall = calls * per_call
    time.sleep(wall)
    print(f"done {wall:.9f} {wall:.9f}", flush=True)
if mode[0] == "linger" and not served:  # its input ended before any request: it stays until killed
    time.sleep(60)
"""


def config(log: Path, extra: str = "") -> str:
    return f"""\
benchmark:
  timeout_seconds: 3
  env: {{WORKER_LOG: "{log}"}}
  worker:
    command: {sys.executable} worker.py
    block_seconds: 0.01
    blocks: 3
metrics:
  collection: {{measurement_runs: 6}}
decision: {{max_rounds: 10}}
{extra}"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    log = tmp_path / "requests.log"
    r = make_repo(
        tmp_path / "repo",
        {".autoresearch.yml": config(log), "worker.py": WORKER, "value.txt": "1.0\n"},
    )
    commit_branch(r, "better", {"value.txt": "0.75\n"})
    commit_branch(r, "same", {})
    return r


def requests(repo: Path) -> list[tuple[str, str, str]]:
    """(process id, side, request) of every request the workers received, in order."""
    log = repo.parent / "requests.log"
    return [tuple(line.split(maxsplit=2)) for line in log.read_text().splitlines()]  # type: ignore[misc]


def compare(repo: Path, cand: str, *extra: str) -> dict:
    res = cli(["compare", "main", cand, "--json", *extra], cwd=repo)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_an_improvement_in_worker_mode_block_by_block(repo: Path) -> None:
    """Calibration in a worker of its own (1 call, then 5: 10 calls make 10 ms); then every round two
    fresh workers, one warm-up block and three measured ones each, ABBA; the verdict at the second look
    (the first, 6 rounds, cannot reach its level); every measured value exact."""
    doc = compare(repo, "better")
    assert doc["verdict"] == "improved"
    assert doc["rounds"] == 9
    assert doc["measurement"] == {
        "mode": "worker",
        "processes": 18,
        "sides_per_process": 1,
        "blocks": 3,
        "warmup_blocks": 1,
        "calls_per_block": 10,
    }
    m = doc["metrics"]["wall_time"]
    assert m["samples"]["baseline"] == [pytest.approx(0.001)] * 9
    assert m["samples"]["candidate"] == [pytest.approx(0.00075)] * 9
    assert m["delta"] == pytest.approx(-0.25) and m["ci"] == [pytest.approx(-0.25)] * 2
    seen = requests(repo)
    assert [(side, req) for _, side, req in seen[:2]] == [("baseline", "run 1"), ("baseline", "run 5")]
    rounds = seen[2:]
    assert len(rounds) == 9 * 8 and {req for _, _, req in rounds} == {"run 10"}
    assert len({pid for pid, _, _ in seen}) == 1 + 18  # a fresh process for every side of every round
    first = [side[0] for _, side, _ in rounds[:8]]
    second = [side[0] for _, side, _ in rounds[8:16]]
    assert "".join(first) == "bcbccbbc"  # warm-up b c, then ABBA from the baseline
    assert "".join(second) == "cbcbbccb"  # the next round starts with the candidate


def test_the_time_allowed_plans_the_rounds_at_the_first_look(repo: Path) -> None:
    """decision.max_seconds: at the first look (6 rounds) the pace says no more rounds fit, so the
    session is planned as that one look, and six identical -25 % rounds decide there (at nine rounds
    without the limit, above)."""
    (repo / ".autoresearch.yml").write_text(
        config(repo.parent / "requests.log").replace(
            "{max_rounds: 10}", "{max_rounds: 10, max_seconds: 0.001}"
        )
    )
    res = cli(["compare", "main", "better", "--json"], cwd=repo)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert (doc["verdict"], doc["rounds"]) == ("improved", 6)
    assert "at most 6 rounds fit in 0.001 s (decision.max_seconds)" in res.stderr


@pytest.mark.skipif(len(available_cpus()) < 2, reason="pinning needs two CPUs")
@pytest.mark.parametrize("pin", [True, False])
def test_each_rounds_workers_share_one_cpu_in_turn(repo: Path, pin: bool) -> None:
    """benchmark.worker.pin (the default): the calibration worker on the first CPU, then both workers
    of each round on the next CPU in turn (those of a tenth round, started while the ninth measured,
    on the next again, if they got to say so before the session ended them); unpinned, every worker
    may run anywhere."""
    if not pin:
        (repo / ".autoresearch.yml").write_text(
            config(repo.parent / "requests.log").replace("    blocks: 3\n", "    blocks: 3\n    pin: false\n")
        )
    compare(repo, "same")
    cpus = available_cpus()
    lines = (repo.parent / "requests.cpus").read_text().splitlines()
    where = [line.split()[2] for line in lines]
    if not pin:
        assert len(where) == 1 + 2 * 9
        assert set(where) == {",".join(map(str, cpus))}
        return
    expected = [str(cpus[0])] + [str(cpus[(k + 1) % len(cpus)]) for k in range(10) for _ in range(2)]
    assert len(where) >= 1 + 2 * 9 and where == expected[: len(where)]


@pytest.mark.skipif(len(available_cpus()) < 2, reason="workers start ahead only when pinned")
def test_workers_started_for_a_round_that_never_comes_are_ended(tmp_path: Path) -> None:
    """The workers of a tenth round start while the ninth measures (0.4 s of blocks: time enough to
    start); the session ends at nine and kills them -- even workers that would stay when their input
    ends without a request."""
    log = tmp_path / "requests.log"
    files = {
        ".autoresearch.yml": config(log).replace("block_seconds: 0.01", "block_seconds: 0.05"),
        "worker.py": WORKER,
        "value.txt": "1.0\n",
        "mode.txt": "linger 0\n",
    }
    repo = make_repo(tmp_path / "repo", files)
    commit_branch(repo, "same", {})
    assert compare(repo, "same")["rounds"] == 9
    pids = [int(line.split()[0]) for line in log.with_suffix(".cpus").read_text().splitlines()]
    try:
        assert len(pids) == 1 + 2 * 10  # the calibration, nine rounds and the tenth's workers
        assert not [pid for pid in pids if _alive(pid)]
    finally:
        for pid in pids:
            if _alive(pid):
                os.kill(pid, 9)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie left to an init that does not reap is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_identical_sides_are_unchanged(repo: Path) -> None:
    doc = compare(repo, "same")
    assert (doc["verdict"], doc["rounds"]) == ("unchanged", 9)
    assert doc["metrics"]["wall_time"]["ci"] == [0.0, 0.0]


def test_the_terminal_report_says_worker_mode(repo: Path) -> None:
    res = cli(["compare", "main", "better"], cwd=repo)
    assert res.returncode == 0, res.stderr
    assert (
        "measured: worker mode, 18 worker processes (one per side and round); per side, 3 measured "
        "blocks of 10 calls after 1 warm-up"
    ) in res.stdout


def test_a_candidate_worker_that_dies_is_invalid_and_keeps_the_rounds_measured(repo: Path) -> None:
    """The candidate's 6th request overall is block 1 of round 2: round 1 stays measured."""
    commit_branch(repo, "crash", {"mode.txt": "die 6\n"})
    doc = compare(repo, "crash")
    assert doc["verdict"] == "invalid"
    assert doc["reason"].startswith(
        "the candidate worker exited (3) during block 1 of round2: worker crashed; "
    )
    assert "\n" not in doc["reason"] and "logs in" in doc["reason"]
    assert doc["rounds"] == 1
    assert doc["metrics"]["wall_time"]["samples"]["candidate"] == [pytest.approx(0.001)]


def test_a_baseline_worker_that_hangs_is_one_line_and_exit_3(repo: Path) -> None:
    """The baseline's 4th request is block 1 of round 1 (two calibration blocks, one warm-up)."""
    commit_branch(repo, "hangs", {"mode.txt": "hang 4\n"})
    res = cli(["compare", "hangs", "main"], cwd=repo)
    assert res.returncode == 3, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in res.stderr
    assert (
        "the baseline worker did not answer within 3 s (benchmark.timeout_seconds) and was killed, "
        "during block 1 of round1"
    ) in lines[0]


def test_a_worker_that_breaks_the_protocol_is_named(repo: Path) -> None:
    commit_branch(repo, "garbled", {"mode.txt": "garbage 2\n"})
    doc = compare(repo, "garbled")
    assert doc["verdict"] == "invalid"
    assert doc["reason"].startswith(
        "the candidate worker answered 'garbage' to `run 10` instead of `done WALL CPU` during block 1 "
        "of round1"
    )


def test_bench_in_worker_mode_writes_what_it_measured_before_failing(repo: Path, tmp_path: Path) -> None:
    """`bench`: a fresh worker per run; the 3rd run's worker dies, the two runs before are in the file."""
    (repo / "mode.txt").write_text("die 12\n")  # 2 calibration blocks, 4 a run: run 3, block 1
    out = tmp_path / "partial.json"
    res = cli(["bench", "--out", str(out), "--runs", "4"], cwd=repo)
    assert res.returncode == 3, res.stderr
    doc = json.loads(out.read_text())
    assert doc["metrics"]["wall_time"]["samples"] == [pytest.approx(0.001)] * 2
    assert "the baseline worker exited (3) during block 1 of run3" in doc["error"]


def test_a_worker_in_any_language(tmp_path: Path) -> None:
    """A shell worker: it reports no CPU time (``-``) and always 10 ms a block (so one call a block)."""
    shell = (
        'echo "ready ci-autoresearch-worker/1"\n'
        'while read -r req n; do sleep 0.01; echo "done 0.01 -"; done\n'
    )
    repo = make_repo(
        tmp_path / "sh",
        {
            ".autoresearch.yml": "benchmark:\n  worker: {command: sh worker.sh, block_seconds: 0.01}\n"
            "metrics:\n  collection: {measurement_runs: 3}\ndecision: {max_rounds: 3}\n",
            "worker.sh": shell,
        },
    )
    res = cli(["compare", "main", "main", "--json"], cwd=repo)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["rounds"] == 3 and doc["measurement"]["calls_per_block"] == 1
    assert doc["metrics"]["wall_time"]["samples"]["baseline"] == [pytest.approx(0.01)] * 3
    assert "cpu_time" not in doc["metrics"]


# --------------------------------------------------------------------------------------------------
# the Python adapter

PACKAGE = """\
import atexit, os, pathlib, time

SEEN = pathlib.Path(os.environ["SEEN_LOG"])
atexit.register(lambda: SEEN.open("a").write(f"{os.getpid()} {__file__}\\n"))


def make():
    return {"pause": 0.001}


def run(*, pause):
    print("this line goes to stderr, not into the protocol")
    time.sleep(pause)
"""


@pytest.mark.parametrize(("sides", "per_round"), [("separate", 2), ("together", 1)])
def test_the_python_adapter_runs_each_sides_own_code(tmp_path: Path, sides: str, per_round: int) -> None:
    seen = tmp_path / "seen.log"
    repo = make_repo(
        tmp_path / "py",
        {
            ".autoresearch.yml": f"""\
benchmark:
  callable: "pkg.work:run"
  args_from: "pkg.work:make"
  python: {sys.executable}
  env: {{SEEN_LOG: "{seen}"}}
  worker: {{block_seconds: 0.01, blocks: 2, sides: {sides}}}
metrics:
  collection: {{measurement_runs: 2}}
decision: {{max_rounds: 2}}
""",
            "pkg/__init__.py": "",
            "pkg/work.py": PACKAGE,
        },
    )
    commit_branch(repo, "other", {"pkg/work.py": PACKAGE + "# another version\n"})
    res = cli(["compare", "main", "other", "--json"], cwd=repo)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["rounds"] == 2
    assert doc["measurement"]["processes"] == 2 * per_round
    assert doc["measurement"]["sides_per_process"] == 3 - per_round
    assert all(v > 0.0009 for v in doc["metrics"]["wall_time"]["samples"]["candidate"])
    by_process: dict[str, set[str]] = {}
    for line in seen.read_text().splitlines():
        pid, path = line.split(maxsplit=1)
        by_process.setdefault(pid, set()).add(Path(path).parent.parent.name)
    rounds = [sorted(checkouts) for checkouts in by_process.values()][1:]  # the first: calibration
    expected = [["baseline", "candidate"]] if sides == "together" else [["baseline"], ["candidate"]]
    assert sorted(rounds) == sorted(expected * 2)


def test_the_adapter_refuses_code_from_outside_the_checkout(tmp_path: Path) -> None:
    elsewhere = tmp_path / "site"
    elsewhere.mkdir()
    (elsewhere / "installed.py").write_text("def run():\n    pass\n")
    repo = make_repo(
        tmp_path / "py",
        {
            ".autoresearch.yml": f"""\
benchmark:
  callable: "installed:run"
  python: {sys.executable}
  env: {{PYTHONPATH: "{elsewhere}"}}
""",
        },
    )
    res = cli(["bench", "--runs", "2"], cwd=repo)
    assert res.returncode == 3
    lines = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in res.stderr
    assert "installed:run was imported from" in lines[0] and "not from the checkout" in lines[0]


# --------------------------------------------------------------------------------------------------
# worker_process.start_worker: the process under the conversation


def test_start_worker_reads_lines_reaps_and_times_out(tmp_path: Path) -> None:
    env = scrub_env(base_env({"SECRET_TOKEN": "x"}))
    script = (
        "import os, sys\nprint('SECRET_TOKEN' in os.environ, flush=True)\n"
        "print(sys.stdin.readline().strip()[::-1], flush=True)\n"
    )
    (tmp_path / "w.py").write_text(script)
    with start_worker(f"{sys.executable} w.py", cwd=tmp_path, env=env, log_dir=tmp_path, name="w") as w:
        assert w.read_line(10) == "False"  # the scrubbed environment, as benchmark runs get it
        w.send("olleh")
        assert w.read_line(10) == "hello"
        with pytest.raises(WorkerGone) as gone:
            w.read_line(10)
        assert gone.value.returncode == 0
        assert w.close(1).returncode == 0
    (tmp_path / "s.py").write_text("import time\nprint('ready', flush=True)\ntime.sleep(60)\n")
    with start_worker(f"{sys.executable} s.py", cwd=tmp_path, env=env, log_dir=tmp_path, name="s") as w:
        assert w.read_line(10) == "ready"
        with pytest.raises(WorkerSilent):
            w.read_line(0.2)
    (tmp_path / "k.py").write_text("import sys, time\nsys.stdin.read()\ntime.sleep(60)\n")
    with start_worker(f"{sys.executable} k.py", cwd=tmp_path, env=env, log_dir=tmp_path, name="k") as w:
        assert w.close(0.2).returncode < 0  # did not exit when its input ended: terminated


def test_a_worker_is_reaped_without_a_pidfd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the system has no pidfd (macOS), the exit is looked for in short sleeps: same statuses."""
    monkeypatch.delattr(os, "pidfd_open", raising=False)
    env = scrub_env(base_env())
    (tmp_path / "e.py").write_text("import sys\nsys.stdin.read()\nsys.exit(4)\n")
    with start_worker(f"{sys.executable} e.py", cwd=tmp_path, env=env, log_dir=tmp_path, name="e") as w:
        assert w.close(5).returncode == 4
    (tmp_path / "k.py").write_text("import sys, time\nsys.stdin.read()\ntime.sleep(60)\n")
    with start_worker(f"{sys.executable} k.py", cwd=tmp_path, env=env, log_dir=tmp_path, name="k") as w:
        assert w.close(0.2).returncode < 0


@pytest.mark.skipif(len(available_cpus()) < 2, reason="pinning needs two CPUs")
def test_on_cpu_pins_what_starts_inside_and_restores_this_process(tmp_path: Path) -> None:
    before = os.sched_getaffinity(0)
    cpu = available_cpus()[-1]
    probe = [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"]
    with on_cpu(cpu):
        inside = subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()
    assert inside == f"[{cpu}]"
    assert os.sched_getaffinity(0) == before
    with on_cpu(10**6):  # no such CPU: the system refuses, nothing is pinned, nothing fails
        assert os.sched_getaffinity(0) == before
