"""The connection to one repository's REST API, and the step runner every request goes through.

A :class:`Session` runs *steps*: idempotent find-then-write units of work. Retries are ours, not
PyGithub's: 5xx answers, secondary rate limits and dropped connections are retried with backoff
(``Retry-After`` honoured) through an injectable ``sleep``, and each retry repeats the whole step, so a
write that succeeded before its answer was lost is found instead of repeated. A failure becomes one
line naming the request (:class:`~ci_autoresearch.errors.ForgeError`).

A dry run is the same code with one difference, in :meth:`Session.step`: nothing is called; each step
says the requests it would make (``would METHOD PATH (what)``) and gives the answer the operation goes
on with.
"""

from __future__ import annotations

import re
import time
import urllib.error
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from github import Auth, Github, GithubException
from github.Repository import Repository

from ci_autoresearch import __version__
from ci_autoresearch.errors import BadInputError, ForgeError
from ci_autoresearch.forge.github.text import one_line

T = TypeVar("T")
D = TypeVar("D")
Say = Callable[[str], None]

DEFAULT_API_URL = "https://api.github.com"
RETRY_STATUSES = frozenset({500, 502, 503, 504})
MAX_ATTEMPTS = 5
MAX_BACKOFF = 30.0
SECONDARY_LIMIT_WAIT = 60.0  # GitHub: without Retry-After, wait at least a minute
MAX_WAIT = 600.0
DRY_PULL = 0  # the number a dry run gives a pull request it did not look up (said as {pull})
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def token_of(env: Mapping[str, str]) -> str | None:
    """The job's token: the action's input, else ``GITHUB_TOKEN`` (the one place it is looked up)."""
    return env.get("INPUT_GITHUB-TOKEN") or env.get("INPUT_GITHUB_TOKEN") or env.get("GITHUB_TOKEN") or None


def repository_of(env: Mapping[str, str]) -> str:
    """``$GITHUB_REPOSITORY``, checked to be ``owner/name``."""
    repository = env.get("GITHUB_REPOSITORY", "")
    if not repository:
        raise BadInputError(
            "GITHUB_REPOSITORY is not set: expected owner/name of the repository to publish to"
        )
    return checked_repository(repository)


def checked_repository(repository: str) -> str:
    if not _REPOSITORY.fullmatch(repository):
        raise BadInputError(f"GITHUB_REPOSITORY: expected owner/name, got {repository!r}")
    return repository


def client_from_env(env: Mapping[str, str], *, token: str | None, dry_run: bool) -> Github | None:
    """PyGithub at ``$GITHUB_API_URL`` with ``token`` (else the job's): no retries or throttling of its
    own, lazy objects, 100 per page. None for a dry run, which makes no request."""
    if dry_run:
        return None
    token = token or token_of(env)
    if not token:
        raise BadInputError(
            "no GitHub token: set GITHUB_TOKEN (env: GITHUB_TOKEN: ${{ github.token }}) "
            "or the action's github-token input"
        )
    return Github(
        auth=Auth.Token(token),
        base_url=(env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"),
        retry=None,
        seconds_between_requests=0,
        seconds_between_writes=0,
        lazy=True,
        per_page=100,
        timeout=30,
        user_agent=f"ci-autoresearch/{__version__}",
    )


# --- what went wrong ---------------------------------------------------------------------------------


def header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """The value of header ``name`` (lower case), whatever the case it was sent in."""
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def _retry_after(headers: Mapping[str, Any] | None) -> float | None:
    value = header(headers, "retry-after")
    try:
        return None if value is None else max(float(value), 0.0)
    except ValueError:
        return None


def message_of(data: Any) -> str:
    """GitHub's error answer as one line: its message and the details of its ``errors``."""
    if isinstance(data, dict):
        msg = str(data.get("message") or "")
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            details = [
                str(e.get("message") or e.get("code") or e) if isinstance(e, dict) else str(e) for e in errors
            ]
            msg += " (" + "; ".join(details) + ")"
        return one_line(msg or str(data), 240)
    if isinstance(data, bytes):
        data = data.decode("utf-8", errors="replace")
    return one_line(str(data or ""), 240)


@dataclass(frozen=True)
class Failure:
    """What went wrong with one request, for the retry decision and the one-line error."""

    status: int | None
    message: str
    wait: float | None  # seconds before the next attempt; None: do not retry


def classify(err: Exception, attempt: int) -> Failure:
    """Whether (and after how long) the ``attempt``-th try of a step that failed with ``err`` is retried."""
    backoff = min(2.0 ** (attempt - 1), MAX_BACKOFF)
    if isinstance(err, GithubException):
        status, headers, message = err.status, err.headers, message_of(err.data)
        after = _retry_after(headers)
        if status in RETRY_STATUSES:
            return Failure(status, message, backoff if after is None else after)
        if status in (403, 429):
            if after is not None:
                return Failure(status, message, after)
            if "secondary rate limit" in message.lower():
                return Failure(status, message, SECONDARY_LIMIT_WAIT)
            if header(headers, "x-ratelimit-remaining") == "0":
                reset = header(headers, "x-ratelimit-reset")
                when = (
                    datetime.fromtimestamp(int(reset), timezone.utc).strftime("%H:%M UTC")
                    if reset and reset.isdigit()
                    else "later"
                )
                return Failure(status, f"{message} (the rate limit resets at {when})", None)
        return Failure(status, message, None)
    if isinstance(err, urllib.error.HTTPError):
        after = _retry_after(dict(err.headers.items()) if err.headers else None)
        if err.code in RETRY_STATUSES or err.code == 429:
            return Failure(err.code, one_line(err.reason), backoff if after is None else after)
        return Failure(err.code, one_line(err.reason), None)
    # connection refused or reset, timeouts (requests' and urllib's errors are OSErrors)
    return Failure(None, one_line(f"{type(err).__name__}: {err}"), backoff)


# --- steps ---------------------------------------------------------------------------------------------


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


def pull_ref(number: int) -> str:
    """``number`` in a path, ``{pull}`` for the pull request a dry run did not look up."""
    return "{pull}" if number == DRY_PULL else str(number)


class Session:
    """One repository's API as the forge uses it: the PyGithub client (None in a dry run), the steps."""

    def __init__(
        self,
        client: Github | None,
        repository: str,
        *,
        dry_run: bool = False,
        say: Say = print,
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        checked_repository(repository)
        if client is None and not dry_run:
            raise BadInputError("no GitHub client: a token is needed unless this is a dry run")
        self.client = client
        self.repository = repository
        self.owner = repository.split("/", 1)[0]
        self.dry_run = dry_run
        self.say = say
        self.sleep = sleep
        self.max_attempts = max(1, max_attempts)
        self._repo: Repository | None = None
        self._current = ("", "")  # (method, path) of the request under way, for error messages

    @property
    def repo(self) -> Repository:
        if self.client is None:
            raise RuntimeError("dry run: no API call may be made")  # a bug if reached
        if self._repo is None:
            self._repo = self.client.get_repo(self.repository)  # lazy: no request
        return self._repo

    def path(self, suffix: str) -> str:
        return f"/repos/{self.repository}{suffix}"

    def at(self, method: str, suffix: str) -> None:
        """Name the request about to be made (for the error line, should it fail)."""
        self.at_url(method, self.path(suffix))

    def at_url(self, method: str, url: str) -> None:
        self._current = (method, url)

    def done(self, line: str) -> None:
        """Say what was done on GitHub; a dry run did nothing, so it says nothing."""
        if not self.dry_run:
            self.say(line)

    def step(
        self, what: str, fn: Callable[[], T], *, dry: D, would: Sequence[Would] = (), note: str = ""
    ) -> T | D:
        """Run one idempotent find-then-write step, retrying it as a whole on transient failures.

        The one place a dry run differs: nothing is called; the step says the requests it ``would`` make
        (and ``note``) and gives ``dry``, the answer the rest of the operation goes on with."""
        if self.dry_run:
            for request in would:
                self.say(f"would {request.method} {self.path(request.suffix)} ({request.what})")
            if note:
                self.say(f"(dry run: {note})")
            return dry
        return self._retrying(what, fn)

    def run_steps(self, steps: Sequence[Step], errors: Sequence[ForgeError] = ()) -> None:
        """Run every step even when one fails (a GitHub failure loses nothing), then raise the first."""
        failed = list(errors)
        for step in steps:
            try:
                self.step(step.what, step.run, dry=None, would=step.would)
            except ForgeError as err:
                failed.append(err)
        if failed:
            more = f" (and {len(failed) - 1} more failed step(s))" if len(failed) > 1 else ""
            raise ForgeError(failed[0].message + more)

    def _retrying(self, what: str, fn: Callable[[], T]) -> T:
        for attempt in range(1, self.max_attempts + 1):
            self._current = ("", "")
            try:
                return fn()
            except (GithubException, OSError) as err:
                failure = classify(err, attempt)
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
