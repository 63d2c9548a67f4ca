"""A new compliance program from a few answers (each checked as it was given, in
monitor.program.answers): the six commented files rendered, and the result checked by the
real loader before it replaces anything.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from monitor.program.answers import AnswerError, MarketAnswer
from monitor.program.fields import ENGINE_NAMES

#: the files a program is made of, in the order they are written and described
PROGRAM_FILES = ("program.yaml", "brands.yaml", "markets.yaml", "partners.yaml",
                 "policies.yaml", "agreements.yaml")
SCHEMA_FILE = "program.schema.json"
#: the first line of every file: editors that speak the YAML language server complete and
#: flag the program as one types
SCHEMA_LINE = f"# yaml-language-server: $schema=./{SCHEMA_FILE}"
DEFAULT_ENGINES = ("google", "bing")
DEFAULT_MODIFIERS = ("coupon", "promo code", "discount", "login")
DEFAULT_DEVICES = ("desktop", "mobile")


# ---------------------------------------------------------------------------------------------
# The answers, whole.


@dataclass(frozen=True)
class ProgramAnswers:
    brand_id: str
    brand_name: str
    terms: tuple[str, ...]
    domains: tuple[str, ...]
    markets: tuple[MarketAnswer, ...]
    engines: tuple[str, ...] = DEFAULT_ENGINES
    networks: tuple[str, ...] = ()
    modifiers: tuple[str, ...] = DEFAULT_MODIFIERS
    misspellings: tuple[str, ...] = ()
    devices: tuple[str, ...] = DEFAULT_DEVICES
    sender_email: str = ""
    sender_name: str = ""
    reply_to: str | None = None
    program_manager: str = ""
    office_timezone: str = ""

    def __post_init__(self) -> None:
        for what, values in (("term", self.terms), ("domain", self.domains),
                             ("market", self.markets), ("engine", self.engines),
                             ("device", self.devices)):
            if not values:
                raise AnswerError(f"a program needs at least one {what}")
        ids = [m.id for m in self.markets]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise AnswerError(f"market {twice[0]} is given twice (one market per country and "
                              "language)")

    @property
    def name(self) -> str:
        return f"{self.brand_name} paid-search brand protection"


# ---------------------------------------------------------------------------------------------
# Rendering: YAML text with comments, every stranger's value quoted when it must be.

_PLAIN = re.compile(r"[^\W_][\w .&'/+-]*")


def yaml_text(value: str) -> str:
    """A string as a YAML scalar: plain when YAML reads it back as the same string, else
    double-quoted (a JSON string is a valid YAML double-quoted scalar)."""
    if _PLAIN.fullmatch(value) and not value.endswith(" "):
        try:
            if yaml.safe_load(value) == value:
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value, ensure_ascii=False)


def flow(values: Sequence[str]) -> str:
    return "[" + ", ".join(yaml_text(v) for v in values) + "]"


def _program_yaml(a: ProgramAnswers) -> str:
    others = [e for e in ENGINE_NAMES if e not in a.engines]
    also = f" Also supported: {', '.join(others)}." if others else ""
    reply = f"  reply_to: {yaml_text(a.reply_to)}\n" if a.reply_to else (
        "  # reply_to: affiliates@example.com   # where partners' replies go\n")
    return f"""{SCHEMA_LINE}
# The {a.brand_name} compliance program, written by `bidwatch init`: what to watch, when,
# and who signs the notices. Every *.yaml file in this directory is read; each top-level
# key lives in exactly one file. See docs/program.md for the format and run
# `bidwatch rules check` after every change.

name: {yaml_text(a.name)}
# the language of notices to partners whose language has no templates
default_language: {a.markets[0].language}

# Engines to sweep.{also}
engines: {flow(a.engines)}
devices: {flow(a.devices)}

# When `bidwatch run` sweeps, delivers notices and writes the digest (docs/scheduling.md).
schedule:
  cron: "15 */3 * * *"      # the whole program every three hours at :15 (in `timezone`)
  jitter_seconds: 300       # spread the start over five minutes
  timezone: {a.office_timezone}   # the office: cron above, digest, reminders and retention
  outbox_every_seconds: 60
  digest_at: "07:00"
  reminders_at: "08:00"
  retention_at: "03:30"
  # Named sweeps at random minutes in each market's own time zone catch partners who bid
  # at night and at weekends, e.g.:
  # sweeps:
  #   - id: round-the-clock
  #     sample: {{runs_per_day: 4}}
  # Around key shopping days every sweep runs `factor` times as often (in each market's
  # dates); dated events of your own: {{name: spring sale, from: 2027-04-01, to: 2027-04-04}}
  surge:
    factor: 3
    days_before: 2
    days_after: 1
    events: [black_friday, cyber_monday, christmas]

# Never follow the engines' paid click URLs: a click can charge the advertiser.
follow_click_urls: false

# Authorised resellers' domains: their ads are never judged.
allowlist: []

# Ads whose display or landing domain is here are skipped entirely (e.g. marketplaces).
ignore: []

# How incidents age and escalate: an open incident not seen for 30 days expires; a partner's
# new breach within 90 days of an earlier notice starts one notice level higher.
incidents:
  expire_after_days: 30
  repeat_window_days: 90

# Who notices come from and who signs them (docs/notices.md).
notices:
  sender_email: {yaml_text(a.sender_email)}
  sender_name: {yaml_text(a.sender_name)}
{reply}  program_manager: {yaml_text(a.program_manager)}
  # who gets the daily digest (the sender when empty)
  digest_to: []
  # true: notices wait as `held` until `bidwatch notices approve ID`
  require_approval: true
  # one message per partner and level per delivery run, listing every incident due
  batch_per_partner: true
  # days between policy reminders to every active partner (omit: no reminders), e.g. 90
  # reminder_every_days: 90
"""


def _brands_yaml(a: ProgramAnswers) -> str:
    misspellings = flow(a.misspellings) if a.misspellings else "[]"
    return f"""{SCHEMA_LINE}
# The trademarks we protect. Plan makes the queries (term groups) from these:
#   brand            each term alone                 "{a.terms[0]}"
#   brand+<modifier> a term with a modifier          "{a.terms[0]} coupon" -> brand+coupon
#   misspelling      each listed misspelling
# `domains` are the brand's own sites: an ad landing there through a network is direct
# linking, and no partner may claim them.
brands:
  - id: {a.brand_id}
    name: {yaml_text(a.brand_name)}
    terms: {flow(a.terms)}
    modifiers: {flow(a.modifiers) if a.modifiers else "[]"}
    misspellings: {misspellings}
    domains: {flow(a.domains)}
"""


def _markets_yaml(a: ProgramAnswers) -> str:
    rows = []
    for market in a.markets:
        city = f"    city: {yaml_text(market.city)}\n" if market.city else ""
        rows.append(f"  - id: {market.id}\n    country: {market.country}\n"
                    f"    language: {market.language}\n    timezone: {market.timezone}\n{city}")
    return f"""{SCHEMA_LINE}
# Where the sweeps run. `city` is Google's canonical location name (used for uule, e.g.
# "New York,New York,United States"); leave it out to search the whole country.
markets:
{"".join(rows)}"""


def _partners_yaml(a: ProgramAnswers) -> str:
    if a.networks:
        imports = "".join(f"#   bidwatch partners import {n}-publishers.csv --network {n}\n"
                          for n in a.networks)
        example_network = a.networks[0]
    else:
        imports = "#   bidwatch partners import publishers.csv --network awin\n"
        example_network = "awin"
    return f"""{SCHEMA_LINE}
# Affiliate partners (publishers in the networks) and known competitors.
# network_ids tie a redirect chain to a partner: the network name is the one the network
# recognisers report. Fill this list from each network's publisher export (docs/starting.md):
{imports}# or by hand, like this:
#   - id: dealspotter
#     name: DealSpotter
#     language: en
#     contacts:
#       - name: Priya Raman
#         email: priya@dealspotter.example
#     network_ids:
#       - network: {example_network}
#         publisher_id: "412345"
#     domains: [dealspotter.example]
#     advertiser_names: [DealSpotter]
partners: []

# Competitors: their ads on brand searches are recorded, never sent a notice.
#   - id: rival
#     name: Rival Inc
#     domains: [rival.example]
competitors: []
"""


def _policies_yaml(a: ProgramAnswers) -> str:
    brand = a.brand_name
    domains = " or ".join(a.domains[:2])

    def title(text: str) -> str:
        return yaml_text(text.format(brand=brand))

    return f"""{SCHEMA_LINE}
# The bidding policies of the affiliate agreement. `when:` is a condition tree
# (all / any / not and leaf conditions; see docs/policies.md). `applies_to` defaults
# to [partner, unknown]. `notice` names a template under templates/notices/; `titles`
# gives the title in other languages, for notices in the partner's language.
policies:
  - id: no-brand-bidding
    title: {title("Bidding on {brand} brand terms")}
    description: {yaml_text(f"Partners may not bid on {brand} trademarks, alone, with "
                            "modifiers or misspelt, unless their agreement says otherwise.")}
    severity: high
    notice: brand_bidding
    when:
      all:
        # product listing (Shopping) ads have a policy of their own
        - ad_kind: [text, local, other]
        - any:
            - term_group: brand-any
            - query_contains_brand: true

  - id: no-direct-linking
    title: {title("Direct linking to a {brand} site")}
    description: {yaml_text(f"Paid-search ads must land on the partner's own site, not link "
                            f"through the network straight to {domains}.")}
    severity: high
    notice: direct_linking
    when:
      all:
        - landing_domain: brand
        - any:
            - network: any
            - advertiser_class: partner

  - id: no-brand-in-ad-copy
    title: {title("{brand} trademark in ad copy")}
    description: {yaml_text(f"The headline and display URL may not contain {brand} "
                            "trademarks.")}
    severity: medium
    notice: brand_in_copy
    when:
      brand_in: [headline, display_url]

  - id: no-brand-shopping
    title: {title("Shopping ads on {brand} brand terms")}
    description: {yaml_text(f"Partners may not run product listing (Shopping) campaigns on "
                            f"{brand} trademarks.")}
    severity: high
    notice: brand_bidding
    when:
      all:
        - ad_kind: shopping
        - any:
            - term_group: brand-any
            - query_contains_brand: true

  - id: competitor-on-brand
    title: {title("Competitor advertising on {brand} searches")}
    description: For the record only; competitors are not bound by our agreements.
    severity: info
    applies_to: [competitor]
    when:
      any:
        - term_group: brand-any
        - query_contains_brand: true
"""


def _agreements_yaml(a: ProgramAnswers) -> str:
    market = a.markets[0].id
    engine = a.engines[0]
    return f"""{SCHEMA_LINE}
# Signed partner agreements. A version is in force from effective_from to effective_to
# (inclusive; none = open-ended) in the market's time zone; versions of one agreement may
# not overlap. A permission exempts matching ads from one policy; each of engines /
# markets / term_groups / devices left out means "any". For example:
#   - partner: dealspotter
#     versions:
#       - version: "2025"
#         effective_from: 2025-01-01
#         document: DealSpotter affiliate agreement 2025
#         permissions:
#           - policy: no-brand-bidding
#             engines: [{engine}]
#             markets: [{market}]
#             term_groups: [brand+coupon]
#             note: Coupon bidding allowed by schedule B.
agreements: []
"""


_RENDERERS: dict[str, Callable[[ProgramAnswers], str]] = {
    "program.yaml": _program_yaml, "brands.yaml": _brands_yaml, "markets.yaml": _markets_yaml,
    "partners.yaml": _partners_yaml, "policies.yaml": _policies_yaml,
    "agreements.yaml": _agreements_yaml,
}


def render_program(answers: ProgramAnswers) -> dict[str, str]:
    """File name -> text, for each of PROGRAM_FILES."""
    return {name: _RENDERERS[name](answers) for name in PROGRAM_FILES}


def program_schema_text() -> str | None:
    """The program's JSON Schema, when this bidwatch has `monitor.program.jsonschema`."""
    from importlib import import_module

    try:  # built alongside `bidwatch rules schema`; imported only when it is there
        module = import_module("monitor.program.jsonschema")
    except ModuleNotFoundError:
        return None
    schema = module.program_schema()
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------
# Writing: checked in a scratch directory first, then moved into place.


@dataclass(frozen=True)
class WrittenProgram:
    directory: Path
    files: tuple[str, ...]
    schema_written: bool
    replaced: tuple[str, ...]


def existing_program_files(directory: Path) -> list[str]:
    """The YAML files already in `directory` (what the loader would read with ours)."""
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir()
                  if p.suffix in (".yaml", ".yml") and p.is_file())


def refuse_occupied(directory: Path, *, force: bool) -> list[str]:
    """The program files `directory` holds, which `force` allows replacing; AnswerError when
    it holds a program and `force` is not given, or other YAML files the loader would read
    along with a new program."""
    if directory.exists() and not directory.is_dir():
        raise AnswerError(f"{directory} exists and is not a directory")
    existing = existing_program_files(directory)
    if existing and not force:
        raise AnswerError(f"{directory} already holds a program ({', '.join(existing)}); "
                          "choose another directory or add --force to replace it")
    foreign = [name for name in existing if name not in PROGRAM_FILES]
    if foreign:
        raise AnswerError(f"{directory} holds {', '.join(foreign)}, which would be read with "
                          "the new program; move it away first")
    return existing


def write_program(directory: Path, answers: ProgramAnswers, *, force: bool = False
                  ) -> WrittenProgram:
    """Write the program into `directory`; it must pass the real loader, in a scratch copy
    before anything is replaced and in place after. An existing program is replaced only
    with `force`, and never when other YAML files would be read along with the new one."""
    from monitor.program.checks import check_program
    from monitor.resources import templates_dir

    existing = refuse_occupied(directory, force=force)
    texts = render_program(answers)
    schema = program_schema_text()
    directory.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".bidwatch-init-", dir=directory))
    try:
        for name, text in texts.items():
            (scratch / name).write_text(text, encoding="utf-8")
        _, issues = check_program(scratch, templates_dir())
        if issues:  # a bug here, not the user's: the answers were each checked already
            raise AnswerError("the program written from these answers does not validate:\n"
                              + "\n".join(str(i).replace(str(scratch), str(directory))
                                          for i in issues))
        if schema is not None:
            (scratch / SCHEMA_FILE).write_text(schema, encoding="utf-8")
        for path in scratch.iterdir():
            os.replace(path, directory / path.name)  # same filesystem: each file atomic
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _, issues = check_program(directory, templates_dir())
    if issues:
        raise AnswerError(f"{directory} does not validate after writing:\n"
                          + "\n".join(str(i) for i in issues))
    return WrittenProgram(directory, PROGRAM_FILES, schema is not None,
                          tuple(n for n in existing if n in PROGRAM_FILES))
