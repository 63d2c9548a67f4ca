"""A network's publisher export (CSV) merged into the program's partners.

Reading: the header's columns are recognised by the spellings real exports use (Awin's
"Publisher ID", CJ's "PID", Impact's "Media Partner ID", Partnerize's "camref"…); every
cell is a stranger's text, checked before it is used. Merging: a partner already holding the
network's publisher id is updated (name, a new contact address, a new domain), a new
publisher is added under an id made from its name, and nothing is guessed: a publisher id
given twice in the export, or held by two partners already, is reported and left out.
Writing: the partner file is edited round-trip (ruamel.yaml keeps its comments and order),
checked with the rest of the program by the real loader, and replaced atomically.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.addresses import checked_address
from monitor.errors import ConfigError
from monitor.program.fields import domain_in
from monitor.program.models import Program
from monitor.program.scaffold import AnswerError, domain_answer, language_answer, slug_of
from monitor.text import clean_text

#: an export larger than this is refused before it is read (the largest networks' full
#: publisher lists are a few MB)
MAX_CSV_BYTES = 32 * 1024 * 1024
#: the most characters a cell may have, by column; a longer one is reported, not cut
MAX_CHARS = {"id": 100, "name": 200, "contact": 200, "email": 254, "website": 2048}
#: a cell a spreadsheet would run as a formula ("=cmd|' /C calc'!A0", "@SUM(…)", "+1+cmd|…")
_FORMULA = re.compile(r"=|[+\-@].*[(|!]")
#: what a publisher id may hold: printable characters without spaces (Rakuten's have * and /)
_PUBLISHER_ID = re.compile(r"[^\s\"'<>=]+")

#: header spellings, normalised (lower case, words split on anything else), best first
HEADERS: dict[str, tuple[str, ...]] = {
    "id": ("publisher id", "publisherid", "affiliate id", "affiliateid", "partner id",
           "partnerid", "media partner id", "mpid", "pid", "property id", "website id",
           "site id", "ad space id", "camref", "awinaffid", "account id", "id"),
    "name": ("publisher name", "partner name", "affiliate name", "media partner name",
             "company name", "account name", "business name", "publisher", "partner",
             "affiliate", "company", "organisation", "organization", "name", "website name"),
    "contact": ("contact name", "primary contact name", "primary contact", "contact person",
                "contact"),
    "email": ("email", "e mail", "email address", "e mail address", "contact email",
              "primary contact email", "publisher email", "partner email", "mail"),
    "website": ("website", "website url", "web site", "url", "site url", "site",
                "primary website", "promotional space url", "property url", "homepage",
                "website address", "domain"),
}
#: where a network's own id column is called something the generic list ranks lower
NETWORK_ID_HEADERS: dict[str, tuple[str, ...]] = {
    "cj": ("pid", "property id", "website id"),
    "impact": ("media partner id", "mpid", "partner id"),
    "partnerize": ("camref", "publisher camref"),
    "awin": ("publisher id", "awinaffid"),
    "admitad": ("ad space id", "website id"),
    "shareasale": ("affiliate id", "user id"),
    "rakuten": ("publisher id", "site id", "eaid"),
}
#: partner keys in the order a new or updated partner lists them
PARTNER_KEYS = ("id", "name", "language", "contacts", "network_ids", "domains",
                "advertiser_names")


class ImportFileError(ConfigError):
    """The export cannot be read at all (not UTF-8, no id column…); nothing was imported."""


# ---------------------------------------------------------------------------------------------
# Reading the export.


@dataclass(frozen=True)
class Columns:
    """Which header each field was read from (None: no such column), and the rest."""

    found: dict[str, str | None]
    ignored: tuple[str, ...]
    index: dict[str, int]


@dataclass(frozen=True)
class Publisher:
    line: int
    publisher_id: str
    name: str
    contact: str | None
    email: str | None
    domain: str | None


@dataclass(frozen=True)
class LeftOut:
    line: int
    publisher_id: str | None
    reason: str


@dataclass(frozen=True)
class Note:
    """Something done to a row that was imported all the same (invisible characters
    removed from a name, a name already used by another partner)."""

    line: int
    message: str


@dataclass
class ExportRows:
    columns: Columns
    publishers: list[Publisher] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    rows: int = 0
    #: (line, id) of every row that gave an id, usable or not: a repeat is a repeat
    ids: list[tuple[int, str]] = field(default_factory=list)


def normal_header(header: str) -> str:
    """'Publisher_ID', 'PublisherId', ' publisher id ' -> 'publisher id'."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", clean_text(header))
    return re.sub(r"[^0-9a-z]+", " ", spaced.lower()).strip()


def find_columns(header: list[str], network: str) -> Columns:
    normal = [normal_header(h) for h in header]
    index: dict[str, int] = {}
    for what, spellings in HEADERS.items():
        wanted = (NETWORK_ID_HEADERS.get(network, ()) + spellings) if what == "id" else spellings
        for spelling in wanted:
            if spelling in normal and normal.index(spelling) not in index.values():
                index[what] = normal.index(spelling)
                break
    found = {what: (clean_text(header[index[what]]) if what in index else None)
             for what in HEADERS}
    ignored = tuple(clean_text(h) for i, h in enumerate(header) if i not in index.values())
    return Columns(found, ignored, index)


def _decode(raw: bytes, path: Path) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text"
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as error:
            raise ImportFileError(f"{path}: not valid UTF-16 ({error.reason})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ImportFileError(f"{path}:{line}: not UTF-8 (byte 0x{raw[error.start]:02x}); "
                              "export the file as UTF-8") from None


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


@contextmanager
def _field_limit(limit: int) -> Iterator[None]:
    """The csv module refuses a cell over 128 KiB with an error that ends the reading; a
    huge cell is to be reported with its line, so the limit is the file's own size."""
    before = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(before)


def read_export(path: Path, network: str) -> ExportRows:
    """The export's publishers, each checked; what cannot be used, with its line."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CSV_BYTES + 1)
    except OSError as error:
        raise ImportFileError(f"{path}: cannot read the file: {error.strerror}") from None
    if len(raw) > MAX_CSV_BYTES:
        raise ImportFileError(f"{path}: more than {MAX_CSV_BYTES // 2**20} MB; split it")
    text = _decode(raw, path)
    reader = csv.reader(io.StringIO(text, newline=""),
                        delimiter=_delimiter(text.split("\n", 1)[0]))
    with _field_limit(MAX_CSV_BYTES):
        try:
            numbered = list(_numbered(reader))
        except csv.Error as error:
            raise ImportFileError(f"{path}:{reader.line_num}: not CSV: {error}") from None
    if not numbered:
        raise ImportFileError(f"{path}: empty: no header, no rows")
    header_line, header = numbered[0]
    columns = find_columns(header, network)
    if columns.found["id"] is None or columns.found["name"] is None:
        missing = " and ".join(w for w in ("id", "name") if columns.found[w] is None)
        raise ImportFileError(
            f"{path}:{header_line}: no {missing} column among "
            f"{', '.join(repr(clean_text(h)[:40]) for h in header)}; expected e.g. "
            f"{HEADERS['id'][0]!r} and {HEADERS['name'][0]!r}")
    export = ExportRows(columns)
    for line, cells in numbered[1:]:
        export.rows += 1
        _read_row(line, cells, export)
    _leave_out_repeated_ids(export)
    return export


def _numbered(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """(line the record starts on, cells), blank lines skipped."""
    start = 1
    for cells in reader:
        if any(c.strip() for c in cells):
            yield start, cells
        start = reader.line_num + 1


def _cell(cells: list[str], columns: Columns, what: str) -> str:
    index = columns.index.get(what)
    return cells[index] if index is not None and index < len(cells) else ""


def _read_row(line: int, cells: list[str], export: ExportRows) -> None:
    raw = {what: _cell(cells, export.columns, what) for what in HEADERS}
    publisher_id = clean_text(raw["id"])[: MAX_CHARS["id"]] or None
    if publisher_id is not None:
        export.ids.append((line, publisher_id))

    def leave_out(reason: str) -> None:
        export.left_out.append(LeftOut(line, publisher_id, reason))

    for what, value in raw.items():
        if len(value) > MAX_CHARS[what]:
            return leave_out(f"the {what} is {len(value)} characters long; at most "
                             f"{MAX_CHARS[what]}")
    if not raw["id"].strip():
        return leave_out("no publisher id")
    if raw["id"].strip() != clean_text(raw["id"]) or not _PUBLISHER_ID.fullmatch(raw["id"].strip()):
        return leave_out(f"publisher id {clean_text(raw['id'])!r} holds spaces, quotes or "
                         "invisible characters; no network issues such ids")
    name = clean_text(raw["name"])
    if not name:
        return leave_out("no name")
    for what in ("name", "contact"):
        value = clean_text(raw[what])
        if value and _FORMULA.match(value):
            return leave_out(f"the {what} {value[:40]!r} is a spreadsheet formula, not a name")
        if value != " ".join(raw[what].split()):
            export.notes.append(Note(line, f"{what}: invisible or control characters removed"))
    try:
        email, contact = _email(raw["email"], clean_text(raw["contact"]))
        domain = _website(raw["website"])
    except AnswerError as error:
        return leave_out(str(error))
    export.publishers.append(Publisher(line, raw["id"].strip(), name, contact, email, domain))
    return None


def _email(cell: str, contact: str) -> tuple[str | None, str | None]:
    """(e-mail, contact name): a contact column that holds an address is the address."""
    value = clean_text(cell)
    if not value and "@" in contact:
        value, contact = contact, ""
    if not value:
        return None, contact or None
    try:
        return checked_address(value), contact or None
    except ValueError:
        raise AnswerError(f"malformed e-mail {value[:80]!r}") from None


def _website(cell: str) -> str | None:
    """The website's host as a domain ('https://www.Deals.example/x' -> 'deals.example')."""
    value = clean_text(cell)
    if not value:
        return None
    try:
        host = urlsplit(value if "://" in value else f"http://{value}").hostname or ""
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
        host = host.removeprefix("www.")
        return domain_answer(host)
    except (ValueError, UnicodeError, AnswerError):
        raise AnswerError(f"malformed website {value[:80]!r}") from None


def _leave_out_repeated_ids(export: ExportRows) -> None:
    """An id on two rows: which is right is not for us to guess; every row giving it is left
    out (a row already left out for another reason is not reported twice)."""
    lines: dict[str, list[int]] = {}
    for line, publisher_id in export.ids:
        lines.setdefault(publisher_id, []).append(line)
    repeated = {i for i, found in lines.items() if len(found) > 1}
    if not repeated:
        return
    for publisher in [p for p in export.publishers if p.publisher_id in repeated]:
        others = ", ".join(str(n) for n in lines[publisher.publisher_id])
        export.left_out.append(LeftOut(publisher.line, publisher.publisher_id,
                                       f"publisher id appears more than once (lines {others})"))
    export.publishers = [p for p in export.publishers if p.publisher_id not in repeated]


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
    from monitor.program.checks import check_program
    from monitor.program.scaffold import network_answer
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
