"""Small, named functions over git. Every git call of the tool goes through here.

Each function takes the repository path first; errors become :class:`GitError` with one clear line.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from ci_autoresearch.errors import BadInputError, GitError
from ci_autoresearch.measure.runner import ToolResult, run_tool

NOTES_REF = "refs/notes/autoresearch"
DISCARDED_PREFIX = "refs/autoresearch/discarded/"

# Options of every git command the tool runs. Candidate code may have written the repository's
# configuration or hooks (worktrees share the git directory), so the tool's own commands never run a
# hook, an fsmonitor program, an `ext::` transport or a signing program; nothing here depends on them.
SAFE_OPTIONS = (
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.fsmonitor=false",
    "-c", "protocol.ext.allow=never",
    "-c", "commit.gpgSign=false",
    "-c", "tag.gpgSign=false",
)  # fmt: skip


def _git(
    repo: Path,
    *args: str,
    check: bool = True,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
) -> ToolResult:
    try:
        return run_tool(["git", *SAFE_OPTIONS, *args], cwd=repo, input=input, check=check, env=env)
    except BadInputError as err:  # name the command as the user would type it
        raise GitError(err.message.replace(f"git {shlex.join(SAFE_OPTIONS)} ", "git ")) from err


def _out(repo: Path, *args: str) -> str:
    return _git(repo, *args).stdout.strip()


def toplevel(path: Path) -> Path:
    """The root of the work tree containing ``path``."""
    res = _git(path, "rev-parse", "--show-toplevel", check=False)
    if res.returncode != 0:
        raise GitError(
            f"{path} is not inside a git repository", hint="run it from your repository, or `git init`"
        )
    return Path(res.stdout.strip())


def common_dir(repo: Path) -> Path:
    """The git directory shared by every worktree of ``repo`` (``.git`` of the main worktree)."""
    return Path(_out(repo, "rev-parse", "--path-format=absolute", "--git-common-dir"))


def git_dir(repo: Path) -> Path:
    """The git directory of ``repo``'s worktree (absolute; a linked worktree has its own)."""
    return Path(_out(repo, "rev-parse", "--absolute-git-dir"))


def git_path(repo: Path, name: str) -> Path:
    """Where ``<git dir>/<name>`` is for ``repo`` (``git rev-parse --git-path``), as an absolute path."""
    path = Path(_out(repo, "rev-parse", "--git-path", name))
    return path if path.is_absolute() else repo / path


def listed_files(repo: Path, patterns: Sequence[str] = ()) -> list[str]:
    """The work tree's files as git lists them: tracked and untracked, not ignored (unsorted); with
    ``patterns``, only those matching them (see :func:`pathspecs`)."""
    limit = ["--", *pathspecs(patterns)] if patterns else []
    out = _git(repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard", *limit).stdout
    return [p for p in out.split("\0") if p]


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
    res = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if res.returncode != 0 or not res.stdout.strip():
        raise GitError(f"unknown git ref {ref!r}", hint="check the branch name; `git branch -a` lists them")
    return res.stdout.strip()


def try_resolve(repo: Path, ref: str) -> str | None:
    if not ref or ref.startswith("-") or "\0" in ref:
        return None
    res = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    return res.stdout.strip() if res.returncode == 0 and res.stdout.strip() else None


def current_branch(repo: Path) -> str | None:
    res = _git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    return res.stdout.strip() or None if res.returncode == 0 else None


def is_dirty(repo: Path) -> bool:
    """True when tracked files have uncommitted changes (untracked files do not count)."""
    return bool(_out(repo, "status", "--porcelain", "--untracked-files=no"))


def short(sha: str) -> str:
    return sha[:8]


def merge_base(repo: Path, a: str, b: str) -> str | None:
    res = _git(repo, "merge-base", a, b, check=False)
    return res.stdout.strip() or None if res.returncode == 0 else None


def is_ancestor(repo: Path, ancestor: str, descendant: str) -> bool:
    return _git(repo, "merge-base", "--is-ancestor", ancestor, descendant, check=False).returncode == 0


def pathspecs(patterns: Sequence[str]) -> list[str]:
    """Repository-relative glob patterns as git pathspecs: ``*`` stays within one folder, ``**`` crosses
    folders, and a folder's name (with or without a trailing ``/``) covers everything below it."""
    return [f":(top,glob){p}" for p in patterns]


def changed_files(repo: Path, base: str, candidate: str, patterns: Sequence[str]) -> list[tuple[str, str]]:
    """``(status, path)`` of the files matching ``patterns`` that the candidate changed since it forked
    from ``base``; status is git's letter (``A`` added, ``M`` modified, ``D`` deleted, ``T`` type
    changed). Renames count as a deletion and an addition."""
    if not patterns:
        return []
    fork = merge_base(repo, base, candidate) or base
    out = _git(
        repo, "diff", "--name-status", "--no-renames", "-z", fork, candidate, "--", *pathspecs(patterns)
    ).stdout
    fields = out.split("\0")
    return [(fields[i][:1], fields[i + 1]) for i in range(0, len(fields) - 1, 2) if fields[i]]


def local_branches(repo: Path, patterns: Sequence[str]) -> list[str]:
    """Local branches whose name matches one of the glob patterns, sorted by name."""
    out = _out(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/")
    names = [n for n in out.splitlines() if n]
    return sorted(n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns))


@contextlib.contextmanager
def worktree(repo: Path, sha: str, path: Path) -> Iterator[Path]:
    """A detached worktree of ``sha`` at ``path``, removed afterwards even on error or Ctrl-C."""
    _git(repo, "worktree", "add", "--detach", "--force", "--quiet", "--", str(path), sha)
    try:
        yield path
    finally:
        worktree_remove(repo, str(path))
        worktree_prune(repo)


def worktree_paths(repo: Path) -> list[str] | None:
    """The paths of ``repo``'s worktrees (the main one first); None when git cannot list them."""
    res = _git(repo, "worktree", "list", "--porcelain", check=False)
    if res.returncode != 0:
        return None
    lines = res.stdout.splitlines()
    return [line.removeprefix("worktree ") for line in lines if line.startswith("worktree ")]


def worktree_remove(repo: Path, path: str) -> None:
    """Remove the worktree at ``path`` even with changes in it (nothing happens when it is not one)."""
    _git(repo, "worktree", "remove", "--force", "--", path, check=False)


def worktree_prune(repo: Path) -> None:
    """Forget worktrees whose folder is gone."""
    _git(repo, "worktree", "prune", check=False)


def merge_ff_only(repo: Path, sha: str) -> None:
    """Move the checked-out branch (and its work tree) forward to ``sha``; :class:`GitError` otherwise."""
    _git(repo, "merge", "--ff-only", "--quiet", sha)


# --- commits without a worktree ---------------------------------------------------------------------


def tree_of(repo: Path, sha: str) -> str:
    return _out(repo, "rev-parse", f"{sha}^{{tree}}")


def commit_date(repo: Path, sha: str) -> str:
    """The committer date of ``sha`` in git's raw form (reused to make derived commits deterministic)."""
    return _out(repo, "log", "-1", "--format=%cD", sha)


def merge_tree(repo: Path, ours: str, theirs: str) -> str | None:
    """The tree of merging ``theirs`` into ``ours`` (no worktree touched); None on a conflict."""
    res = _git(repo, "merge-tree", "--write-tree", "--no-messages", ours, theirs, check=False)
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
    return _git(repo, *args, input=message, env=env).stdout.strip()


# --- notes -------------------------------------------------------------------------------------------


def note_show(repo: Path, sha: str, ref: str = NOTES_REF) -> str | None:
    res = _git(repo, "notes", f"--ref={ref}", "show", sha, check=False)
    return res.stdout if res.returncode == 0 else None


def note_add(repo: Path, sha: str, text: str, ref: str = NOTES_REF) -> None:
    """Attach ``text`` as the note of ``sha`` (replacing an older note)."""
    _git(repo, "notes", f"--ref={ref}", "add", "--force", "--file=-", sha, input=text)


def notes_merge(repo: Path, other: str, *, strategy: str, ref: str = NOTES_REF) -> None:
    """Merge the notes ref ``other`` into ``ref`` with git's notes merge ``strategy``."""
    _git(repo, "notes", f"--ref={ref}", "merge", "--quiet", f"--strategy={strategy}", other)


def notes_list(repo: Path, ref: str = NOTES_REF) -> list[tuple[str, str]]:
    """(note blob, annotated commit) pairs of the notes ref; empty when there is none."""
    res = _git(repo, "notes", f"--ref={ref}", "list", check=False)
    if res.returncode != 0:
        return []
    pairs = []
    for line in res.stdout.splitlines():
        blob, _, commit = line.partition(" ")
        if commit:
            pairs.append((blob, commit))
    return pairs


def cat_blobs(repo: Path, blobs: Sequence[str]) -> list[str]:
    """The contents of many blobs with one git process (``cat-file --batch``)."""
    if not blobs:
        return []
    res = _git(repo, "cat-file", "--batch", input="".join(b + "\n" for b in blobs))
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
    res = _git(repo, "cat-file", "--batch-check", input="".join(b + "\n" for b in blobs))
    sizes = []
    for line in res.stdout.splitlines():
        parts = line.split()
        sizes.append(int(parts[2]) if len(parts) == 3 and parts[2].isdigit() else -1)
    return sizes


def list_refs(repo: Path, prefix: str) -> list[str]:
    out = _out(repo, "for-each-ref", "--format=%(refname)", prefix)
    return [line for line in out.splitlines() if line]


def update_ref(repo: Path, ref: str, sha: str) -> None:
    _git(repo, "update-ref", ref, sha)


def delete_ref(repo: Path, ref: str) -> None:
    _git(repo, "update-ref", "-d", ref)


def all_refs(repo: Path) -> dict[str, str]:
    """Every ref of ``repo`` (full name → the sha it points at)."""
    out = _out(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def restore_ref(repo: Path, ref: str, sha: str | None) -> None:
    """Point ``ref`` at ``sha`` again, or delete it when ``sha`` is None; a failure is not raised (the
    caller compares the refs afterwards)."""
    if sha is None:
        _git(repo, "update-ref", "-d", ref, check=False)
    else:
        _git(repo, "update-ref", ref, sha, check=False)


_CREDENTIAL_KEYS = (
    r"^(http\..*\.extraheader|credential\..*|remote\..*\.(push)?url|url\..*\.(push)?insteadof)$"
)
_URL_WITH_CREDENTIALS = re.compile(r"://(?:[^/\s@:]+:[^/\s@]+|[^/\s@:]{20,})@")


def persisted_credentials(repo: Path) -> list[str]:
    """The keys of the repository's own configuration (includes followed) that hold a credential: what
    ``actions/checkout`` persists (``http.<url>.extraheader``), a credential helper or user name, a URL
    with a password or token in it. A job that runs candidate code must hold none of them."""
    res = _git(repo, "config", "--local", "--includes", "--get-regexp", _CREDENTIAL_KEYS, check=False)
    found = []
    for line in res.stdout.splitlines():
        key, _, value = line.partition(" ")
        lowered = key.lower()
        header_or_helper = lowered.endswith(".extraheader") or lowered.startswith("credential.")
        if header_or_helper or _URL_WITH_CREDENTIALS.search(value):
            found.append(key)
    return sorted(set(found))


def bundle_create(repo: Path, path: Path, ref: str, *, exclude: str) -> None:
    """A git bundle at ``path`` holding ``ref`` and the commits it has beyond ``exclude``."""
    _git(repo, "bundle", "create", "--quiet", str(path), ref, f"^{exclude}")


def bundle_heads(repo: Path, path: Path) -> list[tuple[str, str]]:
    """(sha, ref) of each head of a verified git bundle (untrusted input: verified against ``repo``)."""
    _git(repo, "bundle", "verify", "--quiet", str(path))
    out = _out(repo, "bundle", "list-heads", str(path))
    heads = []
    for line in out.splitlines():
        sha, _, ref = line.partition(" ")
        heads.append((sha, ref))
    return heads


def bundle_fetch(repo: Path, path: Path, ref: str, into: str) -> None:
    """Fetch ``ref`` of the bundle at ``path`` into the local ref ``into``, checking every object."""
    _git(
        repo, "-c", "transfer.fsckObjects=true", "fetch", "--quiet", "--no-tags", str(path), f"+{ref}:{into}"
    )


def push(repo: Path, remote: str, refspec: str) -> None:
    """Push one refspec (never forced unless it starts with ``+``); :class:`GitError` when refused."""
    _git(repo, "push", "--quiet", "--", remote, refspec)


def try_push(repo: Path, remote: str, refspec: str) -> bool:
    """Push one refspec to ``remote`` (a checked name); False when it is refused (e.g. not a fast-forward)."""
    res = _git(repo, "push", "--quiet", "--", check_name(remote, "remote"), refspec, check=False)
    return res.returncode == 0


def try_fetch(repo: Path, remote: str, refspec: str) -> str | None:
    """Fetch one refspec from ``remote`` (a checked name); None when done, else git's error output."""
    res = _git(repo, "fetch", "--quiet", "--", check_name(remote, "remote"), refspec, check=False)
    return None if res.returncode == 0 else res.stderr


def fetch_commit(repo: Path, remote: str, sha: str) -> bool:
    """Make commit ``sha`` present (fetched from ``remote`` unless it already is); False when it cannot."""
    if try_resolve(repo, sha) is not None:
        return True
    res = _git(repo, "fetch", "--quiet", "--no-tags", remote, sha, check=False)
    return res.returncode == 0 and try_resolve(repo, sha) is not None


def fetch_shallow(repo: Path, source: Path, sha: str) -> None:
    """Fetch commit ``sha`` and only its objects (depth 1) from the repository at ``source``, with no ref
    or ``FETCH_HEAD`` written; ``sha`` need not be on a ref (protocol v2 lets upload-pack send it)."""
    _git(
        repo,
        *("-c", "protocol.version=2", "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--depth=1"),
        str(source),
        sha,
    )


def remote_url(repo: Path, remote: str) -> str | None:
    res = _git(repo, "remote", "get-url", "--", check_name(remote, "remote"), check=False)
    return res.stdout.strip() or None if res.returncode == 0 else None


# --- making a repository (the demo, private clones) -----------------------------------------------------


def init(path: Path, *, branch: str, env: Mapping[str, str]) -> None:
    """A new repository at ``path`` whose first branch is ``branch``."""
    _git(path, "init", "--quiet", f"--initial-branch={branch}", env=env)


def init_without_template(path: Path) -> None:
    """A new repository at ``path`` made without any template: no hooks, no sample files."""
    _git(path, "init", "--quiet", "--template=")


def checkout_detached(repo: Path, sha: str) -> None:
    """Check out commit ``sha`` with a detached ``HEAD``."""
    _git(repo, "checkout", "--quiet", "--detach", sha)


def add_all(repo: Path, *, env: Mapping[str, str]) -> None:
    """Stage every change of the work tree, new and deleted files included."""
    _git(repo, "add", "-A", env=env)


def commit(repo: Path, message: str, *, env: Mapping[str, str], all_tracked: bool = False) -> None:
    """Commit the index (with ``all_tracked``: every change to tracked files) with ``message``."""
    _git(repo, "commit", "--quiet", *(["-a"] if all_tracked else []), "-m", message, env=env)


def tag(repo: Path, name: str, *, env: Mapping[str, str]) -> None:
    """A lightweight tag ``name`` on ``HEAD``."""
    _git(repo, "tag", name, env=env)


def checkout(repo: Path, branch: str, *, env: Mapping[str, str], start: str | None = None) -> None:
    """Check out ``branch``; with ``start``, a new branch made there."""
    new = ["-b", branch, start] if start is not None else [branch]
    _git(repo, "checkout", "--quiet", *new, env=env)


# --- plumbing for propose ----------------------------------------------------------------------------


def file_at(repo: Path, sha: str, path: str) -> str | None:
    """The text of ``path`` in commit ``sha``; None when it is not a file there.

    Undecodable bytes are replaced and CRLF / CR line endings become LF (text mode): check with
    :func:`file_size` before writing the text back.
    """
    res = _git(repo, "cat-file", "blob", f"{sha}:{path}", check=False)
    return res.stdout if res.returncode == 0 else None


def file_size(repo: Path, sha: str, path: str) -> int | None:
    """The size in bytes of the file ``path`` in commit ``sha``; None when it is not a file there.

    :func:`file_at` returns decoded text with line endings normalised; comparing its UTF-8 length with
    this size tells whether that text is a faithful copy (UTF-8, LF line endings).
    """
    res = _git(repo, "cat-file", "-s", f"{sha}:{path}", check=False)
    return int(res.stdout.strip()) if res.returncode == 0 and res.stdout.strip().isdigit() else None


def file_mode(repo: Path, sha: str, path: str) -> str | None:
    """The mode (``100644``, ``100755``, …) of the file ``path`` in commit ``sha``; None when absent."""
    out = _out(repo, "ls-tree", sha, "--", path)
    for line in out.splitlines():
        meta, _, name = line.partition("\t")
        parts = meta.split()
        if name == path and len(parts) == 3 and parts[1] == "blob":
            return parts[0]
    return None


def committer_date(repo: Path, sha: str) -> str:
    """The committer date of ``sha`` in git's raw form (``<unix seconds> <+hhmm>``)."""
    return _out(repo, "log", "-1", "--format=%cd", "--date=raw", sha)


def is_valid_branch_name(repo: Path, name: str) -> bool:
    """True when ``name`` is acceptable as a branch name (``git check-ref-format --branch``)."""
    if not name or name.startswith("-") or "@{" in name:
        return False
    return _git(repo, "check-ref-format", "--branch", name, check=False).returncode == 0


def read_tree(repo: Path, tree: str, *, env: Mapping[str, str]) -> None:
    """Load ``tree`` (or a commit's tree) into the index ``env`` names (``GIT_INDEX_FILE``)."""
    _git(repo, "read-tree", tree, env=env)


def index_entries(repo: Path, patterns: Sequence[str], *, env: Mapping[str, str]) -> list[str]:
    """The entries (``mode sha stage<TAB>path``) of the index ``env`` names that match ``patterns``."""
    out = _git(repo, "ls-files", "-z", "--stage", "--", *pathspecs(patterns), env=env).stdout
    return [e for e in out.split("\0") if e]


def update_index_info(repo: Path, entries: Sequence[str], *, env: Mapping[str, str]) -> None:
    """Put ``entries`` (as :func:`index_entries` gives them) into the index ``env`` names."""
    _git(repo, "update-index", "-z", "--index-info", input="\0".join(entries) + "\0", env=env)


def add_force(repo: Path, paths: Sequence[str], *, env: Mapping[str, str]) -> None:
    """Add the files at ``paths`` (literal, from the top) to the index ``env`` names, ignored or not."""
    _git(repo, "add", "--force", "--", *(f":(top,literal){p}" for p in paths), env=env)


def write_tree(repo: Path, *, env: Mapping[str, str]) -> str:
    """The tree of the index ``env`` names, written to the object store."""
    return _git(repo, "write-tree", env=env).stdout.strip()


def checkout_index(repo: Path, prefix: Path, *, env: Mapping[str, str]) -> None:
    """Write every file of the index ``env`` names below the folder ``prefix`` (overwriting)."""
    _git(repo, "checkout-index", "--all", "--force", f"--prefix={prefix}{os.sep}", env=env)


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
            blob = _git(repo, "hash-object", "-w", "--stdin", input=text, env=env).stdout.strip()
            mode = file_mode(repo, base, path) or "100644"
            _git(repo, "update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}", env=env)
        tree = write_tree(repo, env=env)
        res = _git(repo, "commit-tree", "--no-gpg-sign", tree, "-p", base, "-F", "-", input=message, env=env)
        return res.stdout.strip()
