"""Reading the project's YAML files, where a field sits in them, and what pydantic's error means, for the typed
readers (campaign specs, the segment library, ml/models.yml, ml/uplift.yml, the program settings, sources.yml): one
way to read a file and one way to say "file: field.path: message (line N)"."""

from __future__ import annotations

import difflib
import functools
import os
import stat
import typing
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator

from holdout.dates import as_written_date

# a date field of a typed file: a YAML date or YYYY-MM-DD, never an integer (holdout.dates.as_written_date)
WrittenDate = Annotated[date, BeforeValidator(as_written_date)]

Loc = tuple[str | int, ...]

MERGE_TAG = "tag:yaml.org,2002:merge"
# the types a setting can have: text, numbers, booleans, null, dates, lists and mappings. `!!binary` would build
# bytes that a typed field turns into text the file never shows (an id that dodges the duplicate check), and
# sets, ordered pairs or explicit tags have no meaning in a settings file.
PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}"
    for t in ("str", "int", "float", "bool", "null", "timestamp", "seq", "map", "merge")
)


class YamlFileError(ValueError):
    """A YAML file that cannot be read as data: the file, what is wrong and, when known, the line."""

    def __init__(self, path: Path, message: str, line: int | None = None) -> None:
        self.path, self.message, self.line = Path(path), message, line
        where = f" (line {line})" if line and f"line {line}" not in message else ""
        super().__init__(f"{self.path}: {message}{where}")


# the largest file read: the shipped files are under 10 KB, a library of a thousand segments a few hundred KB; parsing
# costs about 10 s and 300 MB per MiB of YAML, and every launch reads every spec
MAX_FILE_BYTES = 2 * 2**20
# values a file may stand for once its aliases are expanded (a few KB of nested aliases can stand for billions)
MAX_EXPANDED_VALUES = 1_000_000


class _StructureProblem(Exception):
    def __init__(self, message: str, node: yaml.Node) -> None:
        super().__init__(message)
        self.message, self.line = message, node.start_mark.line + 1


def yaml_files(folder: Path) -> list[Path]:
    """The `*.yml` and `*.yaml` names of one folder, sorted; files or not, so that a folder or a broken link with
    such a name is its reader's problem to report. Hidden names (an editor's lock file, `.#spring.yml`) are left
    out."""
    return sorted(p for p in [*folder.glob("*.yml"), *folder.glob("*.yaml")] if not p.name.startswith("."))


def read_yaml(path: Path, loader: type[yaml.SafeLoader] = yaml.SafeLoader) -> tuple[Any, yaml.Node | None]:
    """The data of one YAML file and its composed node (for `key_lines`). Raises YamlFileError, naming the file and,
    when known, the line, when it cannot be read (missing, a folder, not a regular file, over MAX_FILE_BYTES), is not UTF-8, is not YAML, writes a key twice in
    one mapping (YAML would keep the last silently), holds a value of a type a setting cannot have (`!!binary`,
    `!!set`, explicit tags: PLAIN_TAGS), holds a value YAML cannot build (a 30th of February), has an
    alias that contains itself or stands for more than MAX_EXPANDED_VALUES values, or nests deeper than Python can
    follow."""
    path = Path(path)
    try:
        # a device or a pipe could be endless (and opening a pipe waits for a writer): asked before opening
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise YamlFileError(path, "not a regular file")
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise YamlFileError(path, f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise YamlFileError(path, f"larger than {MAX_FILE_BYTES // 2**20} MiB: not a file of settings")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlFileError(
            path, f"not UTF-8 text (byte {exc.start} is {raw[exc.start]:#04x})", line
        ) from None
    node = None
    builder, keys = loader(""), yaml.SafeLoader("")  # parsed once: the data is built from the checked tree
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:  # empty, or only comments: the caller says what it expected
            return None, None
        _walk(node, {}, set(), keys)
        data = builder.construct_document(node)
    except _StructureProblem as problem:
        raise YamlFileError(path, problem.message, problem.line) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        context = getattr(exc, "context_mark", None)
        started = (
            f" ({exc.context} at line {context.line + 1})"
            if context and getattr(exc, "context", None)
            else ""
        )
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise YamlFileError(
            path, f"malformed YAML{where}: {problem}{started}", mark.line + 1 if mark else None
        ) from None
    except RecursionError:
        raise YamlFileError(path, "nested too deeply") from None
    except (ValueError, OverflowError) as exc:  # a value of a YAML type that does not exist: 2026-02-30
        try:
            bad = _unbuildable_scalar(node, set())
        except Exception:  # naming the value is a courtesy: the file's problem stands without it
            bad = None
        if bad is None:
            raise YamlFileError(path, f"invalid value: {exc}") from None
        raise YamlFileError(path, f"invalid value {bad.value!r}: {exc}", bad.start_mark.line + 1) from None
    finally:
        builder.dispose()
        keys.dispose()
    return data, node


def _walk(node: yaml.Node | None, sizes: dict[int, int], open_: set[int], keys: yaml.SafeLoader) -> int:
    """How many values `node` stands for with its aliases expanded, each shared collection walked once; raises
    _StructureProblem for a key written twice in one mapping (merge keys `<<` aside: an explicit key overrides a
    merged one), an alias inside the collection it names, or more than MAX_EXPANDED_VALUES values."""
    if node.tag not in PLAIN_TAGS:
        shown = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise _StructureProblem(
            f"{shown} values are not read: write plain text, numbers, dates, lists and mappings", node
        )
    if not isinstance(node, yaml.CollectionNode):
        return 1
    if id(node) in sizes:
        return sizes[id(node)]
    if id(node) in open_:
        raise _StructureProblem("an alias refers to a value that contains it", node)
    open_.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == MERGE_TAG:
                continue
            line = key.start_mark.line + 1
            same = _key_value(key, keys)  # what it builds to: `1` and `1.0`, `true` and `yes` collide
            if same in seen:
                message = f"key {key.value!r} appears twice in one mapping (lines {seen[same]} and {line})"
                raise _StructureProblem(message, key)
            seen[same] = line
        children = [n for pair in node.value for n in pair]
    else:
        children = node.value
    total = 1 + sum(_walk(child, sizes, open_, keys) for child in children)
    if total > MAX_EXPANDED_VALUES:
        raise _StructureProblem(
            f"stands for more than {MAX_EXPANDED_VALUES:,} values once its aliases are expanded", node
        )
    open_.discard(id(node))
    sizes[id(node)] = total
    return total


def _key_value(key: yaml.ScalarNode, keys: yaml.SafeLoader) -> Any:
    """The Python value a mapping key builds to (YAML keeps one entry per value), or its text when it cannot be
    built alone (`keys`: one constructor for the file's keys, left clean after a failure)."""
    try:
        value = keys.construct_object(key)
        hash(value)
        return ("value", value)
    except Exception:
        keys.recursive_objects.clear()
        return ("text", key.tag, key.value)


def _unbuildable_scalar(node: yaml.Node | None, seen: set[int]) -> yaml.ScalarNode | None:
    """The first scalar (a date, a number) the safe constructor cannot build, to name it and its line."""
    if node is None or id(node) in seen:
        return None
    seen.add(id(node))
    if isinstance(node, yaml.ScalarNode):
        try:
            yaml.SafeLoader("").construct_object(node)
        except (ValueError, OverflowError):
            return node
        except yaml.YAMLError:  # a merge key or a tag: not buildable alone, and not a bad value
            return None
        return None
    children = node.value if isinstance(node, yaml.SequenceNode) else []
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    for child in children:
        bad = _unbuildable_scalar(child, seen)
        if bad is not None:
            return bad
    return None


def key_lines(
    node: yaml.Node | None, at: Loc = (), out: dict[Loc, int] | None = None, seen: set[int] | None = None
) -> dict[Loc, int]:
    """1-based line of every mapping key and sequence item of a composed YAML document, by path (a collection
    reached again through an alias is not walked again: its lines are those of its anchor)."""
    out = {} if out is None else out
    seen = set() if seen is None else seen
    if isinstance(node, yaml.CollectionNode):
        if id(node) in seen:
            return out
        seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = (*at, str(key_node.value))
            out[path] = key_node.start_mark.line + 1
            key_lines(value_node, path, out, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[(*at, i)] = item.start_mark.line + 1
            key_lines(item, (*at, i), out, seen)
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


@functools.cache
def field_names(model: type[BaseModel]) -> frozenset[str]:
    """Every key a file typed by `model` may hold, at any depth (fields and aliases of the nested models)."""
    names: set[str] = set()
    todo, seen = [model], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name, info in current.model_fields.items():
            names.add(info.alias or name)
            stack = [info.annotation]
            while stack:  # the models inside list[...], dict[..., ...], unions and Annotated
                annotation = stack.pop()
                if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                    todo.append(annotation)
                stack.extend(typing.get_args(annotation))
    return frozenset(names)


def did_you_mean(key: Any, model: type[BaseModel] | None) -> str:
    """` (did you mean 'x'?)` for a misspelt key of a file typed by `model`, else nothing (a key valid at another
    level of the file is not suggested as itself)."""
    key = str(key)
    names = field_names(model) - {key} if model else frozenset()
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def pydantic_message(error: dict[str, Any], model: type[BaseModel] | None = None) -> str:
    """A pydantic error as a reader of the file says it: no type tags, the offending value when it is short; an
    unknown key gets the closest key of `model` (the file's type) when one is close."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field" + did_you_mean(str(error["loc"][-1]), model)
    if kind == "missing":
        return "missing required field"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    value = error.get("input")
    if isinstance(value, dict | list):
        return error["msg"]
    return f"{error['msg']}, got {value!r}"
