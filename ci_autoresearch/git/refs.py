"""Refs: names checked and resolved, branches listed, refs moved, and the notes of the checkpoint."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from pathlib import Path

from ci_autoresearch.errors import GitError
from ci_autoresearch.git._command import git_out, run_git

NOTES_REF = "refs/notes/autoresearch"
DISCARDED_PREFIX = "refs/autoresearch/discarded/"


def check_name(name: str, what: str = "git ref") -> str:
    """``name`` when it can safely be given to git as a ref or a remote; :class:`GitError` when it
    starts with ``-`` (git would read it as an option: ``--upload-pack=…`` runs a command) or holds a
    NUL byte or a line break."""
    if not name or name.startswith("-") or any(c in name for c in "\0\n\r"):
        raise GitError(f"{what} {name[:80]!r} refused: expected a name that does not start with '-'")
    return name


def resolve(repo: Path, ref: str) -> str:
    """The full sha of the commit ``ref`` names; :class:`GitError` for an unknown ref."""
    check_name(ref)
    res = run_git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if res.returncode != 0 or not res.stdout.strip():
        raise GitError(f"unknown git ref {ref!r}", hint="check the branch name; `git branch -a` lists them")
    return res.stdout.strip()


def try_resolve(repo: Path, ref: str) -> str | None:
    if not ref or ref.startswith("-") or "\0" in ref:
        return None
    res = run_git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    return res.stdout.strip() if res.returncode == 0 and res.stdout.strip() else None


def short(sha: str) -> str:
    return sha[:8]


def current_branch(repo: Path) -> str | None:
    res = run_git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    return res.stdout.strip() or None if res.returncode == 0 else None


def merge_base(repo: Path, a: str, b: str) -> str | None:
    res = run_git(repo, "merge-base", a, b, check=False)
    return res.stdout.strip() or None if res.returncode == 0 else None


def is_ancestor(repo: Path, ancestor: str, descendant: str) -> bool:
    return run_git(repo, "merge-base", "--is-ancestor", ancestor, descendant, check=False).returncode == 0


def local_branches(repo: Path, patterns: Sequence[str]) -> list[str]:
    """Local branches whose name matches one of the glob patterns, sorted by name."""
    out = git_out(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/")
    names = [n for n in out.splitlines() if n]
    return sorted(n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns))


def is_valid_branch_name(repo: Path, name: str) -> bool:
    """True when ``name`` is acceptable as a branch name (``git check-ref-format --branch``)."""
    if not name or name.startswith("-") or "@{" in name:
        return False
    return run_git(repo, "check-ref-format", "--branch", name, check=False).returncode == 0


def list_refs(repo: Path, prefix: str) -> list[str]:
    out = git_out(repo, "for-each-ref", "--format=%(refname)", prefix)
    return [line for line in out.splitlines() if line]


def update_ref(repo: Path, ref: str, sha: str) -> None:
    run_git(repo, "update-ref", ref, sha)


def delete_ref(repo: Path, ref: str) -> None:
    run_git(repo, "update-ref", "-d", ref)


def all_refs(repo: Path) -> dict[str, str]:
    """Every ref of ``repo`` (full name → the sha it points at)."""
    out = git_out(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def restore_ref(repo: Path, ref: str, sha: str | None) -> None:
    """Point ``ref`` at ``sha`` again, or delete it when ``sha`` is None; a failure is not raised (the
    caller compares the refs afterwards)."""
    if sha is None:
        run_git(repo, "update-ref", "-d", ref, check=False)
    else:
        run_git(repo, "update-ref", ref, sha, check=False)


def note_show(repo: Path, sha: str, ref: str = NOTES_REF) -> str | None:
    res = run_git(repo, "notes", f"--ref={ref}", "show", sha, check=False)
    return res.stdout if res.returncode == 0 else None


def note_add(repo: Path, sha: str, text: str, ref: str = NOTES_REF) -> None:
    """Attach ``text`` as the note of ``sha`` (replacing an older note)."""
    run_git(repo, "notes", f"--ref={ref}", "add", "--force", "--file=-", sha, input=text)


def notes_merge(repo: Path, other: str, *, strategy: str, ref: str = NOTES_REF) -> None:
    """Merge the notes ref ``other`` into ``ref`` with git's notes merge ``strategy``."""
    run_git(repo, "notes", f"--ref={ref}", "merge", "--quiet", f"--strategy={strategy}", other)


def notes_list(repo: Path, ref: str = NOTES_REF) -> list[tuple[str, str]]:
    """(note blob, annotated commit) pairs of the notes ref; empty when there is none."""
    res = run_git(repo, "notes", f"--ref={ref}", "list", check=False)
    if res.returncode != 0:
        return []
    pairs = []
    for line in res.stdout.splitlines():
        blob, _, commit = line.partition(" ")
        if commit:
            pairs.append((blob, commit))
    return pairs
