"""``publish``: the privileged stage. Holds the token, runs no repository code, trusts no bundle.

It runs in its own job, after the unprivileged ``evaluate`` jobs: through ``needs:`` in the same
workflow run (the scheduled loop: the plan job's output says what was planned), or from a
``workflow_run`` workflow for pull requests, forks included (the run's event and the API say which PR).

Routing -- which repository, which PR, which commit -- comes from that trusted side, never from a
bundle. Every bundle is checked against the slot it claims: the base commit, the configuration, the
measured commit and the candidate's own commit must be the ones planned (for a generator's proposal:
a commit built on the base, carried as a verified git bundle); anything else is refused with the reason.
Then the one keep/discard module decides, the notes are written and pushed first (the checkpoint), and
only then is GitHub told: the sticky comment, labels, the commit status, PRs opened for wins and closed
for definitive losses. Every step is idempotent and reconciled on the next run, so re-running publish
writes nothing new and a run killed half-way converges on the next one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from ci_autoresearch.actions.context import EMPTY_OUTPUTS, Stage, trusted_config
from ci_autoresearch.config.model import Config
from ci_autoresearch.decide import keep
from ci_autoresearch.forge import Publication, PullState, RemoteForge
from ci_autoresearch.history import notes as history
from ci_autoresearch.model import Evaluation
from ci_autoresearch.report.chart import pr_history_markdown
from ci_autoresearch.report.markdown import evaluation_markdown, trend_markdown

PUBLISH_FILE = "publish.json"


@dataclass(frozen=True, kw_only=True)
class Context(Stage):
    """A stage that holds the forge (the token): publish's."""

    forge: RemoteForge

    @classmethod
    def of(cls, stage: Stage, forge: RemoteForge) -> Context:
        return cls(**{f.name: getattr(stage, f.name) for f in dataclasses.fields(stage)}, forge=forge)


@dataclass(frozen=True, kw_only=True)
class Outcome:
    outputs: dict[str, str]
    summary: str = ""


NOTHING = Outcome(outputs=dict(EMPTY_OUTPUTS))


def publish_config(ctx: Context, base_sha: str) -> Config:
    """The base's configuration, and the forge told its label names and status mode."""
    config = trusted_config(ctx, base_sha)
    ctx.forge.use_config(config.github)
    return config


# --- the notes: decided first, recorded first ------------------------------------------------------------


def record(ctx: Context, hist: history.History, evaluations: Sequence[Evaluation]) -> list[Evaluation]:
    """Record what the notes do not hold yet (numbered after the last iteration) and return every
    evaluation as recorded: a decision already in the notes wins (a re-run changes nothing)."""
    out = []
    iteration = hist.next_iteration()
    for ev in evaluations:
        known = hist.find(ev.key)
        if known is not None and (known.decision != "pending" or ev.decision == "pending"):
            out.append(known)
            continue
        if known is None:
            number, iteration = iteration, iteration + 1
        else:  # a pending note (a run killed before deciding) now decided
            number = known.iteration
        recorded = dataclasses.replace(ev, iteration=number)
        history.record(ctx.repo, recorded)
        out.append(recorded)
    return out


def push_notes(ctx: Context) -> None:
    if ctx.remote_url is None:
        return
    history.push_notes(ctx.repo, ctx.remote, attempts=5)


# --- a pull request's evaluation ------------------------------------------------------------------------


def pull_markdown(
    ctx: Context,
    config: Config,
    ev: Evaluation,
    hist: history.History,
    *,
    pull: PullState,
    measured_elsewhere: bool,
) -> str:
    baseline, note = ctx.forge.fetch_baseline(
        config.github.baseline_artifact, branch=pull.base_ref, sha=pull.base_sha
    )
    extra = [trend_markdown(ev.comparison, baseline, note)]
    if measured_elsewhere:
        extra.append(
            "> measured in an unprivileged job without a token; its bundle was checked before this was posted"
        )
    past = [e for e in hist.latest() if e.source == ev.source and e.key != ev.key] + [ev]
    if len(past) > 1:
        extra.append(pr_history_markdown(past))
    return evaluation_markdown(ev, extra=extra)


def post(
    ctx: Context, config: Config, ev: Evaluation, md: str, *, pull: int | None, branch: str | None
) -> bool:
    """The sticky comment, the verdict label and the status of one decided evaluation; its pull request
    closed when the decision is definitive and ``github.close_discarded`` is on. Whether one was closed."""
    ctx.forge.publish(Publication(evaluation=ev, markdown=md, pull=pull, branch=branch))
    if not (keep.closes(ev) and config.github.close_discarded):
        return False
    if pull is not None:
        return bool(ctx.forge.close_change(pull=pull, reason=ev.decision_reason, key=ev.key))
    return bool(ctx.forge.close_change(branch=branch or "", reason=ev.decision_reason, key=ev.key))
