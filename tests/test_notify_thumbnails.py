"""Screenshot thumbnails in the digest: real PNG evidence, a real SQLite store, the HTML file
with its thumbnails folder, and the mail through apprise to a real SMTP sink."""

from __future__ import annotations

import io
import logging
import random
import re
import struct
import zlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw

from monitor.dev.mailsink import MailSink
from monitor.models import LinkBox, Severity
from monitor.notify.digest import (
    Period,
    render_digest,
    thumbnails_folder,
    write_digest,
)
from monitor.notify.email import IllustratedMessage, build_email, send_email
from monitor.notify.render import TemplateSet
from monitor.notify.thumbnails import (
    AD_THUMB_HEIGHT,
    AD_THUMB_WIDTH,
    MAX_AD_JPEG_BYTES,
    THUMB_HEIGHT,
    THUMB_WIDTH,
    Thumbnail,
    ad_box,
    ad_crop,
    evidence_file,
    make_ad_thumbnail,
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
    # evidence named by case and sighting, never by a path on the server
    assert "Evidence: INC-00001 / 1" in text and "<img" not in text
    assert "evidence/" not in text


def test_thumbnails_are_capped_most_severe_first_and_the_rest_counted(
    tmp_path: Path, home: Path, store: Store
) -> None:
    # three cases: SleepSaver's ad to two destinations, and KuponHemat's
    breaches = [Breach("sleepsaver", severity=Severity.medium),
                Breach("sleepsaver", engine="bing", severity=Severity.critical,
                       landing_domain="lumora.co.uk"),
                Breach("kuponhemat", language="id", severity=Severity.high)]
    for index, breach in enumerate(breaches):
        record_breach(store, home, breach, T0 + timedelta(minutes=index))
        page_png(shot_of(home, breach))

    message = digest(store, home, limit=2)

    assert [i.name for i in message.inline_images] == ["INC-00002.jpg", "INC-00003.jpg"]
    assert {i["src"] for i in images_in(message.html)} == {"cid:INC-00002.jpg",
                                                           "cid:INC-00003.jpg"}
    assert "1 more in the evidence" in message.html
    assert "Evidence: INC-00001 / 1" in message.html and "evidence/" not in message.html


def test_missing_and_unreadable_screenshots_are_skipped(
    home: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="monitor.notify.thumbnails")
    # the broken ones rank first: they are tried, and do not use up the cap of one
    good, gone, garbage = (Breach("sleepsaver", severity=Severity.high),
                           Breach("sleepsaver", engine="bing", severity=Severity.critical,
                                  landing_domain="lumora.co.uk"),
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


# ------------------------------------------------------------- a notice's outlined thumbnail

PAGE_URL = "https://www.google.com/search?q=lumora"
AD_FILL = (40, 90, 200)  # what the fake ad is painted in on the fake page
RED = (0xD9, 0x30, 0x25)


def boxed_page(path: Path, size: tuple[int, int], ad: LinkBox) -> Path:
    """A white page with grey lines of "text" and the ad's box painted in AD_FILL."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for y in range(20, size[1], 40):
        draw.rectangle((20, y, min(size[0] - 20, 700), y + 8), fill=(150, 150, 150))
    draw.rectangle((ad.x, ad.y, ad.x + ad.width - 1, ad.y + ad.height - 1), fill=AD_FILL)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path


def is_red(pixel: object) -> bool:
    assert isinstance(pixel, tuple)
    return abs(pixel[0] - RED[0]) < 40 and abs(pixel[1] - RED[1]) < 40 and abs(
        pixel[2] - RED[2]) < 40


def red_share(image: Image.Image) -> float:
    mask = Image.eval(ImageChops.difference(image, Image.new("RGB", image.size, RED))
                      .convert("L"), lambda v: 255 if v < 40 else 0)
    return mask.histogram()[255] / (image.width * image.height)


def decoded(thumbnail: Thumbnail) -> Image.Image:
    with Image.open(io.BytesIO(thumbnail.data)) as image:
        assert image.format == "JPEG" and image.size == (thumbnail.width, thumbnail.height)
        return image.convert("RGB")


def test_ad_box_is_the_union_of_the_ads_links_as_the_browser_resolved_them() -> None:
    # the boxes carry a.href (resolved, escaped); the reader recorded the markup's hrefs
    boxes = [
        LinkBox("https://www.google.com/", 10, 5, 80, 20),  # the logo: not the ad
        LinkBox("https://www.google.com/aclk?sa=l&ai=X%20Y", 100, 200, 400, 30),
        LinkBox("https://www.lumora.com/p%C3%BCr?x=%7B1%7D", 100, 240, 300, 20),
        LinkBox("https://www.lumora.com/offers", 120, 270, 90, 18),
        LinkBox("https://www.lumora.com/bed", 220, 270, 60, 18),
        LinkBox("https://other.test/", 100, 320, 300, 20),
    ]
    hrefs = ["/aclk?sa=l&ai=X Y#frag", "HTTPS://WWW.Lumora.com:443/pür?x={1}",
             "//www.lumora.com/offers", "\thttps://www.lumora.com/b\ned ", ""]

    box = ad_box(boxes, hrefs, PAGE_URL)

    assert box is not None and box.href == "https://www.google.com/aclk?sa=l&ai=X%20Y"
    assert (box.x, box.y, box.width, box.height) == (100, 200, 400, 88)
    assert ad_box(boxes, ["https://elsewhere.test/"], PAGE_URL) is None
    assert ad_box(boxes, [], PAGE_URL) is None
    assert ad_box([], hrefs, PAGE_URL) is None
    assert ad_box(boxes, ["http://[::1", "https://x.test:99999/"], PAGE_URL) is None


def test_ad_box_takes_the_group_of_the_ads_links_not_an_organic_result_with_its_url() -> None:
    link, offers = "https://www.lumora.com/", "https://www.lumora.com/offers"
    boxes = [LinkBox(link, 100, 300, 400, 30),  # an organic result to the brand's home page
             LinkBox(link, 100, 900, 400, 30), LinkBox(offers, 120, 940, 90, 18)]

    box = ad_box(boxes, [link, offers], PAGE_URL)

    assert box == LinkBox(link, 100, 900, 400, 58)  # the bottom ad: its link and sitelink


def test_an_absurd_union_gives_the_first_match_only() -> None:
    link = "https://www.lumora.com/"
    scattered = [LinkBox(link, 100, y, 300, 20) for y in range(400, 6000, 400)]
    stacked = [LinkBox(link, 100, y, 300, 20) for y in range(100, 2500, 60)]

    assert ad_box(list(reversed(scattered)), [link], PAGE_URL) == scattered[0]
    assert ad_box(stacked, [link], PAGE_URL) == stacked[0]  # one group 2,400 px tall


def test_the_crop_keeps_the_aspect_centres_the_ad_and_stays_on_the_page() -> None:
    aspect = 560 / 320
    centred = ad_crop((1366, 5000), LinkBox("", 400, 2000, 300, 60), aspect)
    assert centred == (190, 1824, 910, 2235)  # 720 wide (the narrowest), the ad in the middle
    left, top, right, bottom = ad_crop((1366, 5000), LinkBox("", 1300, 4950, 60, 40), aspect)
    assert (right, bottom) == (1366, 5000) and right - left == 720  # moved onto the page
    assert ad_crop((412, 3000), LinkBox("", 8, 40, 396, 60), aspect) == (0, 0, 412, 235)
    # an ad taller than the page's width allows: its start is shown, with context
    assert ad_crop((412, 3000), LinkBox("", 8, 1000, 396, 600), aspect)[1] == 1000 - 48
    # a short page: all of its height, the aspect kept
    assert ad_crop((1366, 300), LinkBox("", 100, 100, 200, 40), aspect) == (0, 0, 525, 300)
    assert ad_crop((1280, 4000), None, aspect) == (0, 0, 1280, 731)
    for size, box in [((1366, 900), LinkBox("", 8, 67, 1350, 95)),
                      ((980, 20000), LinkBox("", 0, 19000, 980, 2000))]:
        left, top, right, bottom = ad_crop(size, box, aspect)
        assert 0 <= left < right <= size[0] and 0 <= top < bottom <= size[1]
        assert abs((right - left) / (bottom - top) - aspect) < 0.01


def test_the_ad_thumbnail_outlines_the_ad_where_it_is_on_the_page(tmp_path: Path) -> None:
    ad = LinkBox("https://www.lumora.com/", 400, 2000, 300, 60)
    source = boxed_page(tmp_path / "page.png", (1366, 5000), ad)

    thumbnail = make_ad_thumbnail(source, "INC-00007.jpg", ad)

    assert thumbnail is not None and thumbnail.name == "INC-00007.jpg"
    assert (thumbnail.width, thumbnail.height) == (AD_THUMB_WIDTH, AD_THUMB_HEIGHT)
    image = decoded(thumbnail)
    # the crop (190, 1824)-(910, 2235) at 560/720: the ad sits at (163, 137)-(397, 184),
    # in the middle; its outline 3 px wide, 2 px off it
    assert _close(image.getpixel((280, 160)), AD_FILL)
    for x, y in [(280, 133), (280, 188), (159, 160), (401, 160)]:
        assert is_red(image.getpixel((x, y))), (x, y, image.getpixel((x, y)))
    for x, y in [(280, 126), (280, 194), (152, 160), (408, 160), (20, 20), (540, 300)]:
        assert not is_red(image.getpixel((x, y))), (x, y)
    assert 0.005 < red_share(image) < 0.05  # a thin outline, nothing else red
    assert len(thumbnail.data) < 60_000


def test_an_ad_at_the_edge_keeps_its_outline_on_the_thumbnail(tmp_path: Path) -> None:
    ad = LinkBox("https://www.lumora.com/", 0, 0, 1366, 80)  # the whole width, at the top
    source = boxed_page(tmp_path / "page.png", (1366, 3000), ad)

    thumbnail = make_ad_thumbnail(source, "a.jpg", ad)

    assert thumbnail is not None
    image = decoded(thumbnail)
    # the crop is the page's width: the outline is drawn along the thumbnail's edges
    assert is_red(image.getpixel((1, 15))) and is_red(image.getpixel((558, 15)))
    assert is_red(image.getpixel((280, 1))) and not is_red(image.getpixel((280, 60)))


def test_without_a_box_the_ad_thumbnail_is_the_top_of_the_page(tmp_path: Path) -> None:
    source = page_png(tmp_path / "page.png")  # 1280 x 4000, the top 600 red

    for box in (None, LinkBox("https://x.test/", 100, 9000, 200, 40)):  # none, off the shot
        thumbnail = make_ad_thumbnail(source, "b.jpg", box)
        assert thumbnail is not None and (thumbnail.width, thumbnail.height) == (560, 320)
        image = decoded(thumbnail)
        # 1280 wide at 560:320 is the top 731 rows: the red band is the upper 600 of them
        assert _close(image.getpixel((280, 100)), TOP) and _close(image.getpixel((280, 300)),
                                                                    (120, 120, 120))
    short = make_ad_thumbnail(page_png(tmp_path / "short.png", (1000, 300)), "c.jpg", None)
    assert short is not None and (short.width, short.height) == (560, 168)


def _close(pixel: object, colour: tuple[int, int, int]) -> bool:
    assert isinstance(pixel, tuple)
    return max(abs(a - b) for a, b in zip(pixel, colour, strict=True)) < 30


def test_a_busy_page_still_gives_a_small_jpeg(tmp_path: Path) -> None:
    """Small print in many colours is what JPEG compresses worst: past MAX_AD_JPEG_BYTES it
    is encoded again, coarser."""
    rng = random.Random(7)
    image = Image.new("RGB", (1366, 3000), "white")
    draw = ImageDraw.Draw(image)
    for y in range(0, 3000, 6):
        for x in range(0, 1366, 5):
            if rng.random() < 0.6:
                draw.point((x, y), fill=(rng.randrange(256), rng.randrange(256), 0))
                draw.line((x, y, x + 3, y + 3), fill=(0, rng.randrange(256), rng.randrange(256)))
    source = tmp_path / "busy.png"
    image.save(source, format="PNG")

    thumbnail = make_ad_thumbnail(source, "d.jpg", LinkBox("", 300, 1200, 500, 80))

    assert thumbnail is not None and len(thumbnail.data) <= MAX_AD_JPEG_BYTES


def test_a_tall_page_decodes_only_down_to_the_crop(tmp_path: Path) -> None:
    """A 1280 x 20,000 PNG cut off after its first few thousand rows: only the rows down to
    the crop are read, so an ad near the top is still shown (and the rest never decoded)."""
    ad = LinkBox("https://www.lumora.com/", 100, 300, 400, 40)
    source = boxed_page(tmp_path / "tall.png", (1280, 20_000), ad)
    data = source.read_bytes()
    source.write_bytes(data[: len(data) // 4])

    near_top = make_ad_thumbnail(source, "e.jpg", ad)
    deep = make_ad_thumbnail(source, "f.jpg", ad._replace(y=19_000))

    assert near_top is not None and _close(decoded(near_top).getpixel((280, 160)), AD_FILL)
    assert deep is None  # those rows are not in the file


def test_hostile_and_oversized_sources_give_no_ad_thumbnail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="monitor.notify.thumbnails")
    ad = LinkBox("https://www.lumora.com/", 100, 100, 300, 40)
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    # a PNG header claiming 8,000 x 8,000 (or 60,000 squared) over a few bytes of data:
    # refused before decoding
    small = page_png(tmp_path / "small.png", (20, 20))
    bomb, huge = tmp_path / "bomb.png", tmp_path / "huge.png"
    bomb.write_bytes(_png_claiming(small, 8000, 8000))
    huge.write_bytes(_png_claiming(small, 60_000, 60_000))
    large = page_png(tmp_path / "large.png", (400, 400))

    assert make_ad_thumbnail(garbage, "g.jpg", ad) is None
    assert make_ad_thumbnail(bomb, "h.jpg", ad) is None
    assert make_ad_thumbnail(huge, "h.jpg", ad) is None
    assert make_ad_thumbnail(tmp_path / "nowhere.png", "i.jpg", ad) is None
    assert make_ad_thumbnail(tmp_path, "j.jpg", ad) is None  # a folder
    assert "bomb.png skipped: 8000x8000" in caplog.text
    monkeypatch.setattr("monitor.notify.thumbnails.MAX_SOURCE_BYTES", 100)
    assert make_ad_thumbnail(large, "k.jpg", ad) is None
    assert "large.png skipped: larger than 100 bytes" in caplog.text


def _png_claiming(png: Path, width: int, height: int) -> bytes:
    """`png` with its header saying it is width x height (and a valid header checksum)."""
    data = bytearray(png.read_bytes())
    header = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])
    data[12:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(header))
    return bytes(data)


def test_partial_decoding_changes_no_pixel_of_a_thumbnail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ad = LinkBox("https://www.lumora.com/", 100, 2500, 400, 40)
    source = boxed_page(tmp_path / "tall.png", (1280, 20_000), ad)
    partly = (make_thumbnail(source, "t.jpg"), make_ad_thumbnail(source, "u.jpg", ad))

    monkeypatch.setattr("monitor.notify.thumbnails._decode_only_rows", lambda *_: None)
    wholly = (make_thumbnail(source, "t.jpg"), make_ad_thumbnail(source, "u.jpg", ad))

    assert None not in partly and partly == wholly
