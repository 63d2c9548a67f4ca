"""Small JPEG thumbnails of evidence screenshots, for the digest and the partner notices.

The digest's thumbnail is the top of the full-page screenshot (where the ads are), cropped to
a fixed aspect and scaled down. A notice's (make_ad_thumbnail) is the part of the screenshot
around the ad, outlined, when the capture recorded where the ad's links sat (ad_box), and the
top of the page otherwise. Screenshots are decoded one at a time and closed at once; a source
larger than MAX_SOURCE_PIXELS or MAX_SOURCE_BYTES is not decoded at all, and of a PNG only
the rows down to the crop are, so memory stays bounded whatever is on disk. A missing or
unreadable screenshot gives None, never an error.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from PIL import Image, ImageDraw, ImageFile

from monitor.models import LinkBox

log = logging.getLogger(__name__)

#: the thumbnail's box in pixels: 4:3, the top of a result page (the ads sit there)
THUMB_WIDTH = 240
THUMB_HEIGHT = 180
JPEG_QUALITY = 70
#: a full-page screenshot is rarely past 2000x20000; past this it is not worth decoding
MAX_SOURCE_PIXELS = 40_000_000
MAX_SOURCE_BYTES = 50 * 1024 * 1024
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_-]+")

#: a notice's thumbnail: wide enough to read the ad's headline
AD_THUMB_WIDTH = 560
AD_THUMB_HEIGHT = 320
AD_JPEG_QUALITY = 70
#: a notice carries one thumbnail per case; past this the JPEG is encoded again, coarser
MAX_AD_JPEG_BYTES = 60_000
OUTLINE_COLOUR = "#d93025"
OUTLINE_PX = 3  # at the thumbnail's scale, so it is as crisp on a phone shot as a desktop one
OUTLINE_GAP_PX = 2  # between the ad and its outline: the outline never covers the ad's text
#: page around the ad (screenshot pixels) and the narrowest crop: a small link is shown with
#: the results around it, not blown up
CONTEXT_PX = 48
MIN_CROP_WIDTH = 720
#: an ad's links sit together; a match further from the others than this is another element
#: with the same URL (an organic result, a logo)
CLUSTER_GAP_PX = 150
#: no ad is taller than this; a union that is comes from a URL used all over the page
MAX_AD_HEIGHT_PX = 1500
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: what the browser's URL parser drops anywhere in a URL
_URL_NOISE = re.compile(r"[\t\n\r]")
#: kept as they are when comparing URLs: printable ASCII (a "%" escape included) but what a
#: browser percent-encodes in a path or a query — so a raw href and the browser's
#: serialisation of it (a.href) compare equal
_URL_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "\"<>`{}'")
_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")


@dataclass(frozen=True, slots=True)
class Thumbnail:
    name: str  # a plain file name, e.g. "INC-00042.jpg"; also the mail's Content-ID
    data: bytes  # JPEG
    width: int
    height: int


def thumbnail_name(key: str) -> str:
    """A file name made from `key` (an incident id) that is safe anywhere: folder, cid:, URL."""
    return (_UNSAFE_NAME.sub("_", key).strip("_")[:80] or "thumbnail") + ".jpg"


def evidence_file(home: Path, relative: str | None) -> Path | None:
    """The screenshot file `relative` names under `home`, or None when there is none.

    The path comes from the database: one that leaves `home` is refused rather than read.
    """
    if not relative:
        return None
    root = home.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        log.debug("no screenshot at %s under %s", relative, home)
        return None
    return path


def make_thumbnail(source: Path, name: str, *, width: int = THUMB_WIDTH,
                   height: int = THUMB_HEIGHT, quality: int = JPEG_QUALITY) -> Thumbnail | None:
    """A JPEG of the top of `source` fitting width x height, or None if it cannot be read."""
    try:
        if source.stat().st_size > MAX_SOURCE_BYTES:
            log.debug("screenshot %s skipped: larger than %d bytes", source, MAX_SOURCE_BYTES)
            return None
        top = _top_of(source, width, height)
        if top is None:
            return None
        top.thumbnail((width, height), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        top.save(buffer, format="JPEG", quality=quality, optimize=True)
        return Thumbnail(name, buffer.getvalue(), top.width, top.height)
    # decoders meet hostile and truncated files with many exception types; a thumbnail is
    # never worth failing the digest over
    except Exception as error:
        log.debug("screenshot %s skipped: %s", source, error)
        return None


def _top_of(source: Path, width: int, height: int) -> Image.Image | None:
    """The page's top, cropped to the aspect width:height, as an RGB image."""
    with Image.open(source) as image:
        if image.width * image.height > MAX_SOURCE_PIXELS:
            log.debug("screenshot %s skipped: %dx%d", source, image.width, image.height)
            return None
        # a JPEG source decodes at the smallest scale still at least `width` wide;
        # PNG (what captures save) ignores the hint
        image.draft("RGB", (width, max(1, image.height * width // image.width)))
        crop_height = min(image.height, max(1, image.width * height // width))
        _decode_only_rows(image, crop_height)
        top = image.crop((0, 0, image.width, crop_height))
    return _on_white(top)


def _decode_only_rows(image: Image.Image, rows: int) -> None:
    """Have a PNG decode only its first `rows` rows (they come first in the file), so the
    top of a 20,000-row page costs the top's memory and time. Anything but a plain
    single-stream PNG is left to decode whole (still within the size limits)."""
    if not isinstance(image, ImageFile.ImageFile) or image.format != "PNG":
        return
    if rows >= image.height or image.info.get("interlace") or len(image.tile) != 1:
        return
    (tile,) = image.tile
    if tile.codec_name != "zip" or tuple(tile.extents or ()) != (0, 0, *image.size):
        return
    image._size = (image.width, rows)
    image.tile = [tile._replace(extents=(0, 0, image.width, rows))]


def ad_box(boxes: Sequence[LinkBox], hrefs: Iterable[str], base_url: str) -> LinkBox | None:
    """Where the ad is on the screenshot: the union of the link boxes whose URL is one of
    the ad's `hrefs` (its click URL, link, sitelinks: as the reader recorded them, relative
    ones resolved against `base_url`, the page's URL), or None when none is.

    Links with the ad's URLs that sit apart (an organic result to the same page, a logo)
    are other elements: of the groups of matches lying together, the one with most of the
    ad's distinct URLs is taken, the topmost of equals. A group taller than
    MAX_AD_HEIGHT_PX (one URL used all over the page) gives its first box only."""
    wanted = {key for href in hrefs if (key := _link_key(href, base_url)) is not None}
    matches = sorted((box for box in boxes if _link_key(box.href, base_url) in wanted),
                     key=lambda box: (box.y, box.x))
    if not matches:
        return None
    groups: list[list[LinkBox]] = []
    for box in matches:
        if groups and box.y <= max(b.y + b.height for b in groups[-1]) + CLUSTER_GAP_PX:
            groups[-1].append(box)
        else:
            groups.append([box])
    group = max(groups, key=lambda g: len({_link_key(b.href, base_url) for b in g}))
    left, top = min(b.x for b in group), group[0].y
    right = max(b.x + b.width for b in group)
    bottom = max(b.y + b.height for b in group)
    if bottom - top > MAX_AD_HEIGHT_PX:
        return group[0]
    return LinkBox(group[0].href, left, top, right - left, bottom - top)


def _link_key(href: str, base_url: str) -> str | None:
    """`href` resolved against `base_url` and written one way: no fragment, scheme and host
    lower case, default port dropped, the characters a browser escapes escaped."""
    cleaned = _URL_NOISE.sub("", href).strip(" \f\x00")
    if not cleaned:
        return None
    try:
        parts = urlsplit(urljoin(base_url, cleaned))
        host, port = parts.hostname or "", parts.port
    except ValueError:  # a malformed port or IPv6 address
        return None
    scheme = parts.scheme.lower()
    with contextlib.suppress(UnicodeError):  # a name IDNA cannot write is compared as is
        host = host.encode("idna").decode("ascii")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and _DEFAULT_PORTS.get(scheme) != port:
        netloc += f":{port}"
    if parts.username is not None:
        user = parts.username + (f":{parts.password}" if parts.password is not None else "")
        netloc = f"{user}@{netloc}"
    path = parts.path or ("/" if scheme in _DEFAULT_PORTS else "")
    return urlunsplit((scheme, netloc, _escaped(path), _escaped(parts.query), ""))


def _escaped(text: str) -> str:
    return _ESCAPE.sub(lambda m: m.group(0).upper(), quote(text, safe=_URL_SAFE))


def make_ad_thumbnail(
    source: Path, name: str, box: LinkBox | None, *, width: int = AD_THUMB_WIDTH,
    height: int = AD_THUMB_HEIGHT, quality: int = AD_JPEG_QUALITY,
) -> Thumbnail | None:
    """A JPEG `width` pixels wide of the screenshot around `box` (at the aspect
    width:height, the ad centred where the page allows, outlined), or of the top of the
    page when there is no box or it is off the screenshot; None if it cannot be read."""
    try:
        if source.stat().st_size > MAX_SOURCE_BYTES:
            log.debug("screenshot %s skipped: larger than %d bytes", source, MAX_SOURCE_BYTES)
            return None
        with Image.open(source) as image:
            if image.width * image.height > MAX_SOURCE_PIXELS:
                log.debug("screenshot %s skipped: %dx%d", source, image.width, image.height)
                return None
            inside = _clipped(box, image.size) if box is not None else None
            crop = ad_crop(image.size, inside, width / height)
            _decode_only_rows(image, crop[3])
            region = _on_white(image.crop(crop))
        scale = width / region.width
        thumb = region.resize((width, max(1, round(region.height * scale))),
                              Image.Resampling.LANCZOS)
        if inside is not None:
            _outline(thumb, inside, crop, scale)
        return Thumbnail(name, _small_jpeg(thumb, quality), thumb.width, thumb.height)
    # decoders meet hostile and truncated files with many exception types; a thumbnail is
    # never worth failing a notice over
    except Exception as error:
        log.debug("screenshot %s skipped: %s", source, error)
        return None


def ad_crop(
    size: tuple[int, int], box: LinkBox | None, aspect: float
) -> tuple[int, int, int, int]:
    """The part of a `size` screenshot to show for `box` (inside it), as (left, top, right,
    bottom): the box with CONTEXT_PX around it, at least MIN_CROP_WIDTH wide, at the
    aspect width:height, centred on the box and moved to stay on the page; the ad's start
    when the ad is too big for it. Without a box, the top of the page."""
    page_width, page_height = size
    if box is None:
        return (0, 0, page_width, min(page_height, max(1, round(page_width / aspect))))
    wanted = max(box.width + 2 * CONTEXT_PX, (box.height + 2 * CONTEXT_PX) * aspect,
                 MIN_CROP_WIDTH)
    crop_width = min(float(page_width), wanted)
    crop_height = crop_width / aspect
    if crop_height > page_height:  # a short page: all of its height, the aspect kept
        crop_height = float(page_height)
        crop_width = min(float(page_width), page_height * aspect)
    width, height = max(1, round(crop_width)), max(1, round(crop_height))
    left = _place(box.x, box.width, width, page_width)
    top = _place(box.y, box.height, height, page_height)
    return (left, top, left + width, top + height)


def _place(start: float, length: float, span: int, limit: int) -> int:
    """Where a crop `span` long starts along one side of the page, for a box there."""
    if length + 2 * CONTEXT_PX <= span:
        wanted = start + length / 2 - span / 2  # centred
    else:
        wanted = start - CONTEXT_PX  # too big to show whole: its start, with some context
    return round(min(max(wanted, 0.0), float(limit - span)))


def _clipped(box: LinkBox, size: tuple[int, int]) -> LinkBox | None:
    """`box` cut to the screenshot, or None when less than a pixel of it is on it."""
    left, top = max(box.x, 0.0), max(box.y, 0.0)
    right, bottom = min(box.x + box.width, float(size[0])), min(box.y + box.height,
                                                                float(size[1]))
    if right - left < 1 or bottom - top < 1:
        return None
    return LinkBox(box.href, left, top, right - left, bottom - top)


def _outline(thumb: Image.Image, box: LinkBox, crop: tuple[int, int, int, int],
             scale: float) -> None:
    """Draw the outline around `box` on `thumb` (the crop scaled by `scale`), kept on the
    image where the box reaches its edge."""
    margin = OUTLINE_GAP_PX + OUTLINE_PX
    left = (box.x - crop[0]) * scale - margin
    top = (box.y - crop[1]) * scale - margin
    right = (box.x + box.width - crop[0]) * scale + margin
    bottom = (box.y + box.height - crop[1]) * scale + margin
    last_x, last_y = thumb.width - 1, thumb.height - 1
    shape = [min(max(round(left), 0), last_x), min(max(round(top), 0), last_y),
             min(max(round(right), 0), last_x), min(max(round(bottom), 0), last_y)]
    if shape[2] > shape[0] and shape[3] > shape[1]:
        ImageDraw.Draw(thumb).rectangle(shape, outline=OUTLINE_COLOUR, width=OUTLINE_PX)


def _small_jpeg(image: Image.Image, quality: int) -> bytes:
    """The JPEG at `quality`, or coarser until it is under MAX_AD_JPEG_BYTES (a busy page
    of small print can be twice the size of a plain one)."""
    data = b""
    for attempt in (quality, quality - 15, quality - 30):
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=max(attempt, 20), optimize=True)
        data = buffer.getvalue()
        if len(data) <= MAX_AD_JPEG_BYTES:
            break
    return data


def _on_white(image: Image.Image) -> Image.Image:
    """RGB for JPEG: transparency laid on white, as a page's background would be."""
    if image.mode in ("RGBA", "LA", "P", "PA"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def write_thumbnails(jpegs: Mapping[str, bytes], folder: Path) -> list[Path]:
    """Write each name's JPEG into `folder`, removing the .jpg files an earlier run left."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.jpg"):
        if stale.name not in jpegs:
            stale.unlink(missing_ok=True)
    paths = []
    for name, data in jpegs.items():
        path = folder / Path(name).name  # a bare name: never a way out of the folder
        path.write_bytes(data)
        paths.append(path)
    return paths
