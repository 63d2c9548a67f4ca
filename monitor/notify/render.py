"""Render partner notices and the digest from templates/ in one sandboxed Jinja2 environment.

Templates are trusted less than code (compliance staff edit them) and the values they show
are hostile (ad copy, URLs): the environment is an ImmutableSandboxedEnvironment with
StrictUndefined, autoescape on for every template but the plain-text ones (*.txt.j2,
*.subject.j2, policy paragraphs), and a cap on output size.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import jinja2
from jinja2 import FileSystemLoader, StrictUndefined, TemplateNotFound, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from monitor.errors import BidwatchError
from monitor.notify.context import (
    LEVEL_KEYS,
    AlertContext,
    ClauseView,
    DigestContext,
    NoticeContext,
    ReminderContext,
    inert_text,
    sample_digest_context,
    sample_notice_context,
    sample_reminder_context,
)

Direction = Literal["rtl", "ltr"]

#: Languages written right to left (BCP 47 primary subtags).
RTL_LANGUAGES = frozenset(
    {"ar", "arc", "ckb", "dv", "fa", "he", "ks", "ps", "sd", "ug", "ur", "yi"}
)
NOTICE_PARTS = ("subject", "txt", "html")
SUBJECT_LIMIT = 200
DEFAULT_OUTPUT_LIMIT = 1_000_000  # characters per rendered template
GENERIC_POLICY = "_generic"
# U+2066 LEFT-TO-RIGHT ISOLATE (or U+2068 FIRST STRONG ISOLATE) ... U+2069 POP DIRECTIONAL
# ISOLATE: keeps a Latin URL whole inside right-to-left plain text. The values themselves
# never carry bidi controls (they are inert), so the isolates added here always balance.
LRI, FSI, PDI = "\u2066", "\u2068", "\u2069"


class RenderError(BidwatchError):
    """A template is missing, broken, unsafe, or rendered more than the output cap."""


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    subject: str
    text: str
    html: str
    language: str
    direction: Direction


def direction_of(language: str) -> Direction:
    return "rtl" if language.split("-")[0].lower() in RTL_LANGUAGES else "ltr"


# -------------------------------------------------------------------------------- filters


def _inert_filter(value: object, limit: int = 300) -> str:
    return inert_text(str(value), limit)


def _when(value: datetime) -> str:
    """A moment as 'YYYY-MM-DD HH:MM UTC': unambiguous in every language."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _day(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d")


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def _fill(template: str, **values: object) -> str:
    """Put values into a translated sentence: "Dear {partner} team," -> "Dear SleepSaver team,".

    A plain substitution, not str.format: a format string can reach attributes of its
    arguments, which the sandbox exists to prevent.
    """
    return _PLACEHOLDER.sub(lambda match: str(values.get(match[1], match[0])), str(template))


def _isolate(value: object, direction: str, auto: bool = False) -> str:
    """In right-to-left plain text, keep a Latin URL or id whole (LRI ... PDI).

    auto=True isolates text of either direction (FSI ... PDI), for ad copy and clauses.
    """
    if direction != "rtl":
        return str(value)
    return f"{FSI if auto else LRI}{value}{PDI}"


def _autoescape(name: str | None) -> bool:
    """Escape by default; only plain-text templates (text, subject, policy paragraphs) do not.

    Policy paragraphs are plain text that HTML templates print through autoescape.
    """
    if name is None:
        return True
    return not (name.endswith((".txt.j2", ".subject.j2")) or "/policies/" in name)


def make_environment(templates_dir: Path) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(str(templates_dir)),
        autoescape=_autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters.update(inert=_inert_filter, when=_when, day=_day, fill=_fill, isolate=_isolate)
    return env


# ---------------------------------------------------------------------------- TemplateSet


class TemplateSet:
    """The templates of one directory, ready to render notices and digests."""

    def __init__(self, templates_dir: Path, *, output_limit: int = DEFAULT_OUTPUT_LIMIT) -> None:
        self.templates_dir = templates_dir
        self.output_limit = output_limit
        self.env = make_environment(templates_dir)
        self.names = frozenset(self.env.list_templates())

    def notice_languages(self) -> list[str]:
        """Languages with a notices/<lang>/ directory."""
        parts = (name.split("/") for name in self.names)
        return sorted({p[1] for p in parts if len(p) > 2 and p[0] == "notices"})

    def has_notice_language(self, language: str) -> bool:
        """True when every level has a subject, text and HTML template in this language."""
        return all(
            f"notices/{language}/{key}.{part}.j2" in self.names
            for key in LEVEL_KEYS.values()
            for part in NOTICE_PARTS
        )

    def render_notice(self, ctx: NoticeContext, default_language: str) -> RenderedMessage:
        language = self._notice_language(ctx.partner_language, default_language)
        direction = direction_of(language)
        variables = ctx.template_vars() | {"language": language, "direction": direction}
        # each policy explained once, by its own paragraph (plain text, escaped by the HTML)
        variables["policy_paragraphs"] = {
            p.policy_id: self._policy_paragraph(language, p.policy_notice,
                                                variables | p.template_vars())
            for p in ctx.policies
        }
        base = f"notices/{language}/{ctx.level_key}"
        return self._message(base, variables, language, direction)

    def render_reminder(self, ctx: ReminderContext, default_language: str) -> RenderedMessage:
        """The periodic policy reminder, in the partner's language (or the fallbacks)."""
        for language in (ctx.partner_language, ctx.partner_language.split("-")[0],
                         default_language):
            base = f"reminders/{language}/reminder"
            if all(f"{base}.{part}.j2" in self.names for part in NOTICE_PARTS):
                direction = direction_of(language)
                variables = ctx.template_vars() | {"language": language, "direction": direction}
                return self._message(base, variables, language, direction)
        raise RenderError(f"no reminder templates for {ctx.partner_language!r} nor the "
                          f"default {default_language!r}")

    def render_digest(self, ctx: DigestContext) -> RenderedMessage:
        variables = ctx.template_vars() | {"language": "en", "direction": "ltr"}
        return self._message("digest/digest", variables, "en", "ltr")

    def _message(
        self, base: str, variables: Mapping[str, object], language: str, direction: Direction
    ) -> RenderedMessage:
        return RenderedMessage(
            subject=inert_text(self.render(f"{base}.subject.j2", variables), SUBJECT_LIMIT),
            text=self.render(f"{base}.txt.j2", variables),
            html=self.render(f"{base}.html.j2", variables),
            language=language,
            direction=direction,
        )

    def _notice_language(self, language: str, default_language: str) -> str:
        # "pt-BR" falls back to "pt" before the program's default language.
        for candidate in (language, language.split("-")[0], default_language):
            if self.has_notice_language(candidate):
                return candidate
        raise RenderError(
            f"no complete notice templates for {language!r} nor the default {default_language!r}"
        )

    def _policy_paragraph(
        self, language: str, policy_notice: str | None, variables: Mapping[str, object]
    ) -> str:
        """The policy's own paragraph, rendered as plain text: HTML templates escape it."""
        folder = f"notices/{language}/policies"
        for stem in (policy_notice, GENERIC_POLICY):
            if stem and f"{folder}/{stem}.j2" in self.names:
                return self.render(f"{folder}/{stem}.j2", variables).strip()
        return ""

    def render(self, name: str, variables: Mapping[str, object]) -> str:
        """Render one template, stopping once the output passes the cap."""
        try:
            template = self.env.get_template(name)
            return _capped_join(template.generate(**variables), self.output_limit, name)
        except TemplateNotFound as exc:
            raise RenderError(f"{name}: template not found") from exc
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(f"{exc.name or name}:{exc.lineno}: {exc.message}") from exc
        except jinja2.TemplateError as exc:  # undefined variables, sandbox violations
            raise RenderError(f"{name}: {exc}") from exc


def _capped_join(chunks: Iterator[str], limit: int, name: str) -> str:
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise RenderError(f"{name}: output passed the limit of {limit} characters")
        parts.append(chunk)
    return "".join(parts)


# ------------------------------------------------------------------------ check_templates


def check_templates(templates_dir: Path) -> list[str]:
    """Placeholder-render every template with sample contexts; return the problems found."""
    if not templates_dir.is_dir():
        return [f"{templates_dir}: not a directory"]
    templates = TemplateSet(templates_dir)
    return (
        _syntax_problems(templates)
        + _variable_problems(templates)
        + _notice_problems(templates)
        + _digest_problems(templates)
        + _reminder_problems(templates)
    )


def _reminder_problems(templates: TemplateSet) -> list[str]:
    problems = []
    languages = {n.split("/")[1] for n in templates.names
                 if n.startswith("reminders/") and n.count("/") == 2}
    for language in sorted(languages):
        try:
            templates.render_reminder(sample_reminder_context(language), language)
        except RenderError as exc:
            problems.append(str(exc))
    return problems


def _syntax_problems(templates: TemplateSet) -> list[str]:
    problems = []
    for name in sorted(templates.names):
        try:
            templates.env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            problems.append(f"{name}:{exc.lineno}: {exc.message}")
    return problems


def _known_variables(name: str) -> set[str] | None:
    """The variables a template may use, or None for macro files (they take arguments)."""
    common = {"language", "direction"}
    if "/policies/" in name:  # a policy's paragraph sees the notice and that policy
        return NoticeContext.template_names() | ClauseView.template_names() | common
    if name.startswith("notices/"):
        return NoticeContext.template_names() | common | {"policy_paragraphs"}
    if name.startswith("digest/"):
        return DigestContext.template_names() | common
    if name.startswith("reminders/"):
        return ReminderContext.template_names() | common
    if name.startswith("alerts/"):
        return AlertContext.template_names()
    return None


def _variable_problems(templates: TemplateSet) -> list[str]:
    """Unknown names anywhere in a template, even in branches the samples do not take."""
    problems = []
    for name in sorted(templates.names):
        known = _known_variables(name)
        if known is None:
            continue
        try:
            source = templates.env.loader.get_source(templates.env, name)[0]  # type: ignore[union-attr]
            tree = templates.env.parse(source)
        except jinja2.TemplateSyntaxError:
            continue  # reported by _syntax_problems
        used = meta.find_undeclared_variables(tree) - _top_level_names(tree)
        problems += [f"{name}: unknown variable {var!r}" for var in sorted(used - known)]
    return problems


def _top_level_names(tree: nodes.Template) -> set[str]:
    """Names a template imports or sets at its top level, which its blocks may use.

    find_undeclared_variables analyses each block on its own and so misses them.
    """
    names = {node.target for node in tree.find_all(nodes.Import)}
    for node in tree.find_all(nodes.FromImport):
        names |= {alias if isinstance(alias, str) else alias[1] for alias in node.names}
    for statement in tree.body:
        if isinstance(statement, nodes.Assign | nodes.AssignBlock):
            names |= {n.name for n in statement.target.find_all(nodes.Name)}
            if isinstance(statement.target, nodes.Name):
                names.add(statement.target.name)
    return names


def _policy_names(templates: TemplateSet, language: str) -> list[str | None]:
    prefix = f"notices/{language}/policies/"
    stems = {
        name.removeprefix(prefix).removesuffix(".j2")
        for name in templates.names
        if name.startswith(prefix) and name.endswith(".j2")
    }
    return [None, *sorted(s for s in stems - {GENERIC_POLICY} if "/" not in s)]


def _notice_problems(templates: TemplateSet) -> list[str]:
    problems = []
    for language in templates.notice_languages():
        if not templates.has_notice_language(language):
            problems.append(f"notices/{language}: missing {_missing_parts(templates, language)}")
            continue
        if f"notices/{language}/policies/{GENERIC_POLICY}.j2" not in templates.names:
            problems.append(f"notices/{language}/policies/{GENERIC_POLICY}.j2: missing")
        problems += _render_notice_samples(templates, language)
    return problems


def _missing_parts(templates: TemplateSet, language: str) -> str:
    return ", ".join(
        f"{key}.{part}.j2"
        for key in LEVEL_KEYS.values()
        for part in NOTICE_PARTS
        if f"notices/{language}/{key}.{part}.j2" not in templates.names
    )


def _render_notice_samples(templates: TemplateSet, language: str) -> list[str]:
    problems = []
    for level in LEVEL_KEYS:
        for policy in _policy_names(templates, language):
            for ctx in _notice_variants(sample_notice_context(language, level, policy)):
                try:
                    templates.render_notice(ctx, default_language=language)
                except RenderError as exc:
                    problems.append(str(exc))
    return sorted(set(problems))


def _notice_variants(ctx: NoticeContext) -> list[NoticeContext]:
    """The full sample and a sparse one (one case, one clause, one sighting, no optional
    parts), so optional branches render both ways."""
    case = ctx.cases[0]
    clause = case.clauses[0].model_copy(update={"clause": None, "agreement_document": None})
    sparse_case = case.model_copy(update={
        "clauses": (clause,), "chain": (), "thumbnail": None, "network": None,
        "publisher_id": None, "markets": (), "devices": (), "engines": (),
        "sightings": case.sightings[:1], "more_sightings": 0, "sighting_count": 1,
    })
    sparse = ctx.model_copy(update={"reply_to": None, "cases": (sparse_case,)})
    return [ctx, sparse]


def _digest_problems(templates: TemplateSet) -> list[str]:
    full = sample_digest_context()
    empty = full.model_copy(
        update={
            "new_incidents": (),
            "new_clauses": (),
            "seen_again": (),
            "repeat_offenders": (),
            "partners": (),
            "competitors": (),
            "coverage": (),
            "previous_totals": None,
            "history": (),
            "evidence": (),
            "console_url": None,
        }
    )
    problems = []
    for ctx in (full, empty):
        try:
            templates.render_digest(ctx)
        except RenderError as exc:
            problems.append(str(exc))
    return sorted(set(problems))
