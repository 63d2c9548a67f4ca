"""Small helpers shared by the page builders: escaping, random ids, click URLs, labels.

Everything that comes from a scenario goes through `esc` before it reaches markup: scenario
text stands in for hostile ad text and must reach the browser as text, never as markup.
"""

from __future__ import annotations

import base64
import html
import json
import secrets
import string
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

#: "Sponsored" as Google (g), Bing (b) and DuckDuckGo/Yahoo (o) label ads, by page language
_LABELS: dict[str, tuple[str, str, str]] = {
    "en": ("Sponsored", "Ad", "Ad"),
    "de": ("Anzeige", "Anzeige", "Anzeige"),
    "id": ("Bersponsor", "Iklan", "Iklan"),
    "ar": ("إعلان", "إعلان", "إعلان"),
    "fr": ("Sponsorisé", "Annonce", "Annonce"),
}
#: the heading of an ads block (Google's aria-label on #tads), by page language
_ADS_HEADING = {"en": "Ads", "de": "Anzeigen", "id": "Iklan", "ar": "الإعلانات", "fr": "Annonces"}
_RTL = {"ar", "fa", "he", "ur"}


def esc(text: str) -> str:
    """Text or attribute value, escaped (quotes included)."""
    return html.escape(text, quote=True)


def script_string(text: str) -> str:
    """A JavaScript string literal safe inside <script>: no "</script>" can close it early."""
    return json.dumps(text).replace("<", "\\u003c").replace(">", "\\u003e")


def token(length: int = 22) -> str:
    """A random id in Google's and Bing's url-safe alphabet."""
    alphabet = string.ascii_letters + string.digits + "_-"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def css_class() -> str:
    """A random obfuscated class name, like the ones engines rotate."""
    return secrets.choice(string.ascii_letters) + token(5).replace("-", "x").replace("_", "y")


@dataclass(frozen=True, slots=True)
class Locale:
    language: str

    @property
    def label(self) -> tuple[str, str, str]:
        return _LABELS.get(self.language, _LABELS["en"])

    @property
    def ads_heading(self) -> str:
        return _ADS_HEADING.get(self.language, "Ads")

    @property
    def direction(self) -> str:
        return "rtl" if self.language in _RTL else "ltr"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"


def registrable_guess(url: str) -> str:
    """The last two labels of the host, as Google's data-dtld shows them (a hint, not a PSL)."""
    host = urlsplit(url if "//" in url else f"//{url}").hostname or ""
    return ".".join(host.split(".")[-2:])


def google_click_url(link: str, query: str) -> str:
    return (
        f"https://www.google.com/aclk?sa=l&ai={token(40)}&ae=2&sig=AOD64_{token(27)}"
        f"&q={quote(query, safe='')}&adurl={quote(link, safe='')}"
    )


def bing_click_url(link: str) -> str:
    encoded = base64.urlsafe_b64encode(link.encode()).decode().rstrip("=")
    return (
        f"https://www.bing.com/aclick?ld=e8{token(60)}&u=a1{encoded}&rlid={secrets.token_hex(16)}"
    )


def decode_bing_u(value: str) -> str | None:
    """The destination inside Bing's `u=` parameter (`a1` + base64url), or None."""
    payload = value[2:] if value.startswith("a1") else value
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return raw if raw.startswith(("http://", "https://")) else None
