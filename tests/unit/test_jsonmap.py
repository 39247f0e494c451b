"""The generic dataclass <-> JSON mapping: plain fields both ways, and each thing a Shape can say."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from ci_autoresearch.jsonmap import Derived, JsonMap, Key, Shape


@dataclass(frozen=True, kw_only=True)
class Point:
    name: str
    xs: tuple[float, ...]


@dataclass(frozen=True, kw_only=True)
class Where:
    ref: str
    sha: str


@dataclass(frozen=True, kw_only=True)
class Doc:
    where: Where
    points: Mapping[str, Point]
    best: Point | None
    tags: tuple[str, ...] = field(default_factory=tuple)
    seconds: float = 0.0
    note: str = ""
    added: int | None = None


DOC = Doc(
    where=Where(ref="main", sha="abc"),
    points={"p": Point(name="p", xs=(1.0, 2.0)), "q": Point(name="q", xs=())},
    best=Point(name="b", xs=(3.0,)),
    tags=("a", "b"),
    seconds=1.23456,
)


def test_plain_dataclasses_are_objects_of_their_fields_in_order() -> None:
    doc = JsonMap({}).to_json(DOC)
    assert list(doc) == ["where", "points", "best", "tags", "seconds", "note", "added"]
    assert doc["where"] == {"ref": "main", "sha": "abc"}
    assert doc["points"]["p"] == {"name": "p", "xs": [1.0, 2.0]}
    assert doc["tags"] == ["a", "b"]
    assert JsonMap({}).from_json(Doc, doc) == DOC


def test_a_shape_renames_transforms_flattens_omits_and_derives() -> None:
    shapes = JsonMap(
        {
            Doc: Shape(
                keys=(
                    Key(field="where", flat=True),
                    Key(field="tags", name="labels"),
                    Key(field="seconds", write=lambda s: round(s, 3)),
                    Key(field="note", omit_empty=True),
                    Key(field="best", read=lambda value, doc: Point(name=doc["ref"], xs=tuple(value["xs"]))),
                ),
                derived=(Derived(name="count", after="points", value=lambda d: len(d.points)),),
            ),
            Point: Shape(keys=(Key(field="name", map_key=True),)),
        }
    )
    doc = shapes.to_json(DOC)
    assert list(doc) == ["ref", "sha", "points", "count", "best", "labels", "seconds", "added"]
    assert doc["points"] == {"p": {"xs": [1.0, 2.0]}, "q": {"xs": []}}
    assert (doc["seconds"], doc["count"]) == (1.235, 2)
    back = shapes.from_json(Doc, doc)
    assert back.where == DOC.where and back.points == DOC.points and back.tags == DOC.tags
    assert back.best == Point(name="main", xs=(3.0,))  # its own reader, given the enclosing object
    assert back.note == "" and back.seconds == 1.235
    assert shapes.to_json(Doc(**{**DOC.__dict__, "note": "n"}))["note"] == "n"


def test_a_missing_key_takes_the_default_or_is_a_key_error() -> None:
    plain = JsonMap({})
    doc = {k: v for k, v in plain.to_json(DOC).items() if k not in ("tags", "added")}
    assert plain.from_json(Doc, doc) == Doc(**{**DOC.__dict__, "tags": ()})
    with pytest.raises(KeyError, match="best"):
        plain.from_json(Doc, {k: v for k, v in doc.items() if k != "best"})
