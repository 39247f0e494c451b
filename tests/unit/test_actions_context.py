"""What the Actions stages share: the event read once, its small readers, the outputs of an evaluation,
and how a planned run's loop candidates are grouped for the keep/discard decision."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ci_autoresearch.actions import event as gha_event
from ci_autoresearch.actions.context import EMPTY_OUTPUTS, Stage, apply_action_inputs, outputs_of
from ci_autoresearch.actions.publish import NOTHING
from ci_autoresearch.actions.publish_plan import decide_round
from ci_autoresearch.config.model import BranchingConfig
from tests.unit import factories

EVENTS = Path(__file__).resolve().parent.parent / "fixtures" / "github-events"


def stage(env: dict[str, str], tmp_path: Path) -> Stage:
    return Stage(
        repo=tmp_path,
        config_file=".autoresearch.yml",
        env=env,
        out_dir=tmp_path / "out",
        say=lambda _: None,
        progress=lambda _: None,
    )


def test_the_event_is_loaded_once_however_many_steps_read_it(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"ref": "refs/heads/main", "after": "a" * 40}))
    s = stage({"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": str(path)}, tmp_path)
    first = s.event
    path.unlink()  # read again, it would be "no such file"
    assert s.event is first
    assert first == ("push", {"ref": "refs/heads/main", "after": "a" * 40})
    assert s.source == str(path)
    assert stage({}, tmp_path).source == "event payload"


def test_default_branch_is_the_payloads_or_main() -> None:
    _, event = gha_event.load_event(
        {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(EVENTS / "pull_request.opened.json")}
    )
    assert gha_event.default_branch(event) == "master"
    assert gha_event.default_branch({}) == "main"
    assert gha_event.default_branch({"repository": {"full_name": "o/r"}}) == "main"


def test_pull_request_action_and_the_label_added() -> None:
    _, labeled = gha_event.load_event(
        {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(EVENTS / "pull_request.labeled.json")}
    )
    assert gha_event.pull_request_action(labeled) == ("labeled", "bug")
    assert gha_event.pull_request_action({"action": "opened"}) == ("opened", None)
    assert gha_event.pull_request_action({}) == ("", None)


def test_action_inputs_override_the_label_and_the_baseline_artifact() -> None:
    config = factories.config()
    same = apply_action_inputs(config, {"AUTORESEARCH_CANDIDATE_LABEL": "  "})
    assert same == config
    changed = apply_action_inputs(
        config, {"AUTORESEARCH_CANDIDATE_LABEL": "perf", "AUTORESEARCH_BASELINE_ARTIFACT": "base-x"}
    )
    assert changed.github.labels.candidate == "perf"
    assert changed.github.baseline_artifact == "base-x"


def test_outputs_of_an_evaluation(tmp_path: Path) -> None:
    improved = factories.evaluation(factories.comparison([10.0] * 12, [8.0] * 12))
    out = outputs_of(improved, "# report", tmp_path / "r.json")
    assert list(out) == ["verdict", "delta", "improved", "report", "result-path"]
    assert out["verdict"] == "improved"
    assert out["improved"] == "true"
    assert float(out["delta"]) < -0.1
    assert out["result-path"] == str(tmp_path / "r.json")
    assert NOTHING.outputs == dict(EMPTY_OUTPUTS)


def test_a_parallel_round_keeps_one_winner_a_sequential_run_each() -> None:
    big = factories.evaluation(
        factories.comparison([10.0] * 12, [7.0] * 12, cand_ref="big"), decision="pending"
    )
    small = factories.evaluation(
        factories.comparison([10.0] * 12, [9.0] * 12, cand_ref="small"), decision="pending"
    )
    parallel = factories.config(branching=BranchingConfig(strategy="parallel"))
    sequential = dataclasses.replace(parallel, branching=BranchingConfig(strategy="sequential"))
    assert [ev.decision for ev in decide_round([small, big], parallel)] == ["discarded", "kept"]
    assert [ev.decision for ev in decide_round([small, big], sequential)] == ["kept", "kept"]
