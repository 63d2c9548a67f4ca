"""Where each link of a captured page sits on its full-page screenshot.

The boxes are read by a small script in an isolated world of the page (Chromium's CDP
`Page.createIsolatedWorld`): it shares the page's DOM but none of its JavaScript, so a page
that overrides `getBoundingClientRect`, `Array.prototype` or `window.scrollY` changes nothing
the script sees. It is read just before and again just after the screenshot; only the links
that sat in the same place both times are kept (a late ad slot that moved things during the
screenshot costs those links, never a box in the wrong place). What comes back is validated
here as untrusted input, and any failure gives no boxes: the capture itself never fails for
them.
"""

from __future__ import annotations

import contextlib
import logging
import math
import struct
from dataclasses import dataclass
from typing import Any

from playwright.async_api import CDPSession, Page
from playwright.async_api import Error as PlaywrightError

from monitor.capture.calls import BrowserCalls
from monitor.models import LinkBox

log = logging.getLogger(__name__)

#: boxes kept per page (a result page has 100-300 links; a hostile one may have millions)
MAX_LINKS = 600
#: anchors looked at to find them: the rest of a huge page is not walked
MAX_EXAMINED = 5000
#: a longer href is not kept (an ad's click URL is well under this)
MAX_HREF_CHARS = 2000
#: per reading of the page; a page that keeps its renderer busy longer gets no boxes
READ_TIMEOUT_S = 2.0
#: no screenshot side is ever this long; a number past it is garbage, not a page
MAX_COORDINATE = 1_000_000.0

#: Runs in the isolated world. The page size is Playwright's own full-page size (the same
#: six measures), so it is the size the full-page screenshot was taken at, in CSS pixels;
#: boxes are in document coordinates (the screenshot's origin is the document's top-left).
_SCRIPT = """((maxLinks, maxExamined, maxHref, maxSize) => {
  const doc = document, root = doc.documentElement, body = doc.body;
  if (!root || !body) return null;
  const size = (name) => Math.max(body["scroll" + name], root["scroll" + name],
    body["offset" + name], root["offset" + name], body["client" + name], root["client" + name]);
  const sx = window.scrollX, sy = window.scrollY;
  const anchors = doc.getElementsByTagName("a");  // live: a huge page is not listed whole
  const seen = {checkOpacity: true, checkVisibilityCSS: true,  // old and new option names
                opacityProperty: true, visibilityProperty: true};
  const links = [];
  for (let i = 0; i < maxExamined && links.length < maxLinks; i++) {
    const a = anchors[i];
    if (!a) break;
    const href = a.href;  // resolved; an SVG <a> has an object here and is skipped
    if (typeof href !== "string" || !href || href.length > maxHref || !a.hasAttribute("href"))
      continue;
    if (typeof a.checkVisibility === "function" && !a.checkVisibility(seen)) continue;
    const r = a.getBoundingClientRect();
    if (!(r.width > 0 && r.height > 0 && r.width <= maxSize && r.height <= maxSize)) continue;
    links.push([href, r.left + sx, r.top + sy, r.width, r.height]);
  }
  return {width: size("Width"), height: size("Height"), dpr: window.devicePixelRatio, links};
})"""


@dataclass(frozen=True, slots=True)
class PageLinks:
    """One reading of the page: its full-page size in CSS pixels and its links' boxes in
    document CSS pixels (still to be scaled to the screenshot)."""

    width: float
    height: float
    dpr: float
    links: tuple[LinkBox, ...]


class LinkReader:
    """Reads a page's links, in one isolated world of its current document: a reading after
    the page navigated elsewhere fails (no boxes) instead of measuring another page."""

    def __init__(
        self, page: Page, timeout_s: float = READ_TIMEOUT_S, calls: BrowserCalls | None = None
    ) -> None:
        self.page = page
        self.timeout_s = timeout_s
        #: the browser's calls: each reading is one bounded call, ended at once if the
        #: browser is lost
        self.calls = calls or BrowserCalls(timeout_s)
        self._session: CDPSession | None = None
        self._world: int | None = None
        self._failed = False

    async def read(self) -> PageLinks | None:
        """The page's links and size, or None when they cannot be read (logged at debug)."""
        if self._failed:
            return None
        try:
            reply = await self.calls(self._evaluate(), "link boxes", self.timeout_s)
            if "exceptionDetails" in reply:
                raise ValueError(f"the script failed: {reply['exceptionDetails']}")
            reading = parse_reading(reply.get("result", {}).get("value"))
            if reading is None:
                raise ValueError("the script returned no page")
            return reading
        # CDP replies are untrusted shapes and the page may be gone: no boxes is the answer
        # to anything that goes wrong here, never a failed capture
        except Exception as error:
            self._failed = True
            log.debug("link boxes of %s not read: %s", _url(self.page), str(error)[:200])
            return None

    async def close(self) -> None:
        if self._session is not None:
            with contextlib.suppress(PlaywrightError, TimeoutError):
                await self.calls(self._session.detach(), "detach", self.timeout_s)
            self._session = None

    async def _evaluate(self) -> dict[str, Any]:
        session, world = await self._open()
        reply: dict[str, Any] = await session.send("Runtime.evaluate", {
            "expression": f"{_SCRIPT}({MAX_LINKS}, {MAX_EXAMINED}, {MAX_HREF_CHARS}, "
                          f"{MAX_COORDINATE})",
            "contextId": world, "returnByValue": True,
            "timeout": int(self.timeout_s * 1000)})
        return reply

    async def _open(self) -> tuple[CDPSession, int]:
        if self._session is None:
            self._session = await self.page.context.new_cdp_session(self.page)
        if self._world is None:
            tree = await self._session.send("Page.getFrameTree")
            world = await self._session.send("Page.createIsolatedWorld", {
                "frameId": tree["frameTree"]["frame"]["id"], "worldName": "bidwatch-links"})
            self._world = int(world["executionContextId"])
        return self._session, self._world


def parse_reading(raw: object) -> PageLinks | None:
    """A reading from the script's JSON, or None when it is not one. Entries that are not a
    string href and four finite numbers of sane size are dropped, as are those past
    MAX_LINKS."""
    if not isinstance(raw, dict):
        return None
    width, height, dpr = (_number(raw.get(key)) for key in ("width", "height", "dpr"))
    entries = raw.get("links")
    if width is None or height is None or dpr is None or not isinstance(entries, list):
        return None
    if not (0 < width <= MAX_COORDINATE and 0 < height <= MAX_COORDINATE and 0 < dpr <= 16):
        return None
    links: list[LinkBox] = []
    for entry in entries[:MAX_LINKS]:
        box = _box(entry)
        if box is not None:
            links.append(box)
    return PageLinks(width, height, dpr, tuple(links))


def _box(entry: object) -> LinkBox | None:
    if not isinstance(entry, list) or len(entry) != 5:
        return None
    href, *numbers = entry
    if not isinstance(href, str) or not href or len(href) > MAX_HREF_CHARS:
        return None
    x, y, width, height = (_number(n) for n in numbers)
    if x is None or y is None or width is None or height is None:
        return None
    if not (abs(x) <= MAX_COORDINATE and abs(y) <= MAX_COORDINATE
            and 0 < width <= MAX_COORDINATE and 0 < height <= MAX_COORDINATE):
        return None
    return LinkBox(href, x, y, width, height)


def _number(value: object) -> float | None:
    # bool is an int to Python, never a coordinate
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def png_size(png: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's header, without decoding it."""
    if len(png) < 24 or png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", png[16:24])
    return (width, height) if width and height else None


def boxes_on_screenshot(
    before: PageLinks | None, after: PageLinks | None, screenshot: tuple[int, int] | None
) -> tuple[LinkBox, ...]:
    """The links that sat in the same place before and after the screenshot, in the
    screenshot's pixels, clipped to it; () when the readings do not fit the screenshot."""
    if before is None or after is None or screenshot is None:
        return ()
    scale = _scale(before, screenshot)
    if scale is None or _scale(after, screenshot) != scale:
        log.debug("link boxes dropped: page %gx%g (dpr %g) does not fit a %dx%d screenshot",
                  before.width, before.height, before.dpr, *screenshot)
        return ()
    still = set(after.links)
    image_width, image_height = screenshot
    boxes: list[LinkBox] = []
    for link in dict.fromkeys(before.links):  # the same link box twice is one box
        if link not in still:
            continue  # it moved while the screenshot was taken
        left, top = max(link.x * scale, 0.0), max(link.y * scale, 0.0)
        right = min((link.x + link.width) * scale, float(image_width))
        bottom = min((link.y + link.height) * scale, float(image_height))
        if right - left >= 1 and bottom - top >= 1:
            boxes.append(LinkBox(link.href, round(left, 1), round(top, 1),
                                 round(right - left, 1), round(bottom - top, 1)))
    return tuple(boxes)


def _scale(reading: PageLinks, screenshot: tuple[int, int]) -> float | None:
    """Screenshot pixels per CSS pixel: 1 for a CSS-scale screenshot, the device pixel
    ratio for a device-scale one; None when the screenshot is not of a page this wide."""
    ratio = screenshot[0] / reading.width
    for scale in (1.0, reading.dpr):
        # Chromium rounds the scaled clip: 980 CSS pixels may come out 981 wide
        if abs(ratio - scale) <= max(2 / reading.width, 0.005) * scale:
            return scale
    return None


def _url(page: Page) -> str:
    try:
        return page.url
    except PlaywrightError:
        return "(closed page)"
