"""Protected paths matched by git itself: the pathspec glob rules the docs promise."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci_autoresearch.measure.protect import protected_changes
from tests.helpers import commit_branch, git, make_repo


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    r = make_repo(
        tmp_path_factory.mktemp("protect") / "r",
        {"bench.py": "1\n", "tests/test_a.py": "1\n", "tests/unit/test_b.py": "1\n", "src/m.py": "1\n"},
    )
    commit_branch(
        r,
        "cand",
        {
            "bench.py": "2\n",
            "tests/test_a.py": "2\n",
            "tests/unit/test_b.py": "2\n",
            "tests/unit/new.py": "1\n",
        },
    )
    return r


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (["tests/*"], ["tests/test_a.py"]),  # `*` does not cross `/`
        (["tests/**"], ["tests/test_a.py", "tests/unit/test_b.py"]),  # `**` does
        (["tests/"], ["tests/test_a.py", "tests/unit/test_b.py"]),  # a folder covers everything below
        (["tests"], ["tests/test_a.py", "tests/unit/test_b.py"]),
        (["*.py"], ["bench.py"]),  # relative to the root, not matched in sub-folders
        (["**/test_b.py"], ["tests/unit/test_b.py"]),
        (["src/"], []),
        (["tests/unit/new.py"], ["tests/unit/new.py"]),  # created at a path named exactly
    ],
)
def test_pathspec_glob_semantics(repo: Path, patterns: list[str], expected: list[str]) -> None:
    assert protected_changes(repo, "main", "cand", patterns) == expected
    assert git(repo, "status", "--porcelain") == ""
