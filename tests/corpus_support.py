"""The captured result pages in ../shared/serp-corpus, for the tests that read them.

A user's clone has no ../shared: `TRUTH` is then empty and `needs_corpus` skips, saying why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "serp-corpus"
TRUTH: list[dict[str, Any]] = (
    json.loads((CORPUS / "truth.json").read_text(encoding="utf-8"))
    if (CORPUS / "truth.json").is_file()
    else []
)
needs_corpus = pytest.mark.skipif(not TRUTH, reason=f"shared SERP corpus not found at {CORPUS}")


def corpus_html(name: str) -> str:
    """A captured page's HTML, by its file name in truth.json."""
    return (CORPUS / "pages" / name).read_text(encoding="utf-8", errors="replace")
