"""The fake GitHub server, driven by the real PyGithub client.

Each exchange is validated against GitHub's OpenAPI subset by the fake itself; the ``fake_github``
fixture fails a test at teardown when any contract violation was recorded.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator

import pytest
from github import Auth, Github, GithubException, RateLimitExceededException

from tests.fakegithub import PRIMARY_RATE_LIMIT_MESSAGE, SECONDARY_RATE_LIMIT_MESSAGE, FakeGitHub, load_spec
from tests.fakegithub import fixtures as fakegithub_fixtures
from tests.fakegithub.fixtures import DEFAULT_REPO, make_client

fake_github = fakegithub_fixtures.fake_github
github_client = fakegithub_fixtures.github_client

FEATURE = "autoresearch/try-1"
FEATURE_SHA = "a" * 40


def _zip(name: str, payload: dict[str, object]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, json.dumps(payload))
    return buffer.getvalue()


def _raw(
    server: FakeGitHub, method: str, path: str, body: object = None, token: str | None = "t"
) -> tuple[int, object]:
    """A request outside PyGithub (to send what PyGithub never would)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data=data, method=method)
    if token is not None:
        request.add_header("Authorization", f"token {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        with error:
            raw = error.read()
            is_json = error.headers.get_content_type() == "application/json"
            return error.code, json.loads(raw) if is_json else raw


@pytest.fixture
def seeded(fake_github: FakeGitHub) -> FakeGitHub:
    """``main`` plus a candidate branch one commit ahead of it."""
    main_sha = fake_github.branches()["main"]
    fake_github.set_branch(FEATURE, FEATURE_SHA, parent=main_sha)
    return fake_github


def test_every_operation_of_the_subset_through_pygithub(seeded: FakeGitHub, github_client: Github) -> None:
    server, gh = seeded, github_client
    main_sha = server.branches()["main"]

    repo = gh.get_repo(DEFAULT_REPO)
    assert (repo.full_name, repo.default_branch) == (DEFAULT_REPO, "main")
    assert gh.get_rate_limit().resources.core.limit == 5000

    assert [b.name for b in repo.get_branches()] == [FEATURE, "main"]
    assert repo.get_branch(FEATURE).commit.sha == FEATURE_SHA
    comparison = repo.compare("main", FEATURE)
    assert (comparison.status, comparison.ahead_by, comparison.behind_by) == ("ahead", 1, 0)
    assert [c.sha for c in comparison.commits] == [FEATURE_SHA]

    ref = repo.create_git_ref("refs/heads/scratch", main_sha)
    assert repo.get_git_ref("heads/scratch").object.sha == main_sha
    ref.edit(FEATURE_SHA, force=True)
    assert server.branches()["scratch"] == FEATURE_SHA
    ref.delete()
    assert "scratch" not in server.branches()

    label = repo.create_label("autoresearch:candidate", "0e8a16", "a candidate")
    assert repo.get_label("autoresearch:candidate").description == "a candidate"

    created = repo.create_pull(base="main", head=FEATURE, title="faster", body="why")
    listed = repo.get_pulls(state="open", head=f"octo-org:{FEATURE}", base="main")
    assert [p.number for p in listed] == [created.number]
    pull = repo.get_pull(created.number)
    assert (pull.head.sha, pull.base.ref, pull.mergeable) == (FEATURE_SHA, "main", True)

    comment = pull.create_issue_comment("<!-- autoresearch -->\nfirst")
    comment.edit("<!-- autoresearch -->\nsecond")
    assert [c.body for c in pull.get_issue_comments()] == ["<!-- autoresearch -->\nsecond"]
    assert server.comments(pull.number)[0].user == "github-actions[bot]"

    pull.add_to_labels("autoresearch:candidate", "autoresearch:improved")
    pull.remove_from_labels("autoresearch:improved")
    assert [lb.name for lb in pull.get_labels()] == ["autoresearch:candidate"]
    assert server.labels(pull.number) == ["autoresearch:candidate"]
    issue = repo.get_issue(pull.number)
    assert issue.pull_request is not None
    assert [i.number for i in repo.get_issues(state="open", labels=[label])] == [pull.number]
    comment.delete()
    assert server.comments(pull.number) == []

    # Repository.get_commit() fetches GET /commits/{sha}, which is not in the subset: go lazy.
    lazy = make_client(server, lazy=True)
    commit = lazy.get_repo(DEFAULT_REPO).get_commit(FEATURE_SHA)
    commit.create_status(
        "success", target_url=f"{server.url}/run/1", description="+4.1 %", context="autoresearch"
    )
    assert commit.get_combined_status().state == "success"
    assert [p.number for p in commit.get_pulls()] == [pull.number]
    check = repo.create_check_run("autoresearch", FEATURE_SHA, status="in_progress")
    check.edit(
        status="completed", conclusion="success", output={"title": "improved", "summary": "4.1 % faster"}
    )
    assert [(c.name, c.conclusion) for c in commit.get_check_runs()] == [("autoresearch", "success")]
    lazy.close()

    pull.edit(title="faster by 4.1 %")
    result = pull.merge(commit_message="kept by autoresearch")
    assert result.merged
    assert server.pull(pull.number).merged
    assert server.branches()["main"] == result.sha

    artifact = server.add_artifact(
        "baseline", _zip("result.json", {"v": 1}), head_branch="main", head_sha=main_sha
    )
    server.add_artifact("other", b"PK\x05\x06" + bytes(18))
    assert [a.id for a in repo.get_artifacts(name="baseline")] == [artifact.id]
    fetched = repo.get_artifact(artifact.id)
    assert (fetched.name, fetched.size_in_bytes, fetched.workflow_run.head_sha) == (
        "baseline",
        artifact.size,
        main_sha,
    )
    run = repo.get_workflow_run(artifact.run_id)
    assert (run.head_branch, [a.name for a in run.get_artifacts()]) == ("main", ["baseline"])
    headers, _ = gh.requester.requestJsonAndCheck("GET", fetched.archive_download_url)
    with urllib.request.urlopen(headers["location"], timeout=10) as blob:  # no token: a signed URL
        assert zipfile.ZipFile(io.BytesIO(blob.read())).read("result.json") == b'{"v": 1}'
    assert [(d.artifact_id, d.status, d.token_sent) for d in server.blob_downloads] == [
        (artifact.id, 200, False)
    ]

    every = {op.operation_id for op in load_spec().operations}
    assert len(every) == 36
    assert every - {c.operation_id for c in server.calls} == set()


def test_comments_paginate_with_link_headers(fake_github: FakeGitHub, github_client: Github) -> None:
    pr = fake_github.add_pull(FEATURE, title="candidate")
    for n in range(34):
        fake_github.add_comment(pr.number, f"comment {n}", user="someone")
    pull = github_client.get_repo(DEFAULT_REPO).get_pull(pr.number)
    pull.create_issue_comment("from the bot")

    bodies = [c.body for c in pull.get_issue_comments()]

    assert bodies == [f"comment {n}" for n in range(34)] + ["from the bot"]
    pages = [e for e in fake_github.exchanges if e.operation_id == "issues/list-comments"]
    assert [len(e.response_body) for e in pages] == [30, 5]
    first, second = (e.response_headers.get("Link", "") for e in pages)
    assert 'page=2>; rel="next"' in first and 'page=2>; rel="last"' in first
    assert 'page=1>; rel="prev"' in second and 'rel="next"' not in second
    raw_status, raw_page = _raw(
        fake_github, "GET", f"/repos/{DEFAULT_REPO}/issues/{pr.number}/comments?per_page=100"
    )
    assert raw_status == 200 and isinstance(raw_page, list) and len(raw_page) == 35


def test_list_filters(seeded: FakeGitHub, github_client: Github) -> None:
    server = seeded
    first = server.add_pull(FEATURE, title="one", labels=["autoresearch:candidate"])
    other = server.add_pull("autoresearch/try-2", title="two")
    closed = server.add_pull(
        "autoresearch/try-3", title="three", state="closed", labels=["autoresearch:candidate"]
    )
    server.add_issue("not a pull request")
    repo = github_client.get_repo(DEFAULT_REPO)

    assert [p.number for p in repo.get_pulls()] == [other.number, first.number]  # newest first
    assert [p.number for p in repo.get_pulls(state="closed")] == [closed.number]
    assert [p.number for p in repo.get_pulls(state="all", head="octo-org:autoresearch/try-2")] == [
        other.number
    ]
    assert list(repo.get_pulls(head="someone-else:autoresearch/try-2")) == []
    candidate = repo.get_label("autoresearch:candidate")
    assert [i.number for i in repo.get_issues(labels=[candidate])] == [first.number]
    assert [i.number for i in repo.get_issues(labels=[candidate], state="all")] == [
        closed.number,
        first.number,
    ]
    assert len(list(repo.get_issues())) == 3  # issues include pull requests, as on GitHub


def test_artifact_list_pages_filters_and_expiry(fake_github: FakeGitHub, github_client: Github) -> None:
    for n in range(31):
        fake_github.add_artifact(f"result-{n % 2}", b"zip")
    expired = fake_github.add_artifact("baseline", b"zip", expired=True)
    repo = github_client.get_repo(DEFAULT_REPO)

    everything = repo.get_artifacts()
    assert everything.totalCount == 32
    assert len(list(everything)) == 32
    assert fake_github.count("actions/list-artifacts-for-repo") == 3  # totalCount + 2 pages
    assert {a.name for a in repo.get_artifacts(name="result-1")} == {"result-1"}

    with pytest.raises(GithubException) as gone:
        github_client.requester.requestJsonAndCheck(
            "GET", f"/repos/{DEFAULT_REPO}/actions/artifacts/{expired.id}/zip"
        )
    assert gone.value.status == 410
    with pytest.raises(GithubException) as missing:
        repo.get_artifact(999_999)
    assert missing.value.status == 404
    assert missing.value.data == {
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest",
        "status": "404",
    }


def test_blob_download_records_a_token_sent_to_the_redirect_target(
    fake_github: FakeGitHub, github_client: Github
) -> None:
    artifact = fake_github.add_artifact("baseline", b"PK-data")
    url = f"/repos/{DEFAULT_REPO}/actions/artifacts/{artifact.id}/zip"

    # PyGithub's getStream follows the 302 and keeps Authorization when the host is the same.
    _, _, chunks = github_client.requester.getStream(url, chunk_size=None)
    assert b"".join(chunks) == b"PK-data"

    assert [(d.artifact_id, d.token_sent) for d in fake_github.token_leaks] == [(artifact.id, True)]
    status, _ = _raw(fake_github, "GET", "/_blobs/artifacts/1.zip?sig=forged", token=None)
    assert status == 403


def test_injected_faults_fail_the_call_and_leave_the_state_alone(
    fake_github: FakeGitHub, github_client: Github
) -> None:
    pr = fake_github.add_pull(FEATURE)
    pull = github_client.get_repo(DEFAULT_REPO).get_pull(pr.number)
    fake_github.inject("POST", r"/issues/\d+/comments$", 500)
    fake_github.inject("GET", r"/pulls/\d+$", 502)
    fake_github.inject("POST", r"/labels$", 403, headers={"Retry-After": "1"})

    with pytest.raises(GithubException) as server_error:
        pull.create_issue_comment("lost")
    assert server_error.value.status == 500
    assert fake_github.comments(pr.number) == []
    with pytest.raises(GithubException) as bad_gateway:
        github_client.get_repo(DEFAULT_REPO).get_pull(pr.number)
    assert bad_gateway.value.status == 502
    with pytest.raises(RateLimitExceededException) as limited:
        pull.add_to_labels("autoresearch:candidate")
    assert limited.value.status == 403
    assert limited.value.headers is not None and limited.value.headers["retry-after"] == "1"
    assert limited.value.data["message"] == SECONDARY_RATE_LIMIT_MESSAGE
    assert fake_github.labels(pr.number) == []

    pull.create_issue_comment("kept")  # each fault is consumed once
    pull.add_to_labels("autoresearch:candidate")
    assert [c.body for c in fake_github.comments(pr.number)] == ["kept"]
    assert fake_github.labels(pr.number) == ["autoresearch:candidate"]
    statuses = [(c.operation_id, c.status) for c in fake_github.calls[2:]]
    assert statuses == [
        ("issues/create-comment", 500),
        ("repos/get", 200),
        ("pulls/get", 502),
        ("issues/add-labels", 403),
        ("issues/create-comment", 201),
        ("issues/add-labels", 200),
    ]
    assert all(f.hits == f.times for f in fake_github.faults)


def test_rate_limit_headers_on_every_response(fake_github: FakeGitHub, github_client: Github) -> None:
    github_client.get_repo(DEFAULT_REPO).get_branches().totalCount  # noqa: B018 - forces the request
    github_client.get_rate_limit()
    for exchange in fake_github.exchanges:
        for name in ("Limit", "Remaining", "Reset", "Used", "Resource"):
            assert f"X-RateLimit-{name}" in exchange.response_headers
    assert github_client.rate_limiting == (4998, 5000)


def test_exhausted_primary_rate_limit() -> None:
    with FakeGitHub(rate_limit=2) as server:
        server.add_repo("x", "y")
        client = make_client(server)
        client.get_repo("x/y")
        client.get_repo("x/y")
        with pytest.raises(RateLimitExceededException) as exhausted:
            client.get_repo("x/y")
        assert exhausted.value.status == 403
        assert exhausted.value.headers is not None and exhausted.value.headers["x-ratelimit-remaining"] == "0"
        assert exhausted.value.data["message"] == PRIMARY_RATE_LIMIT_MESSAGE
        assert client.get_rate_limit().resources.core.remaining == 0  # /rate_limit is not counted
        client.close()
        server.assert_no_violations()


def test_semantics_of_errors(seeded: FakeGitHub, github_client: Github) -> None:
    repo = github_client.get_repo(DEFAULT_REPO)
    repo.create_label("bug", "f29513")
    pull = repo.create_pull(base="main", head=FEATURE, title="t")
    lazy = make_client(seeded, lazy=True)
    lazy_commit = lazy.get_repo(DEFAULT_REPO).get_commit(FEATURE_SHA)

    cases = {
        "duplicate label": lambda: repo.create_label("BUG", "f29513"),
        "duplicate ref": lambda: repo.create_git_ref("refs/heads/main", FEATURE_SHA),
        "duplicate pull": lambda: repo.create_pull(base="main", head=FEATURE, title="again"),
        "unknown head": lambda: repo.create_pull(base="main", head="nope", title="t"),
        "blank comment": lambda: pull.create_issue_comment(" "),
        "label not on the issue": lambda: pull.remove_from_labels("bug"),
        "unknown branch": lambda: repo.get_branch("nope"),
        "comment too long": lambda: pull.create_issue_comment("x" * 70_000),
        "status description too long": lambda: lazy_commit.create_status("success", description="x" * 141),
    }
    seen = {}
    for name, call in cases.items():
        with pytest.raises(GithubException) as error:
            call()
        seen[name] = error.value.status
    assert seen == {
        "duplicate label": 422,
        "duplicate ref": 422,
        "duplicate pull": 422,
        "unknown head": 422,
        "blank comment": 422,
        "label not on the issue": 404,
        "unknown branch": 404,
        "comment too long": 422,
        "status description too long": 422,
    }
    lazy.close()

    pull.edit(state="closed")
    assert seeded.pull(pull.number).state == "closed"
    with pytest.raises(GithubException) as not_mergeable:
        pull.merge()
    assert not_mergeable.value.status == 405


def test_authentication_is_required(fake_github: FakeGitHub) -> None:
    wrong = Github(auth=Auth.Token("wrong"), base_url=fake_github.url, retry=None, seconds_between_requests=0)
    with pytest.raises(GithubException) as bad:
        wrong.get_repo(DEFAULT_REPO)
    wrong.close()
    assert bad.value.status == 401
    assert _raw(fake_github, "GET", f"/repos/{DEFAULT_REPO}", token=None)[0] == 401
    assert _raw(fake_github, "GET", f"/repos/{DEFAULT_REPO}", token="t")[0] == 200


def test_requests_that_break_the_contract_are_recorded(fake_github: FakeGitHub) -> None:
    status, body = _raw(fake_github, "POST", f"/repos/{DEFAULT_REPO}/labels", {"color": "ffffff"})
    assert isinstance(body, dict) and body["message"] == "Invalid request."
    assert status == 422
    assert fake_github.repo_labels() == {}
    unknown, _ = _raw(fake_github, "GET", f"/repos/{DEFAULT_REPO}/commits/{'b' * 40}")
    assert unknown == 404

    with pytest.raises(AssertionError, match="2 OpenAPI contract violation"):
        fake_github.assert_no_violations()
    violations = list(fake_github.violations)
    fake_github.violations.clear()  # provoked on purpose: the fixture's teardown check must pass
    assert (
        "[issues/create-label] request" in violations[0] and "'name' is a required property" in violations[0]
    )
    assert "no operation of the OpenAPI subset" in violations[1]


def test_response_validation_catches_a_wrong_body(
    fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = fake_github.render.label

    def broken(*args: object, **kwargs: object) -> dict[str, object]:
        body = original(*args, **kwargs)  # type: ignore[arg-type]
        del body["color"]
        return body

    monkeypatch.setattr(fake_github.render, "label", broken)
    assert _raw(fake_github, "POST", f"/repos/{DEFAULT_REPO}/labels", {"name": "x"})[0] == 201
    violations = list(fake_github.violations)
    fake_github.violations.clear()
    assert len(violations) == 1
    assert (
        "[issues/create-label] response 201" in violations[0]
        and "'color' is a required property" in violations[0]
    )


@pytest.fixture
def two_servers() -> Iterator[tuple[FakeGitHub, FakeGitHub]]:
    with FakeGitHub(token="a") as one, FakeGitHub(token="b") as two:
        yield one, two


def test_servers_are_independent(two_servers: tuple[FakeGitHub, FakeGitHub]) -> None:
    one, two = two_servers
    one.add_repo("x", "y")
    two.add_repo("x", "y", default_branch="trunk")
    for server, branch in ((one, "main"), (two, "trunk")):
        client = make_client(server)
        assert client.get_repo("x/y").default_branch == branch
        client.close()
        server.assert_no_violations()
