"""Fixtures for the integration tests: the fake GitHub REST server and a PyGithub client for it."""

from tests.fakegithub.fixtures import fake_github, github_client  # noqa: F401
