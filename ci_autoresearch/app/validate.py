"""``validate``: every problem of a configuration, one line each, then what would keep it from running."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import click

from ci_autoresearch.app.workspace import config_path, repo_root_or_none
from ci_autoresearch.config import load_config, runnability_problems, validate_config
from ci_autoresearch.config.model import Config


def validate(given: Path | None, *, env: Mapping[str, str]) -> None:
    """Problems on stderr and exit 2; else warnings, notes and ``valid``."""
    repo = repo_root_or_none()
    path = config_path(repo, given)
    problems = validate_config(path)
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        raise click.exceptions.Exit(2)
    config = load_config(path)
    # only for a valid file: these import the statistics, which an invalid file need not wait for
    from ci_autoresearch.config.feasibility import warnings  # noqa: PLC0415

    for warning in warnings(config):
        click.echo(f"{path}: warning: {warning}", err=True)
    notes = runnability_problems(config)
    for note in notes:
        click.echo(f"{path}: note: {note}")
    for warning in readiness(config, repo or path.resolve().parent, env=env):
        click.echo(f"{path}: warning: {warning}")
    click.echo(f"{path}: valid" + (" (not runnable yet)" if notes else ""))


def readiness(config: Config, root: Path, *, env: Mapping[str, str]) -> list[str]:
    """Settings without effect and programs missing from the repository and ``PATH``."""
    from ci_autoresearch.config.readiness import ineffective_settings, missing_programs  # noqa: PLC0415

    path = env.get("PATH", os.defpath)
    return ineffective_settings(config) + missing_programs(
        config, exists=lambda p: (root / p).exists(), which=lambda p: shutil.which(p, path=path)
    )
