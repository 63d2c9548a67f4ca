"""Pages that are not result pages: landing sites, redirect hops, walls, blocks and 404s."""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode, urlsplit

from monitor.dev.simulator.exchange import Reply, Request
from monitor.dev.simulator.markup import Locale, esc, script_string, token
from monitor.dev.simulator.scenario import Hop, Site

#: every reply says "do not cache": a browser that cached a 301 would skip a hop next time
NO_STORE = ("Cache-Control", "no-store")


def _document(title: str, body: str, language: str = "en", head: str = "") -> str:
    direction = Locale(language).direction
    return (
        f'<!DOCTYPE html><html lang="{esc(language)}" dir="{direction}"><head><meta '
        f'charset="utf-8"><title>{esc(title)}</title>{head}</head><body>{body}</body></html>'
    )


def landing(site: Site, request: Request) -> Reply:
    """A site's page; it shows the URL it was reached at, so a test can see click ids arrive."""
    body = (
        f'<header><a href="/">{esc(site.title)}</a></header><main><h1>{esc(site.title)}</h1>'
        f'<p class="text">{esc(site.text)}</p><p id="landing-url">{esc(request.url)}</p></main>'
    )
    canonical = f'<link rel="canonical" href="https://{esc(request.host)}/">'
    return Reply.html(200, _document(site.title, body, site.language, canonical))


def hop(hop: Hop, target: str) -> Reply:
    """One step of a redirect chain, as HTTP status, meta refresh or script."""
    if hop.kind == "http":
        return Reply.redirect(hop.status, target, NO_STORE)
    if hop.kind == "meta":
        refresh = f'<meta http-equiv="refresh" content="{hop.delay:g};url={esc(target)}">'
        body = f'<p>Redirecting… <a href="{esc(target)}">continue</a></p>'
        return Reply.html(200, _document("Redirecting", body, head=refresh), headers=(NO_STORE,))
    script = (
        f"<script>setTimeout(function(){{window.location.replace({script_string(target)});}},"
        f"{int(hop.delay * 1000)});</script>"
    )
    body = f'<p>Loading…</p>{script}<noscript><a href="{esc(target)}">continue</a></noscript>'
    return Reply.html(200, _document("Loading", body), headers=(NO_STORE,))


def not_found(request: Request) -> Reply:
    body = f"<h1>Not Found</h1><p>Nothing is served at {esc(request.host)}{esc(request.path)}.</p>"
    return Reply.html(404, _document("404 Not Found", body), headers=(NO_STORE,))


def rate_limited() -> Reply:
    body = "<h1>429 Too Many Requests</h1><p>Too many requests. Try again later.</p>"
    return Reply.html(
        429, _document("429 Too Many Requests", body), headers=(("Retry-After", "120"), NO_STORE)
    )


# --- Google's consent wall and "sorry" block --------------------------------------------------

CONSENT_COOKIE = "SOCS"
_GOOGLE_HOST = re.compile(r"^www\.google\.[a-z]{2,3}(\.[a-z]{2})?$")


def google_consent_redirect(request: Request) -> Reply:
    query = urlencode(
        {
            "continue": request.url,
            "gl": request.args.get("gl", ""),
            "m": "0",
            "pc": "srp",
            "hl": request.args.get("hl", "en"),
            "src": "1",
        }
    )
    return Reply.redirect(302, f"https://consent.google.com/ml?{query}", NO_STORE)


def google_consent_page(request: Request) -> Reply:
    target = esc(request.args.get("continue", "https://www.google.com/"))
    buttons = "".join(
        f'<form action="https://consent.google.com/save" method="POST">'
        f'<input type="hidden" name="continue" value="{target}">'
        f'<input type="hidden" name="set_eom" value="{value}">'
        f'<button class="tHlp8d" aria-label="{label}">{label}</button></form>'
        for value, label in (("true", "Reject all"), ("false", "Accept all"))
    )
    body = (
        f'<div class="KxvlWc"><h1 class="I90TVb">Before you continue to Google</h1>'
        f"<p>We use cookies and data to deliver and maintain Google services.</p>"
        f'<div class="VtwTSb">{buttons}</div></div>'
    )
    return Reply.html(200, _document("Before you continue to Google", body), headers=(NO_STORE,))


def google_consent_save(request: Request) -> Reply:
    """consent.google.com cannot set a cookie for www.google.de, so, like Google, it sends the
    browser through the result host, which sets its own cookie and then goes on."""
    target = request.form.get("continue") or "https://www.google.com/"
    host = urlsplit(target).hostname or ""
    if not _GOOGLE_HOST.match(host):
        target, host = "https://www.google.com/", "www.google.com"
    setter = f"https://{host}/consent/set?{urlencode({'continue': target})}"
    return Reply.redirect(303, setter, ("Set-Cookie", _consent_cookie(".google.com")), NO_STORE)


def google_consent_set(request: Request) -> Reply:
    target = request.args.get("continue") or f"https://{request.host}/"
    if urlsplit(target).hostname != request.host:
        target = f"https://{request.host}/"
    return Reply.redirect(302, target, ("Set-Cookie", _consent_cookie(None)), NO_STORE)


def _consent_cookie(domain: str | None) -> str:
    scope = f"; Domain={domain}" if domain else ""
    return f"{CONSENT_COOKIE}={token(40)}{scope}; Path=/; Secure; SameSite=Lax"


def google_sorry_redirect(request: Request) -> Reply:
    query = f"continue={quote(request.url, safe='')}&q={token(60)}"
    return Reply.redirect(302, f"https://www.google.com/sorry/index?{query}", NO_STORE)


def google_sorry_page(request: Request) -> Reply:
    body = (
        '<div style="max-width:400px"><form id="captcha-form" action="index" method="post">'
        f'<div id="recaptcha" class="g-recaptcha" data-sitekey="{token(40)}"'
        f' data-callback="submitCallback" data-s="{token(80)}"></div>'
        f'<input type="hidden" name="continue" value="{esc(request.args.get("continue", ""))}">'
        "</form><hr><div>Our systems have detected unusual traffic from your computer network. "
        "This page checks to see if it's really you sending the requests, and not a robot.</div>"
        f"<div>IP address: 127.0.0.1<br>Time: now<br>URL: {esc(request.args.get('continue', ''))}"
        "</div></div>"
    )
    return Reply.html(429, _document("https://www.google.com/search", body), headers=(NO_STORE,))


# --- Bing's and the others' blocks ------------------------------------------------------------


def bing_captcha_redirect(request: Request) -> Reply:
    query = urlencode({"q": "", "iframeid": token(16), "rurl": request.url})
    return Reply.redirect(302, f"https://www.bing.com/turing/captcha/challenge?{query}", NO_STORE)


def bing_captcha_page() -> Reply:
    body = (
        '<div id="b_content"><h1>One last step</h1><p>Please solve the challenge below to '
        'continue.</p><div id="turingCaptcha" class="captcha"><div id="cf-turnstile" '
        f'data-sitekey="{token(24)}"></div></div></div>'
    )
    return Reply.html(200, _document("Bing", body), headers=(NO_STORE,))


def generic_captcha(engine: str) -> Reply:
    body = (
        '<div class="anomaly-modal__modal"><h1 class="anomaly-modal__title">Unusual traffic</h1>'
        "<p>We have detected unusual traffic from your network. Select all squares with "
        f'ducks to continue.</p><div class="captcha" data-engine="{esc(engine)}"></div></div>'
    )
    return Reply.html(418 if engine == "duckduckgo" else 429, _document("Challenge", body))


def yahoo_consent_redirect(request: Request) -> Reply:
    session = f"3_cc-session_{token(8)}-{token(4)}-{token(12)}"
    query = urlencode(
        {"sessionId": session, "lang": "en-US", "inline": "false", "done": request.url}
    )
    return Reply.redirect(302, f"https://consent.yahoo.com/v2/collectConsent?{query}", NO_STORE)


def generic_consent(request: Request) -> Reply:
    """Yahoo's collectConsent page (continuing to its `done` URL) and the others' walls (which
    post back to the search itself)."""
    target = request.args.get("done") or request.url
    body = (
        '<div id="consent-page" class="consent-wall"><h1>Your privacy choices</h1>'
        "<p>We and our partners use cookies to store and access information on your device."
        '</p><form class="consent-form" method="post"><input type="hidden" name="continue" '
        f'value="{esc(target)}"><button name="agree" value="agree">Accept all</button>'
        '<button name="reject" value="reject">Reject all</button></form></div>'
    )
    return Reply.html(200, _document("Before you continue", body), headers=(NO_STORE,))


def generic_consent_save(request: Request) -> Reply:
    """The wall's form posted: a consent cookie for the engine's domain, then the search."""
    target = request.form.get("continue") or f"https://{request.host}/"
    host = urlsplit(target).hostname or request.host
    # the cookie goes to the registrable domain both the wall and the results share
    domain = "." + ".".join(host.split(".")[-2:])
    if not request.host.endswith(domain[1:]):
        target, domain = f"https://{request.host}/", f".{request.host}"
    return Reply.redirect(303, target, ("Set-Cookie", _consent_cookie(domain)), NO_STORE)


def renderer_crash() -> bytes:
    """A page whose script eats memory until the renderer dies ("Aw, Snap!"): synchronous,
    so the document never finishes loading before the crash (about a second under the heap
    bound bidwatch launches Chromium with; ten or more without it)."""
    script = ("<script>const hoard = []; for (;;) { hoard.push(new Array(1 << 23).fill(1.5)); }"
              "</script>")
    return _document("Loading", script).encode()
