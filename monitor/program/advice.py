"""Warnings about a valid program: things that run, but likely not as compliance staff meant.

`program_warnings(program, templates_dir, read_from)` returns them as `ProgramIssue`s (file,
line, field path, message; the same record `rules check` prints its errors as), never fails:

- a policy partners can breach that names no notice template (its breaches are recorded,
  but no partner is ever told of them);
- a partner with no contact (its notices cannot be sent to anyone);
- a language a market or a partner uses that has no notice templates under
  templates/notices/ (its partners' notices fall back to the program's default language).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from monitor.models import AdvertiserClass
from monitor.program.fields import Loc
from monitor.program.models import Program
from monitor.program.source import ProgramIssue, Source, read_sources

Advice = tuple[Loc, str]


def program_warnings(program: Program, templates_dir: Path,
                     read_from: Path | Source | None = None) -> list[ProgramIssue]:
    """The program's warnings, each at its file and line when `read_from` (the directory
    the program was read from, or that reading itself) is given, sorted like `rules
    check`'s errors."""
    if isinstance(read_from, Source):
        source = read_from
    else:
        source = read_sources(read_from) if read_from is not None else Source(Path("."))
    found = [*_silent_policies(program), *_unreachable_partners(program),
             *_languages_without_notices(program, templates_dir)]
    return sorted(source.locate(loc, message) for loc, message in found)


def _silent_policies(program: Program) -> Iterator[Advice]:
    for index, policy in enumerate(program.policies):
        if policy.notice is None and AdvertiserClass.partner in policy.applies_to:
            yield (("policies", index, "notice"),
                   f"policy {policy.id} sends no notice: partners' breaches of it are recorded "
                   f"but no partner is told (name a template under templates/notices/<language>"
                   f"/policies/, e.g. notice: brand_bidding)")


def _unreachable_partners(program: Program) -> Iterator[Advice]:
    for index, partner in enumerate(program.partners):
        if not partner.contacts:
            yield (("partners", index, "contacts"),
                   f"partner {partner.id} has no contact: its notices cannot be sent to anyone")


def _languages_without_notices(program: Program, templates_dir: Path) -> Iterator[Advice]:
    have = notice_languages(templates_dir)
    fallback = (f"falls back to the default language '{program.default_language}'"
                if _covered(program.default_language, have)
                else f"has none either (the default '{program.default_language}' has no "
                     f"templates): its notices cannot be rendered")
    for index, market in enumerate(program.markets):
        if not _covered(market.language, have):
            yield (("markets", index, "language"),
                   f"market {market.id}'s language '{market.language}' has no notice templates"
                   f" ({_folder(templates_dir, market.language)}): a notice in it {fallback}")
    for index, partner in enumerate(program.partners):
        if not _covered(partner.language, have):
            yield (("partners", index, "language"),
                   f"partner {partner.id}'s language '{partner.language}' has no notice "
                   f"templates ({_folder(templates_dir, partner.language)}): its notice "
                   f"{fallback}")


def notice_languages(templates_dir: Path) -> frozenset[str]:
    """The languages with a templates/notices/<language>/ folder holding templates."""
    notices = templates_dir / "notices"
    if not notices.is_dir():
        return frozenset()
    return frozenset(d.name for d in notices.iterdir() if d.is_dir() and any(d.glob("*.j2")))


def _covered(language: str, have: frozenset[str]) -> bool:
    # "pt-BR" is served by "pt", as the renderer falls back
    return language in have or language.split("-")[0] in have


def _folder(templates_dir: Path, language: str) -> str:
    return f"{templates_dir.name}/notices/{language}/"
