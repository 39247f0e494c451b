"""The Actions runtime: event payloads (GitHub's own examples), outputs, summary, workflow commands."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from ci_autoresearch.actions import event as gha_event
from ci_autoresearch.actions import runtime as gha
from ci_autoresearch.actions.event import DispatchInfo, PullInfo, PushInfo, WorkflowRunInfo
from ci_autoresearch.errors import BadInputError

EVENTS = Path(__file__).resolve().parent.parent / "fixtures" / "github-events"
ACTIONS = {"GITHUB_ACTIONS": "true"}


def event_env(name: str, file: str) -> dict[str, str]:
    return {"GITHUB_EVENT_NAME": name, "GITHUB_EVENT_PATH": str(EVENTS / file)}


def test_is_actions() -> None:
    assert gha.is_actions({"GITHUB_ACTIONS": "true"})
    assert not gha.is_actions({"GITHUB_ACTIONS": "false"})
    assert not gha.is_actions({"CI": "true"})


def test_run_url() -> None:
    env = {"GITHUB_SERVER_URL": "https://github.com/", "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "42"}
    assert gha.run_url(env) == "https://github.com/o/r/actions/runs/42"
    assert gha.run_url({**env, "GITHUB_RUN_ID": ""}) is None


# --- events -----------------------------------------------------------------------------------------

CODERTOCAT: dict[str, object] = {
    "number": 2,
    "head_ref": "changes",
    "head_sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
    "base_ref": "master",
    "base_sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
    "head_repo_full_name": "Codertocat/Hello-World",
    "is_fork": False,
}


@pytest.mark.parametrize(
    ("file", "labels"),
    [
        ("pull_request.opened.json", ()),
        ("pull_request.labeled.json", ("bug",)),
        ("pull_request.synchronize.json", ("bug",)),
        ("pull_request.unlabeled.json", ("bug",)),
        ("pull_request.closed.json", ("bug",)),
    ],
)
def test_pull_request_payloads(file: str, labels: tuple[str, ...]) -> None:
    name, event = gha_event.load_event(event_env("pull_request", file))
    assert name == "pull_request"
    assert gha_event.pull_request_info(event) == PullInfo(labels=labels, **CODERTOCAT)  # type: ignore[arg-type]


def test_a_fork_pull_request_and_a_deleted_head_repository() -> None:
    _, event = gha_event.load_event(event_env("pull_request", "pull_request.opened.json"))
    event["pull_request"]["head"]["repo"]["full_name"] = "someone/Hello-World"
    assert gha_event.pull_request_info(event).is_fork
    event["pull_request"]["head"]["repo"] = None
    info = gha_event.pull_request_info(event)
    assert (info.head_repo_full_name, info.is_fork) == (None, True)


def test_push_payload_of_a_tag_and_of_a_branch() -> None:
    name, event = gha_event.load_event(event_env("push", "push.json"))
    assert name == "push"
    assert gha_event.push_info(event) == PushInfo(
        ref="refs/tags/simple-tag", branch=None, after="6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    )
    event["ref"] = "refs/heads/main"
    assert gha_event.push_info(event).branch == "main"


def test_workflow_dispatch_payload() -> None:
    _, event = gha_event.load_event(event_env("workflow_dispatch", "workflow_dispatch.json"))
    assert gha_event.dispatch_info(event) == DispatchInfo(ref="refs/heads/main", branch="main", inputs={})
    event["inputs"] = {"max_iterations": "5", "dry": True}
    assert gha_event.dispatch_info(event).inputs == {"max_iterations": "5", "dry": "true"}


def test_workflow_run_payload() -> None:
    _, event = gha_event.load_event(event_env("workflow_run", "workflow_run.completed.json"))
    assert gha_event.workflow_run_info(event) == WorkflowRunInfo(
        id=1589141559,
        name="Manually triggered workflow",
        event="workflow_dispatch",
        status="queued",
        conclusion=None,
        head_branch="main",
        head_sha="5779607b49aab1200488439f02372c57b4f75444",
        head_repo_full_name="octo-org/octo-repo",
        pull_numbers=(),
    )


def test_event_problems_are_one_line_naming_file_and_key(tmp_path: Path) -> None:
    def problem(env: dict[str, str]) -> str:
        with pytest.raises(BadInputError) as err:
            gha_event.load_event(env)
        assert "\n" not in str(err.value) and err.value.exit_code == 2
        return str(err.value)

    path = tmp_path / "event.json"
    assert problem({}) == "GITHUB_EVENT_NAME is not set: expected the name of the event that started the run"
    assert problem({"GITHUB_EVENT_NAME": "push"}) == (
        "GITHUB_EVENT_PATH is not set: expected the path of the event payload (JSON)"
    )
    env = {"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": str(path)}
    assert problem(env) == f"{path}: no such file (GITHUB_EVENT_PATH)"
    path.write_text('{"ref": ')
    assert problem(env) == f"{path}: the event payload is not JSON (line 1, column 9: Expecting value)"
    path.write_text("[1, 2]")
    assert problem(env) == f"{path}: (top level): expected a JSON object, got list"


def test_event_size_is_limited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"ref": "x" * 100}))
    monkeypatch.setattr(gha_event, "MAX_EVENT_BYTES", 50)
    with pytest.raises(
        BadInputError,
        match=r"event\.json: the event payload is 111 bytes, more than the limit of 50; refusing",
    ):
        gha_event.load_event({"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": str(path)})


def test_accessor_problems_name_the_key() -> None:
    _, event = gha_event.load_event(event_env("pull_request", "pull_request.opened.json"))
    with pytest.raises(BadInputError) as missing:
        gha_event.pull_request_info({"action": "opened"}, source="/tmp/e.json")
    assert (
        str(missing.value) == "/tmp/e.json: pull_request: missing (is this the payload of the right event?)"
    )
    del event["pull_request"]["head"]["sha"]
    with pytest.raises(BadInputError) as nested:
        gha_event.pull_request_info(event, source="/tmp/e.json")
    assert str(nested.value) == (
        "/tmp/e.json: pull_request.head.sha: missing (is this the payload of the right event?)"
    )
    event["pull_request"]["head"]["sha"] = 12
    with pytest.raises(BadInputError, match=r"pull_request\.head\.sha: expected str, got int"):
        gha_event.pull_request_info(event)
    event["pull_request"]["head"]["sha"] = "abc"
    event["pull_request"]["number"] = True
    with pytest.raises(BadInputError, match=r"pull_request\.number: expected int, got bool"):
        gha_event.pull_request_info(event)
    with pytest.raises(BadInputError, match=r"event payload: after: expected str, got NoneType"):
        gha_event.push_info({"ref": "refs/heads/main", "after": None})


# --- outputs and summary ----------------------------------------------------------------------------


def test_write_outputs_uses_heredocs(tmp_path: Path) -> None:
    out = tmp_path / "output"
    out.write_text("earlier<<EOF\nkept\nEOF\n")
    names = iter(["D1", "D2"])
    written = gha.write_outputs(
        {"GITHUB_OUTPUT": str(out)},
        {"verdict": "improved", "report": "### line one\nline two\n"},
        delimiter=lambda: next(names),
    )
    assert written
    assert out.read_text() == (
        "earlier<<EOF\nkept\nEOF\nverdict<<D1\nimproved\nD1\nreport<<D2\n### line one\nline two\n\nD2\n"
    )


def test_write_outputs_picks_a_delimiter_the_value_does_not_contain(tmp_path: Path) -> None:
    out = tmp_path / "output"
    names = itertools.chain(["EOF", "EOF"], itertools.repeat("X1"))
    gha.write_outputs({"GITHUB_OUTPUT": str(out)}, {"report": "a\nEOF\nb"}, delimiter=lambda: next(names))
    assert out.read_text() == "report<<X1\na\nEOF\nb\nX1\n"


def test_write_outputs_default_delimiter_is_random(tmp_path: Path) -> None:
    out = tmp_path / "output"
    gha.write_outputs({"GITHUB_OUTPUT": str(out)}, {"a": "1", "b": "2"})
    first, second = out.read_text().splitlines()[0], out.read_text().splitlines()[3]
    assert first.startswith("a<<ghadelimiter_") and second.startswith("b<<ghadelimiter_")
    assert first[3:] != second[3:]


def test_write_outputs_without_github_output_warns_once() -> None:
    lines: list[str] = []
    assert not gha.write_outputs({}, {"verdict": "improved", "delta": "-0.2"}, warn=lines.append)
    assert lines == ["warning: GITHUB_OUTPUT is not set; outputs not written: verdict, delta"]


def test_write_outputs_refuses_a_bad_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="invalid output name 'a<<b'"):
        gha.write_outputs({"GITHUB_OUTPUT": str(tmp_path / "o")}, {"a<<b": "x"})


def test_append_summary(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    assert gha.append_summary(env, "### one")
    assert gha.append_summary(env, "two\n")
    assert summary.read_text() == "### one\ntwo\n"
    lines: list[str] = []
    assert not gha.append_summary({}, "x", warn=lines.append)
    assert lines == ["warning: GITHUB_STEP_SUMMARY is not set; the step summary was not written"]


def test_append_summary_is_cut_to_one_mib(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    gha.append_summary({"GITHUB_STEP_SUMMARY": str(summary)}, "é" * 600_000)
    data = summary.read_bytes()
    assert len(data) <= 1024 * 1024
    assert data.endswith(b"\n\n*(cut: the step summary is limited to 1 MiB)*\n")


# --- workflow commands ------------------------------------------------------------------------------


def test_annotations_escape_data_and_properties() -> None:
    assert gha.annotation("error", "boom") == "::error::boom"
    assert gha.annotation("warning", "50% of\r\nit", title="a: b, c", file="src/x,y.py", line=3) == (
        "::warning title=a%3A b%2C c,file=src/x%2Cy.py,line=3::50%25 of%0D%0Ait"
    )
    assert gha.annotation("notice", "a:b,c") == "::notice::a:b,c"
    with pytest.raises(ValueError, match="annotation level"):
        gha.annotation("debug", "x")  # type: ignore[arg-type]


def test_group_in_actions_and_elsewhere() -> None:
    lines: list[str] = []
    with gha.group("measure 50%\nrounds", env=ACTIONS, say=lines.append):
        lines.append("inside")
    assert lines == ["::group::measure 50%25%0Arounds", "inside", "::endgroup::"]

    lines.clear()
    with pytest.raises(RuntimeError), gha.group("failing", env=ACTIONS, say=lines.append):
        raise RuntimeError("x")
    assert lines == ["::group::failing", "::endgroup::"]

    lines.clear()
    with gha.group("measure", env={}, say=lines.append):
        lines.append("inside")
    assert lines == ["== measure", "inside"]


def test_mask_only_in_actions_and_line_by_line() -> None:
    lines: list[str] = []
    gha.mask("s3cr%t", env=ACTIONS, say=lines.append)
    gha.mask("line one\n\nline two\n", env=ACTIONS, say=lines.append)
    gha.mask("", env=ACTIONS, say=lines.append)
    gha.mask("visible?", env={}, say=lines.append)
    assert lines == ["::add-mask::s3cr%25t", "::add-mask::line one", "::add-mask::line two"]


def test_safe_say_passes_the_tools_own_commands_and_neutralises_quoted_ones() -> None:
    lines: list[str] = []
    env = {"GITHUB_ACTIONS": "true"}
    say = gha.safe_say(lines.append, env=env)
    say(gha.annotation("notice", "planned 2 candidates"))
    say("skipped autoresearch/x: ::add-mask::nothing\n::error::forged by a candidate")
    say("a plain line")
    assert lines[0] == "::notice::planned 2 candidates"
    assert lines[1].startswith("::stop-commands::") and "::error::forged by a candidate" in lines[1]
    assert lines[2] == "a plain line"
    outside = gha.safe_say(lines.append, env={})
    outside("::error::printed as it is outside Actions")
    assert lines[3] == "::error::printed as it is outside Actions"
