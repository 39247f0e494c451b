"""Where a command works: the repository around the current directory, its configuration file, the
folder a run's logs go to."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ci_autoresearch import git
from ci_autoresearch.config import DEFAULT_CONFIG_FILE, load_config, runnability_problems
from ci_autoresearch.config.model import Config
from ci_autoresearch.errors import AutoresearchError, BadInputError
from ci_autoresearch.history.state import runs_dir


def repo_root() -> Path:
    """The top of the repository the current directory is in (:class:`GitError` when none)."""
    return git.toplevel(Path.cwd())


def repo_root_or_none() -> Path | None:
    try:
        return repo_root()
    except AutoresearchError:
        return None


def config_path(repo: Path | None, given: Path | None) -> Path:
    """The config file, relative to the current directory when it is below it (shorter messages)."""
    if given is not None:
        return given
    path = (repo or Path.cwd()) / DEFAULT_CONFIG_FILE
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def load_runnable(repo: Path, given: Path | None) -> Config:
    """The configuration, refused (one line) when it is valid but misses what a run needs."""
    config = load_config(config_path(repo, given))
    problems = runnability_problems(config)
    if problems:
        raise BadInputError(f"{config.path}: {problems[0]}")
    return config


def load_if_present(repo: Path | None, given: Path | None) -> Config | None:
    """The configuration when one was named or the default file exists; else None (reports without it)."""
    path = config_path(repo, given)
    return load_config(path) if (given is not None or path.exists()) else None


def log_dir(repo: Path, out: Path | None, what: str) -> Path:
    """Next to ``--out`` when given, else a fresh folder under the repository's runs."""
    if out is not None:
        return out.parent / f"{out.name}.logs"
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return runs_dir(repo) / f"{stamp}-{what}"
