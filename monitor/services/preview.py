"""What a partner would receive, before it does: its notice, and the digest, rendered.

`preview_notice` renders the notice for a partner's open cases in the store (through the
same `notice_draft` and `TemplateSet.render_notice` delivery uses), or, when the store has
none for it or a sample is asked for, for a sample case built from the program: its brand,
the partner, its sender and the policies partners can breach, in the case of the shipped
sample (monitor.notify.context). `preview_digest` renders the digest of the last day's
cases, or the sample digest with the program's names. Nothing is queued, sent or stored.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

from monitor.errors import BidwatchError
from monitor.judge.incidents import OPEN
from monitor.models import AdvertiserClass
from monitor.notify.context import (
    ClauseView,
    NoticeContext,
    sample_digest_context,
    sample_notice_context,
)
from monitor.notify.digest import Period, render_digest, write_digest
from monitor.notify.email import IllustratedMessage, InlineImage
from monitor.notify.notices import notice_draft
from monitor.notify.render import RenderedMessage, TemplateSet
from monitor.program import Program, load_program
from monitor.program.models import Partner
from monitor.resources import templates_dir
from monitor.services.wiring import opened_store
from monitor.settings import Settings

#: the open cases a notice preview shows at most (delivery batches every case due)
MAX_CASES = 50


@dataclass(frozen=True)
class Preview:
    """One rendered message: what it is about and its subject, text and HTML."""

    kind: str  # notice | digest
    source: str  # store (open cases, the day's digest) | sample
    partner: str | None
    level: int | None
    cases: tuple[str, ...]  # the case references shown
    message: RenderedMessage
    images: tuple[InlineImage, ...] = ()

    def as_json(self) -> dict[str, object]:
        return {"kind": self.kind, "source": self.source, "partner": self.partner,
                "level": self.level, "cases": list(self.cases),
                "language": self.message.language, "direction": self.message.direction,
                "subject": self.message.subject, "text": self.message.text,
                "html": self.message.html}


def preview_notice(settings: Settings, partner_id: str, *, level: int | None = None,
                   language: str | None = None, sample: bool = False) -> Preview:
    """The notice `partner_id` would receive at `level` (default: the level its cases have
    reached, the notice queued or last sent; 1 for a sample), in `language` (default: the
    partner's)."""
    program = load_program(settings.rules)
    partner = program.partner(partner_id)
    if partner is None:
        known = ", ".join(p.id for p in program.partners) or "none"
        raise BidwatchError(f"unknown partner {partner_id!r}; the program has: {known}")
    if level is not None and not 1 <= level <= 3:
        raise BidwatchError(f"--level {level}: 1 (warning), 2 (final warning) or 3 "
                            f"(termination notice)")
    templates = TemplateSet(templates_dir())
    if not sample and has_store(settings):
        found = _from_store(settings, program, partner, level, language, templates)
        if found is not None:
            return found
    context = sample_case(program, partner, level or 1, language)
    message = templates.render_notice(context, program.default_language)
    return Preview("notice", "sample", partner.id, context.level,
                   tuple(c.incident_id for c in context.cases), message)


def has_store(settings: Settings) -> bool:
    """False when this home has no database yet: a preview never creates one."""
    return bool(settings.database_url) or (settings.home / "bidwatch.db").is_file()


def _from_store(settings: Settings, program: Program, partner: Partner, level: int | None,
                language: str | None, templates: TemplateSet) -> Preview | None:
    with opened_store(settings) as store:
        cases = [c for c in store.incidents(partner=partner.id, limit=MAX_CASES)
                 if c.status in OPEN]
        details = [d for d in (store.incident(c.id) for c in cases) if d and d.sightings]
    if not details:
        return None
    # a case's level is that of the notice queued for it (or last sent): what it gets
    owed = level or max(1, max(d.incident.level for d in details))
    draft = notice_draft(details, owed, program, settings)
    context = draft.context
    if language is not None:
        context = context.model_copy(update={"partner_language": language})
    message = templates.render_notice(context, program.default_language)
    return Preview("notice", "store", partner.id, owed,
                   tuple(c.incident_id for c in context.cases), message, draft.images)


def sample_case(program: Program, partner: Partner, level: int,
                language: str | None) -> NoticeContext:
    """The shipped sample notice, told in the program's words: its brand, this partner,
    its sender, and the policies partners can breach (the first two that send a notice)."""
    sample = sample_notice_context(language or partner.language, level)
    chosen = language or partner.language
    policies = [p for p in program.policies
                if p.notice and AdvertiserClass.partner in p.applies_to][:2]
    cases = []
    for case in sample.cases:
        clauses = tuple(
            ClauseView.model_validate(clause.model_dump() | {
                "policy_id": policy.id, "policy_title": policy.titles.get(chosen, policy.title),
                "policy_notice": policy.notice, "clause": policy.clause})
            for clause, policy in zip(case.clauses, policies, strict=False)) or case.clauses
        cases.append(case.model_copy(update={"clauses": clauses}))
    notices = program.notices
    return sample.model_copy(update={
        "program_name": program.name, "brand_name": program.brands[0].name,
        "partner_name": partner.name, "partner_language": chosen,
        "sender_name": notices.sender_name, "program_manager": notices.program_manager,
        "reply_to": notices.reply_to, "cases": tuple(cases)})


def preview_digest(settings: Settings, *, sample: bool = False) -> Preview:
    """The digest of the last day (UTC) as it would be written, or the sample digest with
    the program's names when the store has no case in that day or a sample is asked for."""
    program = load_program(settings.rules)
    templates = TemplateSet(templates_dir())
    if not sample and has_store(settings):
        period = Period.ending_on(datetime.now(UTC).date(), 1)
        with opened_store(settings) as store:
            if store.incidents_between(period.start, period.end):
                message = render_digest(store, program, templates, period)
                return Preview("digest", "store", None, None, (), message)
    context = sample_digest_context().model_copy(update={
        "program_name": program.name, "brand_name": program.brands[0].name})
    return Preview("digest", "sample", None, None, (), templates.render_digest(context))


def write_preview(preview: Preview, html_path: Path) -> tuple[Path, Path]:
    """The HTML at `html_path` and the text beside it (.txt), as the digest is written: the
    thumbnails the HTML shows by cid: go into a folder beside it, referenced by path."""
    message = preview.message
    if preview.images:
        parts = {f.name: getattr(message, f.name) for f in fields(message)}
        message = IllustratedMessage(**parts, inline_images=preview.images)
    return write_digest(message, html_path)
