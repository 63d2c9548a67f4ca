"""A network's publisher export (read by monitor.program.partners_csv) merged into the
program's partners. Merging: a partner already holding the
network's publisher id is updated (name, a new contact address, a new domain), a new
publisher is added under an id made from its name, and nothing is guessed: a publisher id
given twice in the export, or held by two partners already, is reported and left out.
Writing: the partner file is edited round-trip (ruamel.yaml keeps its comments and order),
checked with the rest of the program by the real loader, and replaced atomically.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from monitor.errors import ConfigError
from monitor.program.answers import AnswerError, language_answer, slug_of
from monitor.program.fields import domain_in
from monitor.program.models import Program
from monitor.program.partners_csv import Columns, LeftOut, Note, Publisher, read_export

#: partner keys in the order a new or updated partner lists them
PARTNER_KEYS = ("id", "name", "language", "contacts", "network_ids", "domains",
                "advertiser_names")


# ---------------------------------------------------------------------------------------------
# Merging into the partner file.


@dataclass(frozen=True)
class Change:
    line: int
    partner: str
    publisher_id: str
    name: str
    fields: tuple[str, ...] = ()


@dataclass
class ImportResult:
    csv: Path
    network: str
    file: Path
    columns: Columns
    rows: int
    added: list[Change] = field(default_factory=list)
    updated: list[Change] = field(default_factory=list)
    unchanged: list[Change] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    text: str = ""
    original: str | None = None
    written: bool = False

    @property
    def changed(self) -> bool:
        return self.text != (self.original or "") and bool(self.added or self.updated)

    def document(self) -> dict[str, Any]:
        """The --json object (schema partners-import/1)."""
        return {
            "csv": str(self.csv), "network": self.network, "file": str(self.file),
            "rows": self.rows, "columns": self.columns.found,
            "ignored_columns": list(self.columns.ignored),
            "added": [asdict(c) | {"fields": list(c.fields)} for c in self.added],
            "updated": [asdict(c) | {"fields": list(c.fields)} for c in self.updated],
            "unchanged": [asdict(c) | {"fields": []} for c in self.unchanged],
            "left_out": [asdict(x) for x in sorted(self.left_out, key=lambda x: x.line)],
            "notes": [asdict(n) for n in self.notes], "written": self.written,
        }


def _yaml(offset: int = 2) -> Any:
    """ruamel.yaml, round-trip, indenting lists as the file does (`offset` spaces before a
    list item's dash: 2 in the example program, 0 in many hand-written files)."""
    from ruamel.yaml import YAML

    handler = YAML(typ="rt")
    handler.preserve_quotes = True
    handler.width = 4096  # never re-wrap a line someone wrote
    handler.indent(mapping=2, sequence=offset + 2, offset=offset)
    return handler


def _dash_offset(text: str) -> int:
    """How far the file indents the dash of a top-level list's items."""
    found = re.search(r"^[A-Za-z_]\w*:[ \t]*\n(?:[ \t]*(?:#.*)?\n)*( *)- ", text, re.MULTILINE)
    return len(found.group(1)) if found else 2


def _spaced(text: str, dumped: str, offset: int, new_ids: list[str]) -> str:
    """A blank line before each added partner, when the file separates its partners so.
    Only blank lines are added, and only when the data read back is the same."""
    item = " " * offset + "- id: "
    if f"\n\n{item}" not in text:
        return dumped
    lines = dumped.split("\n")
    heads = {f"{item}{partner_id}" for partner_id in new_ids}
    spaced: list[str] = []
    for line in lines:
        if line in heads and spaced and spaced[-1].strip():
            spaced.append("")
        spaced.append(line)
    result = "\n".join(spaced)
    import yaml

    return result if yaml.safe_load(result) == yaml.safe_load(dumped) else dumped


def partner_file(rules: Path) -> Path:
    """The file that holds `partners:` (each top-level key lives in one file); partners.yaml
    when none does yet."""
    from monitor.program.source import read_sources

    files = read_sources(rules).files
    return Path(files.get("partners") or files.get("competitors") or rules / "partners.yaml")


def plan_import(rules: Path, csv_path: Path, network: str, language: str | None = None
                ) -> ImportResult:
    """What importing `csv_path` would do, with the partner file's new text; writes nothing.
    ConfigError when the program is invalid already, or would be after the import."""
    from monitor.program.answers import network_answer
    from monitor.program.checks import check_program
    from monitor.resources import templates_dir

    try:
        network = network_answer(network)
        language = language_answer(language) if language else None
    except AnswerError as error:
        raise ConfigError(str(error)) from None
    program, issues = check_program(rules, templates_dir())
    if program is None:
        raise ConfigError(f"{rules}: the program has problems already; fix them first:\n"
                          + "\n".join(str(i) for i in issues))
    export = read_export(csv_path, network)
    target = partner_file(rules)
    original = target.read_text(encoding="utf-8") if target.exists() else None
    result = ImportResult(csv_path, network, target, export.columns, export.rows,
                          left_out=list(export.left_out), notes=list(export.notes),
                          original=original)
    offset = _dash_offset(original or "")
    document = _yaml(offset).load(original or "") or _new_document()
    partners = document.get("partners")
    if partners is None:
        document["partners"] = partners = _seq([])
    _merge(export.publishers, program, partners, network, language or program.default_language,
           result)
    if result.added or result.updated:
        result.text = _spaced(original or "", _dump(document, offset), offset,
                              [c.partner for c in result.added])
    else:
        result.text = original or ""
    if result.changed:
        _check_with(rules, target, result.text)
    return result


def _new_document() -> Any:
    from ruamel.yaml.comments import CommentedMap

    return CommentedMap()


def _seq(items: list[Any], flow_style: bool = False) -> Any:
    from ruamel.yaml.comments import CommentedSeq

    seq = CommentedSeq(items)
    if flow_style:
        seq.fa.set_flow_style()
    return seq


def _map(pairs: list[tuple[str, Any]]) -> Any:
    from ruamel.yaml.comments import CommentedMap

    return CommentedMap(pairs)


def _dump(document: Any, offset: int) -> str:
    stream = io.StringIO()
    _yaml(offset).dump(document, stream)
    return stream.getvalue()


def _merge(publishers: list[Publisher], program: Program, partners: Any, network: str,
           language: str, result: ImportResult) -> None:
    holders: dict[str, list[int]] = {}
    for index, partner in enumerate(program.partners):
        for network_id in partner.network_ids:
            if network_id.network == network:
                holders.setdefault(network_id.publisher_id, []).append(index)
    taken = {p.id for p in program.partners} | {c.id for c in program.competitors}
    brand = frozenset(program.brand_domains())
    names = {p.name.casefold(): p.id for p in program.partners}
    for publisher in publishers:
        held = holders.get(publisher.publisher_id, [])
        if publisher.domain and (domain_in(publisher.domain, brand)
                                 or any(domain_in(b, frozenset([publisher.domain]))
                                        for b in brand)):
            result.left_out.append(LeftOut(publisher.line, publisher.publisher_id,
                                           f"website {publisher.domain} is the brand's own"))
        elif len(held) > 1:
            ids = ", ".join(program.partners[i].id for i in held)
            result.left_out.append(LeftOut(publisher.line, publisher.publisher_id,
                                           f"{network} id held by more than one partner ({ids}); "
                                           "fix the partner file first"))
        elif held:
            _update(partners[held[0]], program.partners[held[0]].id, publisher, result)
        else:
            partner_id = _new_id(publisher, network, taken)
            taken.add(partner_id)
            same_name = names.get(publisher.name.casefold())
            if same_name:
                result.notes.append(Note(publisher.line, (
                    f"partner '{same_name}' has the same name but not this {network} id; "
                    f"added as '{partner_id}': merge them by hand if they are one")))
            partners.append(_new_partner(partner_id, publisher, network, language))
            result.added.append(Change(publisher.line, partner_id, publisher.publisher_id,
                                       publisher.name))


def _new_id(publisher: Publisher, network: str, taken: set[str]) -> str:
    base = slug_of(publisher.name) or slug_of(f"{network}-{publisher.publisher_id}") or network
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}-{number}", number + 1
    return candidate


def _new_partner(partner_id: str, publisher: Publisher, network: str, language: str) -> Any:
    pairs: list[tuple[str, Any]] = [("id", partner_id), ("name", publisher.name),
                                    ("language", language)]
    if publisher.email:
        pairs.append(("contacts", _seq([_contact(publisher)])))
    pairs.append(("network_ids", _seq([_map([("network", network),
                                             ("publisher_id", publisher.publisher_id)])])))
    if publisher.domain:
        pairs.append(("domains", _seq([publisher.domain], flow_style=True)))
    return _map(pairs)


def _contact(publisher: Publisher) -> Any:
    return _map([("name", publisher.contact or publisher.name), ("email", publisher.email)])


def _update(node: Any, partner_id: str, publisher: Publisher, result: ImportResult) -> None:
    """The export's name, and its address and website when the partner lacks them; nothing
    is removed (a contact or domain added by hand stays)."""
    changed: list[str] = []
    if str(node.get("name", "")) != publisher.name:
        node["name"] = publisher.name
        changed.append("name")
    if publisher.email:
        contacts = node.get("contacts")
        known = {str(c.get("email", "")).lower() for c in contacts or [] if hasattr(c, "get")}
        if publisher.email.lower() not in known:
            if contacts is None:
                _insert(node, "contacts", contacts := _seq([]))
            contacts.append(_contact(publisher))
            changed.append("contacts")
    if publisher.domain:
        domains = node.get("domains")
        if publisher.domain not in [str(d) for d in domains or []]:
            if domains is None:
                _insert(node, "domains", domains := _seq([], flow_style=True))
            domains.append(publisher.domain)
            changed.append("domains")
    change = Change(publisher.line, partner_id, publisher.publisher_id, publisher.name,
                    tuple(changed))
    (result.updated if changed else result.unchanged).append(change)


def _insert(node: Any, key: str, value: Any) -> None:
    """Add `key` where PARTNER_KEYS puts it: after the last key that comes before it."""
    order = PARTNER_KEYS.index(key)
    keys = list(node.keys())
    before = [i for i, k in enumerate(keys) if k in PARTNER_KEYS[:order]]
    node.insert(before[-1] + 1 if before else len(keys), key, value)


def _check_with(rules: Path, target: Path, text: str) -> None:
    """The program with the new partner file, through the real loader, in a scratch copy."""
    from monitor.program.checks import check_program
    from monitor.resources import templates_dir

    scratch = Path(tempfile.mkdtemp(prefix="bidwatch-import-"))
    try:
        for path in rules.iterdir():
            if path.suffix in (".yaml", ".yml") and path.is_file():
                shutil.copyfile(path, scratch / path.name)
        (scratch / target.name).write_text(text, encoding="utf-8")
        _, issues = check_program(scratch, templates_dir())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if issues:
        raise ConfigError(f"{target}: nothing written: the import would make the program "
                          "invalid:\n" + "\n".join(
                              str(i).replace(str(scratch), str(rules)) for i in issues))


def write_result(result: ImportResult) -> None:
    """Replace the partner file with the new text: a temporary file beside it, synced, then
    renamed over it (a reader sees the old file or the new one, never half of one)."""
    if not result.changed:
        return
    target = result.file
    current = target.read_text(encoding="utf-8") if target.exists() else None
    if current != result.original:  # someone saved it meanwhile: theirs is not overwritten
        raise ConfigError(f"{target} changed while the import ran; nothing written, run it "
                          "again")
    mode = target.stat().st_mode & 0o777 if target.exists() else 0o600
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(result.text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    result.written = True
