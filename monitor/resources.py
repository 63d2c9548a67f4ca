"""Where the bundled example program and templates are: a source checkout's top-level folders,
else the copies packaged inside monitor/_data (see pyproject's force-include)."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def bundled(name: str) -> Path:
    """`templates` or `rules`: the checkout's own folder if there is one, else the packaged copy."""
    source = _PACKAGE.parent / name
    return source if source.is_dir() else _PACKAGE / "_data" / name


def templates_dir() -> Path:
    return bundled("templates")


def example_rules() -> Path:
    return bundled("rules")
