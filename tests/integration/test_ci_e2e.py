"""`ci-autoresearch ci` as the action runs it: real event payloads, `GITHUB_*` variables, temporary
`GITHUB_OUTPUT` / `GITHUB_STEP_SUMMARY`, a bare git remote, and the real PyGithub talking to the fake
GitHub on loopback (every exchange validated against the OpenAPI subset by the fixture).

The benchmark is deterministic (``score = 100 × product of factors/*.txt``), so verdicts follow the data.
"""

from __future__ import annotations

import copy
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakegithub import FakeGitHub
from tests.helpers import FIXTURES, cli, commit_branch, git, make_repo

BENCH = """\
import math, pathlib
factors = [float(p.read_text()) for p in sorted(pathlib.Path("factors").glob("*.txt"))]
print(f"METRIC score={100 * math.prod(factors):.6f}")
"""
CONFIG = """\
objective: {metric: score}
benchmark: {command: python3 bench.py, timeout_seconds: 30}
gate: {command: python3 check.py, protected_paths: [bench.py]}
metrics: {collection: {warmup_runs: 0, measurement_runs: 6}}
decision: {max_rounds: 8}
github: {close_discarded: true}
"""
LABEL = "autoresearch:candidate"
MARKER = "<!-- ci-autoresearch:report -->"


@dataclass
class Setup:
    tmp: Path
    server: FakeGitHub
    work: Path  # the job's checkout
    origin: Path  # the bare remote

    def env(self, event_name: str, event: dict[str, Any], **extra: str) -> dict[str, str]:
        path = self.tmp / f"event-{event_name}.json"
        path.write_text(json.dumps(event))
        for name in ("output", "summary"):
            (self.tmp / name).write_text("")
        runner_temp = self.tmp / "runner"
        runner_temp.mkdir(exist_ok=True)
        return {
            "GITHUB_ACTIONS": "true",
            "CI": "true",
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_EVENT_PATH": str(path),
            "GITHUB_REPOSITORY": "octo-org/project",
            "GITHUB_API_URL": self.server.url,
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_RUN_ID": "4242",
            "GITHUB_TOKEN": self.server.token,
            "RUNNER_TEMP": str(runner_temp),
            "GITHUB_OUTPUT": str(self.tmp / "output"),
            "GITHUB_STEP_SUMMARY": str(self.tmp / "summary"),
            **extra,
        }

    def outputs(self) -> dict[str, str]:
        """Parse `name<<DELIM` blocks as the runner does."""
        out: dict[str, str] = {}
        lines = (self.tmp / "output").read_text().splitlines()
        i = 0
        while i < len(lines):
            name, _, delim = lines[i].partition("<<")
            j = lines.index(delim, i + 1)
            out[name] = "\n".join(lines[i + 1 : j])
            i = j + 1
        return out

    def branch(self, name: str, files: dict[str, str], *, start: str = "main") -> str:
        sha = commit_branch(self.work, name, files, start=start)
        git(self.work, "push", "-q", "origin", f"{name}:{name}")
        self.server.set_branch(name, sha)
        return sha


@pytest.fixture
def setup(tmp_path: Path, fake_github: FakeGitHub) -> Iterator[Setup]:
    work = make_repo(
        tmp_path / "work",
        {
            ".autoresearch.yml": CONFIG,
            "bench.py": BENCH,
            "check.py": "print('ok')\n",
            "factors/base.txt": "1.0\n",
            ".gitignore": ".autoresearch/\n",
        },
    )
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(work, "remote", "add", "origin", str(origin))
    git(work, "push", "-q", "origin", "main")
    fake_github.set_branch("main", git(work, "rev-parse", "main"))
    yield Setup(tmp=tmp_path, server=fake_github, work=work, origin=origin)


def pr_event(
    s: Setup,
    number: int,
    head: str,
    *,
    action: str = "labeled",
    labels: tuple[str, ...] = (LABEL,),
    fork: bool = False,
) -> dict[str, Any]:
    event = copy.deepcopy(json.loads((FIXTURES / "github-events" / "pull_request.labeled.json").read_text()))
    pr = event["pull_request"]
    label_shape = event["label"]
    event["action"] = action
    event["number"] = pr["number"] = number
    event["label"] = {**label_shape, "name": labels[0] if labels else "other"}
    pr["labels"] = [{**label_shape, "name": n} for n in labels]
    pr["head"]["ref"], pr["head"]["sha"] = head, git(s.work, "rev-parse", head)
    pr["base"]["ref"], pr["base"]["sha"] = "main", git(s.work, "rev-parse", "main")
    pr["base"]["repo"]["full_name"] = "octo-org/project"
    pr["head"]["repo"]["full_name"] = "someone/fork" if fork else "octo-org/project"
    event["repository"]["full_name"], event["repository"]["default_branch"] = "octo-org/project", "main"
    return event


def run_ci(s: Setup, event_name: str, event: dict[str, Any], *args: str) -> Any:
    res = cli(["ci", *args], cwd=s.work, env=s.env(event_name, event))
    assert res.returncode == 0, res.stdout + res.stderr
    return res


def sticky(s: Setup, number: int) -> list[str]:
    return [c.body for c in s.server.comments(number) if MARKER in c.body]


def baseline_zip(s: Setup) -> bytes:
    event = json.loads((FIXTURES / "github-events" / "push.json").read_text())
    event["ref"], event["after"] = "refs/heads/main", git(s.work, "rev-parse", "main")
    event["repository"]["default_branch"] = "main"
    run_ci(s, "push", event)
    out = s.outputs()
    assert out["verdict"] == "baseline"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("baseline.json", Path(out["result-path"]).read_text())
    return buf.getvalue()


def test_push_writes_the_baseline(setup: Setup) -> None:
    data = baseline_zip(setup)
    doc = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("baseline.json"))
    assert doc["schema"] == "ci-autoresearch/result@1"
    assert doc["sha"] == git(setup.work, "rev-parse", "main")
    assert doc["metrics"]["score"]["samples"] == [100.0] * 6
    assert "baseline of main" in (setup.tmp / "summary").read_text()
    assert setup.server.calls == []  # a push needs no API call


def test_labelled_pr_improved_then_rerun_regressed(setup: Setup) -> None:
    s = setup
    s.server.add_artifact("autoresearch-baseline", baseline_zip(s), "main", git(s.work, "rev-parse", "main"))
    s.branch("autoresearch/a", {"factors/a.txt": "0.8\n"})
    pr = s.server.add_pull(
        "autoresearch/a", head_sha=git(s.work, "rev-parse", "autoresearch/a"), labels=[LABEL]
    )
    before = len(s.server.calls)
    res = run_ci(s, "pull_request", pr_event(s, pr.number, "autoresearch/a"))
    out = s.outputs()
    assert out["verdict"] == "improved" and out["improved"] == "true"
    assert float(out["delta"]) == pytest.approx(-0.2)
    assert "autoresearch: **improved**" in out["report"]
    calls = len(s.server.calls) - before
    assert calls <= 12, [c.operation_id for c in s.server.calls[before:]]
    [body] = sticky(s, pr.number)
    assert "score −20\\.0%" in body and "**Trend:**" in body and "runner drift +0.00%" in body
    assert s.server.labels(pr.number) == [LABEL, "autoresearch:improvement"]
    [status] = s.server.statuses(pr.head_sha)
    assert status.state == "success" and status.context == "ci-autoresearch"
    assert "::group::measure PR" in res.stdout
    assert "autoresearch: **improved**" in (s.tmp / "summary").read_text()
    # the evaluation note went to the remote
    assert git(s.origin, "notes", "--ref=autoresearch", "list")

    # the author pushes a change that makes it worse: same comment, edited; labels swapped
    s.branch("autoresearch/a", {"factors/a.txt": "1.2\n"})
    run_ci(s, "pull_request", pr_event(s, pr.number, "autoresearch/a", action="synchronize"))
    assert s.outputs()["verdict"] == "regressed"
    [body] = sticky(s, pr.number)
    assert "autoresearch: **regressed**" in body
    assert "History of this PR" in body and "xychart-beta" in body
    assert s.server.labels(pr.number) == [LABEL, "autoresearch:regression"]
    assert len(s.server.comments(pr.number)) == 1

    # a plain re-run of the same job measures nothing again and changes nothing
    calls_before = len(s.server.calls)
    res = run_ci(s, "pull_request", pr_event(s, pr.number, "autoresearch/a", action="synchronize"))
    assert "not measuring twice" in res.stdout
    assert len(s.server.comments(pr.number)) == 1
    assert not [
        c
        for c in s.server.calls[calls_before:]
        if c.method in ("POST", "PATCH", "DELETE") and "statuses" not in c.path
    ]


def test_pr_with_broken_tests_is_invalid(setup: Setup) -> None:
    s = setup
    s.branch("autoresearch/cheat", {"factors/a.txt": "0.5\n", "check.py": "raise SystemExit('tests fail')\n"})
    pr = s.server.add_pull(
        "autoresearch/cheat", head_sha=git(s.work, "rev-parse", "autoresearch/cheat"), labels=[LABEL]
    )
    res = run_ci(s, "pull_request", pr_event(s, pr.number, "autoresearch/cheat"))
    assert s.outputs()["verdict"] == "invalid"
    assert "::error title=ci-autoresearch%3A autoresearch/cheat is invalid::gate failed" in res.stdout
    assert s.server.labels(pr.number) == [LABEL, "autoresearch:invalid"]
    [status] = s.server.statuses(pr.head_sha)
    assert status.state == "failure"
    [body] = sticky(s, pr.number)
    assert "**Gate:** `python3 check.py` **failed** (exit 1, " in body
    assert "no stored baseline" in body  # nothing uploaded yet: said, and carried on
    # close_discarded is on: the PR is closed with a comment that says why
    assert s.server.pull(pr.number).state == "closed"


def test_unlabelled_pr_is_a_noop(setup: Setup) -> None:
    s = setup
    s.branch("feature/x", {"factors/x.txt": "0.5\n"})
    pr = s.server.add_pull("feature/x", head_sha=git(s.work, "rev-parse", "feature/x"))
    res = run_ci(s, "pull_request", pr_event(s, pr.number, "feature/x", action="opened", labels=()))
    assert "::notice::PR #" in res.stdout and "not a candidate" in res.stdout
    assert s.outputs()["verdict"] == ""
    assert s.server.calls == []
    assert not git(s.work, "notes", "--ref=autoresearch", "list")


def test_faults_in_the_middle_leave_the_same_end_state(setup: Setup) -> None:
    s = setup
    s.branch("autoresearch/a", {"factors/a.txt": "0.8\n"})
    pr = s.server.add_pull(
        "autoresearch/a", head_sha=git(s.work, "rev-parse", "autoresearch/a"), labels=[LABEL]
    )
    s.server.inject("POST", r"/issues/\d+/comments$", 500)
    s.server.inject("POST", r"/issues/\d+/labels$", 403, headers={"Retry-After": "1"})
    s.server.inject("POST", r"/statuses/", 502)
    run_ci(s, "pull_request", pr_event(s, pr.number, "autoresearch/a"))
    assert s.outputs()["verdict"] == "improved"
    assert len(sticky(s, pr.number)) == 1
    assert s.server.labels(pr.number) == [LABEL, "autoresearch:improvement"]
    assert len(s.server.statuses(pr.head_sha)) == 1
    faulted = [c for c in s.server.calls if c.status in (500, 502, 403)]
    assert len(faulted) == 3


def test_schedule_opens_a_pr_for_a_win_and_closes_a_discarded_one(setup: Setup) -> None:
    s = setup
    s.branch("autoresearch/b", {"factors/b.txt": "0.9\n"})
    s.branch("autoresearch/c", {"factors/c.txt": "1.1\n"})
    old = s.server.add_pull(
        "autoresearch/c", head_sha=git(s.work, "rev-parse", "autoresearch/c"), labels=[LABEL]
    )
    # the job's checkout: a fresh clone, where candidates are remote branches only
    job = s.tmp / "job"
    git(s.tmp, "clone", "-q", str(s.origin), str(job))
    event = json.loads((FIXTURES / "github-events" / "workflow_dispatch.json").read_text())
    event["repository"]["default_branch"] = "main"
    res = cli(["ci"], cwd=job, env=s.env("workflow_dispatch", event))
    assert res.returncode == 0, res.stdout + res.stderr
    opened = [p for p in s.server.pulls("open") if p.head_ref == "autoresearch/b"]
    assert len(opened) == 1 and "−10.0%" in opened[0].title
    assert "autoresearch:improvement" in s.server.labels(opened[0].number)
    assert s.server.pull(old.number).state == "closed"
    assert any("regressed" in b for b in sticky(s, old.number))
    assert s.outputs()["improved"] == "true"
    # the notes reached the remote: the next scheduled run measures nothing again
    res = cli(["ci"], cwd=job, env=s.env("workflow_dispatch", event))
    assert "no untried candidates" in res.stdout
    assert len([p for p in s.server.pulls("all") if p.head_ref == "autoresearch/b"]) == 1


def test_dry_run_makes_no_api_call(setup: Setup) -> None:
    s = setup
    s.branch("autoresearch/a", {"factors/a.txt": "0.8\n"})
    pr = s.server.add_pull(
        "autoresearch/a", head_sha=git(s.work, "rev-parse", "autoresearch/a"), labels=[LABEL]
    )
    before = len(s.server.calls)
    res = run_ci(s, "pull_request", pr_event(s, pr.number, "autoresearch/a"), "--dry-run")
    assert "would POST" in res.stdout and "comments" in res.stdout
    assert len(s.server.calls) == before


def test_fork_pr_is_measured_then_posted_by_workflow_run(setup: Setup) -> None:
    s = setup
    s.branch("autoresearch/a", {"factors/a.txt": "0.8\n"})
    pr = s.server.add_pull(
        "autoresearch/a", head_sha=git(s.work, "rev-parse", "autoresearch/a"), labels=[LABEL]
    )
    res = run_ci(s, "pull_request", pr_event(s, pr.number, "autoresearch/a", fork=True))
    assert "from a fork" in res.stdout
    assert s.server.comments(pr.number) == []  # the unprivileged job posts nothing
    evaluation = Path(s.outputs()["result-path"])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("evaluation.json", evaluation.read_text())
    artifact = s.server.add_artifact("autoresearch-evaluation-4242-1", buf.getvalue(), "autoresearch/a")
    event = json.loads((FIXTURES / "github-events" / "workflow_run.completed.json").read_text())
    event["workflow_run"]["id"] = artifact.run_id
    run_ci(s, "workflow_run", event)
    [body] = sticky(s, pr.number)
    assert "autoresearch: **improved**" in body and "untrusted artifact, validated" in body
    assert s.server.labels(pr.number) == [LABEL, "autoresearch:improvement"]
    assert s.server.token_leaks == []


def test_missing_token_is_one_line_exit_2(setup: Setup) -> None:
    s = setup
    env = s.env("pull_request", pr_event(s, 1, "main"))
    env.pop("GITHUB_TOKEN")
    res = cli(["ci"], cwd=s.work, env=env)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "token" in res.stderr.lower()


def test_bad_event_payload_is_one_line_exit_2(setup: Setup) -> None:
    s = setup
    env = s.env("pull_request", {"action": "opened", "pull_request": {"number": "seven"}})
    res = cli(["ci"], cwd=s.work, env=env)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1
    assert "pull_request" in res.stderr


def test_baseline_artifact_as_the_baseline(setup: Setup) -> None:
    """decision.baseline: artifact: the stored base result stands in for the base (unpaired); only the
    candidate is measured. A stored result from another configuration is refused, with the reason."""
    s = setup
    config = CONFIG + "decision: {max_rounds: 8, baseline: artifact}\n"
    (s.work / ".autoresearch.yml").write_text(config.replace("decision: {max_rounds: 8}\n", ""))
    git(s.work, "commit", "-qam", "compare against the stored baseline")
    git(s.work, "push", "-q", "origin", "main")
    s.server.set_branch("main", git(s.work, "rev-parse", "main"))
    s.server.add_artifact("autoresearch-baseline", baseline_zip(s), "main", git(s.work, "rev-parse", "main"))
    s.branch("autoresearch/a", {"factors/a.txt": "0.8\n"})
    pr = s.server.add_pull(
        "autoresearch/a", head_sha=git(s.work, "rev-parse", "autoresearch/a"), labels=[LABEL]
    )
    run_ci(s, "pull_request", pr_event(s, pr.number, "autoresearch/a"))
    doc = json.loads(Path(s.outputs()["result-path"]).read_text())
    assert doc["verdict"] == "improved" and doc["paired"] is False
    assert any("stored result of main" in n for n in doc["notes"])
    logs = s.tmp / "runner" / "ci-autoresearch" / "logs"
    assert not list(logs.glob("baseline.round*.stdout.log"))  # the base was not measured again

    # a stored result made with another configuration is not used: said, and the base re-measured
    (s.work / ".autoresearch.yml").write_text(
        (s.work / ".autoresearch.yml").read_text().replace("measurement_runs: 6", "measurement_runs: 7")
    )
    git(s.work, "commit", "-qam", "another configuration")
    s.branch("autoresearch/b", {"factors/b.txt": "0.9\n"})
    pr2 = s.server.add_pull(
        "autoresearch/b", head_sha=git(s.work, "rev-parse", "autoresearch/b"), labels=[LABEL]
    )
    event = pr_event(s, pr2.number, "autoresearch/b")
    event["pull_request"]["base"]["sha"] = git(s.work, "rev-parse", "main~1")  # the artifact's commit
    res = run_ci(s, "pull_request", event)
    doc = json.loads(Path(s.outputs()["result-path"]).read_text())
    assert doc["paired"] is True
    assert any("another configuration" in n for n in doc["notes"]), doc["notes"]
    assert "re-measured" in res.stdout
