"""The GitHub forge: one sticky comment per pull request, verdict labels, a commit status or check run,
pull requests for improvements, and the baseline artifact — through PyGithub.

Every write is idempotent (find before create), so re-running a job converges on the same state: one
comment (found by :data:`MARKER`, edited in place, left alone when unchanged), one verdict label of
ours per PR, one open PR per candidate branch. Retries are ours, not PyGithub's: 5xx answers and
secondary rate limits are retried with backoff (``Retry-After`` honoured) through an injectable
``sleep``; each retry repeats a whole find-then-write step, so a write that succeeded before its
answer was lost is found instead of repeated. Only the 36 REST operations of the OpenAPI subset the
tests check are used; objects are lazy, so nothing is fetched that is not needed.

Commit status states and check-run conclusions by verdict: ``improved`` / ``unchanged`` → success;
``regressed`` / ``invalid`` / ``rejected`` → failure; ``inconclusive`` → success for a status (not shown
to be worse: it must not block a merge on noise) and ``neutral`` for a check run.
"""

from __future__ import annotations

import functools
import io
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from github import Auth, Github, GithubException
from github.Artifact import Artifact
from github.IssueComment import IssueComment
from github.PullRequest import PullRequest
from github.Repository import Repository

from ci_autoresearch import __version__, gha
from ci_autoresearch.artifacts import SCHEMA_IDS, Kind, parse_document, result_from_json
from ci_autoresearch.config_model import GithubConfig, GithubLabels
from ci_autoresearch.decide import pct
from ci_autoresearch.errors import ArtifactError, BadInputError, ForgeError
from ci_autoresearch.forge import FoundBundle, Publication, PullState, RemoteForge
from ci_autoresearch.model import Comparison, Result, Verdict
from ci_autoresearch.report import escape_md

T = TypeVar("T")
D = TypeVar("D")

DEFAULT_API_URL = "https://api.github.com"
MARKER = "<!-- ci-autoresearch:report -->"
CONTEXT = "ci-autoresearch"  # commit status context and check-run name
CHECK_EXTERNAL_ID = "ci-autoresearch"  # tells our check run from a job that happens to share the name
CLOSED_START = "<!-- ci-autoresearch:closed key="  # + key + " -->": the visible "closed because" note
CLOSED_END = "<!-- /ci-autoresearch:closed -->"
CLOSED_FOR = "<!-- ci-autoresearch:closed-for "  # + key + " -->": hidden, kept: a reopen is respected
_CLOSED_NOTE = re.compile(re.escape(CLOSED_START) + r"(\S*) -->\n.*?" + re.escape(CLOSED_END) + r"\n*", re.S)
_CLOSED_FOR = re.compile(re.escape(CLOSED_FOR) + r"(\S+) -->\n?")
MAX_CLOSED_FOR = 20
MAX_COMMENT_CHARS = 65536
MAX_CHECK_SUMMARY_CHARS = 65535
MAX_STATUS_DESCRIPTION = 140
MAX_TITLE_CHARS = 256
MAX_ARTIFACT_BYTES = 32 * 1024 * 1024
MAX_ARTIFACT_MEMBERS = 1000
MAX_ARTIFACT_PAGES = 5  # of 100: the newest 500 artifacts with the name
RETRY_STATUSES = frozenset({500, 502, 503, 504})
MAX_ATTEMPTS = 5
BUNDLE_ARTIFACT_PREFIX = "autoresearch-bundle-"  # action.yml uploads each evaluate job's bundle under it
MAX_RUN_BUNDLES = 64
MAX_BACKOFF = 30.0
SECONDARY_LIMIT_WAIT = 60.0  # GitHub: without Retry-After, wait at least a minute
MAX_WAIT = 600.0
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")

STATUS_STATE: Mapping[Verdict, str] = {
    "improved": "success",
    "unchanged": "success",
    "inconclusive": "success",
    "regressed": "failure",
    "invalid": "failure",
    "rejected": "failure",
}
CHECK_CONCLUSION: Mapping[Verdict, str] = {**STATUS_STATE, "inconclusive": "neutral"}
LABEL_STYLE: Mapping[Verdict, tuple[str, str]] = {
    "improved": ("0e8a16", "measurably better than the baseline"),
    "regressed": ("d93f0b", "measurably worse than the baseline"),
    "unchanged": ("c5def5", "no difference beyond the minimum effect"),
    "inconclusive": ("fbca04", "the measurements could not decide"),
    "invalid": ("b60205", "gate or benchmark failed, or protected paths touched"),
    "rejected": ("e99695", "better, but a guard metric regressed"),
}

Say = Callable[[str], None]


def verdict_label(labels: GithubLabels, verdict: Verdict) -> str:
    """The name of the label for ``verdict`` (two verdicts may share one)."""
    names: Mapping[Verdict, str] = {
        "improved": labels.improved,
        "regressed": labels.regressed,
        "unchanged": labels.unchanged,
        "inconclusive": labels.inconclusive,
        "invalid": labels.invalid,
        "rejected": labels.rejected,
    }
    return names[verdict]


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fit_markdown(text: str, limit: int, *, note: str) -> str:
    """``text`` cut to ``limit`` characters at a line end, open code fences and ``<details>`` closed."""
    if len(text) <= limit:
        return text
    tail = f"\n\n{note}\n"
    room = limit - len(tail) - len("\n```\n</details>\n")
    head = text[:room]
    if "\n" in head:
        head = head[: head.rindex("\n")]
    if head.count("```") % 2:
        head += "\n```"
    if head.count("<details") > head.count("</details>"):
        head += "\n</details>"
    return head + tail


@dataclass(frozen=True)
class StickyParts:
    """A sticky comment taken apart: the report, the visible closed note (with the key it was written
    for) and the keys of the evaluations the PR was closed for (hidden markers)."""

    report: str
    note_key: str | None
    note: str
    closed_for: tuple[str, ...]


def sticky_parts(body: str) -> StickyParts:
    text = body.lstrip().removeprefix(MARKER).lstrip("\n")
    found = _CLOSED_NOTE.search(text)
    note_key, note = (found.group(1), found.group(0).rstrip("\n") + "\n") if found else (None, "")
    if found:
        before, after = text[: found.start()].rstrip("\n"), text[found.end() :].lstrip("\n")
        text = f"{before}\n\n{after}" if before else after
    keys = tuple(dict.fromkeys(m.group(1) for m in _CLOSED_FOR.finditer(text)))
    text = _CLOSED_FOR.sub("", text).rstrip() + "\n"
    return StickyParts(report=text, note_key=note_key, note=note, closed_for=keys)


def closed_note(key: str, reason: str) -> str:
    """The visible note a closed PR's comment carries below its headline while it is current."""
    text = escape_md(_one_line(reason, 1000))
    return f"{CLOSED_START}{key} -->\n> ⛔ **Closed by ci-autoresearch:** {text}\n{CLOSED_END}\n"


def compose_sticky(report: str, *, note: str = "", closed_for: tuple[str, ...] = ()) -> str:
    """The comment: the marker, the report's headline, the closed note (when current), the rest of the
    report, and the hidden closed-for markers at the end."""
    head, _, rest = report.strip("\n").partition("\n")
    parts = [head, note.strip("\n"), rest.strip("\n")]
    text = "\n\n".join(part for part in parts if part) + "\n"
    if closed_for:
        text += "\n" + "".join(f"{CLOSED_FOR}{k} -->\n" for k in closed_for[-MAX_CLOSED_FOR:])
    return comment_body(text)


def comment_body(markdown: str) -> str:
    """The sticky comment: the hidden marker, then the report (cut to GitHub's 65536 characters)."""
    body = f"{MARKER}\n{markdown}"
    return fit_markdown(
        body,
        MAX_COMMENT_CHARS,
        note=f"*(report cut: {len(body)} characters is more than a comment holds; the full report "
        "is in the job's step summary)*",
    )


def status_description(c: Comparison) -> str:
    """``improved: wall_time −24.8% [−26.1%, −23.5%]`` (at most 140 characters)."""
    obj = c.objective_metric
    if obj is not None and obj.estimate is not None:
        lo, hi = obj.estimate.ci_delta
        text = f"{c.verdict}: {obj.name} {pct(obj.estimate.delta)} [{pct(lo)}, {pct(hi)}]"
    else:
        text = f"{c.verdict}: {_one_line(c.reason)}"
    return _cut(text, MAX_STATUS_DESCRIPTION)


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return "unknown time"
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _retry_after(headers: Mapping[str, Any] | None) -> float | None:
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                return max(float(value), 0.0)
            except (TypeError, ValueError):
                return None
    return None


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def _message(data: Any) -> str:
    if isinstance(data, dict):
        msg = str(data.get("message") or "")
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            details = [
                str(e.get("message") or e.get("code") or e) if isinstance(e, dict) else str(e) for e in errors
            ]
            msg += " (" + "; ".join(details) + ")"
        return _one_line(msg or str(data), 240)
    if isinstance(data, bytes):
        data = data.decode("utf-8", errors="replace")
    return _one_line(str(data or ""), 240)


def token_of(env: Mapping[str, str]) -> str | None:
    """The job's token: the action's input, else ``GITHUB_TOKEN`` (the one place it is looked up)."""
    return env.get("INPUT_GITHUB-TOKEN") or env.get("INPUT_GITHUB_TOKEN") or env.get("GITHUB_TOKEN") or None


@dataclass(frozen=True)
class Would:
    """A request a step would make, as a dry run says it: ``would METHOD /repos/o/r{suffix} (what)``."""

    method: str
    suffix: str
    what: str


@dataclass(frozen=True)
class Step:
    """One idempotent find-then-write step: ``what`` names it in errors, ``would`` in a dry run."""

    what: str
    run: Callable[[], object]
    would: tuple[Would, ...] = ()


DRY_PULL = 0  # the number a dry run gives a pull request it did not look up (said as {pull})


def pull_ref(number: int) -> str:
    """``number`` in a path, ``{pull}`` for the pull request a dry run did not look up."""
    return "{pull}" if number == DRY_PULL else str(number)


@dataclass(frozen=True, kw_only=True)
class Opened:
    """The open pull request of a branch, found or just created."""

    number: int
    url: str
    created: bool
    labels: tuple[str, ...]


@dataclass(frozen=True)
class _Failure:
    """What went wrong with one request, for the retry decision and the one-line error."""

    status: int | None
    message: str
    wait: float | None  # seconds before the next attempt; None: do not retry


class GithubForge(RemoteForge):
    """:class:`~ci_autoresearch.forge.Forge` on GitHub. Build it with :meth:`from_env` in Actions."""

    def __init__(
        self,
        client: Github | None,
        repository: str,
        *,
        config: GithubConfig,
        dry_run: bool = False,
        say: Say = print,
        sleep: Callable[[float], None] = time.sleep,
        run_url: str | None = None,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        if not _REPOSITORY.fullmatch(repository):
            raise BadInputError(f"GITHUB_REPOSITORY: expected owner/name, got {repository!r}")
        if client is None and not dry_run:
            raise BadInputError("no GitHub client: a token is needed unless this is a dry run")
        self.client = client
        self.repository = repository
        self.owner = repository.split("/", 1)[0]
        self.config = config
        self.dry_run = dry_run
        self.say = say
        self.sleep = sleep
        self.run_url = run_url
        self.max_attempts = max(1, max_attempts)
        self._repo_obj: Repository | None = None
        self._known_labels: set[str] = set()
        self._pulls: dict[str, PullRequest] = {}  # branch -> its open PR, once found
        self._pr_labels: dict[int, list[str]] = {}  # PR -> its labels as last listed or set by us
        self._current = ("", "")  # (method, path) of the request under way, for error messages

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        config: GithubConfig,
        token: str | None = None,
        dry_run: bool = False,
        say: Say = print,
        sleep: Callable[[float], None] = time.sleep,
    ) -> GithubForge:
        """The forge for ``$GITHUB_REPOSITORY`` at ``$GITHUB_API_URL`` with the job's token."""
        api_url = (env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
        repository = env.get("GITHUB_REPOSITORY", "")
        if not repository:
            raise BadInputError(
                "GITHUB_REPOSITORY is not set: expected owner/name of the repository to publish to"
            )
        if not _REPOSITORY.fullmatch(repository):
            raise BadInputError(f"GITHUB_REPOSITORY: expected owner/name, got {repository!r}")
        token = token or token_of(env)
        client = None
        if not dry_run:
            if not token:
                raise BadInputError(
                    "no GitHub token: set GITHUB_TOKEN (env: GITHUB_TOKEN: ${{ github.token }}) "
                    "or the action's github-token input"
                )
            client = Github(
                auth=Auth.Token(token),
                base_url=api_url,
                retry=None,
                seconds_between_requests=0,
                seconds_between_writes=0,
                lazy=True,
                per_page=100,
                timeout=30,
                user_agent=f"ci-autoresearch/{__version__}",
            )
        return cls(
            client, repository, config=config, dry_run=dry_run, say=say, sleep=sleep, run_url=gha.run_url(env)
        )

    def use_config(self, config: GithubConfig) -> None:
        """Label names and the status mode come from the base's configuration, read after routing."""
        self.config = config

    # --- plumbing ---------------------------------------------------------------------------------

    @property
    def _repo(self) -> Repository:
        if self.client is None:
            raise RuntimeError("dry run: no API call may be made")  # a bug if reached
        if self._repo_obj is None:
            self._repo_obj = self.client.get_repo(self.repository)  # lazy: no request
        return self._repo_obj

    def _path(self, suffix: str) -> str:
        return f"/repos/{self.repository}{suffix}"

    def _at(self, method: str, suffix: str) -> None:
        """Name the request about to be made (for the error line, should it fail)."""
        self._current = (method, self._path(suffix))

    def _done(self, line: str) -> None:
        """Say what was done on GitHub; a dry run did nothing, so it says nothing."""
        if not self.dry_run:
            self.say(line)

    def _classify(self, err: Exception, attempt: int) -> _Failure:
        backoff = min(2.0 ** (attempt - 1), MAX_BACKOFF)
        if isinstance(err, GithubException):
            status, headers, message = err.status, err.headers, _message(err.data)
            after = _retry_after(headers)
            if status in RETRY_STATUSES:
                return _Failure(status, message, backoff if after is None else after)
            if status in (403, 429):
                if after is not None:
                    return _Failure(status, message, after)
                if "secondary rate limit" in message.lower():
                    return _Failure(status, message, SECONDARY_LIMIT_WAIT)
                if _header(headers, "x-ratelimit-remaining") == "0":
                    reset = _header(headers, "x-ratelimit-reset")
                    when = (
                        datetime.fromtimestamp(int(reset), timezone.utc).strftime("%H:%M UTC")
                        if reset and reset.isdigit()
                        else "later"
                    )
                    return _Failure(status, f"{message} (the rate limit resets at {when})", None)
            return _Failure(status, message, None)
        if isinstance(err, urllib.error.HTTPError):
            after = _retry_after(dict(err.headers.items()) if err.headers else None)
            if err.code in RETRY_STATUSES or err.code == 429:
                return _Failure(err.code, _one_line(err.reason), backoff if after is None else after)
            return _Failure(err.code, _one_line(err.reason), None)
        # connection refused or reset, timeouts (requests' and urllib's errors are OSErrors)
        return _Failure(None, _one_line(f"{type(err).__name__}: {err}"), backoff)

    def _step(
        self, what: str, fn: Callable[[], T], *, dry: D, would: Sequence[Would] = (), note: str = ""
    ) -> T | D:
        """Run one idempotent find-then-write step, retrying it as a whole on transient failures.

        The one place a dry run differs: nothing is called; the step says the requests it ``would`` make
        (and ``note``) and gives ``dry``, the answer the rest of the operation goes on with."""
        if self.dry_run:
            for request in would:
                self.say(f"would {request.method} {self._path(request.suffix)} ({request.what})")
            if note:
                self.say(f"(dry run: {note})")
            return dry
        return self._retrying(what, fn)

    def _retrying(self, what: str, fn: Callable[[], T]) -> T:
        for attempt in range(1, self.max_attempts + 1):
            self._current = ("", "")
            try:
                return fn()
            except (GithubException, OSError) as err:
                failure = self._classify(err, attempt)
            method, path = self._current
            status = f"{failure.status} " if failure.status is not None else ""
            where = f"{method} {path} ({what})" if method else what
            if failure.wait is None or attempt == self.max_attempts or failure.wait > MAX_WAIT:
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                asked = (
                    f" (asked to wait {failure.wait:g} s)" if failure.wait and failure.wait > MAX_WAIT else ""
                )
                raise ForgeError(
                    f"GitHub API: {where} failed{tries}: {status}{failure.message}{asked}".rstrip()
                )
            self.say(
                f"GitHub API: {where}: {status}{failure.message}; retrying in {failure.wait:g} s "
                f"(attempt {attempt + 1} of {self.max_attempts})"
            )
            self.sleep(failure.wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _run_steps(self, steps: Sequence[Step], errors: Sequence[ForgeError] = ()) -> None:
        """Run every step even when one fails (a GitHub failure loses nothing), then raise the first."""
        failed = list(errors)
        for step in steps:
            try:
                self._step(step.what, step.run, dry=None, would=step.would)
            except ForgeError as err:
                failed.append(err)
        if failed:
            more = f" (and {len(failed) - 1} more failed step(s))" if len(failed) > 1 else ""
            raise ForgeError(failed[0].message + more)

    # --- labels -----------------------------------------------------------------------------------

    def label_for(self, verdict: Verdict) -> str:
        return verdict_label(self.config.labels, verdict)

    def _verdict_labels(self) -> dict[str, list[Verdict]]:
        """Our verdict label names (lower-cased) and the verdicts that use each."""
        names: dict[str, list[Verdict]] = {}
        for verdict in LABEL_STYLE:
            names.setdefault(self.label_for(verdict).lower(), []).append(verdict)
        return names

    def _ensure_label(self, name: str, verdict: Verdict) -> None:
        """Create the repository label ``name`` (colour and description) unless it exists."""
        if name.lower() in self._known_labels:
            return
        self._at("GET", f"/labels/{urllib.parse.quote(name, safe='')}")
        try:
            self._repo.get_label(name).complete()
        except GithubException as err:
            if err.status != 404:
                raise
            color, description = LABEL_STYLE[verdict]
            shared = self._verdict_labels().get(name.lower(), [verdict])
            if len(shared) > 1:
                description = "verdict: " + " or ".join(shared)
            self._at("POST", "/labels")
            try:
                self._repo.create_label(name, color, f"ci-autoresearch: {description}"[:100])
            except GithubException as create_err:  # created meanwhile by a parallel job
                if create_err.status != 422 or "already_exists" not in str(create_err.data):
                    raise
        self._known_labels.add(name.lower())

    def _sync_labels(self, number: int, verdict: Verdict) -> None:
        """Exactly one verdict label of ours on the PR: the current one.

        The PR's labels are listed unless this forge already knows them (from a pull request listing or
        its own last change). Retrying on a stale view is harmless: adding a label twice is a no-op and
        removing a missing one answers 404, ignored.
        """
        want = self.label_for(verdict)
        ours = self._verdict_labels()
        issue = self._repo.get_issue(number)
        present = self._pr_labels.get(number)
        if present is None:
            self._at("GET", f"/issues/{number}/labels")
            present = [label.name for label in issue.get_labels()]
        kept = []
        for name in present:
            if name.lower() in ours and name.lower() != want.lower():
                self._at("DELETE", f"/issues/{number}/labels/{urllib.parse.quote(name, safe='')}")
                try:
                    issue.remove_from_labels(name)
                except GithubException as err:
                    if err.status != 404:  # already gone
                        raise
            else:
                kept.append(name)
        if want.lower() not in {n.lower() for n in kept}:
            self._ensure_label(want, verdict)
            self._at("POST", f"/issues/{number}/labels")
            issue.add_to_labels(want)
            kept.append(want)
        self._pr_labels[number] = kept

    # --- the sticky comment -----------------------------------------------------------------------

    def _sticky_comments(self, number: int) -> list[IssueComment]:
        self._at("GET", f"/issues/{number}/comments")
        return [
            c
            for c in self._repo.get_issue(number).get_comments()
            if (c.body or "").lstrip().startswith(MARKER)
        ]

    def _upsert_comment(self, number: int, body: str, *, key: str = "", fresh: bool = False) -> str:
        """Create or edit the one comment with the marker; ``fresh``: the PR was just created (no listing).

        The closed note stays (below the headline) only while the PR is closed for this same evaluation
        (``key``); the hidden closed-for markers always stay, so a person's reopen is respected later."""
        found = [] if fresh else self._sticky_comments(number)
        if not found:
            self._at("POST", f"/issues/{number}/comments")
            self._repo.get_issue(number).create_comment(body)
            return "created"
        first = found[0]
        for extra in found[1:]:  # a duplicate left by two jobs racing: keep the oldest
            if extra.user is not None and first.user is not None and extra.user.login == first.user.login:
                self._at("DELETE", f"/issues/comments/{extra.id}")
                extra.delete()
        old = sticky_parts(first.body or "")
        note = ""
        if old.note and old.note_key == key and key:
            self._at("GET", f"/pulls/{number}")
            if self._repo.get_pull(number).state == "closed":
                note = old.note
        if note or old.closed_for:
            body = compose_sticky(sticky_parts(body).report, note=note, closed_for=old.closed_for)
        if first.body == body:
            return "unchanged"
        self._at("PATCH", f"/issues/comments/{first.id}")
        first.edit(body)
        return "updated"

    def _comment_step(self, number: int, body: str, *, key: str = "", fresh: bool = False) -> Step:
        attempts = 0

        def run() -> str:
            nonlocal attempts
            attempts += 1  # after a failed attempt the comment may exist: look for it then
            return self._upsert_comment(number, body, key=key, fresh=fresh and attempts == 1)

        path = f"/issues/{pull_ref(number)}/comments"
        would = (
            (Would("POST", path, f"sticky comment, {len(body)} chars"),)
            if fresh
            else (
                Would("GET", path, f"find the sticky comment {MARKER}"),
                Would("POST", path, f"sticky comment, {len(body)} chars; PATCH it instead when found"),
            )
        )
        return Step(f"sticky comment on #{number}", run, would)

    def _label_step(self, number: int, verdict: Verdict, *, what: str, would: str) -> Step:
        return Step(
            what,
            lambda: self._sync_labels(number, verdict),
            (Would("POST", f"/issues/{pull_ref(number)}/labels", would),),
        )

    # --- commit status / check run ----------------------------------------------------------------

    def _set_status(self, pub: Publication) -> None:
        """The commit status, unless ours on that commit already says the same (a re-run posts none)."""
        c = pub.evaluation.comparison
        sha = c.candidate.sha
        state = STATUS_STATE[c.verdict]
        description = status_description(c)
        commit = self._repo.get_commit(sha)  # lazy: GET /commits/{sha} is never made
        self._at("GET", f"/commits/{sha}/status")
        for status in commit.get_combined_status().statuses:
            if status.context == CONTEXT:
                if status.state == state and status.description == description:
                    return
                break
        self._at("POST", f"/statuses/{sha}")
        if self.run_url:
            commit.create_status(state, target_url=self.run_url, description=description, context=CONTEXT)
        else:
            commit.create_status(state, description=description, context=CONTEXT)

    def _set_check_run(self, pub: Publication) -> None:
        c = pub.evaluation.comparison
        sha = c.candidate.sha
        conclusion = CHECK_CONCLUSION[c.verdict]
        title = status_description(c)
        summary = fit_markdown(pub.markdown, MAX_CHECK_SUMMARY_CHARS, note="*(report cut)*")
        output: dict[str, str | list[dict[str, str | int]]] = {"title": title, "summary": summary}
        self._at("GET", f"/commits/{sha}/check-runs?check_name={CONTEXT}")
        runs = [
            r
            for r in self._repo.get_commit(sha).get_check_runs(check_name=CONTEXT)
            if r.external_id == CHECK_EXTERNAL_ID
        ]
        extra: dict[str, Any] = {"details_url": self.run_url} if self.run_url else {}
        if runs:
            run = runs[0]
            if (
                run.status == "completed"
                and run.conclusion == conclusion
                and run.output.title == title
                and run.output.summary == summary
            ):
                return
            self._at("PATCH", f"/check-runs/{run.id}")
            run.edit(status="completed", conclusion=conclusion, output=output, **extra)
            return
        self._at("POST", "/check-runs")
        self._repo.create_check_run(
            CONTEXT,
            sha,
            status="completed",
            conclusion=conclusion,
            external_id=CHECK_EXTERNAL_ID,
            output=output,
            **extra,
        )

    def _status_step(self, pub: Publication) -> Step | None:
        """The commit status or check run the configuration asks for, if any."""
        c = pub.evaluation.comparison
        sha = c.candidate.sha
        if self.config.status == "status":
            return Step(
                f"commit status on {sha[:8]}",
                lambda: self._set_status(pub),
                (
                    Would(
                        "POST",
                        f"/statuses/{sha}",
                        f"commit status {CONTEXT}: {STATUS_STATE[c.verdict]}, {status_description(c)!r}",
                    ),
                ),
            )
        if self.config.status == "check-run":
            return Step(
                f"check run on {sha[:8]}",
                lambda: self._set_check_run(pub),
                (
                    Would(
                        "POST",
                        "/check-runs",
                        f"check run {CONTEXT} on {sha[:8]}: {CHECK_CONCLUSION[c.verdict]}, "
                        "PATCH it when found",
                    ),
                ),
            )
        return None

    # --- pull requests ----------------------------------------------------------------------------

    def _find_open_pull(self, branch: str) -> PullRequest | None:
        if branch in self._pulls:
            return self._pulls[branch]
        self._at("GET", f"/pulls?state=open&head={self.owner}:{branch}")
        for pull in self._repo.get_pulls(state="open", head=f"{self.owner}:{branch}"):
            self._pulls[branch] = pull
            self._pr_labels[pull.number] = [label.name for label in pull.labels]
            return pull
        return None

    def _open_number(self, branch: str) -> int | None:
        pull = self._find_open_pull(branch)
        return None if pull is None else pull.number

    def _find_step(self, branch: str, *, dry: int | None, note: str = "") -> int | None:
        """The number of the open pull request of ``branch``, found in a step of its own."""
        return self._step(
            f"find the pull request of {branch}",
            lambda: self._open_number(branch),
            dry=dry,
            would=(self._would_find(branch),),
            note=note,
        )

    def _would_find(self, branch: str) -> Would:
        return Would(
            "GET", f"/pulls?state=open&head={self.owner}:{branch}", f"find the pull request of {branch}"
        )

    def pull_for_branch(self, branch: str) -> int | None:
        """The number of the open pull request whose head is ``branch`` of this repository."""
        return self._find_step(branch, dry=None)

    # --- Forge ------------------------------------------------------------------------------------

    def publish(self, pub: Publication) -> None:
        """The sticky comment and the verdict label on the PR (``pub.pull``, else the open PR of
        ``pub.branch``, if any), and the commit status or check run on the candidate commit."""
        c = pub.evaluation.comparison
        number = pub.pull
        errors: list[ForgeError] = []
        if number is None and pub.branch:
            try:
                number = self._find_step(
                    pub.branch,
                    dry=DRY_PULL,
                    note=f"the pull request of {pub.branch}, if one is open, gets the comment and label",
                )
            except ForgeError as err:
                errors.append(err)
        steps: list[Step] = []
        if number is not None:
            label = self.label_for(c.verdict)
            steps.append(self._comment_step(number, comment_body(pub.markdown), key=pub.evaluation.key))
            steps.append(
                self._label_step(
                    number,
                    c.verdict,
                    what=f"verdict label on #{number}",
                    would=f"label {label}, replacing other verdict labels",
                )
            )
        status = self._status_step(pub)
        if status is not None:
            steps.append(status)
        self._run_steps(steps, errors)

    def open_change(self, *, branch: str, base: str, title: str, body: str, report: str = "") -> str:
        """The open PR of ``branch`` (its URL), else a new one: ``body`` as its description, ``report`` (else
        the body) as its sticky comment, and the improvement label."""
        label = self.label_for("improved")
        opened = self._step(
            f"open a pull request for {branch}",
            lambda: self._find_or_create(branch=branch, base=base, title=title, body=body),
            dry=Opened(number=DRY_PULL, url=f"(dry run) {branch}", created=True, labels=()),
            would=(
                self._would_find(branch),
                Would("POST", "/pulls", f"open {branch} → {base}: {_cut(title, MAX_TITLE_CHARS)!r}"),
            ),
        )
        number = opened.number
        steps: list[Step] = []
        if opened.created:
            steps.append(self._comment_step(number, comment_body(report or body), fresh=True))
        present = self._pr_labels.get(number) or opened.labels
        if label.lower() not in {name.lower() for name in present}:
            steps.append(
                self._label_step(
                    number, "improved", what=f"label {label} on #{number}", would=f"label {label}"
                )
            )
        self._run_steps(steps)
        if opened.created:
            self._done(f"opened pull request #{number}: {opened.url}")
        return opened.url

    def _find_or_create(self, *, branch: str, base: str, title: str, body: str) -> Opened:
        pull = self._find_open_pull(branch)
        created = pull is None
        if pull is None:
            self._at("POST", "/pulls")
            pull = self._repo.create_pull(
                base=base,
                head=branch,
                title=_cut(title, MAX_TITLE_CHARS),
                body=fit_markdown(body, MAX_COMMENT_CHARS, note="*(report cut)*"),
            )
            self._pulls[branch] = pull
            self._pr_labels[pull.number] = [lb.name for lb in pull.labels]
        labels = tuple(lb.name for lb in pull.labels)
        return Opened(number=pull.number, url=str(pull.html_url), created=created, labels=labels)

    def close_change(self, *, branch: str = "", reason: str, key: str = "", pull: int | None = None) -> bool:
        """Close the open PR ``pull`` (else the open PR of ``branch``) after saying why below the headline
        of its sticky comment. False when none is open -- or when a person reopened it after it was
        closed for this same evaluation (``key``): that PR stays open."""
        note = closed_note(key, reason)
        what = f"#{pull}" if pull is not None else f"the pull request of {branch}"
        if pull is not None:
            if not self._step(f"get #{pull}", lambda: self._is_open(pull), dry=True):
                return False
            number = pull
        else:
            found = self._find_step(branch, dry=DRY_PULL)
            if found is None:
                return False
            number = found
        outcome = self._step(
            f"sticky comment on #{number}",
            lambda: self._note_closed(number, note, key),
            dry="updated",
            would=(
                Would(
                    "PATCH",
                    "/issues/comments/{id}",
                    f"sticky comment: closed because {_one_line(reason, 120)}",
                ),
            ),
        )
        if outcome == "reopened":
            self.say(
                f"#{number} was reopened after it was closed for this same evaluation: left open "
                f"({_one_line(reason, 200)})"
            )
            return False
        self._step(
            f"close #{number}",
            lambda: self._close(number),
            dry=None,
            would=(Would("PATCH", f"/pulls/{pull_ref(number)}", "state=closed"),),
        )
        self._pulls.pop(branch, None)
        self._done(f"closed pull request #{number} ({what}): {_one_line(reason, 200)}")
        return True

    def _is_open(self, number: int) -> bool:
        state = self._pull_state(number)
        return state is not None and state.state == "open"

    def _note_closed(self, number: int, note: str, key: str) -> str:
        """The closed note (and the closed-for marker) in the sticky comment; "reopened" when the PR was
        already closed for this evaluation (``key``) and a person reopened it."""
        sticky = self._sticky_comments(number)
        old = sticky_parts(sticky[0].body or "") if sticky else sticky_parts("")
        if key and key in old.closed_for:
            return "reopened"
        closed_for = (*old.closed_for, key) if key else old.closed_for
        new = compose_sticky(old.report if sticky else "", note=note, closed_for=closed_for)
        if not sticky:
            self._at("POST", f"/issues/{number}/comments")
            self._repo.get_issue(number).create_comment(new)
            return "created"
        if new == sticky[0].body:
            return "unchanged"
        self._at("PATCH", f"/issues/comments/{sticky[0].id}")
        sticky[0].edit(new)
        return "updated"

    def _close(self, number: int) -> None:
        self._at("PATCH", f"/pulls/{number}")
        self._repo.get_pull(number).edit(state="closed")

    def merge(self, number: int, *, title: str) -> bool:
        """Merge the open PR ``number`` (``github.auto_merge``); False when GitHub refuses (conflict,
        checks, protection): said, and left to a person."""

        def merge() -> bool:
            self._at("PUT", f"/pulls/{number}/merge")
            try:
                status = self._repo.get_pull(number).merge(commit_title=_cut(title, MAX_TITLE_CHARS))
            except GithubException as err:
                if err.status in (405, 409, 422):
                    self.say(f"#{number} was not merged: {_message(err.data)}")
                    return False
                raise
            return bool(status.merged)

        return self._step(
            f"merge #{number}",
            merge,
            dry=True,
            would=(Would("PUT", f"/pulls/{number}/merge", f"merge: {_cut(title, 120)!r}"),),
        )

    # --- reading pull requests (trusted routing for publish) -------------------------------------

    def _pull_state(self, number: int) -> PullState | None:
        self._at("GET", f"/pulls/{number}")
        try:
            pull = self._repo.get_pull(number)
            pull.complete()
        except GithubException as err:
            if err.status == 404:
                return None
            raise
        state = _pull_state(pull, self.repository)
        self._pr_labels[number] = list(state.labels)  # the label step need not list them again
        return state

    def pull_state(self, number: int) -> PullState | None:
        """PR ``number`` as GitHub reports it now; None when there is no such PR."""
        return self._step(
            f"get #{number}",
            lambda: self._pull_state(number),
            dry=None,
            would=(Would("GET", f"/pulls/{number}", "read the pull request"),),
        )

    def pull_for_run(self, run: gha.WorkflowRunInfo) -> PullState | None:
        """The open PR a ``pull_request`` workflow run was for: one the run lists, else the open PR of the
        run's head branch in its head repository (GitHub lists no PR for a fork's run) -- and only if its
        head is the run's commit."""
        for number in run.pull_numbers[:10]:
            state = self._step(f"get #{number}", functools.partial(self._pull_state, number), dry=None)
            if state is not None and state.state == "open" and state.head_sha == run.head_sha:
                return state

        def find() -> list[PullState]:
            if not run.head_branch or not run.head_repo_full_name:
                return []
            head = f"{run.head_repo_full_name.split('/', 1)[0]}:{run.head_branch}"
            self._at("GET", f"/pulls?state=open&head={head}")
            return [
                _pull_state(p, self.repository)
                for p in self._repo.get_pulls(state="open", head=head)
                if p.head.sha == run.head_sha
            ]

        found = self._step(
            f"find the pull request of run {run.id}",
            find,
            dry=[],
            would=(
                Would("GET", f"/pulls?state=open&head=…:{run.head_branch}", f"find the PR of run {run.id}"),
            ),
        )
        return found[0] if len(found) == 1 else None

    def pulls_of_branch(self, branch: str) -> list[PullState]:
        """Every PR (open or closed) whose head is ``branch`` of this repository."""

        def find() -> list[PullState]:
            self._at("GET", f"/pulls?state=all&head={self.owner}:{branch}")
            return [
                _pull_state(p, self.repository)
                for p in self._repo.get_pulls(state="all", head=f"{self.owner}:{branch}")
            ]

        return self._step(
            f"pull requests of {branch}",
            find,
            dry=[],
            would=(
                Would("GET", f"/pulls?state=all&head={self.owner}:{branch}", f"pull requests of {branch}"),
            ),
        )

    def remove_verdict_labels(self, number: int) -> list[str]:
        """Remove our verdict labels from PR ``number`` (it is no longer a candidate); the names removed."""
        ours = self._verdict_labels()

        def remove() -> list[str]:
            issue = self._repo.get_issue(number)
            self._at("GET", f"/issues/{number}/labels")
            removed = []
            for label in issue.get_labels():
                if label.name.lower() in ours:
                    self._at("DELETE", f"/issues/{number}/labels/{urllib.parse.quote(label.name, safe='')}")
                    try:
                        issue.remove_from_labels(label.name)
                    except GithubException as err:
                        if err.status != 404:
                            raise
                    removed.append(label.name)
            return removed

        return self._step(
            f"verdict labels of #{number}",
            remove,
            dry=[],
            would=(Would("DELETE", f"/issues/{number}/labels/{{name}}", "remove the verdict labels"),),
        )

    # --- the baseline artifact --------------------------------------------------------------------

    def fetch_baseline(self, name: str, *, branch: str, sha: str | None = None) -> tuple[Result | None, str]:
        """The newest unexpired artifact ``name`` of a run on ``branch`` (at ``sha`` when given), as a
        validated result@1. Missing, expired or invalid: ``(None, why)``; API failure: ForgeError."""
        query = urllib.parse.urlencode({"name": name})
        where = f"for branch {branch}" + (f" at {sha[:8]}" if sha else "")

        def find() -> tuple[Artifact | None, str]:
            self._at("GET", f"/actions/artifacts?{query}")
            seen = expired = other = forks = 0
            newest_for_branch: str | None = None
            for artifact in self._repo.get_artifacts(name=name):
                seen += 1
                if seen > MAX_ARTIFACT_PAGES * 100:
                    break
                run = artifact.workflow_run
                if artifact.name != name or run is None or run.head_branch != branch:
                    other += 1
                    continue
                if run.head_repository_id != run.repository_id:  # a fork's run: untrusted, never a baseline
                    forks += 1
                    continue
                if sha is not None and run.head_sha != sha:
                    newest_for_branch = newest_for_branch or run.head_sha
                    continue
                if artifact.expired:
                    expired += 1
                    continue
                return artifact, ""
            if expired:
                return (
                    None,
                    f"baseline artifact {name} {where} has expired (re-run the base branch's workflow)",
                )
            if newest_for_branch:
                return None, (
                    f"no baseline artifact {name} {where} (the newest for {branch} is from "
                    f"{newest_for_branch[:8]})"
                )
            if other or forks:
                found = [
                    f"{other} for other branches" if other else "",
                    f"{forks} from forks" if forks else "",
                ]
                return None, f"no baseline artifact {name} {where} (found {', '.join(f for f in found if f)})"
            return None, f"no baseline artifact {name} {where} in {self.repository}"

        artifact, why = self._step(
            f"find the baseline artifact {name}",
            find,
            dry=(None, "dry run: the baseline artifact was not fetched"),
            would=(Would("GET", f"/actions/artifacts?{query}", "find the baseline artifact"),),
        )
        if artifact is None:
            return None, why
        label = f"baseline artifact {name} #{artifact.id}"
        if artifact.size_in_bytes is not None and artifact.size_in_bytes > MAX_ARTIFACT_BYTES:
            return None, f"{label} is {artifact.size_in_bytes} bytes, more than the 32 MiB limit"
        data: bytes | str = self._step(
            f"download {label}", lambda: self._download(artifact), dry="not downloaded"
        )
        if isinstance(data, str):
            return None, f"{label}: {data}"
        result, problem = _result_from_zip(data, label)
        if result is None:
            return None, problem
        run = artifact.workflow_run
        head_sha = run.head_sha if run is not None else ""
        if sha is not None and result.ref.sha and result.ref.sha != sha:
            return None, f"{label} holds a result of {result.ref.sha[:8]}, not of {sha[:8]}"
        return result, f"{label} from {head_sha[:8]}, {_iso(artifact.created_at)}"

    def fetch_run_bundles(self, run_id: int) -> tuple[list[FoundBundle], list[str]] | None:
        """The evaluation bundles (``autoresearch-bundle-*`` artifacts) an unprivileged run uploaded, each a
        validated bundle@1 document -- still untrusted: publish checks every claim in it -- with the
        problems of those that could not be read. None when the run does not exist (deleted)."""

        def find() -> tuple[list[Artifact], list[str]] | None:
            self._at("GET", f"/actions/runs/{run_id}/artifacts")
            try:
                run = self._repo.get_workflow_run(run_id)
                bundles = [
                    a
                    for a in run.get_artifacts()
                    if a.name.startswith(BUNDLE_ARTIFACT_PREFIX) and not a.expired
                ][:MAX_RUN_BUNDLES]
            except GithubException as err:
                if err.status == 404:
                    return None
                raise
            return bundles, []

        found = self._step(
            f"find the evaluation bundles of run {run_id}",
            find,
            dry=([], ["dry run: the bundles were not fetched"]),
            would=(Would("GET", f"/actions/runs/{run_id}/artifacts", "find the evaluation bundles"),),
        )
        if found is None:
            return None
        artifacts, problems = found
        docs: list[FoundBundle] = []
        for artifact in artifacts:
            label = f"artifact {artifact.name} #{artifact.id}"
            if artifact.size_in_bytes is not None and artifact.size_in_bytes > MAX_ARTIFACT_BYTES:
                problems.append(f"{label} is larger than the 32 MiB limit")
                continue
            data: bytes | str = self._step(
                f"download {label}", functools.partial(self._download, artifact), dry="not downloaded"
            )
            if isinstance(data, str):
                problems.append(f"{label}: {data}")
                continue
            doc, problem = _document_from_zip(data, label, "bundle")
            if doc is None:
                problems.append(problem)
            else:
                docs.append((label, artifact.name, doc))
        return docs, problems

    def _download(self, artifact: Artifact) -> bytes | str:
        """The zip's bytes, or why not (a string). The 302 target never sees the token."""
        assert self.client is not None
        self._at("GET", f"/actions/artifacts/{artifact.id}/zip")
        try:
            headers, _ = self.client.requester.requestJsonAndCheck("GET", artifact.archive_download_url)
        except GithubException as err:
            if err.status == 410:
                return "has expired"
            if err.status == 404:
                return "was not found (deleted?)"
            raise
        location = _header(headers, "location")
        if not location:
            return "the download answer has no Location to follow"
        if urllib.parse.urlsplit(location).scheme not in ("https", "http"):
            return "the download location is not an http(s) URL"
        self._current = ("GET", urllib.parse.urlsplit(location)._replace(query="").geturl())
        request = urllib.request.Request(location, headers={"User-Agent": f"ci-autoresearch/{__version__}"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # no Authorization header
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > MAX_ARTIFACT_BYTES:
                    return f"is {declared} bytes, more than the 32 MiB limit"
                data: bytes = response.read(MAX_ARTIFACT_BYTES + 1)
        except urllib.error.HTTPError as err:
            if err.code in RETRY_STATUSES or err.code == 429:
                raise
            err.close()
            return f"download refused: HTTP {err.code} {err.reason}"
        if len(data) > MAX_ARTIFACT_BYTES:
            return "is larger than the 32 MiB limit"
        return data


def _document_from_zip(data: bytes, label: str, expect: Kind) -> tuple[dict[str, Any] | None, str]:
    """Exactly one ``*.json`` member of the zip that is a valid document of kind ``expect``."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [i for i in archive.infolist() if not i.is_dir() and i.filename.lower().endswith(".json")]
    except (zipfile.BadZipFile, ValueError, OSError):
        return None, f"{label} is not a valid zip archive"
    if len(archive.infolist()) > MAX_ARTIFACT_MEMBERS:
        return None, f"{label} has more than {MAX_ARTIFACT_MEMBERS} files"
    found: list[tuple[str, dict[str, Any]]] = []
    problems: list[str] = []
    total = 0
    for info in members:
        total += info.file_size
        if info.file_size > MAX_ARTIFACT_BYTES or total > MAX_ARTIFACT_BYTES:
            problems.append(f"{info.filename}: larger than the 32 MiB limit")
            break
        try:
            text = archive.read(info).decode("utf-8")
            kind, doc = parse_document(text, source=info.filename)
        except ArtifactError as err:
            problems.append(err.message)
            continue
        except (
            zipfile.BadZipFile,
            ValueError,
            OSError,
            EOFError,
            NotImplementedError,
            UnicodeDecodeError,
        ) as err:
            problems.append(f"{info.filename}: unreadable ({_one_line(str(err), 120)})")
            continue
        if kind == expect:
            found.append((info.filename, doc))
        else:
            problems.append(f"{info.filename}: a {kind} document, not a {expect}")
    want = SCHEMA_IDS[expect].split("/")[-1]
    if len(found) == 1:
        return found[0][1], ""
    if len(found) > 1:
        names = ", ".join(n for n, _ in found[:5])
        return None, f"{label} holds {len(found)} {want} files ({names}); expected exactly one"
    if problems:
        return None, _one_line(f"{label} holds no valid {want} JSON: {problems[0]}")
    return None, f"{label} holds no JSON file (expected one {want} document)"


def _pull_state(pull: PullRequest, repository: str) -> PullState:
    head_repo = pull.head.repo.full_name if pull.head.repo is not None else None
    return PullState(
        number=pull.number,
        state=pull.state,
        merged=bool(pull.merged_at),
        head_ref=pull.head.ref,
        head_sha=pull.head.sha,
        head_repo=head_repo,
        base_ref=pull.base.ref,
        base_sha=pull.base.sha,
        labels=tuple(label.name for label in pull.labels),
        is_fork=head_repo is None or head_repo.lower() != repository.lower(),
        url=str(pull.html_url),
    )


def _result_from_zip(data: bytes, label: str) -> tuple[Result | None, str]:
    doc, problem = _document_from_zip(data, label, "result")
    return (result_from_json(doc), "") if doc is not None else (None, problem)
