"""Reading a network's publisher export (CSV): the header's columns recognised by the
spellings real exports use (Awin's "Publisher ID", CJ's "PID", Impact's "Media Partner ID",
Partnerize's "camref"…), every cell checked as the stranger's text it is, and each row that
cannot be used kept with its line and the reason: nothing is guessed.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.addresses import checked_address
from monitor.errors import ConfigError
from monitor.program.answers import AnswerError, domain_answer
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


class ImportFileError(ConfigError):
    """The export cannot be read at all (not UTF-8, no id column…); nothing was imported."""


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
