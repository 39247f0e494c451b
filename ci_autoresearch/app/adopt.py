"""``init``: what it writes into a repository (the proposed configuration, the workflow files, the
exclude lines for files the benchmark writes) and says. The looking is in :mod:`ci_autoresearch.app.detect`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import click

from ci_autoresearch import git
from ci_autoresearch.app.detect import Proposal, propose_config
from ci_autoresearch.app.harnesses import RepoView
from ci_autoresearch.app.workspace import repo_root
from ci_autoresearch.config import DEFAULT_CONFIG_FILE, starter_config
from ci_autoresearch.errors import AutoresearchError, BadInputError, ToolMissingError

MAX_READ_BYTES = 256 * 1024  # larger files are not looked into
_SKIP_DIRS = frozenset(
    {".git", ".venv", "venv", "node_modules", "build", "dist", "target", "__pycache__", ".tox"}
)
WORKFLOWS_DIR = Path(".github") / "workflows"


def _listed(root: Path) -> tuple[str, ...]:
    """The repository's files: git's list (tracked and untracked, not ignored), else a walk."""
    try:
        return tuple(sorted(set(git.listed_files(root))))
    except AutoresearchError:
        files = []
        for folder, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
            files += [Path(folder, n).relative_to(root).as_posix() for n in names]
        return tuple(sorted(files))


def repo_view(root: Path, env: Mapping[str, str]) -> RepoView:
    """The repository at ``root`` as :func:`~ci_autoresearch.app.detect.propose_config` sees it."""

    def read(path: str) -> str | None:
        try:
            file = root / path
            if file.stat().st_size > MAX_READ_BYTES:
                return None
            return file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    valgrind = shutil.which("valgrind", path=env.get("PATH", os.defpath)) is not None
    return RepoView(files=_listed(root), read=read, has_valgrind=valgrind)


def proposal(root: Path, env: Mapping[str, str]) -> Proposal:
    """The configuration ``init`` proposes for ``root``: from what it has, else the generic starter."""
    found = propose_config(repo_view(root, env))
    if found.kind is None:
        return Proposal(kind=None, config=starter_config(), findings=found.findings)
    return found


def exclude_locally(git_dir: Path, names: tuple[str, ...]) -> list[str]:
    """Add ``names`` (files the benchmark writes into the working tree) to ``.git/info/exclude``, so
    ``git status`` stays clean without touching a tracked ``.gitignore``; returns the names added."""
    if not names:
        return []
    exclude = git_dir / "info" / "exclude"
    present = exclude.read_text().splitlines() if exclude.is_file() else []
    added = [n for n in names if f"/{n}" not in present]
    if added:
        exclude.parent.mkdir(parents=True, exist_ok=True)
        tail = "" if not present or present[-1] == "" else "\n"
        with exclude.open("a") as fh:
            fh.write(tail + "".join(f"/{n}\n" for n in added))
    return added


# --- workflows -------------------------------------------------------------------------------------------


def shipped_workflows() -> dict[str, str]:
    """The example workflow files shipped with the package (``name.yml`` → text).

    In a wheel they are package data (``ci_autoresearch/workflows``); in a source checkout or an
    editable install they are read from ``examples/workflows``.
    """
    packaged = resources.files("ci_autoresearch").joinpath("workflows")
    if packaged.is_dir():
        found = {f.name: f.read_text(encoding="utf-8") for f in packaged.iterdir() if f.name.endswith(".yml")}
        if found:
            return dict(sorted(found.items()))
    source = Path(__file__).resolve().parents[2] / "examples" / "workflows"  # the checkout above the package
    found = {p.name: p.read_text(encoding="utf-8") for p in source.glob("*.yml")} if source.is_dir() else {}
    if not found:
        raise ToolMissingError(
            "the example workflow files are not installed with this copy of ci-autoresearch",
            hint="reinstall it from a wheel or a source checkout",
        )
    return dict(sorted(found.items()))


def write_workflows(root: Path, *, force: bool) -> list[Path]:
    """Write every shipped workflow into ``root/.github/workflows/``; refuse to overwrite without
    ``force`` (nothing is written then)."""
    workflows = shipped_workflows()
    target = root / WORKFLOWS_DIR
    existing = [target / name for name in workflows if (target / name).exists()]
    if existing and not force:
        raise BadInputError(
            f"{existing[0]} already exists" + (f" (+{len(existing) - 1} more)" if len(existing) > 1 else ""),
            hint="use --force to overwrite",
        )
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in workflows.items():
        (target / name).write_text(text, encoding="utf-8")
        written.append(target / name)
    return written


def init(config_path: Path | None, *, force: bool, github: bool, env: Mapping[str, str]) -> None:
    """``init``: write the proposed configuration (and with ``github`` the workflows), say what was found."""

    try:
        root: Path = repo_root()
        git_dir: Path | None = git.common_dir(root)
    except AutoresearchError:
        root, git_dir = Path.cwd(), None
    path = config_path or root / DEFAULT_CONFIG_FILE
    keep = path.exists() and not force
    if keep and not github:
        raise BadInputError(f"{path} already exists", hint="use --force to overwrite it")
    if github:
        for written in write_workflows(root, force=force):
            click.echo(f"wrote {written}")
    if keep:
        click.echo(f"kept {path} (--force overwrites it)")
        return
    found = proposal(root, env)
    for finding in found.findings:
        click.echo(f"found {finding}")
    path.write_text(found.config)
    if git_dir is not None:
        for name in exclude_locally(git_dir, found.ignore):
            click.echo(f"added /{name} to {git_dir / 'info' / 'exclude'} (the benchmark writes it)")
    if found.kind is None:
        click.echo(f"wrote {path}; edit benchmark.command, then run `ci-autoresearch validate`")
    else:
        click.echo(
            f"wrote {path}; check it with `ci-autoresearch validate`, try it with `ci-autoresearch bench`"
        )
