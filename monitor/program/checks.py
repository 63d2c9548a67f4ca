"""Checking a program: pydantic's errors made friendly, and the cross-references and overlaps
no single model can see. `check_program` never raises for bad input; `load_program` raises
`ProgramError` listing every issue.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from difflib import get_close_matches
from pathlib import Path
from typing import (
    Any,
)

from pydantic import (
    ValidationError,
)

from monitor.program.conditions import AllCondition, AnyCondition, ConditionNode, NotCondition
from monitor.program.fields import ENGINE_NAMES, Loc, domain_in
from monitor.program.models import AgreementVersion, Competitor, Partner, Permission, Program
from monitor.program.source import ProgramError, ProgramIssue, Source, _unknown_key, read_sources
from monitor.program.variants import term_groups

# ---------------------------------------------------------------------------------------------
# Structure: pydantic errors -> issues with friendlier messages.


def _validate(source: Source) -> Program | None:
    try:
        return Program.model_validate(source.data)
    except ValidationError as err:
        for error in err.errors(include_url=False):
            source.issue(tuple(error["loc"]), _message(error))
        return None


def _message(error: Any) -> str:
    kind, loc, value = error["type"], tuple(error["loc"]), error.get("input")
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "string_type" and isinstance(value, bool):
        return message + " (YAML reads yes/no/on/off/true/false as booleans; quote it)"
    if (kind in ("literal_error", "enum", "string_pattern_mismatch") or kind.startswith("date")
            ) and _scalar(value):
        return f"{message} (got {value!r})"
    return message


def _scalar(value: object) -> bool:
    return isinstance(value, str | int | float | bool | date)




# Whole-program checks: cross-references and overlaps a single model cannot see.

Problem = tuple[Loc, str]


def _duplicate_ids(program: Program) -> Iterator[Problem]:
    sections: dict[str, list[Any]] = {
        "markets": program.markets, "brands": program.brands, "partners": program.partners,
        "competitors": program.competitors, "policies": program.policies,
    }
    for section, items in sections.items():
        first: dict[str, int] = {}
        for index, item in enumerate(items):
            if item.id in first:
                other = f"{section}[{first[item.id]}]"
                yield (section, index, "id"), f"duplicate id '{item.id}' (also {other})"
            first.setdefault(item.id, index)


def _agreement_problems(program: Program) -> Iterator[Problem]:
    partners = {p.id for p in program.partners}
    seen: dict[str, int] = {}
    for index, agreement in enumerate(program.agreements):
        loc: Loc = ("agreements", index)
        if agreement.partner not in partners:
            yield (*loc, "partner"), _unknown("partner", agreement.partner, partners)
        elif agreement.partner in seen:
            yield (*loc, "partner"), (
                f"partner '{agreement.partner}' already has an agreement "
                f"(agreements[{seen[agreement.partner]}]); add versions there")
        seen.setdefault(agreement.partner, index)
        yield from _overlaps(agreement.versions, loc)
        for v_index, version in enumerate(agreement.versions):
            for p_index, permission in enumerate(version.permissions):
                where = (*loc, "versions", v_index, "permissions", p_index)
                yield from _permission_problems(permission, where, program)


def _overlaps(versions: list[AgreementVersion], loc: Loc) -> Iterator[Problem]:
    """Two versions of one agreement in force on the same day."""
    order = sorted(range(len(versions)), key=lambda i: versions[i].effective_from)
    for before, after in itertools.pairwise(order):
        end = versions[before].effective_to
        if end is None or end >= versions[after].effective_from:
            yield (*loc, "versions", after, "effective_from"), (
                f"version '{versions[after].version}' overlaps version "
                f"'{versions[before].version}' (which runs to {end or 'open end'})")
    first: dict[str, int] = {}
    for index, version in enumerate(versions):
        if version.version in first:
            message = f"version '{version.version}' is listed twice"
            yield (*loc, "versions", index, "version"), message
        first.setdefault(version.version, index)


def _permission_problems(permission: Permission, loc: Loc, program: Program) -> Iterator[Problem]:
    policies = {p.id for p in program.policies}
    if permission.policy not in policies:
        yield (*loc, "policy"), _unknown("policy", permission.policy, policies)
    markets = {m.id for m in program.markets}
    for index, market_id in enumerate(permission.markets or []):
        if market_id not in markets:
            yield (*loc, "markets", index), _unknown("market", market_id, markets)
    for index, engine_name in enumerate(permission.engines or []):
        if engine_name not in ENGINE_NAMES:
            yield (*loc, "engines", index), _unknown("engine", engine_name, set(ENGINE_NAMES))


def _unknown(what: str, value: str, known: set[str]) -> str:
    close = get_close_matches(value, sorted(known), n=1)
    return f"unknown {what} '{value}'" + (f"; did you mean '{close[0]}'?" if close else "")


def _policy_problems(program: Program, templates_dir: Path | None) -> Iterator[Problem]:
    notices_dir = templates_dir / "notices" if templates_dir is not None else None
    notices = _notice_names(notices_dir) if notices_dir is not None else None
    for index, policy in enumerate(program.policies):
        node: ConditionNode = policy.when
        for loc, message in condition_problems(node, program):
            yield ("policies", index, "when", *loc), message
        if notices is not None and policy.notice is not None and policy.notice not in notices:
            yield ("policies", index, "notice"), (
                f"no notice template '{policy.notice}' under {notices_dir}")


def _notice_names(notices_dir: Path) -> set[str]:
    """Template base names: each path part's name before its first dot, at any depth."""
    if not notices_dir.is_dir():
        return set()
    names: set[str] = set()
    for path in notices_dir.rglob("*"):
        names.update(part.split(".")[0] for part in path.relative_to(notices_dir).parts)
    return names


def _domain_problems(program: Program) -> Iterator[Problem]:
    """A partner or competitor claiming one of the brand's own domains would misattribute ads."""
    brand = frozenset(program.brand_domains())
    owners: list[tuple[str, Sequence[Partner | Competitor]]] = [
        ("partners", program.partners), ("competitors", program.competitors)]
    for section, items in owners:
        for index, item in enumerate(items):
            for d_index, domain in enumerate(item.domains):
                overlap = domain_in(domain, brand) or next(
                    (b for b in sorted(brand) if domain_in(b, frozenset([domain]))), None)
                if overlap:
                    yield (section, index, "domains", d_index), (
                        f"'{domain}' overlaps the brand's own domain '{overlap}'")


def _network_problems(program: Program) -> Iterator[Problem]:
    """Network names must be ones the recognisers report, or no chain could ever match."""
    known = set(_network_names())
    for index, partner in enumerate(program.partners):
        for n_index, network_id in enumerate(partner.network_ids):
            if network_id.network not in known:
                loc = ("partners", index, "network_ids", n_index, "network")
                yield loc, _unknown("network", network_id.network, known)


def _schedule_problems(program: Program) -> Iterator[Problem]:
    """Sweep filters and surge events must name the program's own markets, brands and
    term groups, or a job would silently sweep nothing."""
    known = {
        "markets": {m.id for m in program.markets},
        "brands": {b.id for b in program.brands},
        # generated groups too (a brand's variants: brand+reviews when its modifiers are on)
        "term_groups": term_groups(program.brands),
        "engines": set(program.engines),
        "devices": {str(d) for d in program.devices},
    }
    for index, job in enumerate(program.schedule.sweeps):
        for what, names in known.items():
            for n_index, value in enumerate(getattr(job, what) or []):
                if str(value) not in names:
                    loc = ("schedule", "sweeps", index, what, n_index)
                    yield loc, _unknown(what.rstrip("s").replace("_", " "), str(value), names)
    for index, event in enumerate(program.schedule.surge.events):
        for m_index, market in enumerate(event.markets or []):
            if market not in known["markets"]:
                where: Loc = ("schedule", "surge", "events", index, "markets", m_index)
                yield where, _unknown("market", market, known["markets"])


def _whole_program(program: Program, templates_dir: Path | None) -> Iterator[Problem]:
    yield from _duplicate_ids(program)
    yield from _schedule_problems(program)
    yield from _network_problems(program)
    yield from _agreement_problems(program)
    yield from _policy_problems(program, templates_dir)
    yield from _domain_problems(program)


# ---------------------------------------------------------------------------------------------
# The entry points.


def check_program(
    path: Path, templates_dir: Path | None = None
) -> tuple[Program | None, list[ProgramIssue]]:
    """Validate a rules directory. `templates_dir` is the templates root (the one holding
    notices/); when given, each policy's notice must name a template there. Never raises for
    bad input; returns the program only when there are no issues."""
    _source, program, issues = _checked(path, templates_dir)
    return program, issues


def check_program_and_warn(
    path: Path, templates_dir: Path
) -> tuple[Program | None, list[ProgramIssue], list[ProgramIssue]]:
    """`check_program`, and the valid program's warnings (monitor.program.advice), placed at
    their lines from the same reading of the files (`rules check`)."""
    from monitor.program.advice import program_warnings

    source, program, issues = _checked(path, templates_dir)
    warnings = [] if program is None else program_warnings(program, templates_dir, source)
    return program, issues, warnings


def _checked(path: Path, templates_dir: Path | None
             ) -> tuple[Source, Program | None, list[ProgramIssue]]:
    source = read_sources(Path(path))
    if source.unreadable:
        return source, None, sorted(source.issues)
    program = _validate(source)
    if program is not None:
        for loc, message in _whole_program(program, templates_dir):
            source.issue(loc, message)
    issues = sorted(source.issues)
    return source, (program if not issues else None), issues


def load_program(path: Path, templates_dir: Path | None = None) -> Program:
    """The validated program; raises ProgramError listing every issue."""
    program, issues = check_program(path, templates_dir)
    if program is None:
        raise ProgramError(issues)
    return program


# ---------------------------------------------------------------------------------------------
# What a condition tree refers to (market, network and partner ids) must exist.


def _check_ids(
    ids: Iterable[str], known: Iterable[str], what: str
) -> Iterator[tuple[Loc, str]]:
    known_ids = set(known)
    for index, value in enumerate(ids):
        if value not in known_ids:
            close = get_close_matches(value, sorted(known_ids), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            yield (index,), f"unknown {what} '{value}'{hint}"


def _check_markets(ids: list[str], program: Program) -> Iterator[tuple[Loc, str]]:
    return _check_ids(ids, (m.id for m in program.markets), "market")


def _check_networks(names: list[str], program: Program) -> Iterator[tuple[Loc, str]]:
    return _check_ids(names, ("any", *_network_names()), "network")


def _network_names() -> tuple[str, ...]:
    # the names only, when a program names networks: `rules check` should not pay for
    # the recognisers it never runs
    from monitor.networks.names import network_names

    return network_names()


def _check_partners(ids: list[str], program: Program) -> Iterator[tuple[Loc, str]]:
    return _check_ids(ids, (p.id for p in program.partners), "partner")



_REFERENCE_CHECKS: dict[str, Callable[[Any, Program], Iterator[tuple[Loc, str]]]] = {
    "market": _check_markets, "network": _check_networks, "partner": _check_partners,
}


def condition_problems(node: ConditionNode, program: Program) -> Iterator[tuple[Loc, str]]:
    """Cross-references a condition tree makes (market and partner ids…) that do not exist."""
    if isinstance(node, AllCondition | AnyCondition):
        for index, child in enumerate(node.params):
            for loc, message in condition_problems(child, program):
                yield (node.kind, index, *loc), message
        return
    if isinstance(node, NotCondition):
        for loc, message in condition_problems(node.not_, program):
            yield ("not", *loc), message
        return
    check = _REFERENCE_CHECKS.get(node.kind)
    if check is not None:
        for loc, message in check(node.params, program):
            yield (node.kind, *loc), message
