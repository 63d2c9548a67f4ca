"""The demo: the example program swept against the local simulator, notices mailed to a local
SMTP sink. Every stage is the production code; only the internet is replaced."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from monitor.dev.mailsink import MailSink, ReceivedMail
from monitor.dev.simulator import DEFAULT_SCENARIO, Simulator
from monitor.models import Device
from monitor.resources import example_rules
from monitor.services.commands import ProgressFactory, SweepSummary, run_sweep_command
from monitor.settings import Settings

#: the demo sweeps the example program's main terms on desktop: every stage and every kind of
#: partner shows up, in well under two minutes
DEMO_TERMS = ("Lumora", "Lumora coupon", "Lumora discount")
DEMO_DEVICES = (Device.desktop,)


@dataclass
class DemoResult:
    summary: SweepSummary
    settings: Settings
    mail: list[ReceivedMail]
    mail_dir: Path


def run_demo(
    home: Path, *, fresh: bool = False, progress_factory: ProgressFactory | None = None,
    rules: Path | None = None, scenario: Path | None = None,
) -> DemoResult:
    """Sweep a program against the simulator. The example program sweeps its main terms on
    desktop (quick, and it shows every stage); `rules`, a user's own program, is swept whole,
    as `bidwatch sweep` would sweep it against the real engines."""
    if fresh and home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    mail_dir = home / "mail"
    own = rules is not None
    program = rules if rules is not None else example_rules()
    with Simulator(scenario or DEFAULT_SCENARIO).start() as simulator, MailSink(mail_dir) as sink:
        settings = Settings(
            home=home, rules=program, database_url=None,
            simulator=simulator.address, allow_private_networks=True,
            notice_url=sink.smtp_url(),
            # the simulator does not mind being asked quickly; real engines are paced
            pace_s=0.2, pace_jitter_s=0.3,
        )
        summary = run_sweep_command(settings, terms=() if own else DEMO_TERMS,
                                    devices=() if own else DEMO_DEVICES,
                                    progress_factory=progress_factory)
        return DemoResult(summary, settings, sink.received, mail_dir)
