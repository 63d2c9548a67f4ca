"""A case's evidence pack, over a store filled by a real sweep of the simulator: what goes
in, that its sums hold, that hostile text stays text, and what happens when evidence is
missing, when a stored path leaves the home, and when the export is interrupted."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from monitor.cli import app
from monitor.cli.schemas import validate
from monitor.errors import BidwatchError
from monitor.services.commands import incident_document
from monitor.services.evidence_pack import export_evidence_pack
from monitor.settings import Settings
from monitor.store import Store

pytestmark = pytest.mark.browser


def _cases(settings: Settings) -> list[int]:
    store = Store(settings.database)
    try:
        return [c.id for c in store.incidents()]
    finally:
        store.close()


def _partner_case(settings: Settings) -> int:
    store = Store(settings.database)
    try:
        return next(c.id for c in store.incidents() if c.partner == "kuponhemat")
    finally:
        store.close()


def test_the_pack_holds_every_sighting_and_page_and_its_sums_hold(
    demo_copy: Settings, tmp_path: Path
) -> None:
    case = _partner_case(demo_copy)
    out = tmp_path / "pack.zip"
    pack = export_evidence_pack(demo_copy, case, out)

    document = incident_document(demo_copy, case)
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        # every file's sha256, as `sha256sum -c SHA256SUMS` checks them
        sums = dict(reversed(line.split("  ", 1))
                    for line in archive.read("SHA256SUMS").decode().splitlines())
        assert set(sums) == names - {"SHA256SUMS", "manifest.json"}
        for name, digest in sums.items():
            assert hashlib.sha256(archive.read(name)).hexdigest() == digest, name
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["format"] == "bidwatch-evidence-pack/1"
        assert {f["path"]: f["sha256"] for f in manifest["files"]} == sums
        assert manifest["missing"] == pack.missing == []
        # the facts as JSON are what `incidents show --json` says of the case
        assert json.loads(archive.read("case.json")) == json.loads(
            json.dumps(document, default=str))
        chains = json.loads(archive.read("chains.json"))
        assert [c["sighting"] for c in chains] == [s["id"] for s in document["sightings"]]
        assert all(c["hops"] for c in chains)
        # one annotated screenshot per sighting, a caption band above the page
        for sighting in document["sightings"]:
            picture = Image.open(io.BytesIO(archive.read(
                f"sightings/{sighting['id']}-annotated.png")))
            original = Image.open(sighting["screenshot_path"])
            assert picture.width == original.width and picture.height > original.height
        # each result page as saved, byte for byte
        pages = [n for n in names if n.startswith("captures/") and "/page." in n]
        assert pages and all(n.endswith(".html.gz") for n in pages)
        saved = {Path(s["html_path"]).read_bytes() for s in document["sightings"]}
        assert {archive.read(n) for n in pages} == saved
        summary = archive.read("summary.html").decode()
    assert "default-src 'none'" in summary and "<script" not in summary.lower()
    assert document["incident"]["reference"] in summary
    assert "Asia/Jakarta" in summary  # each sighting's time in its market's zone too
    assert {f.path for f in pack.files} == set(sums)


def test_hostile_ad_text_is_text_in_the_summary(demo_copy: Settings, tmp_path: Path) -> None:
    hostile = '<script>alert(1)</script><img src=x onerror=alert(2)>\u202egnp.exe'
    database = sqlite3.connect(demo_copy.home / "bidwatch.db")
    try:
        database.execute("UPDATE ads SET headline = ?, display_url = ?", (
            hostile, "javascript:alert(3)"))
        database.commit()
    finally:
        database.close()
    case = _cases(demo_copy)[0]
    export_evidence_pack(demo_copy, case, tmp_path / "pack.zip")
    with zipfile.ZipFile(tmp_path / "pack.zip") as archive:
        summary = archive.read("summary.html").decode()
    assert "<script" not in summary and "<img src=x" not in summary
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in summary
    assert "\u202e" not in summary  # a bidi override cannot turn the text around
    assert 'href="javascript' not in summary


def test_missing_and_escaping_evidence_is_reported_not_read(
    demo_copy: Settings, tmp_path: Path
) -> None:
    case = _partner_case(demo_copy)
    document = incident_document(demo_copy, case)
    first = document["sightings"][0]
    Path(first["screenshot_path"]).unlink()  # pruned by retention, say
    secret = tmp_path / "secret.txt"
    secret.write_text("not evidence")
    database = sqlite3.connect(demo_copy.home / "bidwatch.db")
    try:  # a path that leaves the home, as a tampered database could hold
        capture = _capture_of(database, document["sightings"][-1]["id"])
        database.execute("UPDATE captures SET html_path = ? WHERE id = ?",
                         ("../secret.txt", capture))
        database.commit()
    finally:
        database.close()
    pack = export_evidence_pack(demo_copy, case, tmp_path / "pack.zip")
    assert f"sightings/{first['id']}-annotated.png" in pack.missing
    assert any(name.endswith("/page.html") for name in pack.missing)
    with zipfile.ZipFile(tmp_path / "pack.zip") as archive:
        assert all(b"not evidence" not in archive.read(n) for n in archive.namelist())
        assert json.loads(archive.read("manifest.json"))["missing"] == pack.missing
        assert "not found on disk" in archive.read("summary.html").decode()


def _capture_of(database: sqlite3.Connection, sighting_id: int) -> int:
    return int(database.execute("SELECT capture_id FROM sightings WHERE id = ?",
                                (sighting_id,)).fetchone()[0])


def test_an_interrupted_export_leaves_nothing_behind(demo_copy: Settings, tmp_path: Path) -> None:
    def interrupt(done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    out = tmp_path / "pack.zip"
    with pytest.raises(KeyboardInterrupt):
        export_evidence_pack(demo_copy, _cases(demo_copy)[0], out, progress=interrupt)
    assert list(tmp_path.glob("pack.zip*")) == [] and list(tmp_path.glob(".pack.zip*")) == []


def test_bad_requests_are_one_line_errors(demo_copy: Settings, tmp_path: Path) -> None:
    with pytest.raises(BidwatchError, match="no incident 999"):
        export_evidence_pack(demo_copy, 999, tmp_path / "x.zip")
    with pytest.raises(BidwatchError, match="is a directory"):
        export_evidence_pack(demo_copy, _cases(demo_copy)[0], tmp_path)
    with pytest.raises(BidwatchError, match="no such directory"):
        export_evidence_pack(demo_copy, _cases(demo_copy)[0], tmp_path / "no" / "x.zip")


def test_incidents_export_prints_what_went_in_as_json(
    demo_copy: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "case.zip"
    case = _cases(demo_copy)[0]
    done = CliRunner().invoke(app, ["--home", str(demo_copy.home), "--rules",
                                    str(demo_copy.rules), "incidents", "export", str(case),
                                    "--out", str(out), "--json"])
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    validate(document)
    assert document["out"] == str(out.resolve()) and zipfile.is_zipfile(out)
    missing = CliRunner().invoke(app, ["--home", str(demo_copy.home), "incidents", "export",
                                       "999"])
    assert missing.exit_code == 2 and "no incident 999" in missing.output
