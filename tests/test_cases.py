"""Cases, not rows: one case per offending ad, over a real sweep of the simulator (the demo)
and over the recording rules, the migration from incidents and the staff actions."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import gzip
import shutil
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.async_api import async_playwright
from typer.testing import CliRunner

from monitor.capture.browser import find_browser, launch
from monitor.cli import app
from monitor.dev.demo import DemoResult, run_demo
from monitor.judge import compile_policies
from monitor.judge.incidents import Escalation, IncidentStatus
from monitor.notify.digest import Period, build_digest, render_digest
from monitor.notify.render import TemplateSet
from monitor.services.commands import allow_incident
from monitor.services.explain import explain_sighting
from monitor.store import Store
from tests.notify_support import TEMPLATES, Breach, program, record_breach

FIXTURES = Path(__file__).parent / "fixtures"
T0 = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)


# -- over the demo: a real sweep of the simulator ------------------------------------------


@pytest.fixture(scope="module")
def demo_twice(tmp_path_factory: pytest.TempPathFactory, demo_run: DemoResult
               ) -> tuple[DemoResult, DemoResult, dict]:
    """The demo run twice into one home (the first run is a copy of the session's, its
    report and mail as that run had them); between the runs, one case is carried to the
    allowlist as a false positive."""
    home = tmp_path_factory.mktemp("cases") / "demo"
    shutil.copytree(demo_run.settings.home, home)
    first = dataclasses.replace(demo_run, settings=demo_run.settings.model_copy(
        update={"home": home}))
    store = Store(first.settings.database)
    try:
        before = {c.id: c for c in store.incidents()}
        hostile = next(c for c in before.values() if c.offender == "lumora-deals.shop")
    finally:
        store.close()
    allowed = allow_incident(first.settings, hostile.id, "test: cleared by the brand")
    second = run_demo(home)
    return first, second, {"before": before, "allowed": allowed}


def _cases(result: DemoResult) -> Store:
    return Store(result.settings.database)


def test_the_demo_yields_one_case_per_offending_advertiser_and_destination(
    demo_twice: tuple[DemoResult, DemoResult, dict],
) -> None:
    first, _second, state = demo_twice
    cases = list(state["before"].values())
    # each sighting with findings belongs to the case of its offender, destination, network
    store = _cases(first)
    try:
        keys = defaultdict(set)
        for case in cases:
            detail = store.incident(case.id)
            assert detail is not None
            for sighting in detail.sightings:
                a = detail.attributions[sighting.ad_id]
                keys[case.id].add((sighting.offender, a.landing_domain or a.display_domain,
                                   a.network))
        assert all(len(k) == 1 for k in keys.values()), keys
        assert len({next(iter(k)) for k in keys.values()}) == len(cases)
    finally:
        store.close()
    assert 4 <= len(cases) <= 8, [c.key for c in cases]  # not 40 rows
    # the summary counts cases, as the digest does
    assert len(first.summary.report.incidents_new) == len(cases)
    partner_cases = [c for c in cases if c.partner]
    assert {c.partner for c in partner_cases} == {"sleepsaver", "kuponhemat"}
    # SleepSaver runs two ads (through Partnerize and through CJ): two cases
    assert sorted(c.network or "" for c in cases if c.partner == "sleepsaver") == \
        ["cj", "partnerize"]
    # a case holds every clause it breaks, the most severe first
    kupon = next(c for c in cases if c.partner == "kuponhemat")
    assert {"no-brand-bidding", "no-direct-linking"} <= set(kupon.policies)
    assert kupon.severity == kupon.clauses[0].severity == "high"


def test_a_rotating_headline_stays_one_case(
    demo_twice: tuple[DemoResult, DemoResult, dict],
) -> None:
    first, _second, state = demo_twice
    case = next(c for c in state["before"].values() if c.network == "partnerize")
    store = _cases(first)
    try:
        detail = store.incident(case.id)
        assert detail is not None
        headlines = {detail.ads[s.ad_id].headline for s in detail.sightings}
    finally:
        store.close()
    assert len(headlines) >= 2, headlines  # the simulator rotated it; still one case


def test_the_case_list_shows_each_case_its_latest_headline_in_one_query(
    demo_twice: tuple[DemoResult, DemoResult, dict],
) -> None:
    _first, second, _state = demo_twice
    store = _cases(second)
    try:
        cases = store.incidents()
        expected = {}
        for case in cases:
            detail = store.incident(case.id)
            assert detail is not None
            newest = max(detail.sightings, key=lambda s: (s.seen_at, s.id))
            expected[case.id] = detail.ads[newest.ad_id].headline
        assert store.latest_headlines(c.id for c in cases) == expected
        assert store.latest_headlines([]) == {} and store.latest_headlines([10**9]) == {}
    finally:
        store.close()


def test_a_second_run_adds_sightings_and_no_case(
    demo_twice: tuple[DemoResult, DemoResult, dict],
) -> None:
    _first, second, state = demo_twice
    before = state["before"]
    store = _cases(second)
    try:
        after = {c.id: c for c in store.incidents()}
    finally:
        store.close()
    assert set(after) == set(before)
    assert second.summary.report.incidents_new == set()
    allowed = state["allowed"].case.id
    for case_id, case in after.items():
        if case_id == allowed:
            continue
        assert case.sighting_count > before[case_id].sighting_count, case.key


def test_a_false_positive_carried_to_the_allowlist_silences_the_next_sweep(
    demo_twice: tuple[DemoResult, DemoResult, dict],
) -> None:
    _first, second, state = demo_twice
    allowed = state["allowed"]
    assert (allowed.entry.advertiser, allowed.entry.destination) == \
        ("lumora-deals.shop", "lumora-deals.shop")
    store = _cases(second)
    try:
        case = store.incidents_by_id([allowed.case.id])[0]
        seen = [s for s in store.sightings_between(T0 - timedelta(days=3650),
                                                   datetime.now(UTC) + timedelta(days=1))
                if s.offender == "lumora-deals.shop"]
        notes = [e.note for e in store.incident(case.id).events]  # type: ignore[union-attr]
    finally:
        store.close()
    assert case.status == IncidentStatus.false_positive
    assert case.sighting_count == state["before"][case.id].sighting_count  # nothing new
    assert len({s.sweep_id for s in seen}) == 2  # its ads were still seen and recorded
    assert any(n.startswith("allowlisted: test: cleared") for n in notes)


def test_the_digest_counts_the_cases_the_sweep_counted(
    demo_twice: tuple[DemoResult, DemoResult, dict],
) -> None:
    first, _second, state = demo_twice
    store = _cases(first)
    try:
        ctx = build_digest(store, program(first.settings.rules),
                           Period.ending_on(datetime.now(UTC).date(), 1))
    finally:
        store.close()
    assert ctx.totals.new_incidents == len(state["before"])
    rows = ctx.new_incidents + ctx.new_clauses + ctx.seen_again
    assert len({r.incident_id for r in rows}) == len(rows)  # each case once
    assert all("/" not in (r.evidence or "").replace(" / ", "") for r in rows)  # no paths


def test_the_digest_links_each_case_into_the_console_when_it_has_an_address(
    demo_twice: tuple[DemoResult, DemoResult, dict],
) -> None:
    first, _second, _state = demo_twice
    store = _cases(first)
    try:
        period = Period.ending_on(datetime.now(UTC).date(), 1)
        linked = build_digest(store, program(first.settings.rules), period,
                              console="https://bidwatch.example.com/")
        plain = build_digest(store, program(first.settings.rules), period)
        html = render_digest(store, program(first.settings.rules),
                             TemplateSet(TEMPLATES), period,
                             console="https://bidwatch.example.com").html
    finally:
        store.close()
    rows = linked.new_incidents + linked.new_clauses + linked.seen_again
    assert rows and all(r.link == f"https://bidwatch.example.com/cases/{r.case_id}"
                        for r in rows)
    assert linked.console_url == "https://bidwatch.example.com/cases"
    assert all(ref.link for ref in linked.evidence)
    assert all(r.link is None for r in plain.new_incidents) and plain.console_url is None
    assert f'href="https://bidwatch.example.com/cases/{rows[0].case_id}"' in html


def test_explain_names_the_permission_that_exempted_an_ad(
    demo_twice: tuple[DemoResult, DemoResult, dict],
) -> None:
    first, _second, _state = demo_twice
    store = _cases(first)
    try:
        arabic = [s for s in store.sightings_between(T0 - timedelta(days=3650),
                                                     datetime.now(UTC) + timedelta(days=1))
                  if s.market == "ae-ar" and s.engine == "bing" and s.offender == "arabiccoupons"]
    finally:
        store.close()
    assert arabic, "the demo shows ArabicCoupons' coupon ad on Bing in the UAE"
    document = explain_sighting(first.settings, arabic[0].id)
    exempted = {e["policy"]: e for e in document["exempted"]}
    assert "no-brand-bidding" in exempted
    assert "ae-ar" in exempted["no-brand-bidding"]["permission"]
    assert exempted["no-brand-bidding"]["agreement_version"]


# -- the recording rules --------------------------------------------------------------------


def test_a_new_clause_on_an_open_case_is_recorded_as_new(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        home = tmp_path
        _sweep, first = record_breach(store, home, Breach("sleepsaver"), T0)
        later = T0 + timedelta(hours=5)
        _sweep, second = record_breach(store, home, Breach(
            "sleepsaver", headline="Lumora Codes - another headline, the same ad",
            also_breaks=("no-brand-in-ad-copy",)), later)
        (case,) = store.incidents()
        detail = store.incident(case.id)
    finally:
        store.close()
    assert first.new_incidents == [case.id] and second.seen_again == [case.id]
    assert second.new_clauses == [(case.id, "no-brand-in-ad-copy")]
    by_policy = {c.policy: c for c in case.clauses}
    assert by_policy["no-brand-in-ad-copy"].first_seen == later
    assert by_policy["no-brand-bidding"].sighting_count == 2
    assert [c.policy for c in case.clauses_new_since(later)] == ["no-brand-in-ad-copy"]
    assert detail is not None
    assert any(e.note == "new clause: no brand in ad copy" for e in detail.events)
    assert case.severity == "high"


def test_a_grave_new_clause_raises_the_level_a_milder_one_does_not(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    escalation = Escalation(first_levels={"no-direct-linking": 3})
    try:
        record_breach(store, tmp_path, Breach("sleepsaver"), T0, escalation=escalation)
        record_breach(store, tmp_path, Breach("sleepsaver", policy="no-brand-in-ad-copy"),
                      T0 + timedelta(hours=1), escalation=escalation)
        (case,) = store.incidents()
        assert case.level == 1
        record_breach(store, tmp_path, Breach("sleepsaver", policy="no-direct-linking"),
                      T0 + timedelta(hours=2), escalation=escalation)
        (case,) = store.incidents()
        keys = sorted(o.key for o in store.outbox())
    finally:
        store.close()
    assert case.level == 3
    assert keys == [f"notice:case{case.id}:1:email", f"notice:case{case.id}:3:email"]


def test_the_judge_silences_a_cleared_advertiser_and_destination(tmp_path: Path) -> None:
    from tests.notify_support import sighting_for

    judge = compile_policies(program())
    sighting = sighting_for(Breach("sleepsaver"), T0)
    assert judge.judge(sighting)
    judge.clear([(sighting.offender, sighting.attribution.landing_domain or "")])
    assert judge.judge(sighting) == []


# -- staff actions --------------------------------------------------------------------------


def test_set_takes_several_ids_and_changes_all_or_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("BIDWATCH_HOME", str(home))
    store = Store(f"sqlite:///{(home / 'bidwatch.db').resolve()}")
    try:
        for n, landing in enumerate(("a.example", "b.example", "c.example")):
            record_breach(store, home, Breach("sleepsaver", landing_domain=landing),
                          T0 + timedelta(n))
        ids = sorted(c.id for c in store.incidents())
    finally:
        store.close()
    runner = CliRunner()
    result = runner.invoke(app, ["incidents", "set", *map(str, ids[:2]), "acknowledged",
                                 "--note", "called them"])
    assert result.exit_code == 0, result.output
    assert f"INC-{ids[0]:05d}: acknowledged" in result.output
    bad = runner.invoke(app, ["incidents", "set", str(ids[2]), "999", "resolved"])
    assert bad.exit_code == 2 and "no incident 999" in bad.output
    store = Store(f"sqlite:///{(home / 'bidwatch.db').resolve()}")
    try:
        statuses = {c.id: c.status for c in store.incidents()}
    finally:
        store.close()
    assert statuses == {ids[0]: "acknowledged", ids[1]: "acknowledged", ids[2]: "new"}


# -- the migration: a store filled by the old code -------------------------------------------


def test_the_migration_folds_old_incidents_into_cases_losing_nothing(tmp_path: Path) -> None:
    """tests/fixtures/pre_cases.sqlite.gz is the demo run by the code before cases (40
    incidents), then `incidents set 18 acknowledged`, `26 false_positive`, `5 resolved`."""
    path = tmp_path / "old.db"
    with gzip.open(FIXTURES / "pre_cases.sqlite.gz") as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    store = Store(f"sqlite:///{path}")  # migrates on open
    try:
        cases = store.incidents()
        by_key = {c.key: c for c in cases}
        details = {c.id: store.incident(c.id) for c in cases}
        outbox = store.outbox()
        aliases = {old: store.case_of(old) for old in range(1, 41)}
    finally:
        store.close()
    assert len(cases) == 5, sorted(by_key)
    assert {"sleepsaver|lumora.com|cj", "sleepsaver|lumora.com|partnerize",
            "kuponhemat|lumora.co.id|impact", "lumora-deals.shop|lumora-deals.shop|direct",
            "dreamnest.com|dreamnest.com|direct"} == set(by_key)
    # every old id names a case; every finding, sighting and notice is kept and re-pointed
    assert all(aliases[old] in details for old in aliases)
    assert sum(len(d.findings) for d in details.values() if d) == 72
    assert len({s.id for d in details.values() if d for s in d.sightings}) == 27
    notices = [o for o in outbox if o.kind == "notice"]
    assert len(outbox) == 37 and len(notices) == 36
    assert all(o.incident_id in details for o in notices)
    events = sum(len(d.events) for d in details.values() if d)
    assert events == 79 + 40  # every old event, plus one "folded" event per old incident
    # statuses: the most advanced wins, the others stay in the history with their notes
    kupon = by_key["kuponhemat|lumora.co.id|impact"]
    assert kupon.status == "resolved" and kupon.level == 1
    notes = [e.note for e in details[kupon.id].events]  # type: ignore[union-attr]
    assert "partner says the campaign is paused" in notes
    assert "ad removed, confirmed by phone" in notes
    assert sum("folded into this case" in n for n in notes) == 18
    assert by_key["dreamnest.com|dreamnest.com|direct"].status == "false_positive"
    sleepsaver = by_key["sleepsaver|lumora.com|cj"]
    assert set(sleepsaver.policies) == {"no-brand-bidding", "no-brand-in-ad-copy",
                                        "no-direct-linking"}
    assert sleepsaver.severity == "high" and set(sleepsaver.engines) == {"bing", "google"}


# -- the notices the demo sent: one per partner and level, readable on a desktop and a phone


def _notice_mails(result: DemoResult) -> list[EmailMessage]:
    mails = [m.message() for m in result.mail]
    return [m for m in mails if m.get("X-Bidwatch-Notice-Key")
            and "digest" not in str(m["Subject"]).lower()]


def _html_with_images_inline(message: EmailMessage) -> str:
    """The HTML part with each cid: image as a data URI, as a mail client shows it."""
    html_part = message.get_body(preferencelist=("html",))
    assert html_part is not None
    html = html_part.get_content()
    for part in message.walk():
        cid = part.get("Content-ID")
        if cid and part.get_content_maintype() == "image":
            data = base64.b64encode(part.get_payload(decode=True)).decode()
            html = html.replace(f"cid:{cid.strip('<>')}",
                                f"data:{part.get_content_type()};base64,{data}")
    return html


async def _page_size(html: str, width: int, browser_path: Path, shot: Path) -> tuple[int, int]:
    async with async_playwright() as playwright:
        browser = await launch(playwright, find_browser(browser_path))
        try:
            page = await browser.new_page(viewport={"width": width, "height": 900},
                                          java_script_enabled=False)
            await page.set_content(html)
            await page.screenshot(path=str(shot), full_page=True)
            return (await page.evaluate("document.documentElement.scrollWidth"),
                    await page.evaluate("document.documentElement.scrollHeight"))
        finally:
            await browser.close()


def test_each_partner_gets_one_compact_notice_that_fits_desktop_and_phone(
    demo_twice: tuple[DemoResult, DemoResult, dict], browser_path: Path, tmp_path: Path,
) -> None:
    first, _second, state = demo_twice
    notices = _notice_mails(first)
    partners = {c.partner for c in state["before"].values() if c.partner}
    assert len(notices) == len(partners)  # one message per partner and level
    sleepsaver = next(m for m in notices if "SleepSaver" in m.get_body(
        preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
    for message in notices:
        raw = message.as_bytes()
        assert len(raw) <= 300_000, len(raw)
        images = [p for p in message.walk() if p.get_content_maintype() == "image"]
        assert images and all(p.get_content_type() == "image/jpeg" for p in images)
        assert all(p.get("Content-ID") for p in images)  # inline, not attachments
        html = _html_with_images_inline(message)
        assert "evidence/" not in html and str(first.settings.home) not in html
        for width, most in ((1200, 3000), (400, None)):
            shot = tmp_path / f"{message['Message-ID'].strip('<>')}-{width}.png"
            seen_width, height = asyncio.run(_page_size(html, width, browser_path, shot))
            assert seen_width <= width, (width, seen_width)  # no sideways scroll
            if most:
                assert height <= most, (message["Subject"], height)
    # SleepSaver's message covers both of its cases, each with its thumbnail
    text = sleepsaver.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert text.count("INC-") >= 2 and "Ad 1 of 2" in text
