"""A case's evidence pack: one ZIP that can go to the partner's network or to a search
engine's trademark complaint form as it stands.

Inside (every path fixed by ids, never by a name a page or an ad chose):

    summary.html                     a printable summary (no script, no remote resource)
    case.json                        the case and every sighting, as `incidents show --json`
    chains.json                      each sighting's redirect chain, hop by hop
    notices.json                     the notices sent, queued, held or refused for the case
    sightings/S-annotated.png        the screenshot, the ad outlined, query, market, device
                                     and time written above it (one per sighting)
    captures/C/screenshot.png        the screenshot as captured (one per result page)
    captures/C/page.html(.gz)        the result page as saved, byte for byte
    manifest.json, SHA256SUMS        every file's size and sha256 (`sha256sum -c SHA256SUMS`)

The ZIP is written beside its destination and renamed into place: an interrupted export
leaves no half pack behind. Evidence is read only through the store's relative paths
inside the home (monitor.notify.thumbnails.evidence_file): a path that leaves it is
refused and reported missing, like a file retention already pruned.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from monitor.errors import BidwatchError
from monitor.text import inert_text

if TYPE_CHECKING:
    from monitor.program import Program
    from monitor.settings import Settings
    from monitor.store import IncidentDetail, OutboxItem, SightingRecord

#: what a caption or the summary shows of a stranger's text (the JSON keeps it whole)
CAPTION_CHARS = 160
#: the pack's own format, named in its manifest
PACK_FORMAT = "bidwatch-evidence-pack/1"


@dataclass(frozen=True)
class PackedFile:
    path: str
    size: int
    sha256: str


@dataclass
class EvidencePack:
    """What an export wrote: the ZIP, each file in it, and the evidence it could not find."""

    case_id: int
    reference: str
    out: Path
    files: list[PackedFile] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


#: told after each file is packed: (files packed, files to pack)
PackProgress = Callable[[int, int], None]


def export_evidence_pack(settings: Settings, incident_id: int, out: Path, *,
                         progress: PackProgress | None = None) -> EvidencePack:
    """Write the evidence pack of case `incident_id` (an id from before cases names the
    case it went into) to `out`, and say what went in."""
    from monitor.program import ProgramError, load_program
    from monitor.services.commands import case_document
    from monitor.services.wiring import opened_store

    with opened_store(settings) as store:
        case_id = store.case_of(incident_id)
        detail = store.incident(case_id) if case_id is not None else None
        if case_id is None or detail is None:
            raise BidwatchError(f"no incident {incident_id}")
        notices = store.outbox_items(incident_id=case_id, kinds=["notice"])
    program: Program | None
    try:  # the program names the markets' zones; a pack is still made without it
        program = load_program(settings.rules)
    except ProgramError:
        program = None
    document = case_document(detail, settings.home)
    pack = EvidencePack(case_id, detail.incident.reference, out)
    zones = {m.id: m.timezone for m in program.markets} if program is not None else {}
    captions = {s.id: _caption(pack.reference, s, zones.get(s.market))
                for s in detail.sightings}
    entries = list(_entries(settings.home, detail, document, notices, captions))
    notice_documents = [_notice(n) for n in notices]
    _write_zip(out, entries, pack, progress,
               lambda: _summary(pack, document, captions, notice_documents))
    return pack


# -- what goes in ------------------------------------------------------------------------------

#: a file of the pack: its path in the ZIP and a function that makes its bytes (None: the
#: evidence is missing, and the pack says so)
Entry = tuple[str, Callable[[], bytes | None]]


def _entries(home: Path, detail: IncidentDetail, document: dict[str, Any],
             notices: list[OutboxItem], captions: dict[int, list[str]]) -> Iterator[Entry]:
    from monitor.notify.evidence_images import annotated_screenshot
    from monitor.notify.thumbnails import ad_box, evidence_file

    yield "case.json", lambda: _json(document)
    yield "chains.json", lambda: _json([
        {"sighting": s["id"], "landing_url": s["landing_url"], "hops": s["chain"],
         "followed": s["chain_followed"]} for s in document["sightings"]])
    yield "notices.json", lambda: _json([_notice(n) for n in notices])
    for sighting in detail.sightings:
        capture = detail.captures[sighting.capture_id]
        ad = detail.ads[sighting.ad_id]
        source = evidence_file(home, capture.screenshot_path)
        hrefs = [u for u in (ad.click_url, ad.link, *(x.url for x in ad.sitelinks)) if u]
        box = ad_box(capture.link_boxes, hrefs, capture.final_url)
        caption = captions[sighting.id]

        def annotated(source: Path | None = source, box: Any = box,
                      caption: list[str] = caption) -> bytes | None:
            return annotated_screenshot(source, box, caption) if source else None

        yield f"sightings/{sighting.id}-annotated.png", annotated
    for capture in sorted(detail.captures.values(), key=lambda c: c.id):
        for relative, name in (
                (capture.screenshot_path, _named("screenshot", capture.screenshot_path, ".png")),
                (capture.html_path, _named("page", capture.html_path, ".html"))):
            path = evidence_file(home, relative)
            yield f"captures/{capture.id}/{name}", _reader(path)


def _reader(path: Path | None) -> Callable[[], bytes | None]:
    def read() -> bytes | None:
        if path is None:
            return None
        try:
            return path.read_bytes()
        except OSError:
            return None
    return read


def _named(stem: str, relative: str | None, default: str) -> str:
    """`stem` with the stored file's kind of extension (".png", ".jpg"; ".html" or
    ".html.gz"), whatever else the stored name says."""
    suffixes = "".join(Path(relative).suffixes).lower() if relative else ""
    if default == ".html":
        return stem + (".html.gz" if suffixes.endswith(".gz") else ".html")
    return stem + (suffixes if suffixes in (".png", ".jpg", ".jpeg", ".webp") else default)


def _caption(reference: str, sighting: SightingRecord, zone: str | None) -> list[str]:
    """Query, market, device and time, as the annotated screenshot shows them."""
    seen = sighting.seen_at.astimezone(UTC)
    when = f"{seen:%Y-%m-%d %H:%M:%S} UTC"
    if zone:
        with contextlib.suppress(Exception):  # an unknown zone leaves the time in UTC
            local = seen.astimezone(ZoneInfo(zone))
            when += f" ({local:%Y-%m-%d %H:%M} {zone})"
    return [
        f"{reference} · sighting {sighting.id} · {sighting.engine} · "
        f"market {sighting.market} · {sighting.device}",
        f"query: {inert_text(sighting.query, CAPTION_CHARS)}",
        f"seen: {when}",
    ]


def _notice(item: OutboxItem) -> dict[str, Any]:
    return {"id": item.id, "level": item.level, "status": item.status,
            "language": item.language, "recipients": list(item.recipients),
            "subject": item.subject, "created_at": item.created_at.isoformat(),
            "sent_at": item.sent_at.isoformat() if item.sent_at else None,
            "attempts": item.attempts, "last_error": item.last_error,
            "decided_by": item.decided_by, "decision_note": item.decision_note}


def _json(value: object) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n").encode()


# -- the ZIP ----------------------------------------------------------------------------------


def _write_zip(out: Path, entries: list[Entry], pack: EvidencePack,
               progress: PackProgress | None, summary: Callable[[], bytes]) -> None:
    out = out.resolve()
    if out.is_dir():
        raise BidwatchError(f"{out}: is a directory; name the pack's file, e.g. "
                            f"{out / (pack.reference + '.zip')}")
    if not out.parent.is_dir():
        raise BidwatchError(f"{out.parent}: no such directory")
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for number, (name, make) in enumerate(entries, 1):
                data = make()
                if data is None:
                    pack.missing.append(name)
                else:
                    _add(archive, name, data, pack)
                if progress is not None:
                    progress(number, len(entries) + 1)
            # last: it says which evidence was missing
            _add(archive, "summary.html", summary(), pack)
            if progress is not None:
                progress(len(entries) + 1, len(entries) + 1)
            _add(archive, "manifest.json", _manifest(pack), pack, listed=False)
            sums = "".join(f"{f.sha256}  {f.path}\n" for f in pack.files)
            _add(archive, "SHA256SUMS", sums.encode(), pack, listed=False)
        os.replace(temporary, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _add(archive: zipfile.ZipFile, name: str, data: bytes, pack: EvidencePack, *,
         listed: bool = True) -> None:
    info = zipfile.ZipInfo(name, date_time=datetime.now(UTC).timetuple()[:6])
    info.compress_type = zipfile.ZIP_STORED if name.endswith((".png", ".gz")) \
        else zipfile.ZIP_DEFLATED
    info.external_attr = 0o600 << 16
    archive.writestr(info, data)
    if listed:
        pack.files.append(PackedFile(name, len(data), hashlib.sha256(data).hexdigest()))


def _manifest(pack: EvidencePack) -> bytes:
    return _json({
        "format": PACK_FORMAT, "case": pack.case_id, "reference": pack.reference,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "made_by": f"bidwatch {version('bidwatch')}",
        "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in pack.files],
        "missing": pack.missing,
    })


def _summary(pack: EvidencePack, document: dict[str, Any], captions: dict[int, list[str]],
             notices: list[dict[str, Any]]) -> bytes:
    """The printable summary of what the pack holds (rendered after every other file, so
    it can say which evidence is missing)."""
    from monitor.notify.render import TemplateSet
    from monitor.resources import templates_dir

    html = TemplateSet(templates_dir()).render("evidence/summary.html.j2", {
        "reference": pack.reference, "case": document["incident"],
        "history": document["history"], "sightings": document["sightings"],
        "captions": captions, "packed": {f.path for f in pack.files},
        "missing": pack.missing, "generated_at": datetime.now(UTC),
        "text_limit": CAPTION_CHARS, "notices": notices,
    })
    return html.encode()
