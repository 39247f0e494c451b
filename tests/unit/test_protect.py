"""protect.py: which changes to protected paths make a candidate invalid (pure part)."""

from __future__ import annotations

from ci_autoresearch.measure.protect import violations


def test_modifying_or_deleting_a_protected_file_is_a_violation() -> None:
    changes = [("M", "bench.py"), ("D", "tests/test_a.py"), ("T", "tests/data"), ("A", "tests/test_new.py")]
    assert violations(changes, ["bench.py", "tests/"]) == ["bench.py", "tests/test_a.py", "tests/data"]


def test_adding_under_a_protected_folder_is_allowed() -> None:
    assert violations([("A", "tests/test_speed.py"), ("A", "tests/unit/x.py")], ["tests/", "tests/**"]) == []


def test_adding_at_a_path_named_exactly_is_a_violation() -> None:
    changes = [("A", "tests/conftest.py"), ("A", "tests/test_new.py")]
    assert violations(changes, ["tests/", "tests/conftest.py"]) == ["tests/conftest.py"]
    # a glob names no path exactly
    assert violations([("A", "tests/conftest.py")], ["tests/*.py"]) == []
