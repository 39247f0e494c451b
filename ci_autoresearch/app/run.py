"""``run``: the autoresearch loop on this repository, with the local forge, until it stops."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import click

from ci_autoresearch import git
from ci_autoresearch.app.loop import Loop, LoopOptions, LoopOutcome
from ci_autoresearch.app.workspace import load_runnable, repo_root
from ci_autoresearch.config.model import Config
from ci_autoresearch.console import echo, progress_printer
from ci_autoresearch.errors import BadInputError
from ci_autoresearch.forge import Forge
from ci_autoresearch.forge.local import LocalForge
from ci_autoresearch.history.state import runs_dir, state_dir


def run(
    given: Path | None,
    *,
    branch: str | None,
    max_evaluations: int | None,
    advance: bool,
    env: Mapping[str, str],
) -> None:
    """Run the loop on ``branch`` (default: the current one) and say why it stopped."""
    repo = repo_root()
    config = load_runnable(repo, given)

    def say(line: str) -> None:
        echo(line, env=env)

    outcome = run_loop(
        repo,
        config,
        env,
        LocalForge(state_dir(repo), say=say),
        LoopOptions(branch=loop_branch(repo, branch), advance=advance, max_evaluations=max_evaluations),
    )
    say(f"stopped: {outcome.reason}")


def loop_branch(repo: Path, given: str | None) -> str:
    """The working line: the branch named, else the current one (refused when HEAD is detached)."""
    branch = given or git.current_branch(repo)
    if not branch:
        raise BadInputError("HEAD is detached; name the working branch with --branch")
    git.resolve(repo, branch)
    return branch


def run_loop(
    repo: Path, config: Config, env: Mapping[str, str], forge: Forge, options: LoopOptions
) -> LoopOutcome:
    """The loop to its end, its lines on stdout and its progress on stderr; refused when it would move a
    branch with uncommitted changes."""
    if options.advance and git.current_branch(repo) == options.branch and git.is_dirty(repo):
        raise BadInputError(
            f"the working tree has uncommitted changes on {options.branch}, which the loop would move",
            hint="commit or stash them, or use --no-advance",
        )
    loop = Loop(
        repo,
        config,
        env=env,
        forge=forge,
        options=options,
        log_root=runs_dir(repo),
        say=click.echo,  # the loop makes its lines inert itself
        progress=progress_printer(env),
    )
    return loop.run()
