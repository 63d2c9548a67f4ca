"""What a loaded page is: a result page, an empty one, or a block (captcha, consent, rate limit).

Each engine describes its pages with one `PageMarkers`; `classify_page` applies them in an
order that never lets a block or a failure pass as "no ads" (DESIGN invariant 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser

from monitor.engines.dom import parse
from monitor.models import CaptureStatus

#: challenge widgets any engine (or a CDN in front of it) may show
GENERIC_CAPTCHA = (
    "form#captcha-form, #captcha-form, #recaptcha, .g-recaptcha, iframe[src*='/recaptcha/'],"
    " .h-captcha, iframe[src*='hcaptcha.com'], form#challenge-form, #challenge-form,"
    " .cf-turnstile, #cf-challenge-running"
)
#: consent walls any engine (or a consent platform in front of it) may show instead of results
GENERIC_CONSENT = (
    "form.consent-form, .consent-wall, #consent-page, form[action*='consent'],"
    " #onetrust-banner-sdk, #didomi-notice, .qc-cmp2-container"
)
#: consent buttons tried on any engine's wall after its own: the common "name" conventions
#: and the consent platforms' own reject/accept buttons
GENERIC_CONSENT_BUTTONS = (
    "button[name=reject]", "button[value=reject]", "#onetrust-reject-all-handler",
    "#didomi-notice-disagree-button", "button[name=agree]", "button[value=agree]",
    "#onetrust-accept-btn-handler", "#didomi-notice-agree-button",
)
#: a block page is small; only then are its plain-text hints trusted
_SMALL_PAGE = 8192


@dataclass(frozen=True, slots=True)
class PageMarkers:
    """How one engine's result, block and consent pages look."""

    #: host prefixes ("sorry.google.") and path prefixes ("/sorry") of challenge pages
    captcha_hosts: tuple[str, ...]
    captcha_paths: tuple[str, ...]
    #: CSS for challenge forms beyond GENERIC_CAPTCHA ("" for none)
    captcha_selectors: str
    #: substrings that mark a small page as a challenge ("/sorry/")
    captcha_snippets: tuple[str, ...]
    consent_hosts: tuple[str, ...]
    #: CSS for a consent wall shown instead of results
    consent_selectors: str
    #: CSS that only a result page has (result list, search form in results layout)
    result_selectors: str
    #: CSS for anything found: organic results or ads
    content_selectors: str
    #: CSS for the engine's own "nothing found" notice ("" for none)
    no_results_selectors: str = ""
    #: the consent wall's buttons, tried in order, least consent first ("reject all" before
    #: "accept all": the ads a brand's terms trigger do not depend on tracking consent)
    consent_buttons: tuple[str, ...] = ()


def _host_matches(host: str, prefixes: tuple[str, ...]) -> bool:
    """ "sorry.google." matches sorry.google.com and sorry.google.de; "consent.yahoo.com" itself."""
    return any(host == p or host.startswith(p if p.endswith(".") else p + ".") for p in prefixes)


def _blocked_by_url(markers: PageMarkers, final_url: str) -> CaptureStatus | None:
    parts = urlsplit(final_url or "")
    host = (parts.hostname or "").lower()
    if _host_matches(host, markers.captcha_hosts):
        return CaptureStatus.captcha
    if any(parts.path.startswith(p) for p in markers.captcha_paths):
        return CaptureStatus.captcha
    if _host_matches(host, markers.consent_hosts):
        return CaptureStatus.consent
    return None


def _is_challenge(markers: PageMarkers, tree: LexborHTMLParser, html: str) -> bool:
    selectors = GENERIC_CAPTCHA
    if markers.captcha_selectors:
        selectors = f"{selectors}, {markers.captcha_selectors}"
    if tree.css_first(selectors) is not None:
        return True
    return len(html) < _SMALL_PAGE and any(s in html for s in markers.captcha_snippets)


def _by_status(status: int | None) -> CaptureStatus | None:
    if status in (403, 429):
        return CaptureStatus.rate_limited
    if status is not None and status >= 400:
        return CaptureStatus.error
    return None


def _by_content(markers: PageMarkers, tree: LexborHTMLParser) -> CaptureStatus:
    if tree.css_first(markers.result_selectors) is None:
        consent = GENERIC_CONSENT
        if markers.consent_selectors:
            consent = f"{consent}, {markers.consent_selectors}"
        if tree.css_first(consent) is not None:
            return CaptureStatus.consent
        return CaptureStatus.error
    if markers.no_results_selectors and tree.css_first(markers.no_results_selectors) is not None:
        return CaptureStatus.no_results
    if tree.css_first(markers.content_selectors) is None:
        return CaptureStatus.no_results
    return CaptureStatus.ok


def classify_page(
    markers: PageMarkers, final_url: str, status: int | None, html: str
) -> CaptureStatus:
    """captcha > consent > rate_limited > error > no_results > ok, from URL, status and DOM."""
    by_url = _blocked_by_url(markers, final_url)
    if by_url is not None:
        return by_url
    try:
        tree = parse(html)
    except Exception:  # unparseable bytes are a failed capture, not a result page
        tree = None
    if tree is not None and _is_challenge(markers, tree, html):
        return CaptureStatus.captcha
    by_status = _by_status(status)
    if by_status is not None:
        return by_status
    if tree is None or not (html or "").strip():
        return CaptureStatus.error
    return _by_content(markers, tree)
