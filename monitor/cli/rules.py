"""`bidwatch rules`: check the compliance program, or try it on a saved page."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.app import EngineOrAuto, FailOn, rules_app
from monitor.cli.output import ExitCode, emit_json, err, friendly_errors, out
from monitor.models import Device

#: `Settings().home` and `Settings().rules` when the environment sets neither
RULES_CHECK_DEFAULTS = (Path("var"), Path("rules"))

# -- rules ---------------------------------------------------------------------------------


@rules_app.command("check")
@friendly_errors
def rules_check(
    directory: Annotated[Path | None, typer.Argument(
        help="Program directory (default: BIDWATCH_RULES).", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The issues as JSON.")] = False,
) -> None:
    """Validate the program: every error as FILE:LINE: field.path: message (exit status 2)."""
    from monitor.program.checks import check_program_and_warn
    from monitor.resources import templates_dir

    # the two settings it needs, read as monitor.settings.Settings reads them, without
    # pydantic-settings (a tenth of this command's start-up; an editor runs it on every save)
    home, default_rules = _home_and_rules()
    path = directory or default_rules
    # the warnings: what is valid but likely not meant (a policy that sends no notice, a
    # partner with no contact, a language without notice templates), said, never failed on
    program, issues, warnings = check_program_and_warn(path, templates_dir())
    template_issues = [f"templates/{p}" for p in _template_issues(home)]
    problems = [str(issue) for issue in issues] + template_issues
    if as_json:
        emit_json("rules-check/1", {
            "directory": str(path), "ok": not problems and program is not None,
            "issues": [{"file": i.file, "line": i.line, "path": i.path, "message": i.message}
                       for i in issues],
            "warnings": [{"file": w.file, "line": w.line, "path": w.path, "message": w.message}
                         for w in warnings],
            "template_issues": template_issues,
            "program": None if program is None else {
                "name": program.name, "brands": len(program.brands),
                "partners": len(program.partners), "policies": len(program.policies),
                "agreements": len(program.agreements), "markets": len(program.markets),
                "engines": len(program.engines)},
        }, indent=2)
        if problems or program is None:
            raise typer.Exit(int(ExitCode.USAGE))
        return
    # plain lines, not Rich: one issue a line, whatever the width (grep, an editor's
    # problem matcher), and no Rich import for a clean check
    for problem in problems:
        typer.echo(problem)
    for warning in warnings:
        typer.echo(f"warning: {warning}")
    if problems or program is None:  # 2, like every other refusal of bad input
        raise typer.Exit(int(ExitCode.USAGE))
    typer.echo(
        f"{path}: ok — program {program.name!r}: {len(program.brands)} brands, "
        f"{len(program.partners)} partners, {len(program.policies)} policies, "
        f"{len(program.agreements)} agreements, {len(program.markets)} markets, "
        f"{len(program.engines)} engines")


def _home_and_rules() -> tuple[Path, Path]:
    """BIDWATCH_HOME and BIDWATCH_RULES as `Settings` reads them (any case, else its
    defaults: tests/test_cli_startup.py checks that the two agree)."""
    found = {name.upper(): value for name, value in os.environ.items()
             if name.upper() in ("BIDWATCH_HOME", "BIDWATCH_RULES")}
    return (Path(found.get("BIDWATCH_HOME") or RULES_CHECK_DEFAULTS[0]),
            Path(found.get("BIDWATCH_RULES") or RULES_CHECK_DEFAULTS[1]))


def _templates_key() -> str:
    """What a template check depends on: every template file and the code that renders and
    checks them (names, sizes, modification times)."""
    from monitor.resources import templates_dir

    render_code = Path(__file__).resolve().parents[1] / "notify"
    files = sorted([*templates_dir().rglob("*"), *render_code.glob("*.py")])
    digest = hashlib.sha256()
    for file in files:
        if file.is_file():
            stat = file.stat()
            digest.update(f"{file}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _template_issues(home: Path) -> list[str]:
    """The templates' problems. Placeholder-rendering them all costs most of a second (and
    Jinja's import): a clean check is remembered under the home until a template or the
    rendering code changes, so a script or an editor can run `rules check` on every save."""
    from monitor.resources import templates_dir

    marker = home / "cache" / "templates-checked"
    key = _templates_key()
    try:
        if marker.read_text(encoding="utf-8") == key:
            return []
    except OSError:
        pass
    from monitor.notify.render import check_templates  # Jinja: only when checking

    problems = check_templates(templates_dir())
    if not problems:
        try:  # a read-only home only means checking again next time
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(key, encoding="utf-8")
        except OSError:
            pass
    return problems


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
    fail_on: Annotated[FailOn | None, typer.Option(
        help="Exit 1 if an ad breaches a policy (new and any alike: a saved page has no "
             "history).", show_default=False)] = None,
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
    findings = sum(len(ad["findings"]) for ad in result["ads"])
    code = ExitCode.FINDINGS if fail_on is not None and findings else ExitCode.OK
    if as_json:
        emit_json("rules-test/1", {**result, "findings": findings}, indent=2)
        raise typer.Exit(int(code))
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
    raise typer.Exit(int(code))
