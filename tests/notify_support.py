"""Helpers for the notify tests: incidents recorded through the real store, a loopback
webhook receiver for apprise json:// posts, hostile ad text."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from monitor.judge.incidents import Escalation
from monitor.models import (
    AdKind,
    AdPosition,
    AdvertiserClass,
    Attribution,
    Capture,
    CaptureStatus,
    Chain,
    Device,
    Fact,
    Finding,
    Hop,
    HopHow,
    JudgedAd,
    MarketRef,
    NetworkIds,
    ObservedAd,
    SearchTask,
    Severity,
    Sighting,
)
from monitor.program import Program, load_program
from monitor.settings import Settings
from monitor.store import RecordOutcome, Store

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
TEMPLATES = ROOT / "templates"
MARKETS = {
    "en": MarketRef(id="us-en", country="US", language="en", timezone="America/New_York"),
    "id": MarketRef(id="id-id", country="ID", language="id", timezone="Asia/Jakarta"),
    "ar": MarketRef(id="ae-ar", country="AE", language="ar", timezone="Asia/Dubai"),
}
# The smallest valid PNG: 1x1, transparent.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f0e0000000049454e44ae426082"
)
HOSTILE_HEADLINE = ("Lumora <script>alert(1)</script><img src=x onerror=alert(2)> "
                    "\u202egpj.exe\r\nBcc: victim@example.com {{ 7*7 }} " + "A" * 100_000)


def program(rules: Path = RULES) -> Program:
    return load_program(rules)


def rules_with(tmp: Path, notices: dict[str, Any]) -> Path:
    """A copy of the example program with extra `notices:` settings."""
    import shutil

    import yaml

    target = tmp / "rules"
    shutil.copytree(RULES, target)
    path = target / "program.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["notices"].update(notices)
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return target


@dataclass(frozen=True)
class Breach:
    partner: str
    language: str = "en"
    policy: str = "no-brand-bidding"
    engine: str = "google"
    query: str = "lumora"
    headline: str = "Lumora Mattress Sale - Up To 40% Off"
    severity: Severity = Severity.high
    screenshot: bool = True
    #: where the ad lands and the network it went through: another pair is another case
    landing_domain: str = "lumora.com"
    network: str | None = "impact"
    #: further policies the same ad breaks (further clauses of its case), same severity
    also_breaks: tuple[str, ...] = ()


def record_breach(store: Store, home: Path, breach: Breach, at: datetime,
                  *, escalation: Escalation | None = None) -> tuple[int, RecordOutcome]:
    """Record one sighting with a finding against `breach.partner`, as a sweep would;
    returns the sweep's id and what recording did."""
    task = SearchTask(brand="lumora", engine=breach.engine, query=breach.query,
                      term_group="brand", market=MARKETS[breach.language],
                      device=Device.desktop)
    sweep_id, ids = store.begin_sweep("p", [task], dry_run=False, now=at)
    shot = None
    if breach.screenshot:
        shot = f"evidence/{breach.partner}-{breach.engine}-{breach.query}.png".replace(" ", "-")
        (home / shot).parent.mkdir(parents=True, exist_ok=True)
        (home / shot).write_bytes(PNG)
    capture = Capture(task=task, status=CaptureStatus.ok, url="https://www.google.com/search",
                      final_url="https://www.google.com/search", http_status=200,
                      captured_at=at, html_path=None, screenshot_path=shot)
    return sweep_id, store.record_task(ids[task.key], capture, [_judged(task, breach, at)],
                                       queue_notices=True,
                                       escalation=escalation or Escalation())


def sighting_for(breach: Breach, at: datetime) -> Sighting:
    """The sighting record_breach records for `breach` (to judge it directly)."""
    task = SearchTask(brand="lumora", engine=breach.engine, query=breach.query,
                      term_group="brand", market=MARKETS[breach.language],
                      device=Device.desktop)
    return _judged(task, breach, at).sighting


def _judged(task: SearchTask, breach: Breach, at: datetime) -> JudgedAd:
    link = f"https://go.{breach.partner}.example/r/lumora"
    ad = ObservedAd(kind=AdKind.text, position=AdPosition.top, rank=1, headline=breach.headline,
                    description="Official deals <b>today</b>", display_url=f"{breach.partner}.com",
                    link=link)
    landing = f"https://www.{breach.landing_domain}/sale"
    chain = Chain(start_url=link, landing_url=landing, hops=(
        Hop(link, HopHow.start), Hop(landing, HopHow.http, 302)))
    network = NetworkIds(breach.network, publisher_id="2345678") if breach.network else None
    attribution = Attribution(AdvertiserClass.partner, partner=breach.partner,
                              network=network, display_domain=f"{breach.partner}.com",
                              landing_domain=breach.landing_domain,
                              domains=(breach.landing_domain,), reason="test")
    sighting = Sighting(task, ad, chain, attribution, at)
    findings = tuple(
        Finding(policy=policy, severity=breach.severity, offender=sighting.offender,
                partner=breach.partner, term_group="brand", title=policy.replace("-", " "),
                clause="4.1", notice_template="brand_bidding",
                facts=(Fact("term_group", "brand"),))
        for policy in (breach.policy, *breach.also_breaks))
    return JudgedAd(ad, chain, attribution, sighting, findings)


def notify_settings(home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"home": home, "rules": RULES, "database_url": None,
                              "outbox_backoff_s": 0, "outbox_sending_timeout_s": 0}
    return Settings(**(values | overrides))


# -- a loopback webhook receiver ----------------------------------------------------------------


@dataclass
class Webhook:
    """Captures what apprise's json:// posts, by path."""

    posts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    status: int = 200
    port: int = 0

    def url(self, path: str = "alerts") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body in self.posts if p == f"/{path}"]


@contextmanager
def webhook_receiver() -> Iterator[Webhook]:
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length", "0"))
            hook.posts.append((self.path, json.loads(self.rfile.read(size) or b"{}")))
            self.send_response(hook.status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
