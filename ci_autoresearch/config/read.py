"""Files → a YAML document: the configuration file read within bounds and parsed safely (duplicate keys,
non-finite numbers, recursive aliases and too many values are problems, not crashes), and the files the
package ships (the JSON Schema, the commented starter configuration)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ci_autoresearch import bounds
from ci_autoresearch.config.problems import Found, KeyPath

MAX_FILE_BYTES = 1_000_000
MAX_NODES = 100_000  # YAML values, aliases counted each time they are used (no "billion laughs")


def starter_config() -> str:
    """The commented configuration ``ci-autoresearch init`` writes; it validates and runs as it is."""
    return _resource_text("starter.yml")


@functools.cache
def config_schema() -> Mapping[str, Any]:
    """The configuration's JSON Schema (draft 2020-12), shipped as package data."""
    schema: dict[str, Any] = json.loads(_resource_text("config.schema.json"))
    return schema


def _resource_text(name: str) -> str:
    return resources.files("ci_autoresearch").joinpath("schemas").joinpath(name).read_text(encoding="utf-8")


def read_document(path: Path, found: Found, text: str | None = None) -> Any:
    """The YAML document in ``path`` (or in ``text``, named ``path``), problems added to ``found``: an
    unreadable file, invalid YAML, values out of bounds, an empty document. Only a document read without
    problems is worth checking further."""
    if text is None:
        text = _read(path, found)
    if text is None:
        return None
    doc = _parse(text, found)
    if found.items:
        return doc
    for where, message in bounds.problems(doc):  # NUL bytes, 1.0e+400, 400-digit integers
        found.add(where, message)
    if found.items:
        return doc
    if doc is None:
        found.add(
            None,
            "empty configuration",
            "write some settings, or run `ci-autoresearch init --force` for a commented starter",
        )
    return doc


def _read(path: Path, found: Found) -> str | None:
    try:
        data = bounds.read_limited(path, MAX_FILE_BYTES)  # a FIFO or /dev/zero is refused, not read
    except FileNotFoundError:
        found.add(None, "no configuration found", "run `ci-autoresearch init` to write a starter one")
        return None
    except bounds.BoundsError as exc:
        found.add(None, str(exc).replace("a regular file", "a YAML file"))
        return None
    except OSError as exc:
        found.add(None, f"cannot be read: {exc.strerror or exc}")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        found.add(None, f"not UTF-8 text (byte {exc.start})")
        return None


def _parse(text: str, found: Found) -> Any:
    """``yaml.safe_load``, plus duplicate keys, non-finite numbers and recursive aliases as problems."""
    try:
        loader = bounds.DepthLimitedLoader(text)  # 5 000 nested lists fail cleanly, not with RecursionError
    except yaml.YAMLError as exc:  # the reader refuses control characters before anything is parsed
        found.add(None, f"invalid YAML: {' '.join(str(exc).split())}")
        return None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if not _walk_nodes(node, (), found, [], [0]):
            return None
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = exc.problem or exc.context or "syntax error"
        if exc.context and what.startswith("but "):
            what = f"{exc.context}, {what}"
        found.add(None, f"invalid YAML{where}: {what}", _yaml_hint(what))
        return None
    except yaml.YAMLError as exc:
        found.add(None, f"invalid YAML: {' '.join(str(exc).split())}")
        return None
    finally:
        loader.dispose()


def _yaml_hint(problem: str) -> str | None:
    if "'\\t'" in problem:
        return "indent with spaces, not tabs"
    if "<block" in problem:
        return "check the indentation of this line and the lines above"
    return None


_MERGE_TAG = "tag:yaml.org,2002:merge"
_FLOAT_TAG = "tag:yaml.org,2002:float"


def _walk_nodes(node: yaml.Node, path: KeyPath, found: Found, stack: list[int], count: list[int]) -> bool:
    """Record key lines and node-level problems; False when the document must not be constructed."""
    count[0] += 1
    if count[0] > MAX_NODES:
        found.add(None, f"too many values (more than {MAX_NODES}, aliases counted each time they are used)")
        return False
    if id(node) in stack:
        found.add(path, "refers to itself (a recursive YAML alias)")
        return False
    if isinstance(node, yaml.ScalarNode):
        if node.tag == _FLOAT_TAG and node.value.lower().lstrip("+-") in (".inf", ".nan"):
            found.add(path, f"expected a finite number, got {node.value}")
        return True
    stack.append(id(node))
    try:
        if isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                found.lines.setdefault((*path, i), item.start_mark.line + 1)
                if not _walk_nodes(item, (*path, i), found, stack, count):
                    return False
        elif isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    if not _walk_nodes(value_node, path, found, stack, count):
                        return False
                    continue
                line = key_node.start_mark.line + 1
                name: str | int = key_node.value if isinstance(key_node, yaml.ScalarNode) else f"<{line}>"
                child = (*path, name)
                ident = (key_node.tag, str(name))
                if ident in first:
                    found.lines.setdefault(child, line)
                    found.add(child, f"duplicate key (first on line {first[ident]}, again on line {line})")
                    continue
                first[ident] = line
                found.lines.setdefault(child, line)
                if not _walk_nodes(value_node, child, found, stack, count):
                    return False
        return True
    finally:
        stack.pop()
