"""FakeGitHub: a stateful GitHub REST server on 127.0.0.1 for the real PyGithub client.

Every exchange is routed to one of the 36 operations of the OpenAPI subset and checked with
openapi-core, request and response; a mismatch lands in :attr:`FakeGitHub.violations` (never
dropped). See ``tests/fakegithub/__init__.py`` for the overview.
"""

from __future__ import annotations

import hmac
import itertools
import json
import re
import subprocess
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from .render import Renderer
from .spec import SPEC_QUIRKS, Operation, RawRequest, RawResponse, Spec, load_spec
from .state import (
    Artifact,
    CheckRun,
    Clock,
    Comment,
    Issue,
    Label,
    Repo,
    Status,
    WorkflowRun,
    fake_sha,
)

DOCS = "https://docs.github.com/rest"
SECONDARY_RATE_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID."
)
PRIMARY_RATE_LIMIT_MESSAGE = "API rate limit exceeded for user ID 1."
BLOB_PREFIX = "/_blobs/"
_HEX40 = re.compile(r"[0-9a-f]{40}")
_COLOR = re.compile(r"[0-9a-fA-F]{6}")


class Call(NamedTuple):
    """One line of :attr:`FakeGitHub.calls`."""

    method: str
    path: str
    status: int
    operation_id: str | None


@dataclass
class Exchange:
    """Everything about one request, for tests that need more than :class:`Call`."""

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    operation_id: str | None
    request_body: Any
    response_body: Any
    response_headers: dict[str, str]
    authorization_sent: bool
    faulted: bool = False


@dataclass
class BlobDownload:
    """A GET on the artifact blob URL the 302 pointed at (GitHub's signed storage URL)."""

    artifact_id: int
    status: int
    authorization_sent: bool  # any Authorization header at all
    token_sent: bool  # the configured token itself: a leak of the credential to the blob store


@dataclass
class Fault:
    """An injected failure: the next ``times`` matching requests get ``status`` and no effect."""

    method: str
    path_regex: re.Pattern[str]
    status: int
    times: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return self.hits < self.times and self.method in ("*", method) and bool(self.path_regex.search(path))


class ApiError(Exception):
    """A GitHub error answer: ``{"message", "documentation_url", "status"[, "errors"]}``."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "message": self.message,
            "documentation_url": DOCS,
            "status": str(self.status),
        }
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def not_found(message: str = "Not Found") -> ApiError:
    return ApiError(404, message)


def validation_failed(*errors: dict[str, Any], message: str = "Validation Failed") -> ApiError:
    return ApiError(422, message, list(errors))


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # non-JSON payload (the artifact zip)
    content_type: str = "application/json; charset=utf-8"


@dataclass
class _Context:
    """What a handler gets: path parameters, query, parsed JSON body, the repository if any."""

    params: dict[str, str]
    query: dict[str, list[str]]
    body: Any
    raw_path: str
    repo: Repo | None

    def q(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    @property
    def r(self) -> Repo:
        assert self.repo is not None
        return self.repo

    def field(self, name: str, default: Any = None) -> Any:
        return self.body.get(name, default) if isinstance(self.body, dict) else default


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stalls
    wbufsize = -1  # buffered; BaseHTTPRequestHandler flushes after each response

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the fake keeps its own log

    def _dispatch(self) -> None:
        self.server.fake._serve(self)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeGitHub


class FakeGitHub:
    """A GitHub REST API on ``127.0.0.1`` for one or more repositories.

    Use as a context manager (or :meth:`start` / :meth:`stop`); point PyGithub at :attr:`url`.
    """

    def __init__(
        self,
        token: str = "t",
        *,
        login: str = "github-actions[bot]",
        rate_limit: int = 5000,
        validate: bool = True,
        spec: Spec | None = None,
    ) -> None:
        self.token = token
        self.login = login
        self.validate = validate
        self.spec = spec or load_spec()
        self.clock = Clock()
        self.rate_limit_total = rate_limit
        self.rate_limit_used = 0
        self.rate_limit_reset = int(datetime.now(timezone.utc).timestamp()) + 3600
        self.calls: list[Call] = []
        self.exchanges: list[Exchange] = []
        self.violations: list[str] = []
        self.notes: list[str] = []
        self.blob_downloads: list[BlobDownload] = []
        self.faults: list[Fault] = []
        self.git_mirrors: dict[str, Path] = {}  # owner/name -> a bare git repository its branches follow
        self._repos: dict[tuple[str, str], Repo] = {}
        self._ids = itertools.count(1000)
        self._blob_key = fake_sha("blob-key", id(self)).encode()
        self._lock = threading.RLock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.render: Renderer = Renderer(self.spec, "http://127.0.0.1")
        self._ops: dict[str, Callable[[_Context], Reply]] = {
            "rate-limit/get": self._rate_limit,
            "repos/get": self._get_repo,
            "actions/list-artifacts-for-repo": self._list_artifacts,
            "actions/get-artifact": self._get_artifact,
            "actions/download-artifact": self._download_artifact,
            "actions/get-workflow-run": self._get_run,
            "actions/list-workflow-run-artifacts": self._list_run_artifacts,
            "repos/list-branches": self._list_branches,
            "repos/get-branch": self._get_branch,
            "checks/create": self._create_check,
            "checks/update": self._update_check,
            "repos/list-pull-requests-associated-with-commit": self._pulls_for_commit,
            "checks/list-for-ref": self._list_checks,
            "repos/get-combined-status-for-ref": self._combined_status,
            "repos/compare-commits": self._compare,
            "git/get-ref": self._get_ref,
            "git/create-ref": self._create_ref,
            "git/delete-ref": self._delete_ref,
            "git/update-ref": self._update_ref,
            "issues/list-for-repo": self._list_issues,
            "issues/delete-comment": self._delete_comment,
            "issues/update-comment": self._update_comment,
            "issues/get": self._get_issue,
            "issues/list-comments": self._list_comments,
            "issues/create-comment": self._create_comment,
            "issues/list-labels-on-issue": self._list_issue_labels,
            "issues/add-labels": self._add_labels,
            "issues/remove-label": self._remove_label,
            "issues/create-label": self._create_label,
            "issues/get-label": self._get_label,
            "pulls/list": self._list_pulls,
            "pulls/create": self._create_pull,
            "pulls/get": self._get_pull,
            "pulls/update": self._update_pull,
            "pulls/merge": self._merge_pull,
            "repos/create-commit-status": self._create_status,
        }
        missing = {op.operation_id for op in self.spec.operations} - set(self._ops)
        assert not missing, f"operations of the spec without a handler: {sorted(missing)}"

    # ================================================================ lifecycle
    def start(self) -> FakeGitHub:
        if self._httpd is not None:
            return self
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self.url = f"http://127.0.0.1:{httpd.server_address[1]}"
        self.render = Renderer(self.spec, self.url, self._find_repo)
        if self.validate:
            _ = self.spec.openapi  # build the validators before the first request
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-github", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ================================================================ test-side API: setup
    def _new_id(self) -> int:
        return next(self._ids)

    def add_repo(
        self, owner: str, name: str, default_branch: str = "main", *, sha: str | None = None
    ) -> Repo:
        """A repository whose default branch points at ``sha`` (made up when not given)."""
        with self._lock:
            key = (owner.lower(), name.lower())
            if key in self._repos:
                raise ValueError(f"repository {owner}/{name} exists")
            repo = Repo(
                id=self._new_id(),
                owner=owner,
                name=name,
                default_branch=default_branch,
                created_at=self.clock.now(),
            )
            self._repos[key] = repo
            self.set_branch(default_branch, sha or fake_sha(owner, name, default_branch), repo=repo.full_name)
            return repo

    def mirror_git(self, git_dir: Path, *, repo: str | None = None) -> None:
        """Let ``repo``'s branches follow the bare repository ``git_dir`` (what ``git push`` changed there is
        what the API shows), as on GitHub where a push and the REST API see one repository."""
        with self._lock:
            self.git_mirrors[self.repo(repo).full_name] = git_dir

    def _follow_git(self) -> None:
        for full_name, git_dir in self.git_mirrors.items():
            out = subprocess.run(
                ["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/"],
                cwd=git_dir,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            with self._lock:
                r = self.repo(full_name)
                heads = dict(line.split(" ", 1) for line in out.splitlines() if line)
                for ref in [ref for ref in r.refs if ref.startswith("refs/heads/") and ref not in heads]:
                    del r.refs[ref]
                r.refs.update(heads)
                self._sync_pulls(r)

    def _find_repo(self, full_name: str) -> Repo | None:
        owner, _, name = full_name.partition("/")
        return self._repos.get((owner.lower(), name.lower()))

    def repo(self, full_name: str | None = None) -> Repo:
        """A repository by ``owner/name``; without a name, the first one added."""
        with self._lock:
            if full_name is None:
                if not self._repos:
                    raise LookupError("no repository: call add_repo() first")
                return next(iter(self._repos.values()))
            owner, _, name = full_name.partition("/")
            try:
                return self._repos[(owner.lower(), name.lower())]
            except KeyError:
                raise LookupError(f"no repository {full_name}") from None

    def set_branch(
        self, branch: str, sha: str, *, parent: str | None = None, repo: str | None = None
    ) -> None:
        """Point ``branch`` at ``sha`` (create it); ``parent`` records the commit graph for compare.

        Open pull requests whose head is this branch follow it, as on GitHub (``synchronize``).
        """
        with self._lock:
            r = self.repo(repo)
            if parent is not None:
                self.add_commit(sha, parent, repo=r.full_name)
            r.refs[f"refs/heads/{branch}"] = sha
            self._sync_pulls(r)

    def delete_branch(self, branch: str, *, repo: str | None = None) -> None:
        with self._lock:
            self.repo(repo).refs.pop(f"refs/heads/{branch}", None)

    def add_commit(
        self, sha: str, *parents: str, message: str | None = None, repo: str | None = None
    ) -> None:
        """Record a commit of the graph (used by compare, PR commit counts, fast-forward checks)."""
        with self._lock:
            r = self.repo(repo)
            r.parents[sha] = list(parents)
            if message is not None:
                r.messages[sha] = message

    def add_label(
        self, name: str, color: str = "ededed", description: str | None = None, *, repo: str | None = None
    ) -> Label:
        """A repository label (as created in the GitHub UI)."""
        with self._lock:
            r = self.repo(repo)
            label = Label(id=self._new_id(), name=name, color=color, description=description)
            r.labels[name.lower()] = label
            return label

    def add_pull(
        self,
        head: str,
        *,
        base: str | None = None,
        title: str = "A pull request",
        body: str | None = "",
        head_sha: str | None = None,
        user: str = "octocat",
        labels: Iterable[str] = (),
        draft: bool = False,
        state: str = "open",
        repo: str | None = None,
        head_repo: str | None = None,
    ) -> Issue:
        """A pull request from ``head`` (a branch, created when missing) into ``base``; with ``head_repo``
        (``owner/name``, added when missing) the head branch lives in that fork."""
        with self._lock:
            r = self.repo(repo)
            if head_repo is not None:
                fork_owner, _, fork_name = head_repo.partition("/")
                if (fork_owner.lower(), fork_name.lower()) not in self._repos:
                    self.add_repo(fork_owner, fork_name)
                self.set_branch(head, head_sha or fake_sha(head_repo, head), repo=head_repo)
            elif head_sha is not None or head not in r.branches:
                self.set_branch(head, head_sha or fake_sha(r.full_name, head), repo=r.full_name)
            base = base or r.default_branch
            issue = self._new_issue(r, title=title, body=body, user=user, is_pull=True)
            if head_repo is not None:
                fork = self.repo(head_repo)
                issue.head_ref, issue.head_sha, issue.head_owner = head, fork.branches[head], fork.owner
                issue.head_repo = fork.full_name
            else:
                issue.head_ref, issue.head_sha, issue.head_owner = head, r.branches[head], r.owner
            issue.base_ref, issue.base_sha, issue.draft = base, r.branches[base], draft
            for name in labels:
                self._ensure_label(r, name)
                issue.labels.append(r.labels[name.lower()].name)
            if state == "closed":
                issue.state, issue.closed_at = "closed", self.clock.now()
            return issue

    def add_issue(
        self, title: str, *, body: str | None = "", user: str = "octocat", repo: str | None = None
    ) -> Issue:
        with self._lock:
            return self._new_issue(self.repo(repo), title=title, body=body, user=user, is_pull=False)

    def add_comment(
        self, number: int, body: str, *, user: str | None = None, repo: str | None = None
    ) -> Comment:
        """A comment on issue/PR ``number`` by ``user`` (default: the token's login)."""
        with self._lock:
            r = self.repo(repo)
            if number not in r.issues:
                raise LookupError(f"no issue #{number} in {r.full_name}")
            now = self.clock.now()
            comment = Comment(self._new_id(), number, body, user or self.login, now, now)
            r.comments[comment.id] = comment
            return comment

    def add_workflow_run(
        self,
        head_branch: str,
        head_sha: str,
        *,
        name: str = "autoresearch",
        event: str = "push",
        status: str = "completed",
        conclusion: str | None = "success",
        repo: str | None = None,
    ) -> WorkflowRun:
        with self._lock:
            r = self.repo(repo)
            now = self.clock.now()
            run = WorkflowRun(
                id=self._new_id(),
                name=name,
                head_branch=head_branch,
                head_sha=head_sha,
                run_number=len(r.runs) + 1,
                created_at=now,
                updated_at=now,
                event=event,
                status=status,
                conclusion=conclusion,
            )
            r.runs[run.id] = run
            return run

    def add_artifact(
        self,
        name: str,
        zip_bytes: bytes,
        head_branch: str | None = None,
        head_sha: str | None = None,
        expired: bool = False,
        *,
        run_id: int | None = None,
        repo: str | None = None,
    ) -> Artifact:
        """An artifact uploaded by a workflow run (a new run unless ``run_id`` is given)."""
        with self._lock:
            r = self.repo(repo)
            head_branch = head_branch or r.default_branch
            head_sha = head_sha or r.resolve(head_branch) or fake_sha(r.full_name, head_branch)
            if run_id is None:
                run_id = self.add_workflow_run(head_branch, head_sha, repo=r.full_name).id
            elif run_id not in r.runs:
                raise LookupError(f"no workflow run {run_id}")
            now = self.clock.now()
            artifact = Artifact(
                id=self._new_id(),
                name=name,
                data=zip_bytes,
                run_id=run_id,
                head_branch=head_branch,
                head_sha=head_sha,
                created_at=now,
                expires_at=now + timedelta(days=90),
                expired=expired,
            )
            r.artifacts[artifact.id] = artifact
            return artifact

    def inject(
        self,
        method: str,
        path_regex: str,
        status: int,
        times: int = 1,
        *,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> Fault:
        """Answer the next ``times`` requests matching ``method`` (``*`` for any) and ``path_regex``
        (searched in the URL path) with ``status``; the request is logged but changes nothing.

        The default body is GitHub's: a secondary rate limit message for 403/429, ``Server Error``
        for 5xx. Pass ``headers={"Retry-After": "1"}`` to ask for a pause.
        """
        if body is None:
            if status in (403, 429):
                body = {
                    "message": SECONDARY_RATE_LIMIT_MESSAGE,
                    "documentation_url": DOCS,
                    "status": str(status),
                }
            elif status >= 500:
                body = {"message": "Server Error", "status": str(status)}
            else:
                body = {"message": "Injected failure", "documentation_url": DOCS, "status": str(status)}
        fault = Fault(method.upper(), re.compile(path_regex), status, times, dict(headers or {}), body)
        with self._lock:
            self.faults.append(fault)
        return fault

    # ================================================================ test-side API: inspection
    def pull(self, number: int, *, repo: str | None = None) -> Issue:
        with self._lock:
            issue = self.repo(repo).issues.get(number)
            if issue is None or not issue.is_pull:
                raise LookupError(f"no pull request #{number}")
            return issue

    def pulls(
        self, state: str = "all", *, head: str | None = None, base: str | None = None, repo: str | None = None
    ) -> list[Issue]:
        """Pull requests by number; ``head`` is a branch name (no ``owner:``)."""
        with self._lock:
            return [
                i
                for i in sorted(self.repo(repo).issues.values(), key=lambda i: i.number)
                if i.is_pull
                and state in ("all", i.state)
                and (head is None or i.head_ref == head)
                and (base is None or i.base_ref == base)
            ]

    def comments(self, number: int, *, repo: str | None = None) -> list[Comment]:
        with self._lock:
            return sorted(
                (c for c in self.repo(repo).comments.values() if c.issue_number == number), key=lambda c: c.id
            )

    def labels(self, number: int, *, repo: str | None = None) -> list[str]:
        """Names of the labels on issue/PR ``number``."""
        with self._lock:
            return list(self.repo(repo).issues[number].labels)

    def repo_labels(self, *, repo: str | None = None) -> dict[str, Label]:
        with self._lock:
            return {label.name: label for label in self.repo(repo).labels.values()}

    def statuses(self, sha: str, *, repo: str | None = None) -> list[Status]:
        """Commit statuses of ``sha``, oldest first."""
        with self._lock:
            return [s for s in self.repo(repo).statuses if s.sha == sha]

    def check_runs(self, sha: str, *, repo: str | None = None) -> list[CheckRun]:
        with self._lock:
            return [c for c in self.repo(repo).check_runs.values() if c.head_sha == sha]

    def branches(self, *, repo: str | None = None) -> dict[str, str]:
        with self._lock:
            return self.repo(repo).branches

    def count(self, operation_id: str | None = None, *, method: str | None = None) -> int:
        """How many requests reached the API (faulted ones included), optionally of one operation."""
        with self._lock:
            return sum(
                1
                for c in self.calls
                if (operation_id is None or c.operation_id == operation_id)
                and (method is None or c.method == method)
            )

    @property
    def token_leaks(self) -> list[BlobDownload]:
        """Blob downloads that carried the API token (GitHub's real blob host must never see it)."""
        return [d for d in self.blob_downloads if d.token_sent]

    def assert_no_violations(self) -> None:
        """Fail with every recorded contract violation."""
        with self._lock:
            if self.violations:
                raise AssertionError(
                    f"{len(self.violations)} OpenAPI contract violation(s):\n" + "\n".join(self.violations)
                )

    def reset_log(self) -> None:
        with self._lock:
            self.calls.clear()
            self.exchanges.clear()
            self.violations.clear()
            self.notes.clear()
            self.blob_downloads.clear()

    # ================================================================ HTTP plumbing
    def _serve(self, h: _Handler) -> None:
        split = urlsplit(h.path)
        raw_path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        length = int(h.headers.get("Content-Length") or 0)
        raw_body = h.rfile.read(length) if length else b""
        with self._lock:
            if raw_path.startswith(BLOB_PREFIX):
                reply = self._serve_blob(h, raw_path, query)
                self.calls.append(Call(h.command, raw_path, reply.status, None))
            else:
                reply = self._serve_api(h, raw_path, query, raw_body)
        self._send(h, reply)

    def _send(self, h: _Handler, reply: Reply) -> None:
        if reply.raw is not None:
            payload = reply.raw
        elif reply.body is None:
            payload = b""
        else:
            payload = json.dumps(reply.body).encode()
        h.send_response(reply.status)
        for name, value in reply.headers.items():
            h.send_header(name, value)
        if payload or reply.status not in (204, 302, 304):
            h.send_header("Content-Type", reply.content_type)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(payload)

    def _rate_headers(self) -> dict[str, str]:
        remaining = max(self.rate_limit_total - self.rate_limit_used, 0)
        return {
            "X-RateLimit-Limit": str(self.rate_limit_total),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(self.rate_limit_reset),
            "X-RateLimit-Used": str(self.rate_limit_used),
            "X-RateLimit-Resource": "core",
        }

    def _serve_api(self, h: _Handler, raw_path: str, query: dict[str, list[str]], raw_body: bytes) -> Reply:
        method = h.command
        where = f"{method} {raw_path}"
        auth = h.headers.get("Authorization") or ""
        scheme, _, credential = auth.partition(" ")
        authorized = scheme.lower() in ("token", "bearer") and hmac.compare_digest(
            credential.strip(), self.token
        )
        matched = self.spec.match(method, raw_path)
        op: Operation | None = matched[0] if matched else None
        params = matched[1] if matched else {}
        oid = op.operation_id if op else None
        body: Any = None
        reply: Reply
        raw_request: RawRequest | None = None
        faulted = False

        if op is None:
            self.violations.append(f"{where}: no operation of the OpenAPI subset matches this request")
            reply = Reply(404, ApiError(404, "Not Found").body())
        elif not auth:
            reply = Reply(401, ApiError(401, "Requires authentication").body())
        elif not authorized:
            reply = Reply(401, ApiError(401, "Bad credentials").body())
        else:
            counted = oid != "rate-limit/get"
            exhausted = counted and self.rate_limit_used >= self.rate_limit_total
            if counted and not exhausted:
                self.rate_limit_used += 1
            try:
                body = json.loads(raw_body) if raw_body else None
            except ValueError:
                self.violations.append(f"{where} [{oid}] request: body is not JSON: {raw_body[:200]!r}")
                reply = Reply(400, ApiError(400, "Problems parsing JSON").body())
            else:
                raw_request = self._check_request(
                    h, op=op, raw_path=raw_path, params=params, query=query, raw_body=raw_body, body=body
                )
                fault = next((f for f in self.faults if f.matches(method, raw_path)), None)
                if raw_request is None:
                    reply = Reply(422, validation_failed(message="Invalid request.").body())
                elif fault is not None:
                    fault.hits += 1
                    faulted = True
                    reply = Reply(fault.status, fault.body, dict(fault.headers))
                elif exhausted:
                    reply = Reply(403, ApiError(403, PRIMARY_RATE_LIMIT_MESSAGE).body())
                else:
                    self._follow_git()
                    reply = self._run(op, params, query, body, raw_path)

        reply.headers = {**self._rate_headers(), **reply.headers}
        if op is not None and raw_request is None:
            raw_request = self._raw_request(
                h, op=op, raw_path=raw_path, params=params, query=query, raw_body=raw_body
            )
        if op is not None and raw_request is not None:
            self._check_response(where, op, raw_request, reply)
        self.calls.append(Call(method, raw_path, reply.status, oid))
        self.exchanges.append(
            Exchange(
                method,
                raw_path,
                query,
                reply.status,
                oid,
                body,
                reply.body,
                reply.headers,
                bool(auth),
                faulted,
            )
        )
        return reply

    def _raw_request(
        self,
        h: _Handler,
        *,
        op: Operation,
        raw_path: str,
        params: dict[str, str],
        query: dict[str, list[str]],
        raw_body: bytes,
    ) -> RawRequest:
        return RawRequest(
            h.command,
            raw_path,
            path_pattern=op.pattern,
            path_params=params,
            query=query,
            headers=dict(h.headers.items()),
            body=raw_body or None,
            content_type=h.headers.get("Content-Type") or "",
        )

    def _check_request(
        self,
        h: _Handler,
        *,
        op: Operation,
        raw_path: str,
        params: dict[str, str],
        query: dict[str, list[str]],
        raw_body: bytes,
        body: Any,
    ) -> RawRequest | None:
        """Validate the request; ``None`` when it violates the spec (it is then answered 422)."""
        request = self._raw_request(
            h, op=op, raw_path=raw_path, params=params, query=query, raw_body=raw_body
        )
        if not self.validate:
            return request
        checked = request
        if op.operation_id == "issues/add-labels" and isinstance(body, list):
            self.notes.append(
                f"{h.command} {raw_path} [{op.operation_id}]: bare JSON array body accepted "
                f"(quirk add-labels-bare-array), validated as {{'labels': [...]}}"
            )
            checked = self._raw_request(
                h,
                op=op,
                raw_path=raw_path,
                params=params,
                query=query,
                raw_body=json.dumps({"labels": body}).encode(),
            )
        errors = self.spec.request_errors(checked)
        for error in errors:
            self.violations.append(f"{h.command} {raw_path} [{op.operation_id}] request: {error}")
        return None if errors else request

    def _check_response(self, where: str, op: Operation, request: RawRequest, reply: Reply) -> None:
        if not self.validate:
            return
        if str(reply.status) in op.responses:
            data = (
                reply.raw
                if reply.raw is not None
                else (b"" if reply.body is None else json.dumps(reply.body).encode())
            )
            content_type = reply.content_type if data else ""
            response = RawResponse(reply.status, data, reply.headers, content_type)
            for error in self.spec.response_errors(request, response):
                self.violations.append(f"{where} [{op.operation_id}] response {reply.status}: {error}")
        elif reply.status >= 400:
            self.notes.append(
                f"{where} [{op.operation_id}]: {reply.status} is not declared (quirk undeclared-errors)"
            )
            for error in self.spec.error_body_errors(reply.status, reply.body):
                self.violations.append(f"{where} [{op.operation_id}] response {reply.status}: {error}")
        else:
            self.violations.append(
                f"{where} [{op.operation_id}] response: status {reply.status} "
                f"is not one of {sorted(op.responses)}"
            )

    def _run(
        self, op: Operation, params: dict[str, str], query: dict[str, list[str]], body: Any, raw_path: str
    ) -> Reply:
        repo = None
        try:
            if "owner" in params:
                key = (params["owner"].lower(), params["repo"].lower())
                repo = self._repos.get(key)
                if repo is None:
                    raise not_found()
            return self._ops[op.operation_id](_Context(params, query, body, raw_path, repo))
        except ApiError as error:
            return Reply(error.status, error.body(), error.headers)
        except Exception:  # a bug of the fake (or a request it cannot digest): never hide it
            detail = traceback.format_exc(limit=4).strip().replace("\n", " | ")
            self.violations.append(f"{op.method} {raw_path} [{op.operation_id}] the fake crashed: {detail}")
            return Reply(500, {"message": "Server Error", "status": "500"})

    # ================================================================ blobs (the 302 target)
    def _blob_signature(self, artifact_id: int) -> str:
        return hmac.new(self._blob_key, str(artifact_id).encode(), "sha256").hexdigest()[:32]

    def _serve_blob(self, h: _Handler, raw_path: str, query: dict[str, list[str]]) -> Reply:
        auth = h.headers.get("Authorization") or ""
        token_sent = bool(self.token) and self.token in auth
        m = re.fullmatch(rf"{BLOB_PREFIX}artifacts/(\d+)\.zip", raw_path)
        artifact = None
        if m:
            for repo in self._repos.values():
                artifact = repo.artifacts.get(int(m.group(1))) or artifact
        signature = (query.get("sig") or [""])[0]
        if artifact is None or not hmac.compare_digest(signature, self._blob_signature(artifact.id)):
            reply = Reply(403, raw=b"AuthenticationFailed", content_type="application/xml")
        else:
            reply = Reply(200, raw=artifact.data, content_type="application/zip")
        self.blob_downloads.append(
            BlobDownload(artifact.id if artifact else -1, reply.status, bool(auth), token_sent)
        )
        if token_sent:
            self.notes.append(
                f"GET {raw_path}: the API token was sent to the artifact blob URL (see token_leaks)"
            )
        return reply

    # ================================================================ helpers
    def _new_issue(self, r: Repo, *, title: str, body: str | None, user: str, is_pull: bool) -> Issue:
        now = self.clock.now()
        number = max(r.issues, default=0) + 1
        issue = Issue(number, self._new_id(), title, body, user, now, now, is_pull=is_pull)
        r.issues[number] = issue
        return issue

    def _ensure_label(self, r: Repo, name: str) -> Label:
        label = r.labels.get(name.lower())
        if label is None:
            label = Label(id=self._new_id(), name=name)
            r.labels[name.lower()] = label
        return label

    def _sync_pulls(self, r: Repo) -> None:
        branches = r.branches
        for repo in self._repos.values():  # a fork's branch moves the PRs it heads in other repositories
            for issue in repo.issues.values():
                fork_pull = issue.is_pull and issue.state == "open" and issue.head_repo == r.full_name
                if fork_pull and issue.head_ref in branches:
                    issue.head_sha = branches[issue.head_ref]
        for issue in r.issues.values():
            if issue.is_pull and issue.state == "open":
                if not issue.head_repo and issue.head_owner == r.owner and issue.head_ref in branches:
                    issue.head_sha = branches[issue.head_ref]
                if issue.base_ref in branches:
                    issue.base_sha = branches[issue.base_ref]

    def _touch(self, issue: Issue) -> None:
        issue.updated_at = self.clock.now()

    def _issue(self, ctx: _Context, *, pull: bool = False) -> Issue:
        number = ctx.params.get("issue_number") or ctx.params.get("pull_number") or ""
        issue = ctx.r.issues.get(int(number)) if number.isdigit() else None
        if issue is None or (pull and not issue.is_pull):
            raise not_found()
        return issue

    def _paginate(
        self, ctx: _Context, items: list[Any], render: Callable[[Any], Any]
    ) -> tuple[list[Any], dict[str, str]]:
        """Slice one page (``per_page`` default 30, max 100) and build GitHub's ``Link`` header."""
        per_page = min(max(int(ctx.q("per_page") or 30), 1), 100)
        page = max(int(ctx.q("page") or 1), 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        chunk = items[(page - 1) * per_page : page * per_page]

        def link(n: int) -> str:
            query = {k: v[-1] for k, v in ctx.query.items()}
            query["page"] = str(n)
            return f"{self.url}{ctx.raw_path}?{urlencode(query)}"

        rels = []
        if page > 1:
            rels.append(f'<{link(min(page - 1, last))}>; rel="prev"')
        if page < last:
            rels.append(f'<{link(page + 1)}>; rel="next"')
            rels.append(f'<{link(last)}>; rel="last"')
        if page > 1:
            rels.append(f'<{link(1)}>; rel="first"')
        headers = {"Link": ", ".join(rels)} if rels else {}
        return [render(item) for item in chunk], headers

    def _resolve(self, r: Repo, ref: str) -> str:
        sha = r.resolve(ref)
        if sha is None:
            raise ApiError(404, f"No commit found for SHA: {ref}")
        return sha

    def _created(self, body: Any, location: str) -> Reply:
        return Reply(201, body, {"Location": location})

    # ================================================================ operations
    def _rate_limit(self, ctx: _Context) -> Reply:
        remaining = max(self.rate_limit_total - self.rate_limit_used, 0)
        return Reply(200, self.render.rate_limit(self.rate_limit_total, remaining, self.rate_limit_reset))

    def _get_repo(self, ctx: _Context) -> Reply:
        return Reply(200, self.render.repository(ctx.r))

    # --- actions
    def _artifact(self, ctx: _Context) -> Artifact:
        raw = ctx.params["artifact_id"]
        artifact = ctx.r.artifacts.get(int(raw)) if raw.isdigit() else None
        if artifact is None:
            raise not_found()
        return artifact

    def _artifact_list(self, ctx: _Context, artifacts: list[Artifact]) -> Reply:
        name = ctx.q("name")
        chosen = [a for a in artifacts if name is None or a.name == name]
        page, headers = self._paginate(ctx, chosen, lambda a: self.render.artifact(ctx.r, a))
        return Reply(200, {"total_count": len(chosen), "artifacts": page}, headers)

    def _list_artifacts(self, ctx: _Context) -> Reply:
        return self._artifact_list(ctx, sorted(ctx.r.artifacts.values(), key=lambda a: -a.id))

    def _get_artifact(self, ctx: _Context) -> Reply:
        return Reply(200, self.render.artifact(ctx.r, self._artifact(ctx)))

    def _download_artifact(self, ctx: _Context) -> Reply:
        artifact = self._artifact(ctx)
        if ctx.params["archive_format"] != "zip":
            raise not_found()
        if artifact.expired:
            raise ApiError(410, "Artifact has expired")
        location = (
            f"{self.url}{BLOB_PREFIX}artifacts/{artifact.id}.zip?sig={self._blob_signature(artifact.id)}"
        )
        return Reply(302, None, {"Location": location})

    def _run_of(self, ctx: _Context) -> WorkflowRun:
        raw = ctx.params["run_id"]
        run = ctx.r.runs.get(int(raw)) if raw.isdigit() else None
        if run is None:
            raise not_found()
        return run

    def _get_run(self, ctx: _Context) -> Reply:
        return Reply(200, self.render.workflow_run(ctx.r, self._run_of(ctx)))

    def _list_run_artifacts(self, ctx: _Context) -> Reply:
        run = self._run_of(ctx)
        ascending = ctx.q("direction") == "asc"
        chosen = sorted((a for a in ctx.r.artifacts.values() if a.run_id == run.id), key=lambda a: a.id)
        return self._artifact_list(ctx, chosen if ascending else chosen[::-1])

    # --- branches, refs, commits
    def _list_branches(self, ctx: _Context) -> Reply:
        items = sorted(ctx.r.branches.items())
        if ctx.q("protected") == "true":
            items = []  # the fake has no branch protection
        page, headers = self._paginate(ctx, items, lambda b: self.render.short_branch(ctx.r, *b))
        return Reply(200, page, headers)

    def _get_branch(self, ctx: _Context) -> Reply:
        name = ctx.params["branch"]
        sha = ctx.r.branches.get(name)
        if sha is None:
            raise not_found("Branch not found")
        return Reply(200, self.render.branch(ctx.r, name, sha))

    def _pulls_for_commit(self, ctx: _Context) -> Reply:
        sha = self._resolve(ctx.r, ctx.params["commit_sha"])
        found = [
            i
            for i in sorted(ctx.r.issues.values(), key=lambda i: -i.number)
            if i.is_pull and sha in (i.head_sha, i.merge_commit_sha)
        ]
        page, headers = self._paginate(
            ctx, found, lambda i: self.render.pull(ctx.r, i, "pull-request-simple")
        )
        return Reply(200, page, headers)

    def _compare(self, ctx: _Context) -> Reply:
        base, head = ctx.params["base"], ctx.params["head"]
        base_sha = self._resolve(ctx.r, base.split(":", 1)[-1])
        head_sha = self._resolve(ctx.r, head.split(":", 1)[-1])
        return Reply(200, self.render.comparison(ctx.r, base, head, base_sha, head_sha))

    def _full_ref(self, ctx: _Context) -> str:
        return "refs/" + ctx.params["ref"].removeprefix("refs/")

    def _get_ref(self, ctx: _Context) -> Reply:
        ref = self._full_ref(ctx)
        if ref not in ctx.r.refs:
            raise not_found()
        return Reply(200, self.render.git_ref(ctx.r, ref, ctx.r.refs[ref]))

    def _create_ref(self, ctx: _Context) -> Reply:
        ref, sha = ctx.field("ref"), ctx.field("sha")
        if not ref.startswith("refs/") or ref.count("/") < 2:
            raise ApiError(422, f"{ref} is not a valid ref name.")
        if not _HEX40.fullmatch(sha):
            raise ApiError(422, "Object does not exist")
        if ref in ctx.r.refs:
            raise ApiError(422, "Reference already exists")
        ctx.r.refs[ref] = sha
        self._sync_pulls(ctx.r)
        location = f"{self.render.repo_api(ctx.r)}/git/{quote(ref)}"
        return self._created(self.render.git_ref(ctx.r, ref, sha), location)

    def _update_ref(self, ctx: _Context) -> Reply:
        ref, sha, force = self._full_ref(ctx), ctx.field("sha"), bool(ctx.field("force", False))
        if ref not in ctx.r.refs:
            raise ApiError(422, "Reference does not exist")
        if not _HEX40.fullmatch(sha):
            raise ApiError(422, "Object does not exist")
        old = ctx.r.refs[ref]
        known = sha in ctx.r.parents
        if not force and known and old not in ctx.r.ancestors(sha):
            raise ApiError(422, "Update is not a fast forward")
        ctx.r.refs[ref] = sha
        self._sync_pulls(ctx.r)
        return Reply(200, self.render.git_ref(ctx.r, ref, sha))

    def _delete_ref(self, ctx: _Context) -> Reply:
        ref = self._full_ref(ctx)
        if ref not in ctx.r.refs:
            raise ApiError(422, "Reference does not exist")
        del ctx.r.refs[ref]
        return Reply(204)

    # --- statuses and checks
    def _create_status(self, ctx: _Context) -> Reply:
        sha = self._resolve(ctx.r, ctx.params["sha"])
        description = ctx.field("description")
        if description is not None and len(description) > 140:
            raise validation_failed(
                {
                    "resource": "Status",
                    "code": "custom",
                    "field": "description",
                    "message": "description is too long (maximum is 140 characters)",
                }
            )
        now = self.clock.now()
        status = Status(
            id=self._new_id(),
            sha=sha,
            state=ctx.field("state"),
            context=ctx.field("context") or "default",
            description=description,
            target_url=ctx.field("target_url"),
            creator=self.login,
            created_at=now,
            updated_at=now,
        )
        ctx.r.statuses.append(status)
        return self._created(
            self.render.status(ctx.r, status), f"{self.render.repo_api(ctx.r)}/statuses/{sha}"
        )

    def _combined_status(self, ctx: _Context) -> Reply:
        sha = self._resolve(ctx.r, ctx.params["ref"])
        latest: dict[str, Status] = {}
        for status in ctx.r.statuses:
            if status.sha == sha:
                latest[status.context] = status
        ordered = sorted(latest.values(), key=lambda s: -s.id)
        return Reply(200, self.render.combined_status(ctx.r, sha, ordered))

    def _apply_check_fields(self, run: CheckRun, ctx: _Context) -> None:
        for name in ("name", "details_url", "external_id"):
            if ctx.field(name) is not None:
                setattr(run, name, ctx.field(name))
        if ctx.field("output") is not None:
            run.output = dict(ctx.field("output"))
            for part in ("summary", "text"):
                if len(run.output.get(part) or "") > 65535:
                    raise validation_failed(
                        {
                            "resource": "CheckRun",
                            "code": "custom",
                            "field": f"output.{part}",
                            "message": f"Only 65535 characters are allowed; {len(run.output[part])} given.",
                        }
                    )
        if ctx.field("status") is not None:
            run.status = ctx.field("status")
        if ctx.field("conclusion") is not None:
            run.conclusion = ctx.field("conclusion")
            run.status = "completed"
        if run.status == "completed":
            if run.conclusion is None:
                raise validation_failed(
                    {"resource": "CheckRun", "code": "missing_field", "field": "conclusion"},
                )
            run.completed_at = run.completed_at or self.clock.now()
        if run.status in ("in_progress", "completed") and run.started_at is None:
            run.started_at = self.clock.now()

    def _create_check(self, ctx: _Context) -> Reply:
        run = CheckRun(
            id=self._new_id(),
            head_sha=ctx.field("head_sha"),
            name=ctx.field("name"),
            status="queued",
            conclusion=None,
            started_at=None,
            completed_at=None,
        )
        self._apply_check_fields(run, ctx)
        run.started_at = run.started_at or self.clock.now()
        ctx.r.check_runs[run.id] = run
        return Reply(201, self.render.check_run(ctx.r, run))

    def _update_check(self, ctx: _Context) -> Reply:
        raw = ctx.params["check_run_id"]
        run = ctx.r.check_runs.get(int(raw)) if raw.isdigit() else None
        if run is None:
            raise not_found()
        self._apply_check_fields(run, ctx)
        return Reply(200, self.render.check_run(ctx.r, run))

    def _list_checks(self, ctx: _Context) -> Reply:
        sha = self._resolve(ctx.r, ctx.params["ref"])
        runs = sorted((c for c in ctx.r.check_runs.values() if c.head_sha == sha), key=lambda c: -c.id)
        if ctx.q("check_name") is not None:
            runs = [c for c in runs if c.name == ctx.q("check_name")]
        if ctx.q("status") is not None:
            runs = [c for c in runs if c.status == ctx.q("status")]
        if ctx.q("filter", "latest") == "latest":
            newest: dict[str, CheckRun] = {}
            for run in runs:
                newest.setdefault(run.name, run)
            runs = list(newest.values())
        page, headers = self._paginate(ctx, runs, lambda c: self.render.check_run(ctx.r, c))
        return Reply(200, {"total_count": len(runs), "check_runs": page}, headers)

    # --- issues, comments, labels
    def _list_issues(self, ctx: _Context) -> Reply:
        state = ctx.q("state", "open")
        wanted = [n.strip().lower() for n in (ctx.q("labels") or "").split(",") if n.strip()]
        creator = ctx.q("creator")
        since = ctx.q("since")
        issues = [
            i
            for i in ctx.r.issues.values()
            if state in ("all", i.state)
            and all(w in {n.lower() for n in i.labels} for w in wanted)
            and (creator is None or i.user == creator)
            and (since is None or i.updated_at >= datetime.fromisoformat(since.replace("Z", "+00:00")))
        ]
        sort = ctx.q("sort", "created")
        key: Callable[[Issue], Any] = {
            "created": lambda i: i.created_at,
            "updated": lambda i: i.updated_at,
            "comments": lambda i: sum(1 for c in ctx.r.comments.values() if c.issue_number == i.number),
        }.get(sort or "created", lambda i: i.created_at)
        issues.sort(key=lambda i: (key(i), i.number), reverse=ctx.q("direction", "desc") == "desc")
        page, headers = self._paginate(ctx, issues, lambda i: self.render.issue(ctx.r, i))
        return Reply(200, page, headers)

    def _get_issue(self, ctx: _Context) -> Reply:
        return Reply(200, self.render.issue(ctx.r, self._issue(ctx)))

    def _comment_of(self, ctx: _Context) -> Comment:
        raw = ctx.params["comment_id"]
        comment = ctx.r.comments.get(int(raw)) if raw.isdigit() else None
        if comment is None:
            raise not_found()
        return comment

    def _check_body(self, body: str) -> None:
        if not body.strip():
            raise validation_failed({"resource": "IssueComment", "code": "missing_field", "field": "body"})
        if len(body) > 65536:
            raise validation_failed(
                {
                    "resource": "IssueComment",
                    "code": "custom",
                    "field": "body",
                    "message": "Body is too long (maximum is 65536 characters)",
                }
            )

    def _list_comments(self, ctx: _Context) -> Reply:
        issue = self._issue(ctx)
        since = ctx.q("since")
        comments = [
            c
            for c in sorted(ctx.r.comments.values(), key=lambda c: c.id)
            if c.issue_number == issue.number
            and (since is None or c.updated_at >= datetime.fromisoformat(since.replace("Z", "+00:00")))
        ]
        page, headers = self._paginate(ctx, comments, lambda c: self.render.comment(ctx.r, issue, c))
        return Reply(200, page, headers)

    def _create_comment(self, ctx: _Context) -> Reply:
        issue = self._issue(ctx)
        body = ctx.field("body")
        self._check_body(body)
        now = self.clock.now()
        comment = Comment(self._new_id(), issue.number, body, self.login, now, now)
        ctx.r.comments[comment.id] = comment
        self._touch(issue)
        location = f"{self.render.repo_api(ctx.r)}/issues/comments/{comment.id}"
        return self._created(self.render.comment(ctx.r, issue, comment), location)

    def _update_comment(self, ctx: _Context) -> Reply:
        comment = self._comment_of(ctx)
        body = ctx.field("body")
        self._check_body(body)
        comment.body = body
        comment.updated_at = self.clock.now()
        return Reply(200, self.render.comment(ctx.r, ctx.r.issues[comment.issue_number], comment))

    def _delete_comment(self, ctx: _Context) -> Reply:
        comment = self._comment_of(ctx)
        del ctx.r.comments[comment.id]
        return Reply(204)

    def _issue_labels_reply(self, ctx: _Context, issue: Issue) -> list[dict[str, Any]]:
        return [self.render.label(ctx.r, ctx.r.labels[n.lower()]) for n in issue.labels]

    def _list_issue_labels(self, ctx: _Context) -> Reply:
        issue = self._issue(ctx)
        labels = [ctx.r.labels[n.lower()] for n in issue.labels]
        page, headers = self._paginate(ctx, labels, lambda label: self.render.label(ctx.r, label))
        return Reply(200, page, headers)

    def _add_labels(self, ctx: _Context) -> Reply:
        issue = self._issue(ctx)
        raw = ctx.body if isinstance(ctx.body, list) else ctx.field("labels", [])
        names = [item["name"] if isinstance(item, dict) else str(item) for item in raw]
        present = {n.lower() for n in issue.labels}
        for name in names:
            label = self._ensure_label(ctx.r, name)
            if label.name.lower() not in present:
                issue.labels.append(label.name)
                present.add(label.name.lower())
        self._touch(issue)
        return Reply(200, self._issue_labels_reply(ctx, issue))

    def _remove_label(self, ctx: _Context) -> Reply:
        issue = self._issue(ctx)
        name = ctx.params["name"].lower()
        kept = [n for n in issue.labels if n.lower() != name]
        if len(kept) == len(issue.labels):
            raise not_found("Label does not exist")
        issue.labels = kept
        self._touch(issue)
        return Reply(200, self._issue_labels_reply(ctx, issue))

    def _create_label(self, ctx: _Context) -> Reply:
        name = ctx.field("name")
        color = (ctx.field("color") or "ededed").removeprefix("#")
        if not _COLOR.fullmatch(color):
            raise validation_failed({"resource": "Label", "code": "invalid", "field": "color"})
        if name.lower() in ctx.r.labels:
            raise validation_failed({"resource": "Label", "code": "already_exists", "field": "name"})
        label = Label(id=self._new_id(), name=name, color=color.lower(), description=ctx.field("description"))
        ctx.r.labels[name.lower()] = label
        location = f"{self.render.repo_api(ctx.r)}/labels/{quote(name, safe='')}"
        return self._created(self.render.label(ctx.r, label), location)

    def _get_label(self, ctx: _Context) -> Reply:
        label = ctx.r.labels.get(ctx.params["name"].lower())
        if label is None:
            raise not_found()
        return Reply(200, self.render.label(ctx.r, label))

    # --- pull requests
    def _list_pulls(self, ctx: _Context) -> Reply:
        state = ctx.q("state", "open")
        head = ctx.q("head")
        head_owner, head_ref = head.split(":", 1) if head and ":" in head else (None, head)
        base = ctx.q("base")
        pulls = [
            i
            for i in ctx.r.issues.values()
            if i.is_pull
            and state in ("all", i.state)
            and (head_ref is None or i.head_ref == head_ref)
            and (head_owner is None or i.head_owner.lower() == head_owner.lower())
            and (base is None or i.base_ref == base)
        ]
        sort = ctx.q("sort", "created")
        key: Callable[[Issue], Any] = {"updated": lambda i: i.updated_at}.get(
            sort or "", lambda i: i.created_at
        )
        default_direction = "desc" if sort in (None, "created") else "asc"
        pulls.sort(key=lambda i: (key(i), i.number), reverse=ctx.q("direction", default_direction) == "desc")
        page, headers = self._paginate(
            ctx, pulls, lambda i: self.render.pull(ctx.r, i, "pull-request-simple")
        )
        return Reply(200, page, headers)

    def _get_pull(self, ctx: _Context) -> Reply:
        return Reply(200, self.render.pull(ctx.r, self._issue(ctx, pull=True)))

    def _create_pull(self, ctx: _Context) -> Reply:
        r = ctx.r
        head_spec, base = ctx.field("head"), ctx.field("base")
        head_owner, _, head = head_spec.rpartition(":")
        head_owner = head_owner or r.owner
        title = ctx.field("title")
        if ctx.field("issue") is not None:
            raise validation_failed(
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "field": "issue",
                    "message": "not supported by the fake",
                }
            )
        if not title:
            raise validation_failed({"resource": "PullRequest", "code": "missing_field", "field": "title"})
        if head_owner.lower() != r.owner.lower() or head not in r.branches:
            raise validation_failed({"resource": "PullRequest", "code": "invalid", "field": "head"})
        if base not in r.branches:
            raise validation_failed({"resource": "PullRequest", "code": "invalid", "field": "base"})
        for other in r.issues.values():
            if other.is_pull and other.state == "open" and other.head_ref == head and other.base_ref == base:
                raise validation_failed(
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"A pull request already exists for {head_owner}:{head}.",
                    }
                )
        if r.branches[head] == r.branches[base]:
            raise validation_failed(
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": f"No commits between {base} and {head}",
                }
            )
        issue = self._new_issue(r, title=title, body=ctx.field("body"), user=self.login, is_pull=True)
        issue.head_ref, issue.head_sha, issue.head_owner = head, r.branches[head], r.owner
        issue.base_ref, issue.base_sha = base, r.branches[base]
        issue.draft = bool(ctx.field("draft", False))
        issue.maintainer_can_modify = bool(ctx.field("maintainer_can_modify", False))
        location = f"{self.render.repo_api(r)}/pulls/{issue.number}"
        return self._created(self.render.pull(r, issue), location)

    def _update_pull(self, ctx: _Context) -> Reply:
        issue = self._issue(ctx, pull=True)
        r = ctx.r
        if ctx.field("base") is not None:
            if ctx.field("base") not in r.branches:
                raise validation_failed({"resource": "PullRequest", "code": "invalid", "field": "base"})
            issue.base_ref = ctx.field("base")
            issue.base_sha = r.branches[issue.base_ref]
        for name in ("title", "body", "maintainer_can_modify"):
            if isinstance(ctx.body, dict) and name in ctx.body:
                setattr(issue, name, ctx.body[name])
        state = ctx.field("state")
        if state == "closed" and issue.state == "open":
            issue.state, issue.closed_at = "closed", self.clock.now()
        elif state == "open" and issue.state == "closed":
            if issue.merged:
                raise validation_failed(
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "field": "state",
                        "message": "state cannot be changed. The pull request has been merged.",
                    }
                )
            issue.state, issue.closed_at = "open", None
        self._touch(issue)
        self._sync_pulls(r)
        return Reply(200, self.render.pull(r, issue))

    def _merge_pull(self, ctx: _Context) -> Reply:
        issue = self._issue(ctx, pull=True)
        r = ctx.r
        if issue.state != "open" or issue.merged:
            raise ApiError(405, "Pull Request is not mergeable")
        expected = ctx.field("sha")
        if expected is not None and expected != issue.head_sha:
            raise ApiError(409, "Head branch was modified. Review and try the merge again.")
        base_sha = r.branches.get(issue.base_ref, issue.base_sha)
        title = (
            ctx.field("commit_title")
            or f"Merge pull request #{issue.number} from {issue.head_owner}/{issue.head_ref}"
        )
        message = title + ("\n\n" + ctx.field("commit_message") if ctx.field("commit_message") else "")
        merge_sha = fake_sha("merge", r.full_name, issue.number, base_sha, issue.head_sha)
        r.parents[merge_sha] = [base_sha, issue.head_sha]
        r.messages[merge_sha] = message
        r.refs[f"refs/heads/{issue.base_ref}"] = merge_sha
        now = self.clock.now()
        issue.base_sha = base_sha
        issue.state, issue.merged, issue.merged_at, issue.closed_at = "closed", True, now, now
        issue.merged_by, issue.merge_commit_sha, issue.updated_at = self.login, merge_sha, now
        self._sync_pulls(r)
        return Reply(200, self.render.merge_result(merge_sha))


__all__ = [
    "PRIMARY_RATE_LIMIT_MESSAGE",
    "SECONDARY_RATE_LIMIT_MESSAGE",
    "SPEC_QUIRKS",
    "ApiError",
    "BlobDownload",
    "Call",
    "Exchange",
    "FakeGitHub",
    "Fault",
]
