"""What candidate code can reach of the repository, and the check that it did not.

Candidate code (setup, gate, benchmark) is untrusted. A ``git worktree`` shares the repository's git
directory: a candidate could write hooks or ``core.fsmonitor`` there (run by the tool's next git
command), create branches, or forge an evaluation note for a rival. So each side is measured in a
**private clone** (:func:`checkout`): a new repository holding only the measured commit (``git fetch
--depth=1`` over git's own protocol, so objects are copied, never hard-linked to the repository's
files, and no alternates), with no remote and no ``FETCH_HEAD`` naming where it came from.

Code running as the same user can still write to the repository by its path. So the tool also takes a
snapshot of what its own git commands depend on when a measuring session starts and compares after each
run of either side (:class:`RepoGuard`; one process measures in a repository at a time, so nobody else
changes it meanwhile): the repository's config, hooks and ``HEAD``, the user's global git config, and
every ref (notes included). A change makes the candidate ``invalid`` with the path named; the snapshot
is put back (files rewritten, refs reset, new refs deleted), so nothing the candidate wrote is used.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ci_autoresearch import bounds, git
from ci_autoresearch.errors import GitError

MAX_WATCHED_FILE = 4 * 1024 * 1024
"""Files larger than this are watched by digest only (and cannot be put back)."""
MAX_HOOK_FILES = 1000
_FOLDER = b"\0<folder>"  # marks a watched folder that exists (never compared with a file's bytes)


@contextmanager
def checkout(repo: Path, sha: str, path: Path) -> Iterator[Path]:
    """A private clone of ``repo`` at commit ``sha`` in the new directory ``path``.

    Only the objects of ``sha`` are copied (depth 1); ``sha`` need not be on a ref (the loop's trial
    merges are not). No hooks or templates are installed, and the clone knows nothing of ``repo``.
    The directory is removed by the caller's temporary folder (see :func:`recover.owned_tempdir`).
    """
    path.mkdir(parents=True)
    git.init_without_template(path)
    git.fetch_shallow(path, repo.resolve(), sha)
    git.checkout_detached(path, sha)
    yield path


# --- the guard ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RepoState:
    """Watched files (path → bytes, a digest for large files, or None when absent) and refs."""

    files: Mapping[str, bytes | str | None]
    refs: Mapping[str, str]


def _read_watched(path: Path) -> bytes | str | None:
    try:
        data = bounds.read_limited(path, MAX_WATCHED_FILE)
    except FileNotFoundError:
        return None
    except bounds.BoundsError as err:
        return f"<{err}>"
    except OSError as err:
        return f"<unreadable: {err.strerror or err}>"
    return data


def _global_configs(env: Mapping[str, str]) -> list[Path]:
    paths = []
    if env.get("GIT_CONFIG_GLOBAL"):
        paths.append(Path(env["GIT_CONFIG_GLOBAL"]))
    elif env.get("HOME"):
        paths.append(Path(env["HOME"]) / ".gitconfig")
    xdg = env.get("XDG_CONFIG_HOME") or (str(Path(env["HOME"]) / ".config") if env.get("HOME") else "")
    if xdg:
        paths.append(Path(xdg) / "git" / "config")
    return paths


class RepoGuard:
    """Snapshots of ``repo`` taken around each run of untrusted code, compared and put back."""

    def __init__(self, repo: Path, env: Mapping[str, str]) -> None:
        self.repo = repo
        git_dir = git.git_dir(repo)
        common_dir = git.common_dir(repo)
        hooks_dir = git.git_path(repo, "hooks")
        self.single = [
            common_dir / "config",
            git_dir / "config.worktree",
            git_dir / "HEAD",
            common_dir / "objects" / "info" / "alternates",
            *_global_configs(env),
        ]
        self.hook_dirs = list(dict.fromkeys([common_dir / "hooks", hooks_dir]))
        self.ref_stores = [common_dir / "packed-refs", common_dir / "refs", common_dir / "reftable"]
        self.baseline = self.snapshot()
        self._marks = self._stat_marks()

    def _stat_marks(self) -> dict[str, tuple[int, ...] | None]:
        """``lstat`` marks (mode, inode, size, ctime, mtime) of every watched file and of the files the
        refs are stored in. Any write changes the ctime, which no unprivileged process can set back: when
        the marks are equal nothing was touched, and no file needs reading and no git needs running."""
        marks: dict[str, tuple[int, ...] | None] = {}
        for top in (*self.single, *self.hook_dirs, *self.ref_stores):
            for path in _walk(top):
                try:
                    st = path.lstat()
                except OSError:
                    marks[str(path)] = None
                    continue
                marks[str(path)] = (st.st_mode, st.st_ino, st.st_size, st.st_ctime_ns, st.st_mtime_ns)
        return marks

    def _files(self) -> dict[str, bytes | str | None]:
        files = {str(p): _read_watched(p) for p in self.single}
        for folder in self.hook_dirs:
            if folder.is_symlink():
                files[str(folder)] = f"<symlink to {folder.readlink()}>"
                continue
            files[str(folder)] = _FOLDER if folder.is_dir() else None
            if not folder.is_dir():
                continue
            for i, entry in enumerate(sorted(folder.rglob("*"))):
                if i >= MAX_HOOK_FILES:
                    break
                if entry.is_symlink():
                    files[str(entry)] = f"<symlink to {entry.readlink()}>"
                elif not entry.is_dir():
                    files[str(entry)] = _read_watched(entry)
        return files

    def _refs(self) -> dict[str, str]:
        return git.all_refs(self.repo)

    def snapshot(self) -> RepoState:
        return RepoState(files=self._files(), refs=self._refs())

    def check(self, before: RepoState | None = None) -> list[str]:
        """What changed since ``before`` (default: the snapshot taken when the guard was made), as file
        paths and ref names, sorted, after putting it back.

        Files are compared and restored first, so that no planted config or hook is in place when git
        is asked for the refs. Against the guard's own snapshot, files are read and git is run only when
        a watched file's ``lstat`` marks changed.
        """
        if before is None:
            marks = self._stat_marks()
            if marks == self._marks:
                return []
            changed = self.check(self.baseline)
            self._marks = self._stat_marks()  # as put back (or touched without a change)
            return changed
        files = self._files()
        changed_files = sorted(
            k for k in before.files.keys() | files.keys() if before.files.get(k) != files.get(k)
        )
        for name in changed_files:
            _restore_file(Path(name), before.files.get(name))
        refs = self._refs()
        changed_refs = sorted(
            k for k in before.refs.keys() | refs.keys() if before.refs.get(k) != refs.get(k)
        )
        for ref in changed_refs:
            git.restore_ref(self.repo, ref, before.refs.get(ref))
        if self._refs() != dict(before.refs):
            raise GitError(
                f"{self.repo}: refs changed by a candidate could not be put back: {changed_refs[:3]}"
            )
        return [_shown(self.repo, name) for name in changed_files] + changed_refs


def _walk(top: Path) -> list[Path]:
    """``top`` and, for a real folder, everything below it (at most :data:`MAX_HOOK_FILES` entries)."""
    out = [top]
    if top.is_dir() and not top.is_symlink():
        for folder, dirs, names in os.walk(top):
            base = Path(folder)
            out += [base / name for name in (*dirs, *names)]
            if len(out) > MAX_HOOK_FILES * 10:
                break
    return out


def _restore_file(path: Path, old: bytes | str | None) -> None:
    """Put ``path`` back as it was: its old bytes, a folder, or nothing."""
    try:
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            path.unlink()
        elif path.is_dir() and old != _FOLDER:
            if old is None:
                return  # a new folder (of hooks): its files were listed and are removed one by one
            shutil.rmtree(path)
        if old == _FOLDER:
            path.mkdir(parents=True, exist_ok=True)
        elif isinstance(old, bytes):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(old)
    except OSError as err:
        raise GitError(f"{path}: changed by a candidate and could not be put back ({err.strerror})") from None


def _shown(repo: Path, name: str) -> str:
    path = Path(name)
    try:
        return str(path.relative_to(repo))
    except ValueError:
        return str(path)


__all__ = ["RepoGuard", "RepoState", "checkout"]
