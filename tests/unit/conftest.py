"""Unit tests are pure: an accidental subprocess or network call fails loudly."""

from __future__ import annotations

import socket
import subprocess
from typing import Any

import pytest


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(
        "unit tests must not start processes or open sockets; move this to tests/integration"
    )


@pytest.fixture(autouse=True)
def _no_effects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse)
    monkeypatch.setattr(socket.socket, "connect", _refuse)
