"""The unattended night: a long loop with a generator, killed and cut off from GitHub, ends where an
uninterrupted one ends.

* ``run``: the local loop with a generator (``propose.command``, a deterministic script: each proposal
  multiplies a factor of the benchmark by the next value of a fixed cycle, so some are kept and some
  discarded) and a deterministic benchmark, up to ``constraints.max_iterations``. Once without
  interruption, once with ``kill -9`` at random moments (seeded), restarted after each kill. The end
  states -- every note (key, decision, verdict, iteration), the working branch, the archive refs -- must
  be equal, with no key recorded twice.
* The scheduled path: nights of plan → evaluate (the generator runs there, no token) → publish against
  the fake GitHub; once without interruption, once with publish killed at random moments (the job is then
  re-run, as a person would) and two GitHub outages (502 beyond the retries: the publish job fails and is
  re-run; 403 with ``Retry-After``: retried in place). The end states -- the notes, origin's branches, the
  pull requests (head, state, title), their sticky comments (one each, same headline) and labels -- must
  be equal.

Writes ``bench/results/soak.json``; ``--quick`` runs fewer iterations and nights.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

from tests.fakegithub import FakeGitHub
from tests.helpers import FIXTURES, base_env, git, make_repo
from tests.integration.pipeline import BENCH, Pipeline, evaluate_args

RESULT_SCHEMA = "ci-autoresearch-bench/soak@1"
GENERATOR = r"""
import json, os, pathlib, subprocess, sys
payload = json.load(sys.stdin)
n = len(payload.get("history", []))
cycle = [0.97, 1.05, 0.995, 0.98, 1.03, 1.004, 1.1]
factor = pathlib.Path("factors/gen.txt")
value = float(factor.read_text()) if factor.exists() else 1.0
factor.parent.mkdir(exist_ok=True)
factor.write_text(f"{value * cycle[n % len(cycle)]:.6f}\n")
branch = f"autoresearch/gen-{n:03d}"
date = f"@{1700000000 + n} +0000"
env = {**os.environ, "GIT_AUTHOR_NAME": "gen", "GIT_AUTHOR_EMAIL": "gen@example.invalid",
       "GIT_COMMITTER_NAME": "gen", "GIT_COMMITTER_EMAIL": "gen@example.invalid",
       "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
subprocess.run(["git", "switch", "-q", "-c", branch], check=True, env=env)
subprocess.run(["git", "add", "-A"], check=True, env=env)
subprocess.run(["git", "commit", "-q", "-m", f"proposal {n}"], check=True, env=env)
print(f"BRANCH {branch} factor x{cycle[n % len(cycle)]}")
"""


def config(iterations: int) -> str:
    return f"""\
objective: {{metric: score}}
benchmark: {{command: python3 bench.py, timeout_seconds: 30}}
gate: {{command: python3 check.py, protected_paths: [bench.py]}}
metrics: {{collection: {{warmup_runs: 0, measurement_runs: 6}}}}
decision: {{max_rounds: 8}}
constraints: {{max_iterations: {iterations}}}
propose: {{command: python3 gen.py, timeout_seconds: 60}}
github: {{close_discarded: true}}
"""


def files(iterations: int) -> dict[str, str]:
    return {
        ".autoresearch.yml": config(iterations),
        "bench.py": BENCH,
        "check.py": "print('ok')\n",
        "gen.py": GENERATOR,
        "factors/base.txt": "1.0\n",
    }


def _diff(a: Any, b: Any) -> Any:
    """What only the uninterrupted run has, and what only the other one has (a few of each)."""
    if isinstance(a, list) and isinstance(b, list):
        only_a = [x for x in a if x not in b][:5]
        only_b = [x for x in b if x not in a][:5]
        return {"only_uninterrupted": only_a, "only_interrupted": only_b}
    return {"uninterrupted": a, "interrupted": b}


# --- the local loop -----------------------------------------------------------------------------------


def tree(repo: Path, sha: str) -> str:
    return git(repo, "rev-parse", f"{sha}^{{tree}}")


def loop_state(repo: Path) -> dict[str, Any]:
    """The end state, by content: commits made at another moment have other shas, the same trees."""
    lines = []
    for line in git(repo, "notes", "--ref=autoresearch", "list").splitlines():
        _, commit = line.split()
        lines += [
            json.loads(x) for x in git(repo, "notes", "--ref=autoresearch", "show", commit).splitlines() if x
        ]
    latest: dict[str, dict[str, Any]] = {}
    for doc in lines:
        latest[doc["key"]] = doc
    archive = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/autoresearch/")
    return {
        "evaluations": sorted(
            (d["iteration"], d["source"], d["decision"], d["verdict"], tree(repo, d["candidate"]["sha"]))
            for d in latest.values()
        ),
        "duplicate_lines": len(lines) - len({(d["key"], d["decision"]) for d in lines}),
        "main": [tree(repo, "main"), git(repo, "rev-list", "--count", "main")],
        "archive": sorted(
            f"{ref} {tree(repo, sha)}" for ref, sha in (x.split() for x in archive.splitlines())
        ),
    }


def run_loop(repo: Path, *, kills: int, rng: random.Random) -> dict[str, Any]:
    """``run`` until it stops by itself; with ``kills``, SIGKILL it that many times at random moments."""
    env = base_env()
    killed = restarts = 0
    started = time.perf_counter()
    while True:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ci_autoresearch", "run"],
            cwd=repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        if killed < kills:
            try:
                proc.wait(timeout=rng.uniform(2.0, 12.0))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                killed += 1
                restarts += 1
                continue
        out, _ = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(f"run exited {proc.returncode}: {out[-2000:]}")
        return {
            "kills": killed,
            "restarts": restarts,
            "seconds": time.perf_counter() - started,
            "stopped": [line for line in out.splitlines() if line.startswith("stopped:")][-1:],
        }


def soak_loop(tmp: Path, *, iterations: int, kills: int, seed: int) -> dict[str, Any]:
    results = {}
    for name, k in (("uninterrupted", 0), ("killed", kills)):
        repo = make_repo(tmp / f"loop-{name}", files(iterations))
        run = run_loop(repo, kills=k, rng=random.Random(seed))
        results[name] = {**run, "state": loop_state(repo)}
    a, b = results["uninterrupted"]["state"], results["killed"]["state"]
    differences = [k for k in a if a[k] != b[k]]
    detail = {k: _diff(a[k], b[k]) for k in differences}
    return {
        "iterations": len(a["evaluations"]),
        "kept": sum(1 for e in a["evaluations"] if e[2] == "kept"),
        "kills_survived": results["killed"]["kills"],
        "duplicates": a["duplicate_lines"] + b["duplicate_lines"],
        "differences": differences,
        "detail": detail,
        "stopped": results["uninterrupted"]["stopped"],
        "seconds": {k: round(v["seconds"], 1) for k, v in results.items()},
    }


# --- the scheduled path ---------------------------------------------------------------------------------


def github_state(p: Pipeline) -> dict[str, Any]:
    notes: dict[str, dict[str, Any]] = {}
    lines = p.notes()
    for doc in lines:
        notes[doc["key"]] = doc
    pulls = []
    for pr in sorted(p.server.pulls("all"), key=lambda x: x.head_ref):
        sticky = p.sticky(pr.number)
        pulls.append(
            {
                "head": pr.head_ref,
                "state": pr.state,
                "title": pr.title,
                "comments": len(sticky),
                "headline": sticky[0].split("\n")[1][:80] if sticky else "",
                "labels": p.server.labels(pr.number),
            }
        )
    heads = git(p.origin, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/")
    return {
        "notes": sorted((d["source"], d["decision"], d["verdict"]) for d in notes.values()),
        "duplicate_lines": len(lines) - len({(d["key"], d["decision"]) for d in lines}),
        "branches": sorted(
            f"{ref} {tree(p.origin, sha)}" for ref, sha in (x.split() for x in heads.splitlines())
        ),
        "pulls": pulls,
    }


def _kill_after_calls(proc: subprocess.Popen[str], server: FakeGitHub, calls: int) -> bool:
    """SIGKILL ``proc`` once it has made ``calls`` more API calls (a crash between two of its effects);
    False when it ended first."""
    start = len(server.calls)
    while proc.poll() is None:
        if len(server.calls) - start >= calls:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.005)
    return False


def night(p: Pipeline, event: dict[str, Any], *, kill_at: int | None, rng: random.Random) -> dict[str, int]:
    """One night; publish is re-run until it succeeds (after a kill or an outage), as a person would."""
    plan = p.run("plan", ["plan"], "workflow_dispatch", event)
    entries = json.loads(plan.outputs["matrix"])["include"]
    if not entries:
        return {"planned": 0, "publish_attempts": 0, "killed": 0}
    downloads = p.tmp / f"downloads{p.jobs}"
    for entry in entries:
        job = p.run("evaluate", evaluate_args(entry), "workflow_dispatch", event)
        (downloads / f"autoresearch-bundle-{entry['slot']}").mkdir(parents=True)
        for bundle in Path(job.outputs["bundles"]).glob("*.json"):
            (downloads / f"autoresearch-bundle-{entry['slot']}" / bundle.name).write_text(bundle.read_text())
    args = ["publish", "--plan", plan.outputs["plan"], "--bundles", str(downloads)]
    attempts = killed = 0
    while True:
        attempts += 1
        job_dir = p.checkout("publish")
        env = {**base_env(), **p.env("workflow_dispatch", event, job_dir, token=True)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "ci_autoresearch", *args],
            cwd=job_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        if kill_at is not None and attempts == 1 and _kill_after_calls(proc, p.server, kill_at):
            killed += 1
            continue
        out, _ = proc.communicate(timeout=600)
        if proc.returncode == 0:
            return {"planned": len(entries), "publish_attempts": attempts, "killed": killed}
        if proc.returncode != 4 or attempts > 5:  # 4: GitHub failed after retries; re-run the job
            raise RuntimeError(f"publish exited {proc.returncode}: {out[-2000:]}")


def soak_schedule(tmp: Path, *, nights: int, kills: int, seed: int) -> dict[str, Any]:
    event = json.loads((FIXTURES / "github-events" / "workflow_dispatch.json").read_text())
    event["repository"]["full_name"], event["repository"]["default_branch"] = "octo-org/project", "main"
    results: dict[str, Any] = {}
    for name in ("uninterrupted", "disturbed"):
        rng = random.Random(seed)
        kill_nights = set(rng.sample(range(nights), kills)) if name == "disturbed" else set()
        outage_nights = (
            set(rng.sample(sorted(set(range(nights)) - kill_nights), 2)) if name == "disturbed" else set()
        )
        started = time.perf_counter()
        with FakeGitHub() as server:
            server.add_repo("octo-org", "project", default_branch="main")
            (tmp / name).mkdir(parents=True)
            p = Pipeline.create(tmp / name, server, config=config(nights))
            p.commit_main({"gen.py": GENERATOR}, "the generator")
            attempts = planned = kills_done = 0
            outages = []
            for i in range(nights):
                if i in outage_nights:
                    first = not outages
                    if first:  # beyond the retries: the publish job fails (exit 4) and is re-run
                        server.inject("*", r"/repos/", 502, times=8)
                    else:  # a secondary rate limit with Retry-After: retried in place
                        server.inject("*", r"/repos/", 403, times=3, headers={"Retry-After": "1"})
                    outages.append(i)
                kill_at = rng.randint(1, 6) if i in kill_nights else None  # after its k-th API call
                done = night(p, event, kill_at=kill_at, rng=rng)
                attempts += done["publish_attempts"]
                kills_done += done["killed"]
                planned += done["planned"]
            results[name] = {
                "state": github_state(p),
                "seconds": round(time.perf_counter() - started, 1),
                "publish_attempts": attempts,
                "planned": planned,
                "kills": kills_done,
                "outages": outages,
                "violations": len(server.violations),
            }
            server.violations.clear()
    a, b = results["uninterrupted"]["state"], results["disturbed"]["state"]
    detail = {k: _diff(a[k], b[k]) for k in a if a[k] != b[k]}
    return {
        "detail": detail,
        "nights": nights,
        "evaluations": len(a["notes"]),
        "pull_requests": len(a["pulls"]),
        "kills_survived": results["disturbed"]["kills"],
        "outages_survived": len(results["disturbed"]["outages"]),
        "publish_attempts": {k: v["publish_attempts"] for k, v in results.items()},
        "duplicates": a["duplicate_lines"] + b["duplicate_lines"],
        "differences": [k for k in a if a[k] != b[k]],
        "contract_violations": sum(v["violations"] for v in results.values()),
        "seconds": {k: v["seconds"] for k, v in results.items()},
    }


def render(doc: dict[str, Any]) -> str:
    loop, sched = doc["loop"], doc["schedule"]
    head = "| soak | iterations | kept / PRs | kills survived | outages survived | duplicates | differences |"
    rows = [
        ["`run` with a generator", loop["iterations"], loop["kept"], loop["kills_survived"], "–"],
        [f"scheduled path, {sched['nights']} nights", sched["evaluations"], sched["pull_requests"]],
    ]
    rows[0] += [loop["duplicates"], ", ".join(loop["differences"]) or 0]
    rows[1] += [sched["kills_survived"], sched["outages_survived"]]
    rows[1] += [sched["duplicates"], ", ".join(sched["differences"]) or 0]
    attempts = sched["publish_attempts"]
    return (
        "\n".join([head, "| :--- | ---: | ---: | ---: | ---: | ---: | :--- |"])
        + "\n"
        + "".join("| " + " | ".join(str(c) for c in row) + " |\n" for row in rows)
        + f"\nThe loop stopped: {(loop['stopped'] or ['?'])[0]}. Publish attempts (uninterrupted / "
        f"disturbed): {attempts['uninterrupted']} / {attempts['disturbed']}; OpenAPI contract violations: "
        f"{sched['contract_violations']}.\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    iterations, nights, kills = (12, 6, 2) if args.quick else (100, 24, 3)
    doc: dict[str, Any] = {
        "schema": RESULT_SCHEMA,
        "machine": common.machine_info(),
        "quick": args.quick,
        "seed": args.seed,
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="autoresearch-soak-") as name:
        tmp = Path(name)
        doc["loop"] = soak_loop(tmp / "loop", iterations=iterations, kills=kills, seed=args.seed)
        print(f"loop soaked ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
        doc["schedule"] = soak_schedule(tmp / "schedule", nights=nights, kills=kills, seed=args.seed)
    doc["elapsed_seconds"] = time.perf_counter() - started
    text = render(doc)
    doc["markdown"] = text
    path = common.write_json(args.out_dir / common.result_name("soak", args.quick), doc)
    print(text)
    print(f"written to {path}", file=sys.stderr)
    ok = not doc["loop"]["differences"] and not doc["schedule"]["differences"]
    ok = ok and doc["loop"]["duplicates"] == 0 and doc["schedule"]["duplicates"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
