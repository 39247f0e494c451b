"""Objects without a work tree: trees, commits, blobs, files of a commit, and temporary indexes."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from ci_autoresearch.errors import GitError
from ci_autoresearch.git._command import git_out, run_git
from ci_autoresearch.git.refs import short
from ci_autoresearch.git.repository import pathspecs


def tree_of(repo: Path, sha: str) -> str:
    return git_out(repo, "rev-parse", f"{sha}^{{tree}}")


def commit_date(repo: Path, sha: str) -> str:
    """The committer date of ``sha`` in git's raw form (reused to make derived commits deterministic)."""
    return git_out(repo, "log", "-1", "--format=%cD", sha)


def committer_date(repo: Path, sha: str) -> str:
    """The committer date of ``sha`` in git's raw form (``<unix seconds> <+hhmm>``)."""
    return git_out(repo, "log", "-1", "--format=%cd", "--date=raw", sha)


def merge_tree(repo: Path, ours: str, theirs: str) -> str | None:
    """The tree of merging ``theirs`` into ``ours`` (no worktree touched); None on a conflict."""
    res = run_git(repo, "merge-tree", "--write-tree", "--no-messages", ours, theirs, check=False)
    if res.returncode == 0:
        return res.stdout.split()[0]
    if res.returncode == 1:
        return None
    raise GitError(f"git merge-tree {short(ours)} {short(theirs)} failed: {res.stderr.strip()[:200]}")


def commit_tree(
    repo: Path, tree: str, parents: Sequence[str], message: str, env: Mapping[str, str] | None = None
) -> str:
    """A new commit object (no ref moved). Pass author/committer dates in ``env`` to make it deterministic."""
    args = ["commit-tree", tree]
    for parent in parents:
        args += ["-p", parent]
    return run_git(repo, *args, input=message, env=env).stdout.strip()


def file_at(repo: Path, sha: str, path: str) -> str | None:
    """The text of ``path`` in commit ``sha``; None when it is not a file there.

    Undecodable bytes are replaced and CRLF / CR line endings become LF (text mode): check with
    :func:`file_size` before writing the text back.
    """
    res = run_git(repo, "cat-file", "blob", f"{sha}:{path}", check=False)
    return res.stdout if res.returncode == 0 else None


def file_size(repo: Path, sha: str, path: str) -> int | None:
    """The size in bytes of the file ``path`` in commit ``sha``; None when it is not a file there.

    :func:`file_at` returns decoded text with line endings normalised; comparing its UTF-8 length with
    this size tells whether that text is a faithful copy (UTF-8, LF line endings).
    """
    res = run_git(repo, "cat-file", "-s", f"{sha}:{path}", check=False)
    return int(res.stdout.strip()) if res.returncode == 0 and res.stdout.strip().isdigit() else None


def file_mode(repo: Path, sha: str, path: str) -> str | None:
    """The mode (``100644``, ``100755``, …) of the file ``path`` in commit ``sha``; None when absent."""
    out = git_out(repo, "ls-tree", sha, "--", path)
    for line in out.splitlines():
        meta, _, name = line.partition("\t")
        parts = meta.split()
        if name == path and len(parts) == 3 and parts[1] == "blob":
            return parts[0]
    return None


def cat_blobs(repo: Path, blobs: Sequence[str]) -> list[str]:
    """The contents of many blobs with one git process (``cat-file --batch``)."""
    if not blobs:
        return []
    res = run_git(repo, "cat-file", "--batch", input="".join(b + "\n" for b in blobs))
    data = res.stdout.encode("utf-8", "surrogateescape")  # sizes in the headers are bytes
    texts = []
    pos = 0
    for _ in blobs:
        header_end = data.index(b"\n", pos)
        size = int(data[pos:header_end].split()[2])
        start = header_end + 1
        texts.append(data[start : start + size].decode("utf-8", "replace"))
        pos = start + size + 1
    return texts


def blob_sizes(repo: Path, blobs: Sequence[str]) -> list[int]:
    """The size in bytes of each blob, with one git process (``cat-file --batch-check``); -1 when absent."""
    if not blobs:
        return []
    res = run_git(repo, "cat-file", "--batch-check", input="".join(b + "\n" for b in blobs))
    sizes = []
    for line in res.stdout.splitlines():
        parts = line.split()
        sizes.append(int(parts[2]) if len(parts) == 3 and parts[2].isdigit() else -1)
    return sizes


def read_tree(repo: Path, tree: str, *, env: Mapping[str, str]) -> None:
    """Load ``tree`` (or a commit's tree) into the index ``env`` names (``GIT_INDEX_FILE``)."""
    run_git(repo, "read-tree", tree, env=env)


def index_entries(repo: Path, patterns: Sequence[str], *, env: Mapping[str, str]) -> list[str]:
    """The entries (``mode sha stage<TAB>path``) of the index ``env`` names that match ``patterns``."""
    out = run_git(repo, "ls-files", "-z", "--stage", "--", *pathspecs(patterns), env=env).stdout
    return [e for e in out.split("\0") if e]


def update_index_info(repo: Path, entries: Sequence[str], *, env: Mapping[str, str]) -> None:
    """Put ``entries`` (as :func:`index_entries` gives them) into the index ``env`` names."""
    run_git(repo, "update-index", "-z", "--index-info", input="\0".join(entries) + "\0", env=env)


def add_force(repo: Path, paths: Sequence[str], *, env: Mapping[str, str]) -> None:
    """Add the files at ``paths`` (literal, from the top) to the index ``env`` names, ignored or not."""
    run_git(repo, "add", "--force", "--", *(f":(top,literal){p}" for p in paths), env=env)


def write_tree(repo: Path, *, env: Mapping[str, str]) -> str:
    """The tree of the index ``env`` names, written to the object store."""
    return run_git(repo, "write-tree", env=env).stdout.strip()


def checkout_index(repo: Path, prefix: Path, *, env: Mapping[str, str]) -> None:
    """Write every file of the index ``env`` names below the folder ``prefix`` (overwriting)."""
    run_git(repo, "checkout-index", "--all", "--force", f"--prefix={prefix}{os.sep}", env=env)


def commit_files(
    repo: Path,
    base: str,
    files: Mapping[str, str],
    message: str,
    *,
    name: str,
    email: str,
    date: str,
    env: Mapping[str, str],
) -> str:
    """A commit on top of ``base`` whose tree is ``base``'s with ``files`` (path → text) replaced.

    Plumbing only, with a temporary index (``GIT_INDEX_FILE``): no worktree, no user index, no ref is
    touched. Author and committer are ``name <email>`` at ``date`` (git's raw form), the commit is never
    signed, and the blobs are hashed without filters: the same inputs give the same sha every time.
    Each file keeps its mode in ``base`` (``100644`` for a new file). The git processes get ``env`` (the
    caller's environment) with the index and the identity set. Returns the new commit's sha.
    """
    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="autoresearch-index-") as tmp:
        env = {
            **env,
            "GIT_INDEX_FILE": str(Path(tmp) / "index"),
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_AUTHOR_DATE": date,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
            "GIT_COMMITTER_DATE": date,
        }
        read_tree(repo, base, env=env)
        for path, text in files.items():
            blob = run_git(repo, "hash-object", "-w", "--stdin", input=text, env=env).stdout.strip()
            mode = file_mode(repo, base, path) or "100644"
            run_git(repo, "update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}", env=env)
        tree = write_tree(repo, env=env)
        res = run_git(
            repo, "commit-tree", "--no-gpg-sign", tree, "-p", base, "-F", "-", input=message, env=env
        )
        return res.stdout.strip()
