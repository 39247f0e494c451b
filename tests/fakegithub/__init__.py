"""A stateful fake of the GitHub REST API, checked against GitHub's own OpenAPI description.

Tests never reach github.com: the real PyGithub client talks to :class:`FakeGitHub` on
``127.0.0.1``. Every request and response is routed to one of the 36 operations of
``tests/fixtures/github-openapi/api.github.com.subset.json`` and validated with openapi-core;
mismatches are collected in ``server.violations`` (see :data:`SPEC_QUIRKS` for the few documented
exceptions). Requests outside the subset are violations too: the tool may only use these 36.

Quick use::

    from tests.fakegithub import FakeGitHub
    from tests.fakegithub.fixtures import make_client

    with FakeGitHub(token="t") as server:
        server.add_repo("octo", "proj")
        pr = server.add_pull("autoresearch/try-1", title="faster")
        gh = make_client(server)
        gh.get_repo("octo/proj").get_pull(pr.number).create_issue_comment("hi")
        assert [c.body for c in server.comments(pr.number)] == ["hi"]
        server.assert_no_violations()

Setup (all take ``repo="owner/name"``, default: the first repository added):
``add_repo(owner, name, default_branch="main", sha=None)``, ``set_branch(branch, sha, parent=None)``,
``add_commit(sha, *parents, message=None)`` (the graph compare uses), ``delete_branch``,
``add_label(name, color, description)``, ``add_pull(head, base=None, title=, body=, head_sha=None,
user="octocat", labels=(), draft=False, state="open")``, ``add_issue``, ``add_comment(number, body,
user=None)``, ``add_workflow_run(...)``, ``add_artifact(name, zip_bytes, head_branch, head_sha,
expired=False, run_id=None)``.

State: ``repo()``, ``pull(n)``, ``pulls(state="all", head=None, base=None)``, ``comments(n)``,
``labels(n)``, ``repo_labels()``, ``statuses(sha)``, ``check_runs(sha)``, ``branches()``.

Log: ``calls`` (``Call(method, path, status, operation_id)``), ``exchanges`` (bodies, headers,
``faulted``), ``count(operation_id)``, ``violations`` (contract breaches: checked by
``assert_no_violations()``), ``notes`` (documented exceptions, undeclared error statuses),
``blob_downloads`` / ``token_leaks`` (did the artifact's 302 target receive the API token?).

Faults: ``inject(method, path_regex, status, times=1, headers=None, body=None)`` — 5xx get
``Server Error``, 403/429 GitHub's secondary-rate-limit message; ``FakeGitHub(rate_limit=n)`` answers
403 ``API rate limit exceeded`` once ``n`` calls were made. Auth: ``Authorization: token <token>`` or
``Bearer <token>``, else 401.
"""

from .server import (
    PRIMARY_RATE_LIMIT_MESSAGE,
    SECONDARY_RATE_LIMIT_MESSAGE,
    ApiError,
    BlobDownload,
    Call,
    Exchange,
    FakeGitHub,
    Fault,
)
from .spec import SPEC_QUIRKS, Spec, load_spec
from .state import Artifact, CheckRun, Comment, Issue, Label, Repo, Status, WorkflowRun

__all__ = [
    "PRIMARY_RATE_LIMIT_MESSAGE",
    "SECONDARY_RATE_LIMIT_MESSAGE",
    "SPEC_QUIRKS",
    "ApiError",
    "Artifact",
    "BlobDownload",
    "Call",
    "CheckRun",
    "Comment",
    "Exchange",
    "FakeGitHub",
    "Fault",
    "Issue",
    "Label",
    "Repo",
    "Spec",
    "Status",
    "WorkflowRun",
    "load_spec",
]
