"""Reading rules/*.yaml: YAML nodes to data, with a map of where every path is.

Lines come from PyYAML's node tree (`compose`), which also reveals duplicate keys that plain
loading would silently drop. Problems become `ProgramIssue`s naming file, line and field.

A program file is hostile input as much as a page is (the daemon reloads whatever lands in
rules/), so reading it is bounded: its size before it is read, the nesting of its nodes while
they are composed (PyYAML's composer recurses once per level), and what its aliases expand to
before anything walks the data (a "billion laughs" file is a few lines).
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import (
    Annotated,
    Any,
    Union,
    get_args,
    get_origin,
)

import yaml
from pydantic import (
    BaseModel,
)
from yaml.constructor import SafeConstructor

from monitor.errors import ConfigError
from monitor.program.conditions import ConditionNode, node_model
from monitor.program.fields import Loc
from monitor.program.models import Program


@dataclass(frozen=True, order=True)
class ProgramIssue:
    """One problem: `FILE:LINE: field.path: message` (line 0 when no line applies)."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line > 0 else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ProgramError(ConfigError):
    """The program is invalid; `issues` lists every problem found."""

    def __init__(self, issues: list[ProgramIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


def format_path(loc: Loc) -> str:
    """('partners', 2, 'network_ids', 0) -> 'partners[2].network_ids[0]'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# ---------------------------------------------------------------------------------------------
# Reading the files: YAML nodes -> data, with a map of where every path is.


@dataclass
class Source:
    """What the YAML files gave: merged data, where each path is, and the problems so far."""

    root: Path
    data: dict[str, Any] = field(default_factory=dict)
    lines: dict[Loc, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # top-level key -> file
    issues: list[ProgramIssue] = field(default_factory=list)
    unreadable: bool = False  # some file could not be parsed: structure checks would mislead

    def fail(self, issue: ProgramIssue) -> None:
        """An issue that leaves the data incomplete (a file could not be read or parsed)."""
        self.issues.append(issue)
        self.unreadable = True

    def issue(self, loc: Loc, message: str) -> None:
        self.issues.append(self.locate(loc, message))

    def locate(self, loc: Loc, message: str) -> ProgramIssue:
        """An issue at the node nearest to `loc` (parts that name no node are skipped)."""
        nearest: Loc = ()
        for part in loc:
            if (*nearest, part) in self.lines:
                nearest = (*nearest, part)
        file = self.files.get(str(loc[0]), str(self.root)) if loc else str(self.root)
        return ProgramIssue(file, self.lines.get(nearest, 0), format_path(_clean(loc)), message)


def _clean(loc: Loc) -> Loc:
    """Drop the tags pydantic adds for tagged unions ('when', 'all', 'all', 0 -> one 'all')."""
    out: list[str | int] = []
    for part in loc:
        if out and part == out[-1] and isinstance(part, str) and node_model(part) is not None:
            continue
        out.append(part)
    return tuple(out)


#: a program file may be this large: 100 times the example program, and what PyYAML's pure-Python
#: loader reads in about five seconds (it took 120 s and 944 MB without answering a 50 MB file)
MAX_FILE_BYTES = 2 * 1024 * 1024
#: all the files of a program together
MAX_PROGRAM_BYTES = 8 * 1024 * 1024
#: nesting of mappings and lists, aliases expanded: the deepest real path (a condition tree in
#: a policy) is about a dozen levels; Python's recursion limit is reached near 300
MAX_DEPTH = 64
#: nodes a file's aliases may add when expanded (each use of an alias repeats its whole node
#: for validation and for the judge); reusing a list of markets in a few places adds tens
MAX_ALIAS_NODES = 100_000


def read_sources(root: Path) -> Source:
    """Parse every *.yaml under `root` into one Source; problems become issues, never raise."""
    source = Source(root)
    if not root.exists():
        source.fail(ProgramIssue(str(root), 0, "", "rules directory does not exist"))
    elif not root.is_dir():
        source.fail(ProgramIssue(str(root), 0, "", "not a directory"))
    else:
        files = sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not files:
            source.fail(ProgramIssue(str(root), 0, "", "no *.yaml files in the directory"))
        budget = MAX_PROGRAM_BYTES
        for path in files:
            budget -= _read_file(path, source, budget)
    return source


def _read_file(path: Path, source: Source, budget: int) -> int:
    """Read one file into `source`; returns its size in bytes (0 when it was not read)."""
    name = str(path)
    raw = _raw(path, source, budget)
    if raw is None:
        return 0
    text = _decode(path, raw, source)
    if text is None:
        return len(raw)
    fast = _fast_load(text)
    if fast is not None:
        node, data = fast
        if node is None:
            return len(raw)
        _check_duplicate_keys(node, name, source)
    else:
        loaded = _careful_load(name, text, source)
        if loaded is None:
            return len(raw)
        node, data = loaded
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        line = node.start_mark.line + 1
        source.fail(ProgramIssue(name, line, "", "the top level must be a mapping of keys"))
        return len(raw)
    _merge(name, node, data, source)
    return len(raw)


def _fast_load(text: str) -> tuple[yaml.Node | None, Any] | None:
    """The file's node tree and data by libyaml (C), or None when libyaml is absent or the
    file has any problem at all: then `_careful_load` reads it again and reports the problem
    as it always has. The nesting is bounded before libyaml composes (its composer
    recurses in C, unguarded): a first pass over the parser's events, which are a flat
    stream, stops at the first level past MAX_DEPTH."""
    if _FastLoader is None:
        return None
    loader = None
    try:
        depth = 0
        for event in yaml.parse(text, Loader=_FastLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    return None
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        loader = _FastLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_aliases(node)
        return node, loader.construct_document(node)
    except (yaml.YAMLError, RecursionError):
        return None
    finally:
        if loader is not None:
            loader.dispose()


def _careful_load(name: str, text: str, source: Source) -> tuple[yaml.Node, Any] | None:
    """The file's node tree and data by PyYAML's Python loader, bounded while it composes,
    or None with the problem recorded at its line."""
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text)  # its reader refuses control characters at once
        node = loader.get_single_node()
        if node is None:  # an empty file (or only comments) defines nothing
            return None
        _check_aliases(node)
        _check_duplicate_keys(node, name, source)
        return node, loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        source.fail(_yaml_issue(name, err))
        return None
    except yaml.YAMLError as err:  # the reader's errors (a control character) carry no mark
        source.fail(_reader_issue(name, text, err))
        return None
    finally:
        if loader is not None:
            loader.dispose()


def _raw(path: Path, source: Source, budget: int) -> bytes | None:
    """The file's bytes, or None (and an issue) when it is unreadable or too large. The size
    is checked before reading, and at most one byte more than allowed is ever read."""
    limit = min(MAX_FILE_BYTES, max(budget, 0))
    try:
        with path.open("rb") as handle:
            raw = handle.read(limit + 1)
    except OSError as err:
        source.fail(ProgramIssue(str(path), 0, "", f"cannot read the file: {err.strerror}"))
        return None
    if len(raw) > limit:
        if limit < MAX_FILE_BYTES:
            message = (f"the program's files are more than {_mb(MAX_PROGRAM_BYTES)} together "
                       "from this line on; this file was not read")
        else:
            message = (f"the file is more than {_mb(MAX_FILE_BYTES)} from this line on, the most "
                       "a program file may be; split it or remove what is not needed")
        line = raw[:limit].count(b"\n") + 1  # where the bound falls: FILE:LINE like any issue
        source.fail(ProgramIssue(str(path), line, "", message))
        return None
    return raw


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


def _decode(path: Path, raw: bytes, source: Source) -> str | None:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        message = f"not UTF-8 (byte 0x{raw[err.start]:02x} at offset {err.start}); save it as UTF-8"
        source.fail(ProgramIssue(str(path), line, "", message))
        return None


class _Refused(yaml.MarkedYAMLError):
    """Valid YAML syntax, refused all the same: nesting or aliases past the bounds above, or
    a value that does not convert (its message says so without "YAML syntax")."""


def _yaml_issue(file: str, err: yaml.MarkedYAMLError) -> ProgramIssue:
    mark = err.problem_mark or err.context_mark
    line = mark.line + 1 if mark is not None else 0
    parts = [p for p in (err.context, err.problem) if p]
    prefix = "" if isinstance(err, _Refused) else "YAML syntax: "
    return ProgramIssue(file, line, "", prefix + ", ".join(parts))


def _reader_issue(file: str, text: str, err: yaml.YAMLError) -> ProgramIssue:
    position = getattr(err, "position", None)
    line = text[:position].count("\n") + 1 if isinstance(position, int) else 0
    character = getattr(err, "character", None)  # the code point, as an int
    what = f"character {chr(character)!r}" if isinstance(character, int) else "a character"
    return ProgramIssue(file, line, "", f"YAML syntax: {what} is not allowed in YAML text")


class _Converting(SafeConstructor):
    """Constructors that report a value that fails to convert at its node instead of letting
    a bare ValueError escape, and read an impossible date as text (both loaders use them)."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except (ValueError, OverflowError, TypeError) as err:
            # e.g. an integer of 5 000 digits (Python refuses to convert more than 4 300)
            problem = str(err).split(";")[0]
            raise _Refused(None, None, f"cannot read the value: {problem}",
                           node.start_mark) from None

    def construct_timestamp_or_text(self, node: yaml.ScalarNode) -> Any:
        """`2023-02-30` looks like a date to YAML but is none: kept as the text it is, so the
        field's own check reports it with its path ("not a valid date") and the other checks
        still run."""
        try:
            return self.construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


class _BoundedLoader(_Converting, yaml.SafeLoader):
    """PyYAML's safe loader with the nesting bounded while composing, and values that fail to
    convert reported at their node instead of escaping as a bare ValueError."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        # counted before the node is built: a 100 000-deep `[[[…` stops at level 65, having
        # composed nothing deeper (the scanner ahead of it holds at most ~1 000 tokens)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(
                    None, None, f"nested more than {MAX_DEPTH} levels deep",
                    self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


# (the method is the mixin's: typed for it, registered on each loader)
_BoundedLoader.add_constructor(  # type: ignore[type-var]
    "tag:yaml.org,2002:timestamp", _BoundedLoader.construct_timestamp_or_text)


if getattr(yaml, "__with_libyaml__", False):
    class _CFastLoader(_Converting, yaml.CSafeLoader):
        """libyaml's parser and composer with the same constructors as `_BoundedLoader`:
        the same data, ten times sooner (a program is read on every `rules check`)."""

    _CFastLoader.add_constructor(  # type: ignore[type-var]
        "tag:yaml.org,2002:timestamp", _CFastLoader.construct_timestamp_or_text)
    _FastLoader: type[yaml.CSafeLoader] | None = _CFastLoader
else:  # a PyYAML built without libyaml: every file takes the careful path
    _FastLoader = None


def _check_aliases(root: yaml.Node) -> None:
    """Refuse a node tree whose aliases, expanded, nest deeper than MAX_DEPTH, add more than
    MAX_ALIAS_NODES nodes, or contain themselves. Sizes are memoised per node, so a file of
    nested aliases costs one visit per node here, whatever it expands to."""
    distinct: set[int] = set()
    _count_distinct(root, distinct)
    limit = len(distinct) + MAX_ALIAS_NODES
    memo: dict[int, tuple[int, int]] = {}  # node -> (expanded size, expanded depth)
    _expanded(root, 1, memo, set(), limit)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _count_distinct(node: yaml.Node, seen: set[int]) -> None:
    if id(node) in seen:
        return
    seen.add(id(node))
    for child in _children(node):
        _count_distinct(child, seen)


def _expanded(
    node: yaml.Node, level: int, memo: dict[int, tuple[int, int]], active: set[int], limit: int
) -> tuple[int, int]:
    known = memo.get(id(node))
    if known is None:
        if id(node) in active:
            raise _Refused(None, None, "an alias refers to the node that holds it",
                                node.start_mark)
        if level > MAX_DEPTH:
            raise _Refused(None, None, f"aliases expand to more than {MAX_DEPTH} levels "
                                "of nesting", node.start_mark)
        active.add(id(node))
        size, depth = 1, 0
        for child in _children(node):
            child_size, child_depth = _expanded(child, level + 1, memo, active, limit)
            size, depth = size + child_size, max(depth, child_depth)
        active.discard(id(node))
        known = memo[id(node)] = (size, depth + 1)
    if known[0] > limit:
        raise _Refused(None, None, f"aliases here expand to {known[0]} nodes; at most "
                            f"{MAX_ALIAS_NODES} more than the file holds may be repeated",
                            node.start_mark)
    if level + known[1] - 1 > MAX_DEPTH:
        raise _Refused(None, None, f"aliases expand to more than {MAX_DEPTH} levels "
                            "of nesting", node.start_mark)
    return known


def _check_duplicate_keys(node: yaml.Node, file: str, source: Source) -> None:
    """PyYAML keeps the last of two equal keys without a word; here they are an error."""
    for mapping in _mappings(node, set()):
        first_line: dict[object, int] = {}
        for key, _value in mapping.value:
            if not isinstance(key, yaml.ScalarNode) or key.value == "<<":
                continue
            line = key.start_mark.line + 1
            if key.value in first_line:
                message = f"duplicate key '{key.value}' (first at line {first_line[key.value]})"
                source.issues.append(ProgramIssue(file, line, "", message))
            else:
                first_line[key.value] = line


def _mappings(node: yaml.Node, seen: set[int]) -> Iterator[yaml.MappingNode]:
    if id(node) in seen:  # aliases share nodes; visit each once
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        yield node
        for key, value in node.value:
            yield from _mappings(key, seen)
            yield from _mappings(value, seen)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _mappings(item, seen)


def _merge(file: str, node: yaml.MappingNode, data: dict[Any, Any], source: Source) -> None:
    """Add one file's top-level keys, refusing a key another file already defines."""
    for key_node, value_node in node.value:
        key, line = key_node.value, key_node.start_mark.line + 1
        if not isinstance(key, str) or key not in data:  # `<<`, or a key YAML made a bool/int
            source.issues.append(ProgramIssue(file, line, str(key), _unknown_key((str(key),))))
            continue
        if source.files.get(key) == file:  # a duplicate key, already reported
            continue
        if key in source.files:
            other = source.files[key]
            source.issues.append(ProgramIssue(
                file, line, str(key), f"already defined in {other}:{source.lines[(key,)]}"))
            continue
        source.files[key] = file
        source.data[key] = data[key]
        source.lines[(key,)] = line
        _record_lines(value_node, (key,), source.lines)


def _record_lines(
    node: yaml.Node, loc: Loc, lines: dict[Loc, int], seen: set[int] | None = None
) -> None:
    """Where each path starts: a key's line for mapping entries, an item's line in lists.
    An aliased node is walked once, so a file of nested aliases cannot blow up the walk."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and (*loc, key.value) not in lines:
                lines[(*loc, key.value)] = key.start_mark.line + 1
                _record_lines(value, (*loc, key.value), lines, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*loc, index)] = item.start_mark.line + 1
            _record_lines(item, (*loc, index), lines, seen)




def _unknown_key(loc: Loc) -> str:
    key = str(loc[-1])
    known = _fields_at(loc[:-1])
    where = "top-level key" if len(loc) == 1 else "key"
    close = get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    if not close and known:
        hint = "; expected one of: " + ", ".join(known)
    return f"unknown {where} '{key}'{hint}"


def _fields_at(loc: Loc) -> list[str]:
    """The keys the model at `loc` accepts (follows lists, optionals and condition tags)."""
    current: Any = Program
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    model = _model_of(current)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _step(annotation: Any, part: str | int) -> Any:
    if isinstance(part, str) and _is_condition(annotation):
        return node_model(part)
    model = _model_of(annotation)
    if isinstance(part, str) and model is not None:
        by_alias = {f.alias or name: f for name, f in model.model_fields.items()}
        found = by_alias.get(part)
        return found.annotation if found else None
    args = [a for a in get_args(_strip(annotation)) if a is not type(None)]
    if isinstance(part, int) and get_origin(_strip(annotation)) is list:
        return args[0]
    return None


def _strip(annotation: Any) -> Any:
    """Unwrap Annotated and Optional to the type inside."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _strip(args[0])
    return annotation


def _model_of(annotation: Any) -> type[BaseModel] | None:
    inner = _strip(annotation)
    return inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None


def _is_condition(annotation: Any) -> bool:
    """True for the condition union (a union of ConditionNode models)."""
    inner = _strip(annotation)
    if get_origin(inner) not in (Union, types.UnionType):
        return False
    members = [_strip(a) for a in get_args(inner)]
    return all(isinstance(m, type) and issubclass(m, ConditionNode) for m in members)
