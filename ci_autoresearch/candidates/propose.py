"""Where candidates come from: branches ranked by hypotheses, a search space, a generator command.

Branches and hypotheses
    :func:`branch_candidates` lists the local branches matching ``candidates.branches``; branches named
    by a hypothesis come first, highest ``expected_gain`` first (see :func:`rank`).

Search space
    :func:`search_candidates` makes one commit per combination of parameter values, on top of the
    current best, without touching any worktree, the user's index or ``HEAD``. Each parameter's
    ``pattern`` is a regular expression (compiled with ``re.MULTILINE``, so ``^``/``$`` match at line
    boundaries) with at least one group; it is searched in the file's text at the base commit, and the
    span of group 1 of the **first** match is replaced by the value (the value is inserted literally;
    backslashes are not special). No match is an error, and so is a file that cannot be rewritten
    faithfully (not UTF-8, or with CR line endings). The commits are deterministic (fixed author and
    committer ``ci-autoresearch``, dates taken from the base commit), so the same values on the same
    base always give the same sha and are never measured twice. Each commit is put on a branch
    ``<branch_prefix><name>-<value>[_<name>-<value>…]``, created or moved with ``update-ref``.

Generator command (``propose.command``) — the protocol
    The command (any program, e.g. a coding agent; run with ``/bin/sh -c``) runs in a temporary
    detached worktree of the current best commit, which is removed afterwards.

    * stdin: a JSON object (``ci-autoresearch/propose-input@1``) — the objective, the current best, the
      start value, the ``hypotheses`` ranked by expected gain (each with ``exists`` and ``tried``) and
      the history so far.
      The same JSON is in the file named by ``AUTORESEARCH_PAYLOAD``.
    * environment: the allow-listed part of the caller's environment (``runner.scrub_env``: ``PATH``,
      ``HOME``, locale and toolchain variables; never a token, the Actions runtime or the runner's
      command files), plus the variables listed in ``propose.pass_env`` (an explicit opt-in, e.g. an
      agent's API key), plus
      ``AUTORESEARCH_BEST`` (the sha of the current best), ``AUTORESEARCH_REPO`` (the path of the
      repository), ``AUTORESEARCH_PAYLOAD`` (the payload file), ``AUTORESEARCH_MAX_PROPOSALS`` and
      ``AUTORESEARCH_STATE_DIR`` (the tool's working directory inside ``.git``, where a generator may
      keep its own state, e.g. a cost ledger).
      Variables that would point git elsewhere (``GIT_DIR``, ``GIT_WORK_TREE``, ``GIT_INDEX_FILE``, …)
      are removed.
    * it commits its change(s) on one or more **new branches** (e.g. ``git switch -c NAME`` then
      ``git commit`` in the worktree; branches are shared with the repository) and prints, for each,
      one line ``BRANCH <name>`` on stdout, optionally followed by a description:
      ``BRANCH autoresearch/agent-1 use a bigger read buffer``. Other stdout lines are ignored.
    * exit status 0. It must finish within ``propose.timeout_seconds``; then its whole process group
      is terminated.
    * At most ``propose.max_proposals`` branches are taken, in the order printed. Printing no
      ``BRANCH`` line (and exiting 0) means "no more ideas": the loop stops as exhausted.

    Its output is kept in ``<log_dir>/propose.stdout.log`` and ``propose.stderr.log``.
    A non-zero exit or a timeout is a :class:`MeasurementError` (exit code 3); a
    named branch that does not exist, or a branch with no commit beyond the best is a
    :class:`BadInputError` (exit code 2).
"""

from __future__ import annotations

import itertools
import json
import random
import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ci_autoresearch import git
from ci_autoresearch.config.model import Hypothesis, ProposeConfig, SearchParameter, SearchSpaceConfig
from ci_autoresearch.errors import BadInputError, MeasurementError
from ci_autoresearch.history import recover
from ci_autoresearch.history.state import state_dir
from ci_autoresearch.measure.runner import run_measured
from ci_autoresearch.measure.scrub import scrub_env
from ci_autoresearch.model import Candidate

PROPOSED_PREFIX = "refs/autoresearch/proposed/"
"""Where the heads a generator proposed are remembered (a restarted loop keeps calling them proposals)."""
BOT_NAME = "ci-autoresearch"
BOT_EMAIL = "ci-autoresearch@users.noreply.github.com"
TRIAL_IDENTITY = {
    "GIT_AUTHOR_NAME": BOT_NAME,
    "GIT_AUTHOR_EMAIL": BOT_EMAIL,
    "GIT_COMMITTER_NAME": BOT_NAME,
    "GIT_COMMITTER_EMAIL": BOT_EMAIL,
}
MAX_GRID = 100_000
"""A search space with more combinations than this is refused (set ``limit`` with ``order: random``)."""

_GIT_LOCATION_VARS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
)
_BRANCH_LINE = re.compile(r"^BRANCH[ \t]+(\S+)(?:[ \t]+(.*?))?\s*$")


# --- branches and hypotheses ---------------------------------------------------------------------------


def rank(branches: Sequence[str], hypotheses: Sequence[Hypothesis]) -> list[tuple[str, Hypothesis | None]]:
    """Branches in the order to try them, each with its hypothesis (if any).

    Branches named by a hypothesis come first, highest ``expected_gain`` first (ties by branch name);
    then the others by name. Hypotheses naming a branch that is not in ``branches`` are skipped; when
    several name the same branch, the one with the highest ``expected_gain`` counts.
    """
    present = set(branches)
    by_branch: dict[str, Hypothesis] = {}
    for hyp in hypotheses:
        if hyp.branch in present:
            seen = by_branch.get(hyp.branch)
            if seen is None or hyp.expected_gain > seen.expected_gain:
                by_branch[hyp.branch] = hyp
    ranked: list[tuple[str, Hypothesis | None]] = [
        (name, by_branch[name]) for name in sorted(by_branch, key=lambda n: (-by_branch[n].expected_gain, n))
    ]
    ranked += [(name, None) for name in sorted(present - set(by_branch))]
    return ranked


def branch_candidates(
    repo: Path,
    patterns: Sequence[str],
    hypotheses: Sequence[Hypothesis],
    *,
    exclude: Sequence[str] = (),
) -> list[Candidate]:
    """The local branches matching ``patterns`` (minus ``exclude``), ranked, as candidates."""
    excluded = set(exclude)
    names = [n for n in git.local_branches(repo, patterns) if n not in excluded]
    out = []
    for name, hyp in rank(names, hypotheses):
        sha = git.resolve(repo, f"refs/heads/{name}")
        proposed = git.try_resolve(repo, f"{PROPOSED_PREFIX}{name}") == sha  # a generator's, not yet measured
        out.append(
            Candidate(
                source=f"{'propose' if proposed else 'branch'}:{name}",
                branch=name,
                sha=sha,
                expected_gain=hyp.expected_gain if hyp else 0.0,
                description=hyp.description if hyp else "",
            )
        )
    return out


def trial_commit(repo: Path, best: str, cand: Candidate) -> str | None:
    """The commit to measure for ``cand`` against ``best``: the candidate itself when it builds on the
    best, else it merged onto the best. The merge commit is deterministic (fixed identity, the
    candidate's own date), so a restart -- or another runner given the same two commits -- makes the
    same sha. None on a merge conflict."""
    if git.is_ancestor(repo, best, cand.sha):
        return cand.sha
    tree = git.merge_tree(repo, best, cand.sha)
    if tree is None:
        return None
    date = git.commit_date(repo, cand.sha)
    msg = f"autoresearch: try {cand.branch or cand.source} on {git.short(best)}\n"
    return git.commit_tree(
        repo,
        tree,
        [best, cand.sha],
        msg,
        env={**TRIAL_IDENTITY, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date},
    )


# --- search space ----------------------------------------------------------------------------------------


def combinations(space: SearchSpaceConfig) -> list[tuple[tuple[str, str], ...]]:
    """The combinations to try, each as ``((name, value), …)`` in the parameters' declared order.

    ``grid``: :func:`itertools.product` in declared order; ``random``: the grid shuffled with
    ``random.Random(seed)``; ``limit`` keeps the first ``limit`` of them.
    """
    size = 1
    for p in space.parameters:
        size *= len(p.values)
    if size > MAX_GRID:
        raise BadInputError(
            f"search_space: {size} combinations is more than {MAX_GRID}",
            hint="use fewer values per parameter",
        )
    names = [p.name for p in space.parameters]
    grid = [
        tuple(zip(names, values, strict=True))
        for values in itertools.product(*(p.values for p in space.parameters))
    ]
    if space.order == "random":
        random.Random(space.seed).shuffle(grid)
    if space.limit is not None:
        grid = grid[: max(space.limit, 0)]
    return grid


_UNSAFE = re.compile(r"[^A-Za-z0-9._+=/-]+")


def branch_name(prefix: str, combo: Sequence[tuple[str, str]]) -> str:
    """``<prefix><name>-<value>[_<name>-<value>…]`` made acceptable to git.

    Characters other than letters, digits and ``._+=/-`` become ``_``; ``..``, ``//``, a component
    starting with ``.`` or ending with ``.lock`` and a trailing ``.`` or ``/`` are repaired.
    """
    raw = prefix + "_".join(f"{name}-{value}" for name, value in combo)
    name = _UNSAFE.sub("_", raw)
    name = re.sub(r"/{2,}", "/", name)
    name = re.sub(r"\.{2,}", "_", name)
    parts = []
    for raw_part in name.split("/"):
        part = "_" + raw_part[1:] if raw_part.startswith(".") else raw_part
        if part.endswith(".lock"):
            part = part[: -len(".lock")] + "_lock"
        parts.append(part)
    name = "/".join(p for p in parts if p)
    name = name.rstrip("./")
    if name.startswith("-"):
        name = "_" + name[1:]
    return name or "autoresearch-search"


def _key(index: int) -> str:
    return f"search_space.parameters[{index}]"


def _base_texts(repo: Path, space: SearchSpaceConfig, base_sha: str) -> dict[str, str]:
    texts: dict[str, str] = {}
    for i, param in enumerate(space.parameters):
        if param.file in texts:
            continue
        text = git.file_at(repo, base_sha, param.file)
        if text is None:
            raise BadInputError(
                f"{_key(i)}.file: {param.file} does not exist in {git.short(base_sha)}",
                hint="the path is relative to the repository root",
            )
        size = git.file_size(repo, base_sha, param.file)
        if size != len(text.encode("utf-8")):
            raise BadInputError(
                f"{_key(i)}.file: {param.file} is not plain UTF-8 text with LF line endings; "
                "ci-autoresearch cannot rewrite it without changing other bytes"
            )
        texts[param.file] = text
    return texts


def _spans(space: SearchSpaceConfig, texts: Mapping[str, str]) -> list[tuple[int, int]]:
    """Where each parameter's value goes: the span of group 1 of its pattern's first match."""
    spans = []
    for i, param in enumerate(space.parameters):
        try:
            regex = re.compile(param.pattern, re.MULTILINE)
        except re.error as exc:
            raise BadInputError(f"{_key(i)}.pattern: not a valid regular expression: {exc}") from exc
        if regex.groups < 1:
            raise BadInputError(
                f"{_key(i)}.pattern: {param.pattern!r} has no group",
                hint="put the part to replace in parentheses, e.g. 'chunk = (\\d+)'",
            )
        match = regex.search(texts[param.file])
        if match is None or match.start(1) < 0:
            raise BadInputError(
                f"{_key(i)}.pattern: {param.pattern!r} matches nothing in {param.file}",
                hint="the pattern is searched in the file's text at the current best",
            )
        spans.append(match.span(1))
    by_file: dict[str, list[tuple[int, int, int]]] = {}
    for i, (param, (start, end)) in enumerate(zip(space.parameters, spans, strict=True)):
        by_file.setdefault(param.file, []).append((start, end, i))
    for items in by_file.values():
        items.sort()
        for (_, end_a, a), (start_b, _, b) in itertools.pairwise(items):
            if start_b < end_a:
                raise BadInputError(
                    f"{_key(b)}.pattern: its match overlaps the one of {_key(a)}.pattern "
                    f"in {space.parameters[b].file}"
                )
    return spans


def _render(
    params: Sequence[SearchParameter],
    spans: Sequence[tuple[int, int]],
    texts: Mapping[str, str],
    values: Sequence[str],
) -> dict[str, str]:
    """The new text of every file a combination changes (spans replaced from the end backwards)."""
    edits: dict[str, list[tuple[int, int, str]]] = {}
    for param, (start, end), value in zip(params, spans, values, strict=True):
        edits.setdefault(param.file, []).append((start, end, value))
    files = {}
    for path, items in edits.items():
        text = texts[path]
        for start, end, value in sorted(items, reverse=True):
            text = text[:start] + value + text[end:]
        files[path] = text
    return files


def search_candidates(repo: Path, space: SearchSpaceConfig, base_sha: str) -> list[Candidate]:
    """One deterministic commit (and branch) per combination of the search space, on top of ``base_sha``.

    Everything is checked before any commit is made: a missing file, a pattern that does not compile,
    has no group, matches nothing or overlaps another one is a :class:`BadInputError` naming
    ``search_space.parameters[i]``. Combinations whose text equals the base (the value is already
    there) give no candidate. Branches are created or moved with ``update-ref``; the branch checked out
    in ``repo`` is never moved.
    """
    base_sha = git.resolve(repo, base_sha)
    combos = combinations(space)
    if not combos:
        return []
    texts = _base_texts(repo, space, base_sha)
    spans = _spans(space, texts)
    date = git.committer_date(repo, base_sha)
    checked_out = git.current_branch(repo)
    used: set[str] = set()
    out: list[Candidate] = []
    for combo in combos:
        values = [value for _, value in combo]
        files = _render(space.parameters, spans, texts, values)
        if all(files[path] == texts[path] for path in files):
            continue
        label = ",".join(f"{name}={value}" for name, value in combo)
        shown = ", ".join(f"{name}={value}" for name, value in combo)
        message = (
            f"autoresearch: {shown}\n\n"
            f"Search-space candidate: {shown} substituted into {', '.join(sorted(files))} "
            f"by ci-autoresearch.\n\n"
            f"Autoresearch-Source: search:{label}\n"
            f"Autoresearch-Base: {base_sha}\n"
        )
        sha = git.commit_files(repo, base_sha, files, message, name=BOT_NAME, email=BOT_EMAIL, date=date)
        branch = branch_name(space.branch_prefix, combo)
        if branch in used:  # two value sets sanitised to the same name
            branch = f"{branch}-{git.short(sha)}"
        if not git.is_valid_branch_name(repo, branch):
            raise BadInputError(
                f"search_space.branch_prefix: {branch!r} is not a valid git branch name",
                hint="use letters, digits, '-', '_' and '/' in the prefix",
            )
        if branch == checked_out:
            raise BadInputError(
                f"search_space.branch_prefix: {branch!r} is the branch checked out in {repo}; "
                "refusing to move it",
                hint="check out another branch, or choose another branch_prefix",
            )
        used.add(branch)
        git.update_ref(repo, f"refs/heads/{branch}", sha)
        out.append(Candidate(source=f"search:{label}", branch=branch, sha=sha, description=shown))
    return out


# --- generator command -----------------------------------------------------------------------------------


def _propose_env(
    propose: ProposeConfig, env: Mapping[str, str], *, repo: Path, best_sha: str, payload_file: Path
) -> dict[str, str]:
    child = {k: v for k, v in scrub_env(env, propose.pass_env).items() if k not in _GIT_LOCATION_VARS}
    child["AUTORESEARCH_BEST"] = best_sha
    child["AUTORESEARCH_REPO"] = str(repo)
    child["AUTORESEARCH_PAYLOAD"] = str(payload_file)
    child["AUTORESEARCH_MAX_PROPOSALS"] = str(propose.max_proposals)
    child["AUTORESEARCH_STATE_DIR"] = str(state_dir(repo))
    return child


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def parse_branch_lines(stdout: str) -> list[tuple[str, str]]:
    """``(branch, description)`` for each ``BRANCH <name> [description]`` line, first mention wins."""
    found: dict[str, str] = {}
    for line in stdout.splitlines():
        match = _BRANCH_LINE.match(line)
        if match and match.group(1) not in found:
            found[match.group(1)] = (match.group(2) or "").strip()
    return list(found.items())


def run_propose(
    repo: Path,
    propose: ProposeConfig,
    payload: Mapping[str, Any],
    *,
    best_sha: str,
    env: Mapping[str, str],
    log_dir: Path,
) -> list[Candidate]:
    """Run the generator command once (see the module docstring for its protocol) and return its branches.

    Raises :class:`MeasurementError` when it exits non-zero or times out, :class:`BadInputError` when it
    names no branch, names a branch that does not exist or left no commit on it.
    """
    repo = repo.resolve()
    best_sha = git.resolve(repo, best_sha)
    log_dir.mkdir(parents=True, exist_ok=True)
    payload_file = (log_dir / "propose.payload.json").resolve()
    payload_file.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    child_env = _propose_env(propose, env, repo=repo, best_sha=best_sha, payload_file=payload_file)
    # run_measured gives the command /dev/null as stdin; the shell reads the payload file instead.
    script = f"exec < {shlex.quote(str(payload_file))}\n{propose.command}"
    with (
        recover.owned_tempdir("autoresearch-propose-") as tmp,  # removed by the next run if we are killed
        git.worktree(repo, best_sha, tmp / "worktree") as workdir,
    ):
        result = run_measured(
            script,
            cwd=workdir,
            env=child_env,
            timeout=propose.timeout_seconds,
            log_dir=log_dir,
            name="propose",
        )
    if not result.ok:
        what = (
            f"timed out after {propose.timeout_seconds:g} s"
            if result.timed_out
            else f"failed (exit {result.returncode})"
        )
        last = _last_line(result.stderr)
        detail = f": {last}" if last else ""
        raise MeasurementError(
            f"propose.command `{propose.command}` {what}{detail} (log: {result.stderr_path})"
        )
    named = parse_branch_lines(result.stdout)  # none: the generator has no more ideas
    out: list[Candidate] = []
    for name, description in named[: max(propose.max_proposals, 1)]:
        sha = git.try_resolve(repo, f"refs/heads/{name}")
        if sha is None:
            raise BadInputError(
                f"propose.command `{propose.command}` named branch {name!r}, which does not exist "
                f"(log: {result.stdout_path})"
            )
        if sha == best_sha:
            raise BadInputError(
                f"propose.command `{propose.command}` named branch {name!r}, which has no commit beyond "
                f"the best {git.short(best_sha)} (log: {result.stdout_path})"
            )
        out.append(Candidate(source=f"propose:{name}", branch=name, sha=sha, description=description))
    for cand in out:  # a run killed before measuring them finds them as a generator's, not as branches
        git.update_ref(repo, f"{PROPOSED_PREFIX}{cand.branch}", cand.sha)
    return out


__all__ = [
    "BOT_EMAIL",
    "BOT_NAME",
    "branch_candidates",
    "branch_name",
    "combinations",
    "parse_branch_lines",
    "rank",
    "run_propose",
    "search_candidates",
    "trial_commit",
]
