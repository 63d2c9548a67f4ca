"""Policy reminders: every active partner is told, once per period, what the paid search
policy says and that the channel is monitored.

One outbox row per partner and period (key `reminder:<partner>:<period start>`), so a
reminder goes out once per period however often this runs; the daemon schedules it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

from monitor.notify.context import PolicyLine, ReminderContext
from monitor.notify.render import RenderError, TemplateSet
from monitor.program import Program
from monitor.program.models import Partner
from monitor.store import OutboxItem, Store

EPOCH = date(1970, 1, 1)


def period_start(day: date, every_days: int) -> date:
    """The first day of the reminder period `day` falls in (periods count from 1970-01-01)."""
    return EPOCH + timedelta(days=(day - EPOCH).days // every_days * every_days)


def active_partners(program: Program, day: date) -> list[Partner]:
    """Partners with someone to write to and an agreement in force on `day`."""
    return [p for p in program.partners
            if p.contacts and program.agreement_in_force(p.id, day) is not None]


def queue_policy_reminders(store: Store, program: Program, now: datetime) -> list[str]:
    """Queue this period's reminder for every active partner; returns the keys newly queued."""
    every = program.notices.reminder_every_days
    if every is None:
        return []
    start = period_start(now.date(), every)
    queued = []
    for partner in active_partners(program, now.date()):
        item = OutboxItem(key=f"reminder:{partner.id}:{start.isoformat()}", kind="reminder",
                          partner=partner.id, language=partner.language, created_at=now,
                          next_attempt_at=now)
        if store.queue_outbox(item):
            queued.append(item.key)
    return queued


def reminder_context(program: Program, partner: Partner, day: date) -> ReminderContext:
    brand = program.brands[0]
    version = program.agreement_in_force(partner.id, day)
    policies = tuple(
        PolicyLine(title=p.titles.get(partner.language, p.title), clause=p.clause)
        for p in program.policies if p.notice
    )
    return ReminderContext(
        program_name=program.name, brand_name=brand.name, partner_name=partner.name,
        partner_language=partner.language, terms=tuple(brand.terms[:6]),
        domains=tuple(brand.domains), policies=policies,
        agreement_document=version.document if version else None,
        engines=tuple(program.engines), every_days=program.notices.reminder_every_days or 1,
        sender_name=program.notices.sender_name,
        program_manager=program.notices.program_manager, reply_to=program.notices.reply_to,
    )


def render_reminder(
    item: OutboxItem, program: Program, templates: TemplateSet
) -> tuple[OutboxItem, str | None]:
    """A queued reminder with its message rendered in, or unchanged with why it cannot be."""
    partner = program.partner(item.partner or "")
    if partner is None:
        return item, f"partner {item.partner!r} is not in the program (was it removed?)"
    try:
        message = templates.render_reminder(
            reminder_context(program, partner, item.created_at.date()), program.default_language)
    except RenderError as exc:
        return item, str(exc)
    return replace(item, language=message.language,
                   recipients=tuple(c.email for c in partner.contacts), subject=message.subject,
                   body_text=message.text, body_html=message.html), None
