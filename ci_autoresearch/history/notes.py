"""Git notes as the checkpoint: every evaluation is a line of JSON in ``refs/notes/autoresearch``.

A note is attached to the measured candidate commit and holds one ``evaluation@1`` document per line
(JSON Lines), so a later decision about the same key is appended, never rewritten, and two runs that
push at once are merged with git's own ``cat_sort_uniq`` strategy without losing either's lines.
Reading parses every note once; a cache under the state directory (``.git/autoresearch/cache``, see
:mod:`ci_autoresearch.history.state`) keyed by the notes commit makes
repeated reads of large histories cheap (the cache is only a cache: git is the source of truth).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ci_autoresearch import git
from ci_autoresearch.artifacts import SCHEMA_IDS, evaluation_from_json, evaluation_to_json, parse_document
from ci_autoresearch.errors import ArtifactError, GitError
from ci_autoresearch.history import recover
from ci_autoresearch.history.state import state_dir
from ci_autoresearch.model import Evaluation

REMOTE_TRACKING = "refs/notes/autoresearch-remote"
MAX_NOTE_BYTES = 8 * 1024 * 1024
"""Notes larger than this are not read (a note holds every decision about one commit, as JSON lines)."""


def evaluation_key(
    candidate_sha: str, baseline_sha: str, config_hash: str, benchmark: str | None = None
) -> str:
    """``candidate:baseline:config hash``, plus ``:benchmark tree`` when the benchmark's files come from
    one source (``benchmark.from``, :func:`ci_autoresearch.measure.overlay.key_part`)."""
    key = f"{candidate_sha}:{baseline_sha}:{config_hash}"
    return f"{key}:{benchmark}" if benchmark else key


@dataclass(frozen=True, kw_only=True)
class History:
    """Every evaluation in order (iteration, then time), and the lines that could not be read."""

    evaluations: tuple[Evaluation, ...]
    problems: tuple[str, ...] = ()

    def latest(self) -> list[Evaluation]:
        """One evaluation per key: the last line written for it (later decisions update earlier ones)."""
        by_key: dict[str, Evaluation] = {}
        for ev in self.evaluations:
            by_key[ev.key] = ev
        return sorted(by_key.values(), key=_order)

    def find(self, key: str) -> Evaluation | None:
        found = None
        for ev in self.evaluations:
            if ev.key == key:
                found = ev
        return found

    def find_pair(self, candidate_sha: str, baseline_sha: str, config_hash: str) -> Evaluation | None:
        """The last evaluation of this pair under this configuration, whatever benchmark files it used."""
        prefix = evaluation_key(candidate_sha, baseline_sha, config_hash)
        found = None
        for ev in self.evaluations:
            if ev.key == prefix or ev.key.startswith(prefix + ":"):
                found = ev
        return found

    def tried_heads(self) -> set[str]:
        return {ev.candidate_head for ev in self.latest() if ev.decision != "pending"}

    def next_iteration(self) -> int:
        return max((ev.iteration for ev in self.evaluations), default=0) + 1


def _order(ev: Evaluation) -> tuple[int, str]:
    return (ev.iteration, ev.comparison.finished_at)


def record(repo: Path, ev: Evaluation) -> None:
    """Append ``ev`` to the note of its measured commit. This is the first effect of every decision."""
    sha = ev.comparison.candidate.sha
    old = git.note_show(repo, sha) or ""
    line = json.dumps(evaluation_to_json(ev), separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    text = (old.rstrip("\n") + "\n" if old.strip() else "") + line + "\n"
    try:
        with recover.repo_lock(repo):  # never while another process's candidate runs (see repo_lock)
            git.note_add(repo, sha, text)
    except GitError as err:  # nothing measured is lost: kept on disk, recorded by the next run
        saved = recover.save_unrecorded(repo, ev.key, line)
        lock = git.git_path(repo, f"{git.NOTES_REF}.lock")
        why = (
            f"{lock} exists (another git holds the notes, or one was killed)"
            if lock.exists()
            else err.message
        )
        raise GitError(
            f"the evaluation of {sha[:8]} could not be written as a note: {why}; it is kept in {saved} "
            "and recorded by the next run"
        ) from err


def _notes_commit(repo: Path) -> str | None:
    return git.try_resolve(repo, git.NOTES_REF)


def _cache_file(repo: Path, commit: str) -> Path:
    return state_dir(repo) / "cache" / f"history-{commit}.jsonl"


def load(repo: Path, *, use_cache: bool = True) -> History:
    """Read every evaluation from the notes; unreadable lines are reported, not fatal.

    The cache (``<state dir>/cache/history-<notes commit>.jsonl``) holds the lines that passed
    validation when that notes commit was first read, so a later read skips git and the schema check.
    """
    commit = _notes_commit(repo)
    if commit is None:
        return History(evaluations=())
    cache = _cache_file(repo, commit)
    if use_cache and cache.is_file():
        try:
            lines = cache.read_text().splitlines()
            cached = [evaluation_from_json(json.loads(line)) for line in lines[1:]]
            return History(
                evaluations=tuple(sorted(cached, key=_order)), problems=tuple(json.loads(lines[0]))
            )
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            pass  # a broken cache is ignored and rebuilt
    bad: list[str] = []
    pairs = []
    listed = git.notes_list(repo)
    for (blob, commit_sha), size in zip(listed, git.blob_sizes(repo, [b for b, _ in listed]), strict=True):
        if size > MAX_NOTE_BYTES:  # notes may come from a remote: sized before they are read
            bad.append(f"note on {commit_sha[:8]}: {size} bytes, more than the limit of {MAX_NOTE_BYTES}")
        else:
            pairs.append((blob, commit_sha))
    texts = git.cat_blobs(repo, [blob for blob, _ in pairs])
    valid: list[str] = []
    evaluations: list[Evaluation] = []
    for (_, commit_sha), text in zip(pairs, texts, strict=True):
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            source = f"note on {commit_sha[:8]} line {n}"
            try:
                kind, doc = parse_document(line, source=source)
                if kind != "evaluation":  # notes may come from a remote: untrusted like any artifact
                    raise ArtifactError(
                        f"{source}: schema: expected {SCHEMA_IDS['evaluation']}, got {SCHEMA_IDS[kind]}"
                    )
                _check_claims(doc, commit_sha, source=source)
            except ArtifactError as err:
                bad.append(str(err))
                continue
            valid.append(line)
            evaluations.append(evaluation_from_json(doc))
    if use_cache:
        _write_cache(cache, bad, valid)
    return History(evaluations=tuple(sorted(evaluations, key=_order)), problems=tuple(bad))


def _check_claims(doc: dict[str, object], commit_sha: str, *, source: str) -> None:
    """An evaluation is about the commit its note is attached to, and its key is what it measured:
    a line that claims otherwise (copied or forged) is refused like any malformed input."""
    candidate = doc.get("candidate")
    baseline = doc.get("baseline")
    claimed = candidate.get("sha") if isinstance(candidate, dict) else None
    if claimed != commit_sha:
        raise ArtifactError(
            f"{source}: candidate.sha: describes {str(claimed)[:12]}, not the annotated commit"
        )
    base = baseline.get("sha") if isinstance(baseline, dict) else None
    bench = doc.get("benchmark")
    tree = bench.get("sha") if isinstance(bench, dict) else None
    if doc.get("key") != evaluation_key(commit_sha, str(base), str(doc.get("config_hash")), tree):
        raise ArtifactError(
            f"{source}: key: expected candidate:baseline:config_hash[:benchmark tree] of this evaluation"
        )


def _write_cache(cache: Path, problems: Sequence[str], lines: Sequence[str]) -> None:
    try:
        for old in cache.parent.glob("history-*"):
            old.unlink()
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(list(problems)) + "\n" + "\n".join(lines) + "\n")
    except OSError:
        pass  # a cache we cannot write is only slower


def fetch_notes(repo: Path, remote: str) -> None:
    """Bring the remote's notes in and merge them with ours (line union)."""
    git.check_name(remote, "checkpoint.remote")  # '--upload-pack=…' would run a command
    failed = git.try_fetch(repo, remote, f"+{git.NOTES_REF}:{REMOTE_TRACKING}")
    if failed is not None:
        if "couldn't find remote ref" in failed:
            return  # nothing pushed yet
        raise GitError(f"git fetch {remote} {git.NOTES_REF} failed: {failed.strip().splitlines()[-1:]}")
    if _notes_commit(repo) is None:
        git.update_ref(repo, git.NOTES_REF, git.resolve(repo, REMOTE_TRACKING))
        return
    git.notes_merge(repo, REMOTE_TRACKING, strategy="cat_sort_uniq")


def push_notes(repo: Path, remote: str, *, attempts: int = 5) -> None:
    """Push our notes; when another run pushed first, merge theirs and try again."""
    for _ in range(attempts):
        git.check_name(remote, "checkpoint.remote")
        if git.try_push(repo, remote, f"{git.NOTES_REF}:{git.NOTES_REF}"):
            return
        fetch_notes(repo, remote)
    raise GitError(f"could not push {git.NOTES_REF} to {remote} after {attempts} attempts")
