"""docs/configuration.md documents every key of the shipped schema, and its examples are valid."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from ci_autoresearch.config import config_schema, validate_config

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def schema_keys(node: Mapping[str, Any], path: str = "") -> Iterator[str]:
    """Every key path of the schema: `benchmark.metrics[].name`, `search_space.parameters[].range.step`."""
    for name, sub in (node.get("properties") or {}).items():
        key = f"{path}.{name}" if path else name
        yield key
        yield from schema_keys(sub, key)
        items = sub.get("items")
        if isinstance(items, Mapping) and "properties" in items:
            yield from schema_keys(items, f"{key}[]")


def documented() -> dict[str, list[str]]:
    rows = {}
    for line in DOC.read_text().splitlines():
        match = re.match(r"^\| `([^`]+)` \|(.*)\|$", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split(" | ")]
    return rows


def test_every_schema_key_is_documented_and_no_other() -> None:
    keys = list(schema_keys(config_schema()))
    assert len(keys) > 90
    rows = documented()
    missing = [k for k in keys if k not in rows]
    assert missing == [], f"docs/configuration.md lacks {missing}"
    assert [k for k in rows if k not in keys] == []


def test_every_key_has_a_type_and_a_meaning() -> None:
    for key, cells in documented().items():
        assert len(cells) == 3, key  # type | default | meaning
        assert cells[0] and cells[2].endswith((".", ")")), key


def yaml_examples() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)


@pytest.mark.parametrize("example", yaml_examples(), ids=lambda text: text.split(":", 1)[0])
def test_every_example_is_valid(example: str, tmp_path: Path) -> None:
    path = tmp_path / "example.yml"
    path.write_text(example)
    assert [str(p) for p in validate_config(path)] == []


def test_every_section_has_an_example() -> None:
    tops = {k for k in schema_keys(config_schema()) if "." not in k and "[" not in k}
    shown = {example.split(":", 1)[0] for example in yaml_examples()}
    assert tops == shown
