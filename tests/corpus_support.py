"""The captured result pages in ../shared/serp-corpus, for the tests that read them.

A user's clone has no ../shared: `TRUTH` is then empty and `needs_corpus` skips, saying why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "serp-corpus"
#: every page of every truth*.json (the corpus's README: more truth files may come), in
#: file order
TRUTH: list[dict[str, Any]] = [
    page
    for truth in sorted(CORPUS.glob("truth*.json"))
    for page in json.loads(truth.read_text(encoding="utf-8"))
]
needs_corpus = pytest.mark.skipif(not TRUTH, reason=f"shared SERP corpus not found at {CORPUS}")


def corpus_html(name: str) -> str:
    """A captured page's HTML, by its file name in a truth file."""
    return (CORPUS / "pages" / name).read_text(encoding="utf-8", errors="replace")
