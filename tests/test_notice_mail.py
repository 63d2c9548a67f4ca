"""Partner notices reach the inbox: every language and level, built as the outbox builds
them, scores at most 1.0 under SpamAssassin's default rules (local tests only, no network),
and a notice with an inline thumbnail stays small.

SpamAssassin runs with a home and user preferences of its own under a temporary folder, so
it never reads or writes ~/.spamassassin. Without it installed (`make setup` installs
Debian's package as root, scripts/ensure-tools.sh) the scoring tests skip.
"""

from __future__ import annotations

import email
import email.policy
import io
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from PIL import Image

from monitor.notify.batch import Batch
from monitor.notify.context import sample_notice_context
from monitor.notify.email import InlineImage
from monitor.notify.outbox import build_message
from monitor.notify.render import TemplateSet
from monitor.store import OutboxItem
from tests.notify_support import TEMPLATES, program

TEMPLATE_SET = TemplateSet(TEMPLATES)
LANGUAGES = ("en", "id", "ar")
LEVELS = (1, 2, 3)
MAX_SCORE = 1.0
MAX_BYTES = 300_000
SPAMASSASSIN = shutil.which("spamassassin")
needs_spamassassin = pytest.mark.skipif(
    SPAMASSASSIN is None,
    reason="spamassassin is not installed: `make setup` installs it when run as root "
           "(scripts/ensure-tools.sh), else `sudo apt-get install spamassassin`")


def jpeg_of_about(size: int) -> bytes:
    """A photo-like JPEG (noise compresses like a busy screenshot) of roughly `size` bytes."""
    channels = [Image.effect_noise((360, 270), sigma) for sigma in (40, 55, 70)]
    picture = Image.merge("RGB", channels)
    best = b""
    for quality in range(95, 5, -5):
        out = io.BytesIO()
        picture.save(out, format="JPEG", quality=quality)
        best = out.getvalue()
        if len(best) <= size:
            break
    return best


THUMBNAIL = jpeg_of_about(40_000)


def notice_bytes(language: str, level: int, *, cases: int = 2, thumbnails: bool = True
                 ) -> bytes:
    """A notice rendered from the project's templates and built by the outbox's own
    build_message, for the example program's sender and a partner contact: the sample's
    first `cases` cases (one case, or a batch), with a ~40 KB JPEG for every thumbnail the
    HTML shows by cid: (one, added, if it shows none)."""
    context = sample_notice_context(language, level)
    context = context.model_copy(update={"cases": context.cases[:cases]})
    rendered = TEMPLATE_SET.render_notice(context, "en")
    html = rendered.html
    names = list(dict.fromkeys(re.findall(r'src="cid:([^"]+)"', html)))
    if thumbnails and not names:  # as the notice templates show a case's thumbnail
        names = ["INC-00042.jpg"]
        html = html.replace("</body>", '<p><img src="cid:INC-00042.jpg" width="590" '
                                       'alt="thumbnail"></p></body>')
    images = tuple(InlineImage(name=n, data=THUMBNAIL) for n in names) if thumbnails else ()
    item = OutboxItem(
        key=f"notice:case42:{level}:email", kind="notice", created_at=datetime.now(UTC),
        language=rendered.language, recipients=("affiliates@sleepsaver.net",),
        cc=("legal@lumora.com",), subject=rendered.subject, body_text=rendered.text,
        body_html=html,
    )
    return build_message(Batch(item.key, [item], inline_images=images), program())


# ---------------------------------------------------------------------------- SpamAssassin


@dataclass(frozen=True)
class Verdict:
    score: float
    rules: tuple[tuple[str, float], ...]  # every rule that hit, with its points
    report: str

    def explained(self) -> str:
        hits = ", ".join(f"{name} {points:+.1f}" for name, points in self.rules)
        return f"score {self.score} (rules: {hits})\n{self.report}"


Scorer = Callable[..., list[Verdict]]


@pytest.fixture(scope="module")
def spamassassin(tmp_path_factory: pytest.TempPathFactory) -> Scorer:
    """score(raw, …) → a Verdict per message, from `spamassassin -L -t` (local tests only)
    with a private home and prefs; the messages are scored side by side."""
    home = tmp_path_factory.mktemp("spamassassin")
    prefs = home / "user_prefs"
    prefs.write_text("# bidwatch tests: SpamAssassin's defaults, nothing changed\n")
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    command = [SPAMASSASSIN or "spamassassin", "-L", "-t", "-x", "-p", str(prefs)]

    def score(*raws: bytes) -> list[Verdict]:
        with ThreadPoolExecutor(max_workers=len(raws)) as pool:
            runs = pool.map(lambda raw: subprocess.run(
                command, input=raw, capture_output=True, env=env, cwd=home, timeout=120,
                check=False), raws)
            return [parse_report(done.stdout.decode("utf-8", "replace")) for done in runs]

    return score


def parse_report(output: str) -> Verdict:
    found = re.search(r"Content analysis details:\s+\((-?\d+(?:\.\d+)?) points", output)
    assert found, f"no SpamAssassin report in:\n{output[-3000:]}"
    report = output[found.start():]
    rules = tuple((name, float(points)) for points, name in
                  re.findall(r"^\s*(-?\d+\.\d+)\s+([A-Z0-9_]+)\s", report, re.MULTILINE))
    return Verdict(float(found.group(1)), rules, report)


def as_delivered(raw: bytes) -> bytes:
    """The message as the partner's mail server sees it: one Received line from the brand's
    relay in front (SpamAssassin judges a message with no relay a little differently)."""
    received = ("Received: from mail.lumora.com (mail.lumora.com [81.2.69.160])\r\n"
                "\tby mx.sleepsaver.net (Postfix) with ESMTPS id 4Xy2Kp0Qz3z9s\r\n"
                f"\tfor <affiliates@sleepsaver.net>; {format_datetime(datetime.now(UTC))}\r\n")
    return received.encode("ascii") + raw


@needs_spamassassin
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_notice_scores_low_under_spamassassin(
    spamassassin: Scorer, language: str, level: int
) -> None:
    # the bytes kept and sent: a notice on one case, and one listing two
    single, batch = spamassassin(notice_bytes(language, level, cases=1),
                                 notice_bytes(language, level, cases=2))

    for form, verdict in (("one case", single), ("two cases", batch)):
        assert verdict.score <= MAX_SCORE, (
            f"{language} level {level}, {form}: {verdict.explained()}")


@needs_spamassassin
def test_notice_as_delivered_and_without_thumbnail_scores_low(spamassassin: Scorer) -> None:
    delivered, bare = spamassassin(as_delivered(notice_bytes("en", 1)),
                                   notice_bytes("id", 2, thumbnails=False))

    for form, verdict in (("as delivered", delivered), ("without thumbnail", bare)):
        assert verdict.score <= MAX_SCORE, f"{form}: {verdict.explained()}"


def test_notice_with_an_inline_thumbnail_stays_small() -> None:
    assert 30_000 <= len(THUMBNAIL) <= 50_000  # what a case's thumbnail weighs

    built = {(lang, level): notice_bytes(lang, level, cases=1) for lang in LANGUAGES
             for level in LEVELS}

    for raw in built.values():  # one case: one thumbnail
        assert raw.count(b"Content-Type: image/jpeg") == 1
    sizes = {key: len(raw) for key, raw in built.items()}
    assert max(sizes.values()) <= MAX_BYTES, sizes


def test_inline_thumbnail_is_a_related_part_named_by_its_content_id() -> None:
    raw = notice_bytes("ar", 2)
    message = email.message_from_bytes(raw, policy=email.policy.default)

    assert isinstance(message, EmailMessage)
    types = [p.get_content_type() for p in message.walk()]
    assert types[:4] == ["multipart/alternative", "text/plain", "multipart/related",
                         "text/html"]
    jpegs = [p for p in message.walk() if p.get_content_type() == "image/jpeg"]
    html = message.get_body(("html",))
    assert html is not None and jpegs and len(types) == 4 + len(jpegs)
    shown = set(re.findall(r'src="cid:([^"]+)"', html.get_content()))
    assert {str(p["Content-ID"]).strip("<>") for p in jpegs} == shown
    assert all(p.get_content() == THUMBNAIL and p.get_content_disposition() == "inline"
               for p in jpegs)
    assert max(len(line) for line in raw.split(b"\r\n")) <= 76



def test_parse_report_reads_score_and_rules() -> None:
    output = ("X-Spam-Status: No\n\nContent analysis details:   (2.4 points, 5.0 required)\n\n"
              " pts rule name              description\n"
              "---- ---------------------- -----------------------------\n"
              " 1.4 BASE64_LENGTH_79_INF   BODY: base64 encoded email part uses line length\n"
              "-0.0 NO_RELAYS              Informational: message was not relayed via SMTP\n"
              " 1.0 THIS_AD                \"This ad\" and variants\n")

    verdict = parse_report(output)

    assert verdict.score == 2.4
    assert verdict.rules == (("BASE64_LENGTH_79_INF", 1.4), ("NO_RELAYS", -0.0),
                             ("THIS_AD", 1.0))
