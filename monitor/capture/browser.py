"""Finding and starting the browser.

Playwright's own Chromium is preferred; a system Chrome/Chromium or BIDWATCH_CHROMIUM works too.
When none is found the error says what to install.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import Browser, Playwright

from monitor.capture.calls import GRACE_S, bounded
from monitor.errors import BidwatchError

#: binaries tried on PATH, in order, when neither settings nor Playwright name one
SYSTEM_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
                   "chrome")

#: the most JavaScript heap one page may hold, in MB. A result page uses well under 100; a
#: runaway script on a page (or an ad's landing page) then dies in about a second
#: ("Aw, Snap!", a renderer crash the sweep recovers from) instead of holding ~4 GB of the
#: server's memory for ten seconds or more, once per concurrent page
RENDERER_HEAP_MB = 1024

#: flags for an unattended server: no background traffic to Google, no sandbox for root in
#: containers, no GPU, a bounded heap per page
LAUNCH_ARGS = (
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--disable-blink-features=AutomationControlled",
    f"--js-flags=--max-old-space-size={RENDERER_HEAP_MB}",
)


def proxied_args(proxy_url: str) -> tuple[str, ...]:
    """Flags that send every connection of the browser through the egress proxy at
    `proxy_url` (monitor.resolve.egress), loopback too: the browser itself then never
    connects to a target. WebRTC may not send UDP, which no HTTP proxy carries, and QUIC
    is off. (Prefetch, prerender and service workers stay: Chromium has no flag that turns
    them off without also dropping Playwright's own --disable-features list, and their
    connections go through the proxy like any other.)"""
    return (
        f"--proxy-server={proxy_url}",
        "--proxy-bypass-list=<-loopback>",
        "--webrtc-ip-handling-policy=disable_non_proxied_udp",
        "--disable-quic",
    )


#: how long a browser may take to start (Playwright's own bound; the keeper adds a grace)
LAUNCH_TIMEOUT_S = 30.0

NO_BROWSER_HELP = """no Chromium or Chrome was found.
Install one of:
  * Debian/Ubuntu:  sudo apt-get install -y chromium
  * Playwright's:   .venv/bin/playwright install chromium   (needs internet)
  * or point bidwatch at a Chrome/Chromium binary:  export BIDWATCH_CHROMIUM=/path/to/chrome"""


class BrowserNotFound(BidwatchError):
    def __init__(self, detail: str = "") -> None:
        super().__init__(NO_BROWSER_HELP + (f"\n({detail})" if detail else ""))


@dataclass(frozen=True)
class BrowserChoice:
    path: Path
    source: str  # settings | playwright | system


def find_browser(configured: Path | None = None) -> BrowserChoice:
    """The browser to launch: the configured path, Playwright's own, or a system one."""
    if configured is not None:
        if not _executable(configured):
            raise BrowserNotFound(f"BIDWATCH_CHROMIUM={configured} is not an executable file")
        return BrowserChoice(configured, "settings")
    bundled = _playwright_chromium()
    if bundled is not None:
        return BrowserChoice(bundled, "playwright")
    for name in SYSTEM_BROWSERS:
        found = shutil.which(name)
        if found:
            return BrowserChoice(Path(found), "system")
    raise BrowserNotFound()


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _playwright_chromium() -> Path | None:
    # Playwright keeps its browsers under ms-playwright/chromium-<rev>/; we look instead of
    # asking the driver, which would need a running event loop.
    root = Path(os.environ.get("PLAYWRIGHT_BROWSERS_PATH", Path.home() / ".cache/ms-playwright"))
    for candidate in sorted(root.glob("chromium-*/chrome-linux*/chrome"), reverse=True):
        if _executable(candidate):
            return candidate
    return None


async def launch(
    playwright: Playwright, choice: BrowserChoice, *, extra_args: tuple[str, ...] = ()
) -> Browser:
    """One headless browser for the whole process; contexts are made per task. Bounded
    twice: Playwright's own timeout, and ours in case the driver does not answer at all."""
    return await bounded(playwright.chromium.launch(
        executable_path=str(choice.path),
        headless=True,
        args=[*LAUNCH_ARGS, *extra_args],
        timeout=LAUNCH_TIMEOUT_S * 1000,
    ), "launch", LAUNCH_TIMEOUT_S + GRACE_S)


def main() -> int:
    """`python -m monitor.capture.browser`: which browser bidwatch will use, or how to get one."""
    from monitor.settings import Settings

    try:
        choice = find_browser(Settings().chromium)
    except BrowserNotFound as error:
        print(f"bidwatch: {error}")
        return 1
    print(f"bidwatch: using {choice.source} browser {choice.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
