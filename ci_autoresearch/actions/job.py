"""What one Actions job is given, and the commands that run a stage in it.

The :class:`~ci_autoresearch.actions.stages.Stage` is built from the checkout and the job's environment
(``$RUNNER_TEMP`` for the output folder); the GitHub forge from the job's token, read here once
(:func:`~ci_autoresearch.forge.github.token_of`) and masked in the log before anything can print it.
``plan``, ``evaluate``, ``publish`` and ``ci`` are each one call for the CLI.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ci_autoresearch import git
from ci_autoresearch.actions import runtime as gha
from ci_autoresearch.actions.context import Stage
from ci_autoresearch.actions.evaluate import Request
from ci_autoresearch.actions.plan import config_path_in_repo
from ci_autoresearch.actions.stages import ci_stage, evaluate_stage, plan_stage, publish_stage
from ci_autoresearch.config.model import GithubConfig
from ci_autoresearch.console import progress_printer
from ci_autoresearch.history.state import state_dir

if TYPE_CHECKING:  # PyGithub is imported by the stages that talk to GitHub only: evaluate never does
    from ci_autoresearch.forge.github import GithubForge


def stage(config_path: Path | None, out_dir: Path | None, *, env: Mapping[str, str]) -> Stage:
    """This checkout's stage; its files go to ``out_dir``, else ``$RUNNER_TEMP/ci-autoresearch``."""
    repo = git.toplevel(Path.cwd())
    default_out = Path(env.get("RUNNER_TEMP") or state_dir(repo)) / "ci-autoresearch"
    return Stage(
        repo=repo,
        config_file=config_path_in_repo(repo, config_path),
        env=env,
        out_dir=out_dir or default_out,
        say=gha.safe_say(click.echo, env=env),
        progress=progress_printer(env),
    )


def github_forge(env: Mapping[str, str], *, dry_run: bool) -> GithubForge:
    """The GitHub forge with the job's token (masked in the log); a dry run needs none, else
    :class:`BadInputError` without one."""
    from ci_autoresearch.forge.github import token_of  # noqa: PLC0415 - see TYPE_CHECKING above

    return _connect(env, token_of(env), dry_run=dry_run)


def github_forge_if_token(env: Mapping[str, str], *, dry_run: bool) -> GithubForge | None:
    """The GitHub forge when the job has a token (or for a dry run); else None."""
    from ci_autoresearch.forge.github import token_of  # noqa: PLC0415 - see TYPE_CHECKING above

    token = token_of(env)
    if not token and not dry_run:
        return None
    return _connect(env, token, dry_run=dry_run)


def _connect(env: Mapping[str, str], token: str | None, *, dry_run: bool) -> GithubForge:
    from ci_autoresearch.forge.github import GithubForge  # noqa: PLC0415 - see TYPE_CHECKING above

    if token:
        gha.mask(token, env=env, say=click.echo)
    say = gha.safe_say(click.echo, env=env)
    return GithubForge.from_env(env, config=GithubConfig(), token=token, dry_run=dry_run, say=say)


def plan(
    config_path: Path | None,
    out_dir: Path | None,
    *,
    max_parallel: int | None,
    dry_run: bool,
    env: Mapping[str, str],
) -> None:
    """``plan``: the matrix from trusted input only; the forge fetches a stored baseline when there is a
    token."""
    job = stage(config_path, out_dir, env=env)
    plan_stage(job, max_parallel=max_parallel, forge=github_forge_if_token(job.env, dry_run=dry_run))


def evaluate(
    config_path: Path | None,
    out_dir: Path | None,
    *,
    request: Request,
    allow_secrets: bool,
    stored_baseline: Path | None,
    env: Mapping[str, str],
) -> None:
    """``evaluate``: one candidate measured against the base, in a job that holds no token."""
    job = stage(config_path, out_dir, env=env)
    evaluate_stage(job, request, allow_secrets=allow_secrets, stored_baseline=stored_baseline)


def publish(
    config_path: Path | None,
    out_dir: Path | None,
    *,
    plan: str | None,
    bundles: Path | None,
    dry_run: bool,
    env: Mapping[str, str],
) -> None:
    """``publish``: decide across the bundles and publish them, with the token."""
    job = stage(config_path, out_dir, env=env)
    publish_stage(job, github_forge(job.env, dry_run=dry_run), plan=plan, bundles=bundles)


def ci(
    config_path: Path | None,
    out_dir: Path | None,
    *,
    dry_run: bool,
    allow_secrets: bool,
    env: Mapping[str, str],
) -> None:
    """``ci``: what the event calls for; the token is read only when the event publishes."""
    job = stage(config_path, out_dir, env=env)

    def publish_now() -> None:
        publish_stage(job, github_forge(job.env, dry_run=dry_run), plan=None, bundles=None)

    ci_stage(job, allow_secrets=allow_secrets, publish=publish_now)
