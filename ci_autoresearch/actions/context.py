"""What every stage is given (the checkout, the configuration's path, the environment) and the steps
they share: the event (loaded once), the trusted configuration, the notes, the outputs and summary."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci_autoresearch import git
from ci_autoresearch.actions import runtime as gha
from ci_autoresearch.actions.event import load_event
from ci_autoresearch.actions.plan import config_at
from ci_autoresearch.config.model import Config
from ci_autoresearch.errors import AutoresearchError, BadInputError
from ci_autoresearch.history import notes as history
from ci_autoresearch.measure.progress import ProgressFn
from ci_autoresearch.model import Comparison, Evaluation

DEFAULT_REMOTE = "origin"  # the remote a CI checkout has (actions/checkout)
EMPTY_OUTPUTS: Mapping[str, str] = {"verdict": "", "delta": "", "improved": "false", "report": ""}


@dataclass(frozen=True, kw_only=True)
class Stage:
    """What every stage is given: the checkout, where the configuration lives in it, the environment."""

    repo: Path
    config_file: str  # inside the repository; read from the base commit
    env: Mapping[str, str]
    out_dir: Path
    say: Callable[[str], None]
    progress: ProgressFn
    remote: str = DEFAULT_REMOTE

    def adjust(self, config: Config) -> Config:
        return apply_action_inputs(config, self.env)

    @functools.cached_property
    def event(self) -> tuple[str, dict[str, Any]]:
        """``$GITHUB_EVENT_NAME`` and its payload, loaded (and checked) once however many steps read it."""
        return load_event(self.env)

    @functools.cached_property
    def remote_url(self) -> str | None:
        """The URL of the stage's remote, looked up once; None when the checkout has no such remote."""
        return git.remote_url(self.repo, self.remote)

    @property
    def source(self) -> str:
        """The event payload's file, as messages about it name it."""
        return self.env.get("GITHUB_EVENT_PATH", "event payload")


def apply_action_inputs(config: Config, env: Mapping[str, str]) -> Config:
    """The action's ``candidate-label`` and ``baseline-artifact`` inputs override the config file."""
    gh = config.github
    label = env.get("AUTORESEARCH_CANDIDATE_LABEL", "").strip()
    artifact = env.get("AUTORESEARCH_BASELINE_ARTIFACT", "").strip()
    if label:
        gh = dataclasses.replace(gh, labels=dataclasses.replace(gh.labels, candidate=label))
    if artifact:
        gh = dataclasses.replace(gh, baseline_artifact=artifact)
    return dataclasses.replace(config, github=gh)


def trusted_config(stage: Stage, sha: str) -> Config:
    """The configuration as the base commit ``sha`` has it (fetched when the checkout lacks it), with the
    action's inputs applied: never the candidate's."""
    if not git.fetch_commit(stage.repo, stage.remote, sha):
        raise BadInputError(
            f"the base commit {sha[:12]} is not in this checkout and cannot be fetched",
            hint="check out with fetch-depth: 0",
        )
    return stage.adjust(config_at(stage.repo, sha, stage.config_file))


def fetch_remote_notes(repo: Path, remote: str, *, say: Callable[[str], None] | None) -> None:
    """Bring the remote's notes in (a public repository's need no credential); when that fails the notes
    this checkout has are used, and ``say`` (if given) is told why."""
    try:
        history.fetch_notes(repo, remote)
    except AutoresearchError as err:
        if say is not None:
            say(gha.annotation("warning", f"could not fetch evaluation notes from {remote}: {err}"))


def load_history(stage: Stage) -> history.History:
    """The notes, the remote's (when there is one) merged in first."""
    if stage.remote_url is not None:
        fetch_remote_notes(stage.repo, stage.remote, say=stage.say)
    return history.load(stage.repo)


def finish(stage: Stage, outputs: Mapping[str, str], summary: str = "") -> None:
    """Outputs and the step summary (in Actions), written by the tool after candidate code finished, from
    its own data."""
    if not gha.is_actions(stage.env):
        return
    gha.write_outputs(stage.env, outputs)
    if summary:
        gha.append_summary(stage.env, summary)


def annotate_verdict(say: Callable[[str], None], c: Comparison) -> None:
    """An error annotation for an invalid or rejected candidate, a warning for a regression."""
    if c.verdict in ("invalid", "rejected"):
        say(gha.annotation("error", c.reason, title=f"ci-autoresearch: {c.candidate.ref} is {c.verdict}"))
    elif c.verdict == "regressed":
        say(gha.annotation("warning", c.reason, title=f"ci-autoresearch: {c.candidate.ref} regressed"))


def outputs_of(ev: Evaluation, md: str, path: Path) -> dict[str, str]:
    """The step outputs of one evaluation: its verdict, the objective's delta, its report and file."""
    obj = ev.comparison.objective_metric
    delta = f"{obj.estimate.delta:.6f}" if obj and obj.estimate else ""
    return {
        "verdict": ev.comparison.verdict,
        "delta": delta,
        "improved": "true" if ev.comparison.verdict == "improved" else "false",
        "report": md,
        "result-path": str(path),
    }
