"""GithubForge with the real PyGithub against the fake GitHub (every exchange checked against the OpenAPI
subset; the ``fake_github`` fixture fails the test at teardown on any contract violation)."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace
from typing import Any

import pytest

from ci_autoresearch.artifacts import comparison_to_json, result_to_json
from ci_autoresearch.config.model import GithubConfig, GithubLabels
from ci_autoresearch.errors import BadInputError, ForgeError
from ci_autoresearch.forge import Publication
from ci_autoresearch.forge.github import MARKER, GithubForge, comment_body
from ci_autoresearch.model import (
    Comparison,
    Environment,
    Estimate,
    Evaluation,
    MetricComparison,
    MetricSamples,
    RefInfo,
    Result,
    Verdict,
)
from ci_autoresearch.report.markdown import evaluation_markdown
from tests.factories import stub_comparison
from tests.fakegithub import FakeGitHub
from tests.fakegithub.fixtures import DEFAULT_REPO

BRANCH = "autoresearch/faster-sort"
CAND_SHA = "c" * 40
BASE_SHA = "b" * 40
RUN_URL = "https://github.com/octo-org/project/actions/runs/42"
ENV = Environment(
    cpu_model="Test CPU",
    cores=2,
    os="Linux 6.1",
    python="3.11.7",
    machine="x86_64",
    runner_name="GitHub Actions 1",
)
LABELS = GithubLabels()

# --- factories --------------------------------------------------------------------------------------

DELTAS: dict[str, tuple[float, float, float]] = {
    "improved": (-0.248, -0.261, -0.235),
    "regressed": (0.081, 0.062, 0.097),
    "unchanged": (0.002, -0.004, 0.006),
    "inconclusive": (-0.012, -0.031, 0.008),
}


def make_comparison(
    verdict: Verdict = "improved", *, sha: str = CAND_SHA, reason: str | None = None
) -> Comparison:
    delta, lo, hi = DELTAS.get(verdict, (0.0, -0.01, 0.01))
    estimate = Estimate(
        ratio=1 + delta, ci_low=1 + lo, ci_high=1 + hi, p_value=0.002, n=10, confidence=0.95, paired=True
    )
    metric = MetricComparison(
        name="wall_time",
        unit="s",
        direction="minimize",
        role="objective",
        baseline=tuple(1.0 + i / 100 for i in range(10)),
        candidate=tuple((1.0 + i / 100) * (1 + delta) for i in range(10)),
        estimate=None if verdict == "invalid" else estimate,
        verdict=verdict if verdict in DELTAS else "inconclusive",
    )
    return stub_comparison(
        baseline=RefInfo(ref="main", sha=BASE_SHA),
        candidate=RefInfo(ref=BRANCH, sha=sha),
        objective="wall_time",
        verdict=verdict,
        reason=reason or f"wall_time is {verdict}",
        metrics={"wall_time": metric},
        rounds=10,
        environment=ENV,
    )


def make_evaluation(verdict: Verdict = "improved", **kw: Any) -> Evaluation:
    c = make_comparison(verdict, **kw)
    decision = "kept" if verdict == "improved" else "discarded"
    return Evaluation(
        comparison=c,
        decision=decision,
        decision_reason=f"{decision}: {c.reason}",
        iteration=1,  # type: ignore[arg-type]
        key=f"{c.candidate.sha}:{c.baseline.sha}:{c.config_hash}",
        source=f"branch:{BRANCH}",
        candidate_head=c.candidate.sha,
        objective_value=None,
        measured_seconds=2.0,
    )


def make_pub(
    verdict: Verdict = "improved",
    *,
    pull: int | None = None,
    markdown: str | None = None,
    branch: str | None = None,
    key: str | None = None,
) -> Publication:
    ev = make_evaluation(verdict)
    if key is not None:
        ev = replace(ev, key=key)
    return Publication(evaluation=ev, markdown=markdown or evaluation_markdown(ev), pull=pull, branch=branch)


def make_result(sha: str = BASE_SHA) -> Result:
    return Result(
        ref=RefInfo(ref="main", sha=sha),
        dirty=False,
        config_hash="cafe0123cafe0123",
        environment=ENV,
        metrics={
            "wall_time": MetricSamples(
                name="wall_time", unit="s", direction="minimize", samples=(1.0, 1.01, 0.99)
            )
        },
        runs=3,
        warmup_runs=1,
        started_at="2026-01-01T09:00:00Z",
        finished_at="2026-01-01T09:01:00Z",
    )


def zip_of(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


class Recorder:
    """``say`` and ``sleep`` for the forge: remembers instead of printing and sleeping."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.sleeps: list[float] = []

    def say(self, line: str) -> None:
        self.lines.append(line)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def env_for(server: FakeGitHub, **extra: str) -> dict[str, str]:
    return {
        "GITHUB_API_URL": server.url,
        "GITHUB_TOKEN": server.token,
        "GITHUB_REPOSITORY": DEFAULT_REPO,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "42",
        **extra,
    }


def forge_for(server: FakeGitHub, rec: Recorder, *, dry_run: bool = False, **config: Any) -> GithubForge:
    env = env_for(server)
    if dry_run:
        env.pop("GITHUB_TOKEN")
    return GithubForge.from_env(
        env, config=GithubConfig(**config), dry_run=dry_run, say=rec.say, sleep=rec.sleep
    )


def sticky(server: FakeGitHub, number: int) -> list[str]:
    return [c.body for c in server.comments(number) if c.body.startswith(MARKER)]


@pytest.fixture
def pr(fake_github: FakeGitHub) -> int:
    """An open candidate PR whose head is CAND_SHA, with the candidate label."""
    fake_github.set_branch(BRANCH, CAND_SHA, parent=fake_github.branches()["main"])
    return fake_github.add_pull(BRANCH, title="faster sort", labels=[LABELS.candidate]).number


# --- the sticky comment -----------------------------------------------------------------------------


def test_sticky_comment_is_created_once_then_edited_in_place_across_pages(
    fake_github: FakeGitHub, pr: int, rec: Recorder
) -> None:
    for n in range(120):  # more than a page of 100: the marker is found through the Link header
        fake_github.add_comment(pr, f"comment {n}", user="someone")
    forge = forge_for(fake_github, rec)

    first = len(fake_github.calls)
    forge.publish(make_pub("improved", pull=pr))
    first_calls = fake_github.calls[first:]
    rerun = len(fake_github.calls)
    forge_for(fake_github, rec).publish(make_pub("improved", pull=pr))  # a re-run job: nothing changes
    rerun_calls = fake_github.calls[rerun:]

    assert sticky(fake_github, pr) == [comment_body(make_pub("improved", pull=pr).markdown)]
    assert [c.body for c in fake_github.comments(pr)][:120] == [f"comment {n}" for n in range(120)]
    assert [c.operation_id for c in first_calls] == [
        "issues/list-comments",
        "issues/list-comments",
        "issues/create-comment",
        "issues/list-labels-on-issue",
        "issues/get-label",
        "issues/create-label",
        "issues/add-labels",
        "repos/get-combined-status-for-ref",
        "repos/create-commit-status",
    ]
    assert [c.operation_id for c in rerun_calls] == [  # nothing changed: no write at all
        "issues/list-comments",
        "issues/list-comments",
        "issues/list-labels-on-issue",
        "repos/get-combined-status-for-ref",
    ]
    pages = [
        e.query.get("page", ["1"])[0]
        for e in fake_github.exchanges
        if e.operation_id == "issues/list-comments"
    ]
    assert pages == ["1", "2", "1", "2"]

    edited = make_pub("regressed", pull=pr)
    forge.publish(edited)
    assert sticky(fake_github, pr) == [comment_body(edited.markdown)]
    assert len(fake_github.comments(pr)) == 121
    assert fake_github.count("issues/update-comment") == 1


def test_a_report_too_long_for_a_comment_is_cut_with_a_note(
    fake_github: FakeGitHub, pr: int, rec: Recorder
) -> None:
    markdown = "### report\n\n<details><summary>samples</summary>\n\n```text\n" + "0123456789\n" * 7000
    forge_for(fake_github, rec).publish(make_pub(pull=pr, markdown=markdown))
    (body,) = sticky(fake_github, pr)
    assert len(body) <= 65536
    assert body.count("```") == 2 and body.count("</details>") == 1
    assert body.endswith(
        "characters is more than a comment holds; the full report is in the job's step summary)*\n"
    )


def test_duplicate_sticky_comments_from_racing_jobs_are_merged(
    fake_github: FakeGitHub, pr: int, rec: Recorder
) -> None:
    fake_github.add_comment(pr, f"{MARKER}\nold one")
    fake_github.add_comment(pr, "a human", user="someone")
    fake_github.add_comment(pr, f"{MARKER}\nold two")
    forge_for(fake_github, rec, status="none").publish(make_pub(pull=pr))
    assert [c.body.splitlines()[0] for c in fake_github.comments(pr)] == [MARKER, "a human"]


def test_publish_by_branch_finds_the_open_pull_request(
    fake_github: FakeGitHub, pr: int, rec: Recorder
) -> None:
    forge = forge_for(fake_github, rec)
    forge.publish(make_pub("improved", branch=BRANCH))
    assert len(sticky(fake_github, pr)) == 1
    assert fake_github.labels(pr) == [LABELS.candidate, LABELS.improved]
    assert fake_github.count("issues/list-labels-on-issue") == 0  # the listing of pulls had them
    forge.publish(make_pub("regressed", branch=BRANCH))  # the same job, the next evaluation
    assert fake_github.labels(pr) == [LABELS.candidate, LABELS.regressed]
    assert len(sticky(fake_github, pr)) == 1 and fake_github.count("pulls/list") == 1

    fake_github.set_branch("autoresearch/no-pr", "d" * 40)
    before = len(fake_github.calls)
    forge.publish(
        Publication(evaluation=make_evaluation(sha="d" * 40), markdown="x", branch="autoresearch/no-pr")
    )
    assert [c.operation_id for c in fake_github.calls[before:]] == [
        "pulls/list",
        "repos/get-combined-status-for-ref",
        "repos/create-commit-status",
    ]


# --- labels -----------------------------------------------------------------------------------------


def test_verdict_labels_are_created_once_and_swapped(fake_github: FakeGitHub, pr: int, rec: Recorder) -> None:
    fake_github.add_label(LABELS.regressed, "123456", "made by a human")
    forge = forge_for(fake_github, rec)

    forge.publish(make_pub("improved", pull=pr))
    assert fake_github.labels(pr) == [LABELS.candidate, LABELS.improved]
    made = fake_github.repo_labels()[LABELS.improved]
    assert (made.color, made.description) == (
        "0e8a16",
        "ci-autoresearch: measurably better than the baseline",
    )

    forge.publish(make_pub("regressed", pull=pr))
    assert fake_github.labels(pr) == [LABELS.candidate, LABELS.regressed]
    assert fake_github.repo_labels()[LABELS.regressed].color == "123456"  # existing label left as it is
    assert fake_github.count("issues/create-label") == 1
    assert fake_github.count("issues/remove-label") == 1

    forge.publish(make_pub("regressed", pull=pr))
    forge.publish(make_pub("rejected", pull=pr))
    assert fake_github.labels(pr) == [LABELS.candidate, LABELS.rejected]
    shared = fake_github.repo_labels()[LABELS.rejected]  # invalid and rejected share a label by default
    assert shared.description == "ci-autoresearch: verdict: invalid or rejected"


def test_custom_label_names(fake_github: FakeGitHub, pr: int, rec: Recorder) -> None:
    labels = GithubLabels(improved="perf: faster", regressed="perf: slower")
    forge = forge_for(fake_github, rec, labels=labels)
    forge.publish(make_pub("improved", pull=pr))
    forge.publish(make_pub("regressed", pull=pr))
    assert fake_github.labels(pr) == [LABELS.candidate, "perf: slower"]


# --- commit status and check run --------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        ("improved", "success", "improved: wall_time −24.8% [−26.1%, −23.5%]"),
        ("regressed", "failure", "regressed: wall_time +8.1% [+6.2%, +9.7%]"),
        ("unchanged", "success", "unchanged: wall_time +0.20% [−0.40%, +0.60%]"),
        ("inconclusive", "success", "inconclusive: wall_time −1.2% [−3.1%, +0.80%]"),
        ("invalid", "failure", "invalid: wall_time is invalid"),
    ],
)
def test_commit_status(
    fake_github: FakeGitHub, pr: int, rec: Recorder, case: tuple[Verdict, str, str]
) -> None:
    verdict, state, description = case
    forge_for(fake_github, rec).publish(make_pub(verdict, pull=pr))
    (status,) = fake_github.statuses(CAND_SHA)
    assert (status.state, status.context, status.description, status.target_url) == (
        state,
        "ci-autoresearch",
        description,
        RUN_URL,
    )


def test_status_description_is_cut_to_140_characters(fake_github: FakeGitHub, rec: Recorder) -> None:
    ev = make_evaluation("invalid", reason="the gate failed: " + "x" * 300)
    forge_for(fake_github, rec).publish(Publication(evaluation=ev, markdown="report"))
    (status,) = fake_github.statuses(CAND_SHA)
    assert status.description is not None and len(status.description) == 140
    assert status.description.startswith("invalid: the gate failed: xxx") and status.description.endswith("…")


def test_check_run_mode_creates_then_updates_one_check_run(
    fake_github: FakeGitHub, pr: int, rec: Recorder
) -> None:
    forge = forge_for(fake_github, rec, status="check-run")
    forge.publish(make_pub("inconclusive", pull=pr))
    forge.publish(make_pub("inconclusive", pull=pr))  # unchanged: no update
    assert fake_github.count("checks/update") == 0
    forge.publish(make_pub("improved", pull=pr))

    (run,) = fake_github.check_runs(CAND_SHA)
    assert (run.name, run.status, run.conclusion, run.details_url, run.external_id) == (
        "ci-autoresearch",
        "completed",
        "success",
        RUN_URL,
        "ci-autoresearch",
    )
    assert run.output["title"] == "improved: wall_time −24.8% [−26.1%, −23.5%]"
    assert run.output["summary"] == make_pub("improved").markdown
    assert fake_github.count("checks/create") == 1 and fake_github.count("checks/update") == 1
    assert fake_github.statuses(CAND_SHA) == []


def test_a_job_check_run_of_the_same_name_is_left_alone(fake_github: FakeGitHub, rec: Recorder) -> None:
    forge = forge_for(fake_github, rec, status="check-run")
    job = forge._repo.create_check_run("ci-autoresearch", CAND_SHA, status="in_progress")
    forge.publish(make_pub("regressed"))
    runs = {r.id: r for r in fake_github.check_runs(CAND_SHA)}
    assert runs[job.id].status == "in_progress"
    assert [r.conclusion for r in runs.values() if r.id != job.id] == ["failure"]


def test_status_none_sets_neither(fake_github: FakeGitHub, pr: int, rec: Recorder) -> None:
    forge_for(fake_github, rec, status="none").publish(make_pub(pull=pr))
    assert fake_github.statuses(CAND_SHA) == [] and fake_github.check_runs(CAND_SHA) == []
    assert len(sticky(fake_github, pr)) == 1


# --- pull requests ----------------------------------------------------------------------------------


def test_open_change_is_idempotent(fake_github: FakeGitHub, rec: Recorder) -> None:
    fake_github.set_branch(BRANCH, CAND_SHA, parent=fake_github.branches()["main"])
    report = make_pub().markdown
    before = len(fake_github.calls)
    url = forge_for(fake_github, rec).open_change(
        branch=BRANCH, base="main", title="autoresearch: wall_time −24.8%", body=report
    )
    first_calls = [c.operation_id for c in fake_github.calls[before:]]
    again = forge_for(fake_github, rec).open_change(
        branch=BRANCH, base="main", title="other title", body="other"
    )

    (pull,) = fake_github.pulls()
    assert url == again and url.endswith(f"/pull/{pull.number}")
    assert (pull.title, pull.body, pull.head_ref, pull.base_ref) == (
        "autoresearch: wall_time −24.8%",
        report,
        BRANCH,
        "main",
    )
    assert sticky(fake_github, pull.number) == [comment_body(report)]
    assert fake_github.labels(pull.number) == [LABELS.improved]
    assert first_calls == [
        "pulls/list",
        "pulls/create",
        "issues/create-comment",
        "issues/get-label",
        "issues/create-label",
        "issues/add-labels",
    ]
    assert fake_github.calls[-1].operation_id == "pulls/list"  # the second time: found, nothing else

    # the loop's order: publish (finds the PR by branch), then open_change (cached)
    forge = forge_for(fake_github, rec)
    forge.publish(make_pub("improved", branch=BRANCH))
    before = len(fake_github.calls)
    assert forge.open_change(branch=BRANCH, base="main", title="t", body="b") == url
    assert len(fake_github.calls) == before
    assert forge.pull_for_branch(BRANCH) == pull.number
    assert forge.pull_for_branch("autoresearch/none") is None


def test_close_change_says_why_then_closes(fake_github: FakeGitHub, pr: int, rec: Recorder) -> None:
    forge = forge_for(fake_github, rec)
    forge.publish(make_pub("regressed", pull=pr))

    reason = "regressed: wall_time +8.1% (95% CI +6.2% … +9.7%)"
    assert forge.close_change(branch=BRANCH, reason=reason, key="k1") is True
    assert fake_github.pull(pr).state == "closed"
    (body,) = sticky(fake_github, pr)
    headline = make_pub("regressed").markdown.splitlines()[0]
    lines = body.splitlines()
    assert lines[:2] == [MARKER, headline]  # the headline leads, the closed note follows it
    assert "> ⛔ **Closed by ci-autoresearch:** regressed: wall\\_time \\+8\\.1% \\(95% CI" in body
    assert body.count("Closed by ci-autoresearch") == 1
    assert body.rstrip().endswith("<!-- ci-autoresearch:closed-for k1 -->")
    assert len(fake_github.comments(pr)) == 1
    assert rec.lines[-1] == f"closed pull request #{pr} (the pull request of {BRANCH}): {reason}"

    # a re-run publishing the same evaluation keeps the note while the PR stays closed
    forge.publish(make_pub("regressed", pull=pr, key="k1"))
    assert sticky(fake_github, pr) == [body]
    assert forge_for(fake_github, rec).close_change(branch=BRANCH, reason="again") is False  # none open
    assert forge.close_change(branch="autoresearch/never-opened", reason="x") is False
    assert len(fake_github.comments(pr)) == 1

    # a person reopens it: the same evaluation never closes it again, and its note goes
    fake_github.pull(pr).state = "open"
    assert forge.close_change(pull=pr, reason=reason, key="k1") is False
    assert fake_github.pull(pr).state == "open" and "reopened" in rec.lines[-1]
    forge.publish(make_pub("regressed", pull=pr, key="k1"))
    (body,) = sticky(fake_github, pr)
    assert "Closed by ci-autoresearch" not in body and "closed-for k1" in body
    # a new evaluation that is definitive again closes it
    assert forge.close_change(pull=pr, reason="invalid: gate failed", key="k2") is True
    assert fake_github.pull(pr).state == "closed"


def test_close_change_without_a_report_comments_the_reason(
    fake_github: FakeGitHub, pr: int, rec: Recorder
) -> None:
    forge_for(fake_github, rec).close_change(branch=BRANCH, reason="plateau reached")
    assert [c.body.count("plateau reached") for c in fake_github.comments(pr)] == [1]
    assert fake_github.pull(pr).state == "closed"


# --- retries ----------------------------------------------------------------------------------------


def test_transient_failures_are_retried_to_the_same_end_state(
    fake_github: FakeGitHub, pr: int, rec: Recorder
) -> None:
    fake_github.inject("POST", r"/issues/\d+/comments$", 500, times=2)
    fake_github.inject("POST", r"/issues/\d+/labels$", 502)
    fake_github.inject("POST", r"/statuses/", 403, headers={"Retry-After": "1"})

    forge_for(fake_github, rec).publish(make_pub("improved", pull=pr))

    assert rec.sleeps == [1.0, 2.0, 1.0, 1.0]
    assert sticky(fake_github, pr) == [comment_body(make_pub("improved").markdown)]
    assert fake_github.labels(pr) == [LABELS.candidate, LABELS.improved]
    assert [s.state for s in fake_github.statuses(CAND_SHA)] == ["success"]
    assert all(f.hits == f.times for f in fake_github.faults)
    assert rec.lines[-1] == (
        f"GitHub API: POST /repos/{DEFAULT_REPO}/statuses/{CAND_SHA} (commit status on "
        "cccccccc): 403 You have exceeded a secondary rate limit. Please wait a few minutes "
        "before you try again. If you reach out to GitHub Support for help, please include "
        "the request ID.; retrying in 1 s (attempt 2 of 5)"
    )


def test_secondary_rate_limit_without_retry_after_waits_a_minute(
    fake_github: FakeGitHub, pr: int, rec: Recorder
) -> None:
    fake_github.inject("GET", r"/issues/\d+/comments$", 429)
    forge_for(fake_github, rec, status="none").publish(make_pub(pull=pr))
    assert rec.sleeps == [60.0]
    assert len(sticky(fake_github, pr)) == 1


def test_exhausted_retries_raise_one_line_and_the_other_steps_still_run(
    fake_github: FakeGitHub, pr: int, rec: Recorder
) -> None:
    fake_github.inject("POST", r"/statuses/", 503, times=10)
    with pytest.raises(ForgeError) as err:
        forge_for(fake_github, rec).publish(make_pub(pull=pr))
    assert str(err.value) == (
        f"GitHub API: POST /repos/{DEFAULT_REPO}/statuses/{CAND_SHA} (commit status on "
        "cccccccc) failed after 5 attempts: 503 Server Error"
    )
    assert err.value.exit_code == 4
    assert rec.sleeps == [1.0, 2.0, 4.0, 8.0]
    assert len(sticky(fake_github, pr)) == 1  # the comment and the label made it
    assert fake_github.labels(pr) == [LABELS.candidate, LABELS.improved]


def test_errors_that_are_not_transient_fail_at_once(fake_github: FakeGitHub, rec: Recorder) -> None:
    with pytest.raises(ForgeError) as err:
        forge_for(fake_github, rec, status="none").publish(make_pub(pull=404))
    assert str(err.value).startswith(
        f"GitHub API: GET /repos/{DEFAULT_REPO}/issues/404/comments (sticky comment on "
        "#404) failed: 404 Not Found"
    )
    assert "(and 1 more failed step(s))" in str(err.value)
    assert rec.sleeps == []


def test_primary_rate_limit_is_not_retried(rec: Recorder) -> None:
    with FakeGitHub(rate_limit=0) as server:
        server.add_repo("octo-org", "project")
        with pytest.raises(
            ForgeError,
            match=r"403 API rate limit exceeded for user ID 1\. \(the rate limit resets "
            r"at \d\d:\d\d UTC\)",
        ):
            forge_for(server, rec).publish(make_pub())
        assert rec.sleeps == []
        server.assert_no_violations()


# --- the baseline artifact --------------------------------------------------------------------------

NAME = "autoresearch-baseline"


def test_baseline_artifact_found_and_downloaded_without_the_token(
    fake_github: FakeGitHub, rec: Recorder
) -> None:
    main_sha = fake_github.branches()["main"]
    older = make_result(sha="e" * 40)
    fake_github.add_artifact(
        NAME, zip_of({"result.json": json.dumps(result_to_json(older))}), "main", "e" * 40
    )
    wanted = make_result(sha=main_sha)
    artifact = fake_github.add_artifact(
        NAME,
        zip_of(
            {
                "result.json": json.dumps(result_to_json(wanted)),
                "comparison.json": json.dumps(comparison_to_json(make_comparison())),
                "notes.txt": "hi",
            }
        ),
        "main",
        main_sha,
    )
    fake_github.add_artifact(NAME, zip_of({"result.json": "{}"}), BRANCH, CAND_SHA)  # newer, other branch
    fake_github.add_artifact(NAME, b"", "main", main_sha, expired=True)  # newest, expired

    forge = forge_for(fake_github, rec)
    result, why = forge.fetch_baseline(NAME, branch="main")

    assert result == wanted
    created = _sec(fake_github, artifact.id)
    assert why == f"baseline artifact {NAME} #{artifact.id} from {main_sha[:8]}, 2024-01-01T00:00:{created}Z"
    assert fake_github.token_leaks == []
    assert [(d.artifact_id, d.status, d.authorization_sent) for d in fake_github.blob_downloads] == [
        (artifact.id, 200, False)
    ]
    assert [c.operation_id for c in fake_github.calls] == [
        "actions/list-artifacts-for-repo",
        "actions/download-artifact",
        None,
    ]

    by_sha, why_sha = forge.fetch_baseline(NAME, branch="main", sha="e" * 40)
    assert by_sha == older and "from eeeeeeee" in why_sha


def _sec(server: FakeGitHub, artifact_id: int) -> str:
    created = server.repo().artifacts[artifact_id].created_at
    return created.strftime("%S")


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("nothing", f"no baseline artifact {NAME} for branch main in {DEFAULT_REPO}"),
        (
            "expired",
            f"baseline artifact {NAME} for branch main has expired (re-run the base branch's workflow)",
        ),
        ("wrong-branch", f"no baseline artifact {NAME} for branch main (found 1 for other branches)"),
        ("fork", f"no baseline artifact {NAME} for branch main (found 1 from forks)"),
        (
            "wrong-sha",
            f"no baseline artifact {NAME} for branch main at dddddddd (the newest for main is from ",
        ),
        ("corrupt", "is not a valid zip archive"),
        ("not-json", "holds no valid result@1 JSON: "),
        ("comparison", "holds no valid result@1 JSON: "),
        ("invalid-result", "not a valid ci-autoresearch/result@1 document"),
        ("no-json", "holds no JSON file (expected one result@1 document)"),
        ("two-results", "holds 2 result@1 files (a.json, b.json); expected exactly one"),
    ],
)
def test_baseline_artifact_problems_give_none_and_a_reason(
    fake_github: FakeGitHub, rec: Recorder, monkeypatch: pytest.MonkeyPatch, setup: str, reason: str
) -> None:
    main_sha = fake_github.branches()["main"]
    good = json.dumps(result_to_json(make_result(sha=main_sha)))
    broken = dict(result_to_json(make_result()))
    del broken["environment"]
    payloads: dict[str, bytes] = {
        "expired": zip_of({"result.json": good}),
        "wrong-branch": zip_of({"result.json": good}),
        "fork": zip_of({"result.json": good}),
        "wrong-sha": zip_of({"result.json": good}),
        "corrupt": b"PK\x03\x04 this is not a zip",
        "not-json": zip_of({"result.json": "{not json"}),
        "comparison": zip_of({"comparison.json": json.dumps(comparison_to_json(make_comparison()))}),
        "invalid-result": zip_of({"result.json": json.dumps(broken)}),
        "no-json": zip_of({"result.txt": good}),
        "two-results": zip_of({"a.json": good, "b.json": good}),
    }
    if setup == "fork":  # a fork's pull_request run whose head branch is also called main
        render = fake_github.render.artifact

        def from_a_fork(*args: Any) -> dict[str, Any]:
            body = render(*args)
            body["workflow_run"]["head_repository_id"] += 1
            return body

        monkeypatch.setattr(fake_github.render, "artifact", from_a_fork)
    if setup != "nothing":
        branch = BRANCH if setup == "wrong-branch" else "main"
        fake_github.add_artifact(NAME, payloads[setup], branch, main_sha, expired=setup == "expired")

    result, why = forge_for(fake_github, rec).fetch_baseline(
        NAME, branch="main", sha="d" * 40 if setup == "wrong-sha" else None
    )

    assert result is None
    assert reason in why and "\n" not in why
    assert fake_github.token_leaks == []


def test_baseline_artifact_expired_between_listing_and_download(
    fake_github: FakeGitHub, rec: Recorder
) -> None:
    artifact = fake_github.add_artifact(NAME, zip_of({"r.json": "{}"}), "main")
    forge = forge_for(fake_github, rec)
    fake_github.repo().artifacts[artifact.id].expired = True
    listed = list(forge._repo.get_artifacts(name=NAME))
    assert listed[0].expired
    fake_github.repo().artifacts[artifact.id].expired = False

    original = forge._download

    def expire_then_download(a: Any) -> bytes | str:
        fake_github.repo().artifacts[artifact.id].expired = True
        return original(a)

    forge._download = expire_then_download  # type: ignore[method-assign]
    result, why = forge.fetch_baseline(NAME, branch="main")
    assert (result, why) == (None, f"baseline artifact {NAME} #{artifact.id}: has expired")


def test_baseline_listing_failure_is_a_forge_error(fake_github: FakeGitHub, rec: Recorder) -> None:
    fake_github.inject("GET", r"/actions/artifacts$", 500, times=5)
    with pytest.raises(ForgeError, match="failed after 5 attempts: 500 Server Error"):
        forge_for(fake_github, rec).fetch_baseline(NAME, branch="main")


# --- dry run and construction -----------------------------------------------------------------------


def test_dry_run_makes_no_call(fake_github: FakeGitHub, pr: int, rec: Recorder) -> None:
    forge = forge_for(fake_github, rec, dry_run=True)
    pub = make_pub("improved", pull=pr)
    forge.publish(pub)
    forge.publish(replace(pub, pull=None, branch=BRANCH))
    assert forge.open_change(branch=BRANCH, base="main", title="t", body="b") == f"(dry run) {BRANCH}"
    assert forge.close_change(branch=BRANCH, reason="r") is True
    assert forge.fetch_baseline(NAME, branch="main") == (
        None,
        "dry run: the baseline artifact was not fetched",
    )
    assert forge_for(fake_github, rec, dry_run=True, status="check-run").pull_for_branch(BRANCH) is None

    assert fake_github.count() == 0
    body = comment_body(pub.markdown)
    assert rec.lines[:4] == [
        f"would GET /repos/{DEFAULT_REPO}/issues/{pr}/comments (find the sticky comment {MARKER})",
        f"would POST /repos/{DEFAULT_REPO}/issues/{pr}/comments (sticky comment, {len(body)} chars; PATCH it "
        "instead when found)",
        f"would POST /repos/{DEFAULT_REPO}/issues/{pr}/labels (label autoresearch:improvement, replacing "
        "other verdict labels)",
        f"would POST /repos/{DEFAULT_REPO}/statuses/{CAND_SHA} (commit status ci-autoresearch: success, "
        "'improved: wall_time −24.8% [−26.1%, −23.5%]')",
    ]
    assert all(line.startswith(("would ", "(dry run")) for line in rec.lines)


def test_from_env_reads_token_and_repository() -> None:
    config = GithubConfig()
    with pytest.raises(BadInputError, match="no GitHub token"):
        GithubForge.from_env({"GITHUB_REPOSITORY": "o/r"}, config=config)
    with pytest.raises(BadInputError, match="GITHUB_REPOSITORY is not set"):
        GithubForge.from_env({"GITHUB_TOKEN": "t"}, config=config)
    with pytest.raises(BadInputError, match="GITHUB_REPOSITORY: expected owner/name, got 'just-a-name'"):
        GithubForge.from_env({"GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": "just-a-name"}, config=config)
    forge = GithubForge.from_env({"GITHUB_REPOSITORY": "o/r", "INPUT_GITHUB-TOKEN": "x"}, config=config)
    assert forge.client is not None and forge.run_url is None
    assert GithubForge.from_env({"GITHUB_REPOSITORY": "o/r"}, config=config, dry_run=True).client is None


def test_the_token_from_the_action_input_wins(fake_github: FakeGitHub, rec: Recorder) -> None:
    env = env_for(fake_github, GITHUB_TOKEN="wrong", **{"INPUT_GITHUB-TOKEN": fake_github.token})
    forge = GithubForge.from_env(env, config=GithubConfig(status="none"), say=rec.say, sleep=rec.sleep)
    assert forge.pull_for_branch(BRANCH) is None
    with pytest.raises(ForgeError, match="401 Bad credentials"):
        GithubForge.from_env(env, config=GithubConfig(), token="wrong").pull_for_branch(BRANCH)
