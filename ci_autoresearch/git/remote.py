"""Other repositories: remotes (push, fetch, URL), bundles, a shallow fetch from a local repository."""

from __future__ import annotations

from pathlib import Path

from ci_autoresearch.git._command import git_out, run_git
from ci_autoresearch.git.refs import check_name, try_resolve


def bundle_create(repo: Path, path: Path, ref: str, *, exclude: str) -> None:
    """A git bundle at ``path`` holding ``ref`` and the commits it has beyond ``exclude``."""
    run_git(repo, "bundle", "create", "--quiet", str(path), ref, f"^{exclude}")


def bundle_heads(repo: Path, path: Path) -> list[tuple[str, str]]:
    """(sha, ref) of each head of a verified git bundle (untrusted input: verified against ``repo``)."""
    run_git(repo, "bundle", "verify", "--quiet", str(path))
    out = git_out(repo, "bundle", "list-heads", str(path))
    heads = []
    for line in out.splitlines():
        sha, _, ref = line.partition(" ")
        heads.append((sha, ref))
    return heads


def bundle_fetch(repo: Path, path: Path, ref: str, into: str) -> None:
    """Fetch ``ref`` of the bundle at ``path`` into the local ref ``into``, checking every object."""
    run_git(
        repo, "-c", "transfer.fsckObjects=true", "fetch", "--quiet", "--no-tags", str(path), f"+{ref}:{into}"
    )


def push(repo: Path, remote: str, refspec: str) -> None:
    """Push one refspec (never forced unless it starts with ``+``); :class:`GitError` when refused."""
    run_git(repo, "push", "--quiet", "--", remote, refspec)


def try_push(repo: Path, remote: str, refspec: str) -> bool:
    """Push one refspec to ``remote`` (a checked name); False when it is refused (e.g. not a fast-forward)."""
    res = run_git(repo, "push", "--quiet", "--", check_name(remote, "remote"), refspec, check=False)
    return res.returncode == 0


def try_fetch(repo: Path, remote: str, refspec: str) -> str | None:
    """Fetch one refspec from ``remote`` (a checked name); None when done, else git's error output."""
    res = run_git(repo, "fetch", "--quiet", "--", check_name(remote, "remote"), refspec, check=False)
    return None if res.returncode == 0 else res.stderr


def fetch_commit(repo: Path, remote: str, sha: str) -> bool:
    """Make commit ``sha`` present (fetched from ``remote`` unless it already is); False when it cannot."""
    if try_resolve(repo, sha) is not None:
        return True
    res = run_git(repo, "fetch", "--quiet", "--no-tags", remote, sha, check=False)
    return res.returncode == 0 and try_resolve(repo, sha) is not None


def fetch_shallow(repo: Path, source: Path, sha: str) -> None:
    """Fetch commit ``sha`` and only its objects (depth 1) from the repository at ``source``, with no ref
    or ``FETCH_HEAD`` written; ``sha`` need not be on a ref (protocol v2 lets upload-pack send it)."""
    run_git(
        repo,
        *("-c", "protocol.version=2", "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--depth=1"),
        str(source),
        sha,
    )


def remote_url(repo: Path, remote: str) -> str | None:
    res = run_git(repo, "remote", "get-url", "--", check_name(remote, "remote"), check=False)
    return res.stdout.strip() or None if res.returncode == 0 else None
