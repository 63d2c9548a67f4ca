"""Alerts to compliance staff: new serious incidents, and coverage dropping.

Alerts are queued in the outbox (kind `alert`, one key per sweep and reason) and delivered
with the same retries as notices, through the apprise URLs of BIDWATCH_ALERT_URLS. They are
queued after every run of a sweep, also one that was interrupted or failed, for what it
recorded. A sweep resumed later may find more new incidents: its alert lists only those no
earlier alert of the sweep listed (the key names the incidents it lists, first-last), so a
resumed sweep never repeats an alert and never drops a new incident. Routing
is apprise's own tag mechanism, in its text-config syntax: `high=mailto://…`,
`coverage,critical=json://…`, `always=…` (every alert). An alert carries:

- its topic: `incidents`, `coverage` or `ops` (the daemon refused a changed program);
- its severity and every lower one (`critical` → critical, high, medium, low, info), so a URL
  tagged `high` receives alerts of severity high and above.

A URL with no tag receives nothing (apprise's rule); tag it `always` to receive everything.
"""

from __future__ import annotations

import hashlib
import sys
from datetime import datetime

import apprise

from monitor.models import Severity
from monitor.notify.context import AlertContext, AlertIncident, EngineCoverage, inert_text
from monitor.notify.email import DeliveryResult, mask_url, scrub
from monitor.notify.render import SUBJECT_LIMIT, TemplateSet
from monitor.program import Program
from monitor.settings import Settings
from monitor.store import Coverage, IncidentRecord, OutboxItem, Store

#: problems listed in a refused-program alert (the rest: `bidwatch rules check`)
MAX_PROBLEMS = 20
#: the newest alerts read to find the ones a sweep already raised (a sweep's alerts are
#: among the newest unless a hundred sweeps ran between its run and its resumption)
ALERTS_LOOKBACK = 200


def alert_tags(topic: str, severity: Severity) -> list[str]:
    """The topic plus the severity and every lower one ("at least" routing)."""
    return [topic, *(s.value for s in Severity if s.rank <= severity.rank)]


# -- queueing ----------------------------------------------------------------------------------


def queue_sweep_alerts(
    store: Store,
    program: Program,
    settings: Settings,
    sweep_id: int,
    now: datetime,
    templates: TemplateSet | None = None,
) -> list[str]:
    """Queue the alerts a sweep calls for, after it ran (finished, interrupted or failed: for
    what it recorded); returns the keys newly queued. Calling it again after the same run is
    a no-op; after a resumed run it queues only what is new."""
    sweep = store.sweep(sweep_id)
    if sweep is None:
        return []
    templates = templates or _default_templates()
    base = {"program_name": program.name, "brand_name": program.brands[0].name,
            "sweep_id": sweep_id, "sweep_started": sweep.started_at}
    queued = []
    incidents = _incident_alert(store, program, settings, sweep_id, base)
    if incidents is not None:
        context, first, last = incidents
        item = _alert_item(context, templates, now,
                           key=f"{_incidents_key(sweep_id)}:{first}-{last}")
        if store.queue_outbox(item):
            queued.append(item.key)
    for context in _coverage_alerts(store, settings, sweep_id, base):
        item = _alert_item(context, templates, now)
        if store.queue_outbox(item):
            queued.append(item.key)
    return queued


def _incidents_key(sweep_id: int) -> str:
    return f"alert:{sweep_id}:new_incidents"


def _alerted_through(store: Store, sweep_id: int) -> int | None:
    """The highest incident id an earlier new-incidents alert of the sweep listed (ids only
    grow, and a resumed run's new incidents come after the run before it), or None.

    Keys `alert:S:new_incidents:FIRST-LAST` say what they list; a key without the range
    (queued before keys had one) listed every incident the sweep had then, which is taken
    to be all of them, as it was."""
    prefix = _incidents_key(sweep_id)
    through: int | None = None
    for item in store.outbox_items(kinds=["alert"], limit=ALERTS_LOOKBACK):
        if item.key == prefix:
            return sys.maxsize
        head, _, span = item.key.rpartition(":")
        last = span.partition("-")[2]
        if head == prefix and last.isdigit():
            through = max(through or 0, int(last))
    return through


def _incident_alert(
    store: Store, program: Program, settings: Settings, sweep_id: int, base: dict[str, object]
) -> tuple[AlertContext, int, int] | None:
    """The alert for the sweep's serious new incidents no earlier alert of it listed, with
    the first and last of their ids; None when there are none."""
    least = Severity(settings.alert_min_severity)
    through = _alerted_through(store, sweep_id)
    serious = [i for i in store.incidents_first_seen_in_sweep(sweep_id)
               if _severity(i).rank >= least.rank and (through is None or i.id > through)]
    if not serious:
        return None
    top = max((_severity(i) for i in serious), key=lambda s: s.rank)
    names = {p.id: p.name for p in program.partners}
    rows = tuple(_alert_incident(store, i, names) for i in serious)
    context = AlertContext.model_validate(
        base | {"reason": "new_incidents", "severity": top.value, "incidents": rows})
    ids = [i.id for i in serious]
    return context, min(ids), max(ids)


def _severity(incident: IncidentRecord) -> Severity:
    try:
        return Severity(incident.severity)
    except ValueError:
        return Severity.info


def _alert_incident(
    store: Store, incident: IncidentRecord, names: dict[str, str]
) -> AlertIncident:
    detail = store.incident(incident.id)
    headline = ""
    if detail and detail.sightings:
        ad = detail.ads.get(detail.sightings[-1].ad_id)
        headline = ad.headline if ad else ""
    return AlertIncident(
        incident_id=incident.reference, severity=incident.severity,
        offender=incident.offender, partner_name=names.get(incident.partner or ""),
        policy_title=incident.title, engine=", ".join(incident.engines),
        markets=incident.markets, headline=headline,
    )


def _coverage_alerts(
    store: Store, settings: Settings, sweep_id: int, base: dict[str, object]
) -> list[AlertContext]:
    engines = _engine_coverage(store.sweep_coverage_by_engine(sweep_id))
    asked = sum(e.asked for e in engines)
    blocked = sum(e.blocked for e in engines)
    alerts = []
    if asked and blocked / asked > settings.alert_blocked_share:
        alerts.append(AlertContext.model_validate(base | {
            "reason": "blocked_share", "severity": Severity.medium.value, "engines": engines,
            "asked": asked, "blocked": blocked,
            "threshold_pct": round(100 * settings.alert_blocked_share)}))
    down = tuple(e for e in engines
                 if e.captured == 0 and e.asked >= settings.alert_engine_min_tasks)
    if down:
        alerts.append(AlertContext.model_validate(base | {
            "reason": "engine_down", "severity": Severity.high.value, "engines": down,
            "asked": asked, "blocked": blocked}))
    return alerts


def _engine_coverage(by_engine: dict[str, Coverage]) -> tuple[EngineCoverage, ...]:
    # asked: the tasks that were asked (a task the sweep never reached says nothing about
    # an engine's health)
    return tuple(EngineCoverage(engine=engine, asked=c.asked - c.never_asked,
                                captured=c.captured, blocked=c.blocked_total, failed=c.failed)
                 for engine, c in sorted(by_engine.items()))


def queue_program_refused_alert(
    store: Store,
    program: Program,
    problems: list[str],
    now: datetime,
    templates: TemplateSet | None = None,
) -> str | None:
    """Queue the alert that a changed program was refused (the last good one stays in force);
    once per distinct set of problems. Returns the key, or None when already queued."""
    context = AlertContext(
        program_name=program.name, brand_name=program.brands[0].name,
        reason="program_refused", severity=Severity.high.value,
        problems=tuple(inert_text(p, 200) for p in problems[:MAX_PROBLEMS]))
    digest = hashlib.sha256("\n".join(problems).encode()).hexdigest()[:16]
    item = _alert_item(context, templates or _default_templates(), now,
                       key=f"alert:program:{digest}", topic="ops")
    return item.key if store.queue_outbox(item) else None


def _alert_item(context: AlertContext, templates: TemplateSet, now: datetime, *,
                key: str | None = None, topic: str | None = None) -> OutboxItem:
    variables = context.template_vars()
    base = f"alerts/{context.reason}"
    topic = topic or ("incidents" if context.reason == "new_incidents" else "coverage")
    return OutboxItem(
        key=key or f"alert:{context.sweep_id}:{context.reason}", kind="alert",
        channel="apprise",
        tags=",".join(alert_tags(topic, Severity(context.severity))),
        subject=inert_text(templates.render(f"{base}.subject.j2", variables), SUBJECT_LIMIT),
        body_text=templates.render(f"{base}.txt.j2", variables),
        created_at=now, next_attempt_at=now,
    )


def _default_templates() -> TemplateSet:
    from monitor.resources import templates_dir

    return TemplateSet(templates_dir())


# -- delivery ----------------------------------------------------------------------------------


def alert_notifier(alert_urls: str) -> apprise.Apprise:
    """The configured alert URLs with their tags, read by apprise's text-config parser
    (entries separated by whitespace or new lines)."""
    config = apprise.AppriseConfig()
    config.add_config("\n".join(alert_urls.split()), format="text")
    notifier = apprise.Apprise()
    notifier.add(config)
    return notifier


def send_alert(alert_urls: str, item: OutboxItem) -> DeliveryResult:
    """Deliver one alert to every URL its tags select. Never raises; no secrets in errors."""
    tags = [t for t in item.tags.split(",") if t]
    try:
        notifier = alert_notifier(alert_urls)
        if not list(notifier.find(tag=tags or None)):
            return DeliveryResult(ok=False, error=f"no alert URL is tagged for any of: "
                                  f"{', '.join(tags)} (tag one 'always' to get every alert)")
        result = notifier.notify(body=item.body_text, title=item.subject,
                                 body_format=apprise.NotifyFormat.TEXT, tag=tags or None)
    except Exception as exc:  # a plugin bug must not take the outbox worker down
        return DeliveryResult(ok=False, error=_scrubbed(f"apprise failed: {exc}", alert_urls))
    if result:
        return DeliveryResult(ok=True)
    return DeliveryResult(ok=False, error=_scrubbed(
        f"an alert URL refused the alert ({_hosts(alert_urls)})", alert_urls))


def _scrubbed(text: str, alert_urls: str) -> str:
    for entry in alert_urls.split():
        text = scrub(text, entry.split("=", 1)[-1])
    return text


def _hosts(alert_urls: str) -> str:
    return ", ".join(mask_url(e.split("=", 1)[-1]) for e in alert_urls.split())
