"""Small JPEG thumbnails of evidence screenshots, for the digest.

A thumbnail is the top of the full-page screenshot (where the ads are), cropped to a fixed
aspect and scaled down. Screenshots are decoded one at a time and closed at once; a source
larger than MAX_SOURCE_PIXELS or MAX_SOURCE_BYTES is not decoded at all, so memory stays
bounded whatever is on disk. A missing or unreadable screenshot gives None, never an error.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

log = logging.getLogger(__name__)

#: the thumbnail's box in pixels: 4:3, the top of a result page (the ads sit there)
THUMB_WIDTH = 240
THUMB_HEIGHT = 180
JPEG_QUALITY = 70
#: a full-page screenshot is rarely past 2000x20000; past this it is not worth decoding
MAX_SOURCE_PIXELS = 40_000_000
MAX_SOURCE_BYTES = 50 * 1024 * 1024
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_-]+")


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
        top = image.crop((0, 0, image.width, crop_height))
    return _on_white(top)


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
