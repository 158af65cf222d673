"""Where a field sits in a YAML file, and what pydantic's error means, for the typed readers of the project's YAML
(campaign specs, the segment library, ml/models.yml): one way to say "file: field.path: message (line N)"."""

from __future__ import annotations

from typing import Any

import yaml

Loc = tuple[str | int, ...]


def key_lines(node: yaml.Node | None, at: Loc = (), out: dict[Loc, int] | None = None) -> dict[Loc, int]:
    """1-based line of every mapping key and sequence item of a composed YAML document, by path."""
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = (*at, str(key_node.value))
            out[path] = key_node.start_mark.line + 1
            key_lines(value_node, path, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[(*at, i)] = item.start_mark.line + 1
            key_lines(item, (*at, i), out)
    return out


def line_at(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of `loc`, or of its nearest parent the file has (a missing field is reported at its parent)."""
    for n in range(len(loc), 0, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def field_path(loc: Loc | list, empty: str = "(file)") -> str:
    """`audience.scores.x`, `where[0].op`: dots between keys, brackets around list positions."""
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    return text or empty


def pydantic_message(error: dict[str, Any]) -> str:
    """A pydantic error as a reader of the file says it: no type tags, the offending value when it is short."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "missing required field"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    value = error.get("input")
    if isinstance(value, dict | list):
        return error["msg"]
    return f"{error['msg']}, got {value!r}"
