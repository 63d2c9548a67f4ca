"""One sweep through every stage, for real: Chromium against the simulator, the example
program, SQLite, notices delivered over SMTP to aiosmtpd on loopback."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from monitor.dev.mailsink import MailSink
from monitor.models import Capture, Device
from monitor.plan import plan_tasks
from monitor.services.commands import incident_document, incident_summaries, run_sweep_command
from monitor.services.wiring import build_deps, open_store
from monitor.settings import Settings
from monitor.sweep import run_sweep

pytestmark = pytest.mark.browser

#: a small sweep that still meets every kind of advertiser in the scenario
TERMS = ("Lumora", "Lumora coupon")


def offenders(settings: Settings) -> set[tuple[str, str, str]]:
    """(offender, policy, engine) over every case's clauses and engines."""
    return {(i["offender"], c["policy"], engine) for i in incident_summaries(settings)
            for c in i["clauses"] for engine in i["engines"]}


def test_sweep_end_to_end_then_again(sim_settings: Settings, mail_sink: MailSink) -> None:
    # Given the example program and the demo scenario
    first = run_sweep_command(sim_settings, terms=TERMS, markets=["us-en", "id-id", "ae-ar"],
                              devices=[Device.desktop])

    # every task captured (the scenario keeps its misbehaviours out of these queries)
    report = first.report
    assert report.status == "done"
    assert (report.tasks, report.captured, report.failed) == (12, 12, 0)
    assert not report.blocked and report.ads > 12

    found = offenders(sim_settings)
    # the partner bidding on the brand through a Partnerize chain, and direct-linking
    assert ("sleepsaver", "no-brand-bidding", "google") in found
    assert ("sleepsaver", "no-direct-linking", "bing") in found
    # the Indonesian partner direct-linking through Impact
    assert ("kuponhemat", "no-direct-linking", "google") in found
    # the competitor on brand terms, recorded at severity info
    assert ("dreamnest.com", "competitor-on-brand", "google") in found
    # never the brand itself, nor the Arabic partner whose agreement permits Bing coupons
    assert not {o for o, _, _ in found} & {"lumora.com", "lumora.co.id", "arabiccoupons"}

    # notices: one per incident owed, in the partner's language, delivered over SMTP
    partner_incidents = [i for i in incident_summaries(sim_settings) if i["partner"]]
    assert report.notices_queued == len(partner_incidents) == first.delivery.sent
    mails = mail_sink.received
    # one message per partner and level: every notice due goes out in its partner's batch
    partners = {i["partner"] for i in partner_incidents}
    assert len(mails) == first.delivery.messages == len(partners)
    by_recipient = {m.recipients[0]: m.message() for m in mails}
    indonesian = by_recipient["budi@kuponhemat.co.id"]
    html = indonesian.get_body(("html",))
    assert html is not None and 'lang="id"' in html.get_content()
    # the screenshot as a small inline JPEG thumbnail, not a full-page PNG attachment
    assert any(part.get_content_type() == "image/jpeg" and part["Content-ID"]
               for part in indonesian.walk())
    assert not list(indonesian.iter_attachments())

    # evidence on disk for every sighting, and the digest written
    document = incident_document(sim_settings, partner_incidents[0]["id"])
    sighting = document["sightings"][0]
    assert Path(sighting["html_path"]).is_file() and Path(sighting["screenshot_path"]).is_file()
    assert sighting["chain"][0]["how"] == "start" and sighting["clauses"][0]["facts"]
    assert first.digest_html and "sleepsaver" in first.digest_html.read_text().lower()
    # with the evidence shown small beside it: thumbnails the HTML refers to
    thumbs = sorted((first.digest_html.parent / f"{first.digest_html.stem}-thumbs").glob("*.jpg"))
    assert thumbs and all(f"-thumbs/{t.name}" in first.digest_html.read_text() for t in thumbs)

    # The same sweep again: the same incidents, seen again, and no notice sent twice
    second = run_sweep_command(sim_settings, terms=TERMS, markets=["us-en", "id-id", "ae-ar"],
                               devices=[Device.desktop])
    assert second.report.incidents_new == set()
    assert len(second.report.incidents_seen_again) == len(incident_summaries(sim_settings))
    assert second.report.notices_queued == 0 and second.delivery.sent == 0
    assert len(mail_sink.received) == len(mails)
    assert offenders(sim_settings) == found
    for incident in incident_summaries(sim_settings):
        assert incident["sighting_count"] >= 2


def test_hostile_ad_is_stored_inert_and_rendered_escaped(sim_settings: Settings) -> None:
    run_sweep_command(sim_settings, engines=["google"], markets=["us-en"],
                      terms=["Lumora discount"], devices=[Device.desktop])
    hostile = [i for i in incident_summaries(sim_settings) if i["offender"] == "lumora-deals.shop"]
    assert hostile, "the scenario's hostile unknown advertiser should be judged"
    ad = incident_document(sim_settings, hostile[0]["id"])["sightings"][0]["ad"]
    # kept as the text it is, minus the controls that could reorder or split it
    assert ad["headline"].startswith("<script>alert('ad')</script>Lumora 90% OFF")
    assert "\u202e" not in ad["headline"] + ad["display_url"] and "\r" not in ad["headline"]
    assert len(ad["description"]) > 2000 and ad["description"].startswith("<iframe")
    # and shown escaped to compliance staff
    digest = sorted((sim_settings.home / "digest").glob("*.html"))[-1].read_text()
    assert "&lt;script&gt;alert(" in digest
    assert "<script>alert" not in digest and "<iframe" not in digest and "<img src=x" not in digest


def test_ctrl_c_keeps_finished_tasks_and_marks_the_sweep_interrupted(
    sim_settings: Settings,
) -> None:
    deps = build_deps(sim_settings)
    tasks = plan_tasks(deps.program, engines=["google"], markets=["us-en", "gb-en"],
                       terms=["Lumora", "Lumora coupon", "Lumora discount"])

    async def sweep_until_first_task() -> None:
        done = asyncio.Event()

        def progress(_capture: Capture, _ads: int) -> None:
            done.set()

        running = asyncio.create_task(run_sweep(deps, tasks, progress=progress))
        await done.wait()
        running.cancel()  # what Ctrl-C does to asyncio.run's main task
        with pytest.raises(asyncio.CancelledError):
            await running

    asyncio.run(sweep_until_first_task())
    store = open_store(sim_settings)
    sweep = store.sweep(1)
    assert sweep is not None and sweep.status == "interrupted" and sweep.finished_at
    statuses = [t.status for t in store.tasks()]
    captures = store.captures()
    assert statuses.count("done") >= 1 and "pending" in statuses
    assert len(captures) == statuses.count("done") + statuses.count("failed")
    deps.store.close()
    store.close()


def test_incidents_json_is_machine_readable(sim_settings: Settings) -> None:
    run_sweep_command(sim_settings, engines=["bing"], markets=["us-en"], terms=["Lumora"],
                      devices=[Device.desktop])
    rows = incident_summaries(sim_settings)
    assert rows and json.loads(json.dumps(rows))[0]["first_seen"].endswith("+00:00")
