"""A screenshot as evidence: the whole page, the ad outlined where the capture knew its
place, and what was searched, where, on which device and when written in a band above it,
so the picture stands on its own when it is sent to a network or an engine's complaint form.

The source is decoded once and closed at once, and one larger than the thumbnails' bounds
is not decoded at all (monitor.notify.thumbnails). The caption is drawn with a system font
that covers Arabic and other scripts when there is one (DejaVu, Noto), shaped and ordered
right to left by libraqm when Pillow has it, else with Pillow's own font; the caption is a
stranger's text cleaned by the caller (no controls, no bidi overrides).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from monitor.models import LinkBox
from monitor.notify.thumbnails import MAX_SOURCE_BYTES, MAX_SOURCE_PIXELS, OUTLINE_COLOUR

log = logging.getLogger(__name__)

#: the caption's type size and spacing, in screenshot pixels (a desktop shot is ~1400 wide)
CAPTION_PX = 20
CAPTION_LINE_PX = 30
CAPTION_PAD_PX = 16
#: the outline at full size: thick enough to see on a page scaled down to a screen
OUTLINE_FULL_PX = 5
OUTLINE_FULL_GAP_PX = 4
#: fonts tried in turn; the first two cover Latin, Arabic and Indonesian alike
_FONTS = ("DejaVuSans.ttf", "NotoSans-Regular.ttf", "NotoSansArabic-Regular.ttf",
          "LiberationSans-Regular.ttf", "Arial.ttf")


@lru_cache(maxsize=4)
def caption_font(size: int = CAPTION_PX) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The first of _FONTS found on this system (Pillow looks in the usual font folders),
    else Pillow's built-in font."""
    for name in _FONTS:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    log.info("no TrueType font found for evidence captions; using Pillow's own")
    return ImageFont.load_default(size=size)


def annotated_screenshot(source: Path, box: LinkBox | None, caption: Sequence[str]) -> bytes | None:
    """A PNG of the screenshot at `source` with `box` outlined and `caption` (one line each)
    in a band above; None when the screenshot is missing, too large or unreadable."""
    try:
        if source.stat().st_size > MAX_SOURCE_BYTES:
            return None
        with Image.open(source) as image:
            if image.width * image.height > MAX_SOURCE_PIXELS:
                return None
            page = image.convert("RGB")
        return _png(_with_caption(_outlined(page, box), caption))
    # a decoder meets hostile or truncated files with many exception types: a picture is
    # left out of the pack (and said to be missing), never a reason to fail the export
    except Exception as error:
        log.debug("screenshot %s not annotated: %s", source, error)
        return None


def _outlined(page: Image.Image, box: LinkBox | None) -> Image.Image:
    if box is None:
        return page
    margin = OUTLINE_FULL_GAP_PX + OUTLINE_FULL_PX
    last_x, last_y = page.width - 1, page.height - 1
    shape = [min(max(round(box.x - margin), 0), last_x),
             min(max(round(box.y - margin), 0), last_y),
             min(max(round(box.x + box.width + margin), 0), last_x),
             min(max(round(box.y + box.height + margin), 0), last_y)]
    if shape[2] > shape[0] and shape[3] > shape[1]:
        ImageDraw.Draw(page).rectangle(shape, outline=OUTLINE_COLOUR, width=OUTLINE_FULL_PX)
    return page


def _with_caption(page: Image.Image, caption: Sequence[str]) -> Image.Image:
    if not caption:
        return page
    band = 2 * CAPTION_PAD_PX + CAPTION_LINE_PX * len(caption)
    framed = Image.new("RGB", (page.width, page.height + band), "white")
    framed.paste(page, (0, band))
    draw = ImageDraw.Draw(framed)
    font = caption_font()
    for number, line in enumerate(caption):
        # no direction given: libraqm finds each line's own (an Arabic query reads right to
        # left inside an English line)
        draw.text((CAPTION_PAD_PX, CAPTION_PAD_PX + number * CAPTION_LINE_PX), line,
                  fill="#202124", font=font)
    draw.line([(0, band - 1), (page.width, band - 1)], fill="#dadce0", width=2)
    return framed


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
