"""The GitHub path end to end: plan → evaluate (no token) → publish (token, no repository code), as the
example workflows run it, with real event payloads, real git clones per job and the real PyGithub
against the fake GitHub (every exchange validated against the OpenAPI subset by the fixture)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakegithub import FakeGitHub
from tests.helpers import FIXTURES, cli, git
from tests.integration.pipeline import BENCH, CONFIG, LABEL, Pipeline


@pytest.fixture
def pipe(tmp_path: Path, fake_github: FakeGitHub) -> Iterator[Pipeline]:
    yield Pipeline.create(tmp_path, fake_github)


def push_event(p: Pipeline) -> dict[str, object]:
    event = json.loads((FIXTURES / "github-events" / "push.json").read_text())
    event["ref"], event["after"] = "refs/heads/main", p.sha("main")
    event["repository"]["default_branch"] = "main"
    return event


def writes(p: Pipeline, since: int) -> list[str]:
    return [
        f"{c.method} {c.path}"
        for c in p.server.calls[since:]
        if c.method in ("POST", "PATCH", "PUT", "DELETE")
    ]


# --- the baseline ----------------------------------------------------------------------------------


def test_push_writes_the_baseline_without_a_token(pipe: Pipeline) -> None:
    job = pipe.run("baseline", ["ci"], "push", push_event(pipe))
    doc = json.loads(Path(job.outputs["result-path"]).read_text())
    assert job.outputs["verdict"] == "baseline"
    assert doc["schema"] == "ci-autoresearch/result@1" and doc["sha"] == pipe.sha("main")
    assert doc["metrics"]["score"]["samples"] == [100.0] * 6
    assert "baseline of main" in job.summary
    assert pipe.server.calls == []


# --- a labelled pull request -----------------------------------------------------------------------


def test_labelled_pr_improved_then_regressed_then_rerun(pipe: Pipeline) -> None:
    p = pipe
    p.store_baseline(push_event(p))
    p.branch("autoresearch/a", {"factors/a.txt": "0.8\n"})
    pr = p.pull("autoresearch/a")
    event = p.pr_event(pr.number, "autoresearch/a")
    plan, [evaluate], run_id = p.pr_jobs(event)
    assert json.loads(plan.outputs["matrix"])["include"][0]["slot"] == f"pr-{pr.number}"
    assert plan.outputs["count"] == "1"
    assert evaluate.outputs["verdict"] == "improved"
    assert "not decided yet" in evaluate.outputs["report"]
    assert p.server.calls == []  # plan and evaluate make no API call

    before = len(p.server.calls)
    publish = p.publish_run(run_id, pr.number, "autoresearch/a")
    assert publish.outputs["verdict"] == "improved" and float(publish.outputs["delta"]) == pytest.approx(-0.2)
    calls = len(p.server.calls) - before
    assert calls <= 16, [c.operation_id for c in p.server.calls[before:]]
    [body] = p.sticky(pr.number)
    assert body.splitlines()[1].startswith("### ") and "autoresearch: **improved**" in body
    assert "score −20\\.0%" in body and "**Trend:**" in body and "runner drift +0.00%" in body
    assert p.server.labels(pr.number) == [LABEL, "autoresearch:improvement"]
    [status] = p.server.statuses(pr.head_sha)
    assert status.state == "success" and status.context == "ci-autoresearch"
    [note] = p.notes()
    assert note["decision"] == "pending" and note["source"] == f"pr:{pr.number}"

    # re-running the same workflow: plan measures nothing again; publish posts it again and writes nothing
    plan, evaluations, run_id = p.pr_jobs(p.pr_event(pr.number, "autoresearch/a", action="synchronize"))
    assert plan.outputs["count"] == "0" and evaluations == [] and "evaluated before" in plan.log
    since = len(p.server.calls)
    job = p.publish_run(run_id, pr.number, "autoresearch/a")
    assert "posting it again" in job.log
    assert [c.operation_id for c in p.server.calls[since:]] == [
        "pulls/get",
        "actions/get-workflow-run",
        "actions/list-workflow-run-artifacts",
        "actions/list-artifacts-for-repo",  # the stored baseline, for the trend line
        "actions/download-artifact",
        None,  # its zip, through the 302 (without the token)
        "issues/list-comments",
        "repos/get-combined-status-for-ref",
    ]  # no comment edit, no label, no second commit status
    assert len(p.notes()) == 1

    # the author pushes a change that makes it worse: same comment, edited; labels swapped; closed
    p.branch("autoresearch/a", {"factors/a.txt": "1.2\n"})
    publish = p.pr_round(pr.number, "autoresearch/a", action="synchronize")
    assert publish.outputs["verdict"] == "regressed"
    [body] = p.sticky(pr.number)
    assert "autoresearch: **regressed**" in body and "History of this PR" in body
    assert p.server.labels(pr.number) == [LABEL, "autoresearch:regression"]
    assert len(p.server.comments(pr.number)) == 1
    assert p.server.pull(pr.number).state == "closed"
    assert len(p.notes()) == 2


def test_pr_with_broken_tests_is_closed_and_a_reopen_is_respected(pipe: Pipeline) -> None:
    p = pipe
    p.branch("autoresearch/cheat", {"factors/a.txt": "0.5\n", "check.py": "raise SystemExit('tests fail')\n"})
    pr = p.pull("autoresearch/cheat")
    event = p.pr_event(pr.number, "autoresearch/cheat")
    _, [evaluate], run_id = p.pr_jobs(event)
    assert "::error title=ci-autoresearch%3A autoresearch/cheat is invalid::gate failed" in evaluate.log
    p.publish_run(run_id, pr.number, "autoresearch/cheat")
    assert p.server.labels(pr.number) == [LABEL, "autoresearch:invalid"]
    [status] = p.server.statuses(pr.head_sha)
    assert status.state == "failure"
    [body] = p.sticky(pr.number)
    lines = body.splitlines()
    assert "autoresearch: **invalid**" in lines[1]  # the headline leads; the closed note follows it
    assert "Closed by ci-autoresearch" in body and body.index("Closed by") > body.index("**invalid**")
    assert "no stored baseline" in body
    assert p.server.pull(pr.number).state == "closed"

    # a person reopens it: publishing the same evaluation again leaves it open
    p.server.pull(pr.number).state = "open"
    job = p.publish_run(run_id, pr.number, "autoresearch/cheat")
    assert p.server.pull(pr.number).state == "open"
    assert "reopened" in job.log


def test_inconclusive_is_never_closed(pipe: Pipeline) -> None:
    p = pipe
    noisy = BENCH.replace(
        'print(f"METRIC score={100 * math.prod(factors):.6f}")',
        "import os, random\n"
        "r = random.Random(int.from_bytes(os.urandom(4), 'big'))\n"
        'print(f"METRIC score={100 * math.prod(factors) * (1 + r.uniform(-0.5, 0.5)):.6f}")',
    )
    p.commit_main({"bench.py": noisy}, "a noisy benchmark")
    p.branch("autoresearch/meh", {"factors/m.txt": "0.99\n"})
    pr = p.pull("autoresearch/meh")
    job = p.pr_round(pr.number, "autoresearch/meh")
    assert job.outputs["verdict"] == "inconclusive"
    assert p.server.pull(pr.number).state == "open"
    assert p.server.labels(pr.number) == [LABEL, "autoresearch:inconclusive"]


def test_unlabelled_pr_is_a_noop_and_unlabeling_removes_the_verdict(pipe: Pipeline) -> None:
    p = pipe
    p.branch("feature/x", {"factors/x.txt": "0.5\n"})
    pr = p.pull("feature/x", labels=())
    plan, evaluations, run_id = p.pr_jobs(p.pr_event(pr.number, "feature/x", action="opened", labels=()))
    assert plan.outputs["count"] == "0" and evaluations == []
    assert "::notice::PR #" in plan.log and "not a candidate" in plan.log
    assert json.loads(plan.outputs["matrix"]) == {"include": []}
    assert p.server.calls == []

    # labelled, evaluated, published; then the label is removed: the verdict label goes too
    p.server.add_label(LABEL)
    p.server.pull(pr.number).labels.append(LABEL)
    p.pr_round(pr.number, "feature/x")
    assert p.server.labels(pr.number) == [LABEL, "autoresearch:improvement"]
    p.server.pull(pr.number).labels.remove(LABEL)
    _, evaluations, run_id = p.pr_jobs(p.pr_event(pr.number, "feature/x", action="unlabeled", labels=()))
    assert evaluations == []
    job = p.publish_run(run_id, pr.number, "feature/x")
    assert p.server.labels(pr.number) == []
    assert "not a candidate" in job.log


def test_faults_in_the_middle_of_publish_leave_the_same_end_state(pipe: Pipeline) -> None:
    p = pipe
    p.branch("autoresearch/a", {"factors/a.txt": "0.8\n"})
    pr = p.pull("autoresearch/a")
    _, _, run_id = p.pr_jobs(p.pr_event(pr.number, "autoresearch/a"))
    p.server.inject("POST", r"/issues/\d+/comments$", 500)
    p.server.inject("POST", r"/issues/\d+/labels$", 403, headers={"Retry-After": "1"})
    p.server.inject("POST", r"/statuses/", 502)
    p.publish_run(run_id, pr.number, "autoresearch/a")
    assert len(p.sticky(pr.number)) == 1
    assert p.server.labels(pr.number) == [LABEL, "autoresearch:improvement"]
    assert len(p.server.statuses(pr.head_sha)) == 1
    assert len([c for c in p.server.calls if c.status in (500, 502, 403)]) == 3


def test_fork_pr_is_evaluated_unprivileged_and_posted_by_workflow_run(pipe: Pipeline) -> None:
    p = pipe
    p.branch("patch-1", {"factors/a.txt": "0.8\n"})
    pr = p.pull("patch-1", fork="someone/fork")
    event = p.pr_event(pr.number, "patch-1", fork="someone/fork")
    _, [evaluate], run_id = p.pr_jobs(event)
    assert evaluate.outputs["verdict"] == "improved"
    assert p.server.comments(pr.number) == []
    job = p.publish_run(run_id, None, "patch-1", fork="someone/fork")  # GitHub lists no PR for a fork's run
    [body] = p.sticky(pr.number)
    assert "autoresearch: **improved**" in body and "measured in an unprivileged job without a token" in body
    assert p.server.labels(pr.number) == [LABEL, "autoresearch:improvement"]
    assert p.server.token_leaks == []
    assert job.outputs["verdict"] == "improved"


def test_dry_run_publish_makes_no_write(pipe: Pipeline) -> None:
    p = pipe
    p.branch("autoresearch/a", {"factors/a.txt": "0.8\n"})
    pr = p.pull("autoresearch/a")
    _, _, run_id = p.pr_jobs(p.pr_event(pr.number, "autoresearch/a"))
    before = len(p.server.calls)
    job = p.publish_run(run_id, pr.number, "autoresearch/a", args=("--dry-run",))
    assert "would GET" in job.log
    assert len(p.server.calls) == before


def test_workflow_run_without_a_bundle_or_run_is_a_notice(pipe: Pipeline) -> None:
    p = pipe
    p.branch("autoresearch/a", {"factors/a.txt": "0.8\n"})
    pr = p.pull("autoresearch/a")
    event = p.pr_event(pr.number, "autoresearch/a")
    _, _, run_id = p.pr_jobs(event, upload=False)
    job = p.publish_run(run_id, pr.number, "autoresearch/a")
    assert f"workflow_run {run_id}" in job.log and "uploaded no evaluation bundle" in job.log
    job = p.publish_run(987654321, pr.number, "autoresearch/a")
    assert "run 987654321 was not found" in job.log
    assert p.server.comments(pr.number) == []


def test_baseline_artifact_as_the_baseline(pipe: Pipeline) -> None:
    """decision.baseline: artifact: plan fetches the stored base result and hands it to evaluate, which
    measures only the candidate (unpaired); a result of another configuration is refused, with why."""
    p = pipe
    p.commit_main(
        {
            ".autoresearch.yml": CONFIG.replace(
                "decision: {max_rounds: 8}", "decision: {max_rounds: 8, baseline: artifact}"
            )
        },
        "compare against the stored baseline",
    )
    p.store_baseline(push_event(p))
    p.branch("autoresearch/a", {"factors/a.txt": "0.8\n"})
    pr = p.pull("autoresearch/a")
    event = p.pr_event(pr.number, "autoresearch/a")
    plan = p.run("plan", ["plan"], "pull_request", event, token=True)
    stored = plan.outputs["stored-baseline"]
    [entry] = json.loads(plan.outputs["matrix"])["include"]
    from tests.integration.pipeline import evaluate_args

    job = p.run("evaluate", [*evaluate_args(entry), "--stored-baseline", stored], "pull_request", event)
    doc = json.loads(Path(job.outputs["result-path"]).read_text())["evaluation"]
    assert doc["verdict"] == "improved" and doc["paired"] is False
    assert any("the stored result of" in n for n in doc["notes"])

    # without the handed-over result the base is measured here, and the job says so
    job = p.run("evaluate", evaluate_args(entry), "pull_request", event)
    assert json.loads(Path(job.outputs["result-path"]).read_text())["evaluation"]["paired"] is True
    assert "re-measured" in job.log


# --- what a job may hold ---------------------------------------------------------------------------


def test_evaluate_refuses_a_token_and_a_persisted_credential(pipe: Pipeline) -> None:
    p = pipe
    p.branch("autoresearch/a", {"factors/a.txt": "0.8\n"})
    pr = p.pull("autoresearch/a")
    event = p.pr_event(pr.number, "autoresearch/a")
    args = [
        "evaluate",
        "--base",
        p.sha("main"),
        "--candidate",
        p.sha("autoresearch/a"),
        "--source",
        f"pr:{pr.number}",
    ]
    job = p.run("evaluate", args, "pull_request", event, token=True, expect=2)
    assert job.result.stderr.count("\n") == 1 and "GITHUB_TOKEN" in job.result.stderr
    assert "--allow-secrets" in job.result.stderr
    # `ci` on a pull request is the same unprivileged stage
    job = p.run("ci", ["ci"], "pull_request", event, token=True, expect=2)
    assert "refusing to run candidate code" in job.result.stderr
    # a checkout that persisted its credential (actions/checkout's default) is refused too
    checkout = p.checkout("evaluate")
    git(
        checkout,
        "config",
        "http.https://github.com/.extraheader",
        "AUTHORIZATION: basic eC1hY2Nlc3MtdG9rZW46Z2hz",
    )
    job = p.run("evaluate", args, "pull_request", event, job=checkout, expect=2)
    assert "http.https://github.com/.extraheader" in job.result.stderr
    # the documented override
    job = p.run("evaluate", [*args, "--allow-secrets"], "pull_request", event, token=True)
    assert job.outputs["verdict"] == "improved"


def test_pull_request_target_is_refused(pipe: Pipeline) -> None:
    p = pipe
    p.branch("autoresearch/a", {"factors/a.txt": "0.8\n"})
    pr = p.pull("autoresearch/a")
    for command in (["ci"], ["plan"]):
        job = p.run(
            "x", command, "pull_request_target", p.pr_event(pr.number, "autoresearch/a"), token=True, expect=2
        )
        assert job.result.stderr.count("\n") == 1 and "pull_request_target" in job.result.stderr
        assert "workflow_run" in job.result.stderr


def test_publish_without_a_token_is_one_line_exit_2(pipe: Pipeline) -> None:
    p = pipe
    job = p.run("publish", ["publish"], "workflow_run", p.run_event(1, 1, "main"), expect=2)
    assert job.result.stderr.count("\n") == 1 and "token" in job.result.stderr.lower()


def test_bad_event_payload_is_one_line_exit_2(pipe: Pipeline) -> None:
    job = pipe.run(
        "plan", ["plan"], "pull_request", {"action": "opened", "pull_request": {"number": "seven"}}, expect=2
    )
    assert job.result.stderr.startswith("error: ") and job.result.stderr.count("\n") == 1
    assert "pull_request" in job.result.stderr


# --- the schedule: a matrix ------------------------------------------------------------------------


def test_nightly_matrix_opens_a_pr_for_the_win_and_closes_a_loser(pipe: Pipeline) -> None:
    p = pipe
    p.branch("autoresearch/b", {"factors/b.txt": "0.9\n"})
    p.branch("autoresearch/c", {"factors/c.txt": "1.1\n"})
    p.branch("autoresearch/d", {"factors/d.txt": "0.8\n", "check.py": "raise SystemExit(1)\n"})
    p.branch("autoresearch/e", {"factors/e.txt": "0.95\n"})
    old = p.pull("autoresearch/c")
    plan, evaluations, publish = p.nightly()
    assert plan.outputs["count"] == "4" and len(evaluations) == 4 and publish is not None
    # sequential (the default): each candidate is a round of its own, every real improvement kept
    assert len([q for q in p.server.pulls("open") if q.head_ref == "autoresearch/e"]) == 1
    opened = [q for q in p.server.pulls("open") if q.head_ref == "autoresearch/b"]
    assert len(opened) == 1 and "−10.0%" in opened[0].title
    assert "autoresearch:improvement" in p.server.labels(opened[0].number)
    assert p.server.pull(old.number).state == "closed"
    assert any("regressed" in b for b in p.sticky(old.number))
    assert publish.outputs["improved"] == "true"
    decisions = {n["source"]: (n["verdict"], n["decision"]) for n in p.notes()}
    assert decisions == {
        "branch:autoresearch/b": ("improved", "kept"),
        "branch:autoresearch/c": ("regressed", "discarded"),
        "branch:autoresearch/d": ("invalid", "discarded"),
        "branch:autoresearch/e": ("improved", "kept"),
    }

    # publishing the same run again writes nothing new
    since = len(p.server.calls)
    p.run(
        "publish",
        ["publish", "--plan", plan.outputs["plan"], "--bundles", str(p.tmp / "downloads1")],
        "workflow_dispatch",
        json.loads((FIXTURES / "github-events" / "workflow_dispatch.json").read_text()),
        token=True,
    )
    assert writes(p, since) == []
    assert len(p.notes()) == 4
    # the next night has nothing left to try
    plan, evaluations, publish = p.nightly()
    assert plan.outputs["count"] == "0" and publish is None
    assert "no untried candidates" in plan.log


def test_matrix_decisions_equal_the_sequential_loop(pipe: Pipeline, tmp_path: Path) -> None:
    """Three candidates in three separate clones, one publish: the same decisions as `run` makes on the
    same repository in one process."""
    p = pipe
    config = CONFIG.replace(
        "github: {close_discarded: true}", "branching: {strategy: parallel, max_branches: 3}"
    )
    p.commit_main({".autoresearch.yml": config}, "parallel")
    for name, factor in (("x", "0.9"), ("y", "0.7"), ("z", "1.3")):
        p.branch(f"autoresearch/{name}", {f"factors/{name}.txt": f"{factor}\n"})
    _, evaluations, _ = p.nightly()
    assert len({e.path for e in evaluations}) == 3
    matrix = {n["source"]: n["decision"] for n in p.notes()}

    local = tmp_path / "local"
    git(tmp_path, "clone", "-q", str(p.work), str(local))
    for name in ("x", "y", "z"):
        git(local, "branch", f"autoresearch/{name}", f"origin/autoresearch/{name}")
    res = cli(["run", "--no-advance", "--max-evaluations", "3"], cwd=local)
    assert res.returncode == 0, res.stdout + res.stderr
    listing = json.loads(cli(["history", "--json"], cwd=local).stdout)
    sequential = {e["source"]: e["decision"] for e in listing["evaluations"]}
    assert (
        matrix
        == sequential
        == {
            "branch:autoresearch/x": "discarded",
            "branch:autoresearch/y": "kept",
            "branch:autoresearch/z": "discarded",
        }
    )


def test_search_space_point_is_pushed_and_proposed_by_publish(pipe: Pipeline) -> None:
    p = pipe
    config = CONFIG + (
        "search_space:\n  parameters:\n    - {name: f, file: factors/base.txt, pattern: '^([0-9.]+)$', "
        "values: ['1.0', '0.5']}\n"
    )
    p.commit_main({".autoresearch.yml": config}, "a search space")
    plan, [evaluation], _ = p.nightly()
    assert evaluation.outputs["verdict"] == "improved"
    [entry] = json.loads(plan.outputs["matrix"])["include"]
    assert entry["source"] == "search:f=0.5"
    branch = entry["name"]
    assert git(p.origin, "rev-parse", f"refs/heads/{branch}") == entry["candidate"]
    [opened] = [q for q in p.server.pulls("open") if q.head_ref == branch]
    assert "−50.0%" in opened.title


def test_ci_on_a_schedule_evaluates_every_candidate_in_one_tokenless_job(pipe: Pipeline) -> None:
    p = pipe
    p.branch("autoresearch/b", {"factors/b.txt": "0.9\n"})
    p.branch("autoresearch/c", {"factors/c.txt": "1.1\n"})
    event = json.loads((FIXTURES / "github-events" / "workflow_dispatch.json").read_text())
    event["repository"]["default_branch"] = "main"
    job = p.run("ci", ["ci"], "workflow_dispatch", event)
    assert job.outputs["count"] == "2" and "2 bundle(s)" in job.log
    assert p.server.calls == [] and p.notes() == []
    # a publish job then decides from the plan and the bundles
    publish = p.run(
        "publish",
        ["publish", "--plan", job.outputs["plan"], "--bundles", job.outputs["bundles"]],
        "workflow_dispatch",
        event,
        token=True,
    )
    assert publish.outputs["improved"] == "true"
    assert {n["source"]: n["decision"] for n in p.notes()} == {
        "branch:autoresearch/b": "kept",
        "branch:autoresearch/c": "discarded",
    }
