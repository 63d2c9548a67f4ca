"""`bidwatch outbox …`, `bidwatch notices …` and `bidwatch digest`: the outbox, approvals,
policy reminders and the digest. Thin: parse, call a function, print."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from monitor.cli.output import (
    ExitCode,
    emit_csv,
    emit_json,
    emit_json_lines,
    err,
    friendly_errors,
    known_values,
    one_format,
    out,
    program_partners,
)
from monitor.cli.progress import CountProgress, working
from monitor.errors import BidwatchError

if TYPE_CHECKING:
    from monitor.store import OutboxItem, Store

outbox_app = typer.Typer(help="The outbox: notices, reminders and alerts waiting or sent.",
                         invoke_without_command=True, rich_markup_mode=None)
notices_app = typer.Typer(help="Approve or reject held notices; send policy reminders.",
                          no_args_is_help=True, rich_markup_mode=None)


#: an outbox item's statuses and kinds, as the store keeps them
OUTBOX_STATUSES = ("pending", "sending", "sent", "dead", "held", "rejected")
OUTBOX_KINDS = ("notice", "reminder", "alert")


class Period(StrEnum):
    day = "day"
    week = "week"


@contextmanager
def _store() -> Iterator[Store]:
    """This home's store for one command (an OutboxError is ours: friendly_errors prints it)."""
    from monitor.services.wiring import opened_store
    from monitor.settings import Settings

    with opened_store(Settings()) as store:
        yield store


def outbox_document(row: OutboxItem) -> dict[str, Any]:
    """An outbox item as `bidwatch outbox --json` prints it (no message bodies)."""
    return {
        "id": row.id, "key": row.key, "kind": row.kind, "status": row.status,
        "partner": row.partner, "incident_id": row.incident_id, "level": row.level,
        "batch_key": row.batch_key, "tags": [t for t in row.tags.split(",") if t],
        "subject": row.subject, "attempts": row.attempts,
        "next_attempt_at": _iso(row.next_attempt_at), "last_error": row.last_error,
        "created_at": _iso(row.created_at), "sent_at": _iso(row.sent_at),
        "decided_by": row.decided_by, "decided_at": _iso(row.decided_at),
        "decision_note": row.decision_note, "eml_path": row.eml_path,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# -- bidwatch outbox ---------------------------------------------------------------------------


@outbox_app.callback()
@friendly_errors
def outbox_list(
    ctx: typer.Context,
    status: Annotated[list[str] | None, typer.Option(
        help="pending, sending, sent, dead, held, rejected (repeatable).")] = None,
    kind: Annotated[list[str] | None, typer.Option(
        help="notice, reminder, alert (repeatable).")] = None,
    partner: Annotated[str | None, typer.Option(help="Only this partner id.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV with a header.")] = False,
) -> None:
    """List outbox items: status, kind, key, attempts, next attempt, last error."""
    if ctx.invoked_subcommand is not None:
        return
    one_format(as_json, as_csv)
    known_values("--status", status or [], OUTBOX_STATUSES)
    known_values("--kind", kind or [], OUTBOX_KINDS)
    if limit < 1:
        raise BidwatchError(f"--limit {limit}: give at least 1")
    with _store() as store:
        rows = store.outbox_items(statuses=status or [], kinds=kind or [], partner=partner,
                                  limit=limit)
        if partner is not None and not rows:  # a partner no longer in the program may have some
            stored = {r.partner for r in store.outbox_items(limit=100_000) if r.partner}
            known_values("--partner", [partner], [*program_partners(), *sorted(stored)])
    if as_json:
        emit_json_lines("outbox-item/1", map(outbox_document, rows))
        return
    if as_csv:
        emit_csv(OUTBOX_CSV, map(outbox_document, rows))
        return
    _print_outbox(rows)


OUTBOX_CSV = ("id", "key", "kind", "status", "partner", "incident_id", "level", "batch_key",
              "tags", "subject", "attempts", "next_attempt_at", "last_error", "created_at",
              "sent_at", "decided_by", "decided_at", "decision_note", "eml_path")


def _print_outbox(rows: list[OutboxItem]) -> None:
    """Fits 80 columns: the id never cut, the key and the error wrapped."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"Outbox ({len(rows)})")
    table.add_column("id", no_wrap=True, justify="right")
    table.add_column("status · kind", overflow="fold")
    table.add_column("key · partner", overflow="fold", ratio=2)
    table.add_column("tries · next (UTC)", no_wrap=True)
    table.add_column("last error", overflow="fold", ratio=1)
    for row in rows:
        next_at = str(row.next_attempt_at or "")[:16]
        table.add_row(str(row.id), f"{row.status}\n{row.kind}",
                      escape(f"{row.key}\n{row.partner or ''}".rstrip()),
                      f"{row.attempts}\n{next_at}".rstrip(), escape(row.last_error or ""))
    out.print(table)


@outbox_app.command("retry")
@friendly_errors
def outbox_retry(
    ids: Annotated[list[int] | None, typer.Argument(help="Dead items to try again.")] = None,
    dead: Annotated[bool, typer.Option("--dead", help="Every dead item.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The items requeued, as JSON.")] = False,
) -> None:
    """Put dead items back in the queue with a fresh set of attempts."""
    if not ids and not dead:
        raise BidwatchError("name the items to retry, or --dead for all of them")
    with _store() as store:
        rows = store.requeue_dead(ids or [], every=dead, now=datetime.now(UTC))
    if as_json:
        emit_json("outbox-change/1", {"action": "requeued", "ids": [r.id for r in rows]})
        return
    out.print(f"requeued {len(rows)}: {', '.join(str(r.id) for r in rows) or '-'}",
              markup=False)


@outbox_app.command("deliver")
@friendly_errors
def outbox_deliver(
    as_json: Annotated[bool, typer.Option("--json", help="The counts, as JSON.")] = False,
) -> None:
    """Deliver every item that is due now (the sweep and the daemon do this too)."""
    from monitor.services.commands import deliver_now, delivery_document
    from monitor.settings import Settings

    with CountProgress("outbox") as progress:
        report = deliver_now(Settings(), progress=lambda report, done, due: progress.update(
            done, due, f"sent {report.sent} · failed {report.failed} · dead {report.dead}"))
    if as_json:
        emit_json("delivery/1", delivery_document(report))
        return
    out.print(f"sent {report.sent} in {report.messages} messages, failed {report.failed}, "
              f"dead {report.dead}, waiting {report.waiting}, held {report.held}", markup=False)


# -- bidwatch notices --------------------------------------------------------------------------


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@notices_app.command("approve")
@friendly_errors
def notices_approve(
    ids: Annotated[list[int], typer.Argument(help="Held outbox items (bidwatch outbox).")],
    by: Annotated[str | None, typer.Option(help="Who approves (default: your login).")] = None,
    note: Annotated[str, typer.Option(help="Why (kept on the item).")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="The items approved, as JSON.")] = False,
) -> None:
    """Approve held notices: they go out at the next delivery."""
    with _store() as store:
        rows = store.decide_held(ids, approve=True, by=by or _who(), note=note,
                                 now=datetime.now(UTC))
    if as_json:
        emit_json("outbox-change/1", {"action": "approved", "ids": [r.id for r in rows]})
        return
    out.print(f"approved {len(rows)}: {', '.join(str(r.id) for r in rows)}", markup=False)


@notices_app.command("reject")
@friendly_errors
def notices_reject(
    ids: Annotated[list[int], typer.Argument(help="Held outbox items.")],
    note: Annotated[str, typer.Option(help="Why it must not go out (required).")],
    by: Annotated[str | None, typer.Option(help="Who rejects (default: your login).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The items rejected, as JSON.")] = False,
) -> None:
    """Reject held notices: they are never sent (kept, with who, when and why)."""
    if not note.strip():
        raise BidwatchError("--note is required: say why the notice must not go out")
    with _store() as store:
        rows = store.decide_held(ids, approve=False, by=by or _who(), note=note,
                                 now=datetime.now(UTC))
    if as_json:
        emit_json("outbox-change/1", {"action": "rejected", "ids": [r.id for r in rows]})
        return
    out.print(f"rejected {len(rows)}: {', '.join(str(r.id) for r in rows)}", markup=False)


@notices_app.command("remind")
@friendly_errors
def notices_remind(
    deliver: Annotated[bool, typer.Option(help="Deliver the outbox afterwards.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="What was queued, as JSON.")] = False,
) -> None:
    """Queue this period's policy reminder for every active partner (once per period)."""
    from monitor.services.commands import delivery_document, remind_partners
    from monitor.settings import Settings

    with working("queueing reminders" + (" and delivering" if deliver else "")):
        keys, report = remind_partners(Settings(), deliver=deliver)
    if as_json:
        emit_json("reminders/1", {"queued": keys, "delivery": None if report is None
                                  else delivery_document(report)})
        return
    out.print(f"reminders queued: {len(keys)}", markup=False)
    for key in keys:
        out.print(f"  {key}", markup=False)
    if report is not None:
        out.print(f"delivered: sent {report.sent}, waiting {report.waiting}, "
                  f"failed {report.failed}", markup=False)


# -- bidwatch digest ---------------------------------------------------------------------------


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BidwatchError(f"--date {text!r} is not a day: give YYYY-MM-DD, "
                            "e.g. 2026-11-25") from None


@friendly_errors
def digest(
    day: Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD (default: today).")] = None,
    period: Annotated[Period, typer.Option(help="day, or week (the 7 days to --date).")] = (
        Period.day),
    weekly: Annotated[bool, typer.Option(help="Same as --period week.")] = False,
    out_file: Annotated[Path | None, typer.Option("--out", help="HTML file (.txt beside).")] = None,
    send: Annotated[bool, typer.Option(help="Mail it to the program's digest recipients.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The files written, as JSON.")] = False,
) -> None:
    """Render the compliance digest (daily or weekly); --send mails it (exit 3 if it could
    not be sent)."""
    from monitor.services.commands import digest_command
    from monitor.settings import Settings

    when = _day(day) if day else datetime.now(UTC).date()
    with working("rendering the digest" + (" and sending it" if send else "")):
        result = digest_command(Settings(), when, weekly=weekly or period is Period.week,
                                out=out_file, send=send)
    if as_json:
        emit_json("digest/1", {"html": str(result.html_path), "text": str(result.text_path),
                               "sent": result.sent if send else None, "error": result.error})
        if send and not result.sent:
            raise typer.Exit(int(ExitCode.INCOMPLETE))
        return
    out.print(f"digest: {result.html_path} and {result.text_path}", markup=False)
    if send:
        if result.sent:
            out.print("sent", markup=False)
        else:
            err.print(f"not sent: {result.error}", markup=False)
            raise typer.Exit(int(ExitCode.INCOMPLETE))
