"""Screenshot thumbnails in the digest: real PNG evidence, a real SQLite store, the HTML file
with its thumbnails folder, and the mail through apprise to a real SMTP sink."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from monitor.dev.mailsink import MailSink
from monitor.models import Severity
from monitor.notify.digest import (
    Period,
    render_digest,
    thumbnails_folder,
    write_digest,
)
from monitor.notify.email import IllustratedMessage, build_email, send_email
from monitor.notify.render import TemplateSet
from monitor.notify.thumbnails import (
    THUMB_HEIGHT,
    THUMB_WIDTH,
    evidence_file,
    make_thumbnail,
    thumbnail_name,
)
from monitor.services.wiring import open_store
from monitor.store import Store
from tests.notify_support import TEMPLATES, Breach, notify_settings, program, record_breach

DAY = date(2026, 11, 20)
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TOP = (200, 30, 30)  # the colour of the page's top band, where the ads are
SENDER = "compliance@lumora.com"


def page_png(path: Path, size: tuple[int, int] = (1280, 4000), *, alpha: bool = False) -> Path:
    """A full-page screenshot: a red band on top, grey below (transparent if `alpha`)."""
    mode, below = ("RGBA", (0, 0, 0, 0)) if alpha else ("RGB", (120, 120, 120))
    image = Image.new(mode, size, below)
    image.paste(TOP + ((255,) if alpha else ()), (0, 0, size[0], min(size[1], 600)))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path


def shot_of(home: Path, breach: Breach) -> Path:
    """The screenshot record_breach saved for `breach` (a 1x1 PNG until replaced)."""
    return home / f"evidence/{breach.partner}-{breach.engine}-{breach.query}.png"


class Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs))


def images_in(html: str) -> list[dict[str, str | None]]:
    parser = Images()
    parser.feed(html)
    return parser.images


def jpeg_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        return image.size


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    store = open_store(notify_settings(home))
    yield store
    store.close()


def digest(store: Store, home: Path, limit: int = 12) -> IllustratedMessage:
    message = render_digest(store, program(), TemplateSet(TEMPLATES), Period.ending_on(DAY, 1),
                            evidence_home=home, max_thumbnails=limit)
    assert isinstance(message, IllustratedMessage)
    return message


# ------------------------------------------------------------------------- the thumbnails


def test_thumbnail_is_the_top_of_the_page_scaled_to_240_wide(tmp_path: Path) -> None:
    source = page_png(tmp_path / "page.png")

    thumbnail = make_thumbnail(source, "INC-00001.jpg")

    assert thumbnail is not None and thumbnail.name == "INC-00001.jpg"
    assert (thumbnail.width, thumbnail.height) == (THUMB_WIDTH, THUMB_HEIGHT) == (240, 180)
    assert jpeg_size(thumbnail.data) == (240, 180)
    with Image.open(io.BytesIO(thumbnail.data)) as image:
        # 1280 wide at 4:3 crops the top 960 rows: the red band is the upper 600 of them
        red = image.convert("RGB").getpixel((120, 40))
        grey = image.convert("RGB").getpixel((120, 170))
    assert abs(red[0] - TOP[0]) < 20 and red[1] < 60
    assert all(abs(c - 120) < 20 for c in grey)
    assert len(thumbnail.data) < 20_000


def test_transparent_page_is_laid_on_white_and_a_short_page_keeps_its_aspect(
    tmp_path: Path,
) -> None:
    thumbnail = make_thumbnail(page_png(tmp_path / "wide.png", (1000, 300), alpha=False), "a.jpg")
    assert thumbnail is not None and (thumbnail.width, thumbnail.height) == (240, 72)

    clear = make_thumbnail(page_png(tmp_path / "clear.png", (1600, 3000), alpha=True), "b.jpg")
    assert clear is not None
    with Image.open(io.BytesIO(clear.data)) as image:
        assert min(image.convert("RGB").getpixel((120, 170))) > 235  # white, not black


def test_missing_broken_and_outside_files_give_no_thumbnail(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="monitor.notify.thumbnails")
    broken = tmp_path / "home/evidence/broken.png"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    truncated = page_png(tmp_path / "home/evidence/truncated.png")
    truncated.write_bytes(truncated.read_bytes()[:200])
    page_png(tmp_path / "secret.png")

    assert make_thumbnail(broken, "x.jpg") is None
    assert make_thumbnail(truncated, "y.jpg") is None
    assert make_thumbnail(tmp_path / "nowhere.png", "z.jpg") is None
    assert evidence_file(tmp_path / "home", "../secret.png") is None
    assert evidence_file(tmp_path / "home", "evidence/none.png") is None
    assert evidence_file(tmp_path / "home", None) is None
    assert evidence_file(tmp_path / "home", "evidence/broken.png") == broken.resolve()
    assert "broken.png skipped" in caplog.text and "truncated.png skipped" in caplog.text


def test_thumbnail_names_are_plain_file_names() -> None:
    assert thumbnail_name("INC-00042") == "INC-00042.jpg"
    assert thumbnail_name("../../etc/passwd") == "etc_passwd.jpg"
    assert thumbnail_name('"><script>') == "script.jpg"


# --------------------------------------------------------------------------- the digest


def test_written_digest_shows_thumbnails_from_a_folder_beside_it(
    tmp_path: Path, home: Path, store: Store
) -> None:
    for breach in (Breach("sleepsaver"), Breach("kuponhemat", language="id")):
        record_breach(store, home, breach, T0)
        page_png(shot_of(home, breach))
    target = tmp_path / "out" / "daily digest.html"

    html_path, text_path = write_digest(digest(store, home), target)

    html = html_path.read_text(encoding="utf-8")
    images = images_in(html)
    assert len(images) == 2 and "cid:" not in html
    for image in images:
        assert image["src"] in ("daily%20digest-thumbs/INC-00001.jpg",
                                "daily%20digest-thumbs/INC-00002.jpg")
        file = target.parent / "daily digest-thumbs" / Path(image["src"] or "").name
        assert jpeg_size(file.read_bytes()) == (240, 180)
        assert (image["width"], image["height"]) == ("240", "180")
    assert thumbnails_folder(target) == target.parent / "daily digest-thumbs"
    text = text_path.read_text(encoding="utf-8")
    assert "Evidence: evidence/sleepsaver-google-lumora.png" in text and "<img" not in text


def test_thumbnails_are_capped_most_severe_first_and_the_rest_counted(
    tmp_path: Path, home: Path, store: Store
) -> None:
    breaches = [Breach("sleepsaver", severity=Severity.medium),
                Breach("sleepsaver", engine="bing", severity=Severity.critical),
                Breach("kuponhemat", language="id", severity=Severity.high)]
    for index, breach in enumerate(breaches):
        record_breach(store, home, breach, T0 + timedelta(minutes=index))
        page_png(shot_of(home, breach))

    message = digest(store, home, limit=2)

    assert [i.name for i in message.inline_images] == ["INC-00002.jpg", "INC-00003.jpg"]
    assert {i["src"] for i in images_in(message.html)} == {"cid:INC-00002.jpg",
                                                           "cid:INC-00003.jpg"}
    assert "1 more in the evidence" in message.html
    assert "Screenshot: evidence/sleepsaver-google-lumora.png" in message.html


def test_missing_and_unreadable_screenshots_are_skipped(
    home: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="monitor.notify.thumbnails")
    # the broken ones rank first: they are tried, and do not use up the cap of one
    good, gone, garbage = (Breach("sleepsaver", severity=Severity.high),
                           Breach("sleepsaver", engine="bing", severity=Severity.critical),
                           Breach("kuponhemat", language="id", severity=Severity.critical))
    for breach in (good, gone, garbage):
        record_breach(store, home, breach, T0)
    page_png(shot_of(home, good))
    shot_of(home, gone).unlink()
    shot_of(home, garbage).write_bytes(b"not an image at all")

    message = digest(store, home, limit=1)

    # neither failure counts as "more in the evidence"
    assert [i.name for i in message.inline_images] == ["INC-00001.jpg"]
    assert len(images_in(message.html)) == 1 and "more in the evidence" not in message.html
    assert "no screenshot at evidence/sleepsaver-bing-lumora.png" in caplog.text
    assert "kuponhemat-google-lumora.png skipped" in caplog.text


def test_rewriting_a_digest_clears_thumbnails_it_no_longer_shows(
    tmp_path: Path, home: Path, store: Store
) -> None:
    breach = Breach("sleepsaver")
    record_breach(store, home, breach, T0)
    page_png(shot_of(home, breach))
    target = tmp_path / "d.html"
    write_digest(digest(store, home), target)
    assert [p.name for p in thumbnails_folder(target).iterdir()] == ["INC-00001.jpg"]

    shot_of(home, breach).unlink()
    write_digest(digest(store, home), target)

    assert list(thumbnails_folder(target).iterdir()) == []
    assert "<img" not in target.read_text(encoding="utf-8")


def test_without_evidence_home_the_digest_has_no_images(home: Path, store: Store) -> None:
    breach = Breach("sleepsaver")
    record_breach(store, home, breach, T0)
    page_png(shot_of(home, breach))

    message = render_digest(store, program(), TemplateSet(TEMPLATES), Period.ending_on(DAY, 1))

    assert not isinstance(message, IllustratedMessage) and "<img" not in message.html


# ----------------------------------------------------------------------------- the mail


def cid_references(html: str) -> set[str]:
    return set(re.findall(r'src="cid:([^"]+)"', html))


def test_mailed_digest_carries_the_thumbnails_as_inline_cid_parts(
    tmp_path: Path, home: Path, store: Store
) -> None:
    for breach in (Breach("sleepsaver"), Breach("kuponhemat", language="id")):
        record_breach(store, home, breach, T0)
        page_png(shot_of(home, breach))
    message = digest(store, home)

    with MailSink(tmp_path / "mail") as sink:
        result = send_email(sink.apprise_url(), message, to=["team@lumora.com"], sender=SENDER,
                            sender_name="Lumora compliance", message_id_key="digest:test")
        assert result.ok, result.error
        (mail,) = sink.received
    received = mail.message()

    html = received.get_body(("html",)).get_content()  # type: ignore[union-attr]
    jpegs = [p for p in received.walk() if p.get_content_type() == "image/jpeg"]
    content_ids = {str(p["Content-ID"]).strip("<>") for p in jpegs}
    assert content_ids == cid_references(html) == {"INC-00001.jpg", "INC-00002.jpg"}
    assert any(p.get_content_type() == "multipart/related" for p in received.walk())
    for part in jpegs:
        assert part.get_content_disposition() == "inline"
        assert jpeg_size(part.get_content()) == (240, 180)


def test_eml_of_the_digest_has_related_inline_parts(home: Path, store: Store) -> None:
    breach = Breach("sleepsaver")
    record_breach(store, home, breach, T0)
    page_png(shot_of(home, breach))
    message = digest(store, home)

    eml = build_email(message, sender=SENDER, sender_name="Lumora compliance",
                      to=["team@lumora.com"], cc=[], reply_to=None, attachments=[],
                      message_id_key="digest:eml")

    html_part = eml.get_body(("html",))
    assert html_part is not None
    [jpeg] = [p for p in eml.walk() if p.get_content_type() == "image/jpeg"]
    assert cid_references(html_part.get_content()) == {str(jpeg["Content-ID"]).strip("<>")}
    assert jpeg_size(jpeg.get_content()) == (240, 180)
