"""pytest fixtures for the fake GitHub; import them into a ``conftest.py``::

    from tests.fakegithub.fixtures import fake_github, github_client  # noqa: F401

``fake_github`` is a started :class:`~tests.fakegithub.FakeGitHub` with one repository,
``octo-org/project`` (default branch ``main``); at teardown it fails the test if any OpenAPI contract
violation was recorded (a test that provokes violations on purpose clears ``violations`` after
asserting them). ``github_client`` is the real PyGithub client pointed at it, no retries, no
throttling.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from github import Auth, Github

from .server import FakeGitHub

DEFAULT_REPO = "octo-org/project"


def make_client(server: FakeGitHub, **kwargs: object) -> Github:
    """PyGithub as the tests should create it: no retry, no sleeping between requests."""
    options: dict[str, object] = {
        "auth": Auth.Token(server.token),
        "base_url": server.url,
        "retry": None,
        "seconds_between_requests": 0,
        "seconds_between_writes": 0,
    }
    options.update(kwargs)
    return Github(**options)  # type: ignore[arg-type]


def assert_no_violations(server: FakeGitHub) -> None:
    """Fail with every OpenAPI contract violation ``server`` recorded."""
    server.assert_no_violations()


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        owner, name = DEFAULT_REPO.split("/")
        server.add_repo(owner, name, default_branch="main")
        yield server
        assert_no_violations(server)


@pytest.fixture
def github_client(fake_github: FakeGitHub) -> Iterator[Github]:
    client = make_client(fake_github)
    yield client
    client.close()
