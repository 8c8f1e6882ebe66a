"""A safe YAML loader that remembers the line of every mapping key and sequence item.

Mappings load as :class:`YamlMap` (a dict with ``line`` and ``key_lines``), sequences as
:class:`YamlSeq` (a list with ``line`` and ``item_lines``). Lines are 1-based. Only the safe
tags are constructed (``yaml.SafeLoader`` rules), so a rule file cannot run code.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

MAX_FILE_BYTES = 4 * 1024 * 1024
"""Rule files above this size are refused (a Sigma rule is a few KiB)."""

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlMap(dict[Any, Any]):
    """A mapping that knows its own line and the line of each key."""

    line: int
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        """The line of ``key``, or the mapping's own line when the key is absent."""
        return self.key_lines.get(key, self.line)


class YamlSeq(list[Any]):
    """A sequence that knows its own line and the line of each item."""

    line: int
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        """The line of item ``index`` (the sequence's own line if out of range)."""
        if 0 <= index < len(self.item_lines):
            return self.item_lines[index]
        return self.line


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    pass


def _construct_map(loader: yaml.SafeLoader, node: yaml.MappingNode) -> YamlMap:
    loader.flatten_mapping(node)
    out = YamlMap()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "unhashable mapping key", key_node.start_mark
            ) from None
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_seq(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> YamlSeq:
    out = YamlSeq(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


def _construct_timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    # Sigma dates ("date: 2021-10-26") stay text: the model keeps them as ISO strings.
    value = loader.construct_yaml_timestamp(node)
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    return str(value)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """One document of a file: its data and the 1-based line where it starts."""

    data: Any
    line: int


@dataclass(frozen=True, slots=True)
class YamlProblem:
    """A YAML syntax or construction error at a 1-based line (None when unknown)."""

    line: int | None
    reason: str


def load_documents(text: str) -> Iterator[YamlDocument | YamlProblem]:
    """Every document of ``text``; a syntax error ends the stream with one YamlProblem.

    Documents before the error are still yielded, so one broken document does not hide the
    rules above it.
    """
    loader = _Loader(text)
    try:
        while True:
            try:
                if not loader.check_node():
                    return
                node = loader.get_node()
                if node is None:
                    continue
                data = loader.construct_document(node)
            except yaml.MarkedYAMLError as exc:
                mark = exc.problem_mark or exc.context_mark
                line = mark.line + 1 if mark is not None else None
                reason = " ".join(
                    part for part in (exc.context, exc.problem) if part
                ) or "invalid YAML"
                yield YamlProblem(line, f"YAML error: {reason}")
                return
            except yaml.YAMLError as exc:
                yield YamlProblem(None, f"YAML error: {exc}")
                return
            except RecursionError:
                yield YamlProblem(None, "YAML error: nesting too deep")
                return
            yield YamlDocument(data, node.start_mark.line + 1)
    finally:
        loader.dispose()
