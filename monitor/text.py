"""Normalising text read from pages: one plain line, no invisible controls.

Ad text is hostile input. A headline can carry bidi overrides that make it read differently
from what it is, zero-width marks, control characters or markup-looking text. `clean_text`
keeps the visible characters, drops the invisible ones and collapses whitespace; it never
produces or interprets markup (escaping is the renderer's job).
"""

from __future__ import annotations

import re
import unicodedata

#: bidi marks, embeddings, overrides and isolates (U+200E/F, U+061C, U+202A-E, U+2066-9),
#: plus the zero-width and byte-order characters that only hide or join text
_INVISIBLE = (
    "\u200b\u200c\u200d\u200e\u200f\u061c\u2060\ufeff"
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_INVISIBLE_CHARS = re.compile(f"[{_INVISIBLE}]")
#: control characters that are not whitespace-like: dropped, never turned into a space
_SILENT_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")


def _visible(ch: str) -> str:
    """Whitespace-like controls become a space; other control and private characters go."""
    category = unicodedata.category(ch)
    if category == "Cc":
        return " " if ch in "\t\n\r\x0b\x0c\x85" else ""
    if category in ("Cf", "Cs", "Co"):
        return ""
    return ch


def clean_text(s: str) -> str:
    """One line of plain text: controls and bidi formatting removed, whitespace collapsed.

    NBSP and every other Unicode space become one ASCII space; leading and trailing space goes.
    Regular expressions and str.split do the common work in C; only text that still holds
    format or private-use characters is walked character by character.
    """
    if not s:
        return ""
    s = _SILENT_CONTROLS.sub("", _INVISIBLE_CHARS.sub("", s))
    text = " ".join(s.split())  # str.split's whitespace is exactly the \s of re
    if not text.isprintable():
        text = " ".join("".join(_visible(ch) for ch in text).split())
    return text


ELLIPSIS = "…"


def inert_text(value: str, limit: int = 300) -> str:
    """`clean_text`, capped at `limit` characters (an ellipsis marks the cut): what templates,
    headers and messages show of a stranger's text."""
    cleaned = clean_text(value)
    if len(cleaned) > limit:
        return cleaned[: limit - 1].rstrip() + ELLIPSIS
    return cleaned
