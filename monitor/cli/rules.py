"""`bidwatch rules`: check the compliance program, or try it on a saved page."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.app import EngineOrAuto, rules_app
from monitor.cli.output import err, friendly_errors, out
from monitor.models import Device
from monitor.settings import Settings

# -- rules ---------------------------------------------------------------------------------


@rules_app.command("check")
def rules_check(
    directory: Annotated[Path | None, typer.Argument(help="Program directory.")] = None,
) -> None:
    """Validate the program: every error as FILE:LINE: field.path: message (exit status 2)."""
    from monitor.notify.render import check_templates
    from monitor.program import check_program
    from monitor.resources import templates_dir

    path = directory or Settings().rules
    program, issues = check_program(path, templates_dir())
    problems = [str(issue) for issue in issues]
    problems += [f"templates/{p}" for p in check_templates(templates_dir())]
    for problem in problems:
        out.print(problem, markup=False, highlight=False, soft_wrap=True)
    if problems or program is None:  # 2, like every other refusal of bad input
        raise typer.Exit(2)
    out.print(
        f"{path}: ok — program {program.name!r}: {len(program.brands)} brands, "
        f"{len(program.partners)} partners, {len(program.policies)} policies, "
        f"{len(program.agreements)} agreements, {len(program.markets)} markets, "
        f"{len(program.engines)} engines", markup=False, highlight=False)


@rules_app.command("test")
@friendly_errors
def rules_test(
    directory: Annotated[Path, typer.Argument(help="Program directory (maybe changed).")],
    capture: Annotated[Path, typer.Option(help="A saved result page (.html or .html.gz).")],
    engine: Annotated[EngineOrAuto, typer.Option(help="The engine's reader.")] = "auto",
    query: Annotated[str | None, typer.Option(help="What was searched (default: page).")] = None,
    market: Annotated[str | None, typer.Option(help="Market id (default: the first).")] = None,
    device: Annotated[Device, typer.Option(help="Device.")] = Device.desktop,
    at: Annotated[str | None, typer.Option(help="When it was seen, ISO 8601 (else: now).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON.")] = False,
) -> None:
    """Judge a saved page under a program, offline, without touching the store."""
    from monitor.services.explain import PageTest, judge_saved_page

    when = datetime.fromisoformat(at) if at else None
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    result = judge_saved_page(directory, capture, PageTest(
        engine=str(engine), query=query, market=market, device=device, at=when))
    if result["truncated"]:  # the verdicts are those of the part of the page that was read
        err.print(f"{capture}: {result['truncated']}", markup=False, highlight=False,
                  soft_wrap=True)
    if as_json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
        return
    out.print(f"{result['page']}: {result['engine']}, query {result['query']!r} "
              f"({result['term_group']}), {result['market']} {result['device']}", markup=False)
    for ad in result["ads"]:
        verdict = ", ".join(f["policy"] for f in ad["findings"]) or "no finding"
        out.print(f"{ad['position']} #{ad['rank']} {ad['headline']} | {ad['display_url']} → "
                  f"{ad['advertiser_class']} {ad['partner'] or ''}: {verdict}", markup=False)
        for finding in ad["findings"]:
            for fact in finding["facts"]:
                out.print(f"    {finding['policy']} because {fact['condition']}: "
                          f"{fact['detail']}", markup=False)
