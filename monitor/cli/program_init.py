"""`bidwatch init [DIR]`: write a new, commented compliance program from answers or flags.

On a terminal it asks for what the flags did not give, checking each answer as it comes and
asking again with the reason when one cannot be used; otherwise (stdin not a terminal, or
`--yes`) the flags are the answers and a bad one ends the command with exit 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence, Sized
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from monitor.cli.app import app
from monitor.cli.output import friendly_errors, out

if TYPE_CHECKING:
    from monitor.program.answers import MarketAnswer
    from monitor.program.scaffold import ProgramAnswers, WrittenProgram

T = TypeVar("T")


class Asker:
    """Where the answers come from: the flags, then (on a terminal) questions."""

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive

    def one(self, flag: str, given: str | None, question: str, check: Callable[[str], T],
            default: str | None = None) -> T:
        """One answer: the flag's value when it checks, else asked until it does."""
        from monitor.program.answers import AnswerError

        value = given
        while True:
            if value is None:
                if not self.interactive:
                    if default is None:
                        raise AnswerError(f"{flag} is needed (or run init on a terminal, without "
                                          "--yes, to be asked)")
                    value = default
                else:
                    value = typer.prompt(question, default=default or "",
                                         show_default=bool(default))
            try:
                return check(value)
            except AnswerError as error:
                if not self.interactive:
                    raise AnswerError(f"{flag} {value!r}: {error}") from None
                typer.echo(f"  {error}; try again")
                value = None

    def many(self, flag: str, given: Sequence[str], question: str,
             check: Callable[[Sequence[str]], tuple[str, ...]],
             default: Sequence[str] | None = None) -> tuple[str, ...]:
        """A list: the flag repeated, or one comma-separated answer on a terminal.
        A `default` of () makes the list optional."""

        def split(answer: str) -> tuple[str, ...]:
            return check([v for v in answer.split(",") if v.strip()])

        if given and not self.interactive:
            return _flag_list(flag, given, check)
        if not given and not self.interactive and default is not None:
            return check(default)
        return self.one(flag, ",".join(given) if given else None, question, split,
                        ", ".join(default) if default is not None else None)

    def markets(self, given: Sequence[str]) -> tuple[MarketAnswer, ...]:
        from monitor.program.answers import market_answer

        if given or not self.interactive:
            return tuple(self.one("--market", spec, "Market (COUNTRY:LANGUAGE:TIMEZONE[:CITY])",
                                  market_answer) for spec in given)
        found: list[MarketAnswer] = []
        while True:
            found.append(self._market(len(found) + 1))
            if not typer.confirm("Another market?", default=False):
                return tuple(found)

    def _market(self, number: int) -> MarketAnswer:
        from monitor.program.answers import (
            MarketAnswer,
            city_answer,
            country_answer,
            country_zones,
            language_answer,
            timezone_answer,
        )

        country = self.one("--market", None, f"Market {number}: country (two letters, e.g. US)",
                           country_answer)
        language = self.one("--market", None, "  language (e.g. en, ar, id)", language_answer)
        zones = country_zones(country)
        zone = self.one("--market", None, "  time zone (IANA, e.g. America/New_York)",
                        timezone_answer, zones[0] if zones else None)
        city = self.one("--market", None, "  city (Google's canonical name, e.g. "
                        "'New York,New York,United States'; Enter: the whole country)",
                        city_answer)
        return MarketAnswer(country, language, zone, city)


def _flag_list(flag: str, given: Sequence[str],
               check: Callable[[Sequence[str]], tuple[str, ...]]) -> tuple[str, ...]:
    from monitor.program.answers import AnswerError

    try:
        return check(given)
    except AnswerError as error:
        raise AnswerError(f"{flag}: {error}") from None


def gather(asker: Asker, flags: dict[str, object]) -> ProgramAnswers:
    """The answers, in the order the questions are asked."""
    from monitor.program import answers as s
    from monitor.program import scaffold

    def text(what: str) -> Callable[[str], str]:
        return lambda value: s.text_answer(value, what)

    def items(check: Callable[[str], str], what: str, required: bool = True
              ) -> Callable[[Sequence[str]], tuple[str, ...]]:
        return lambda values: s.each(values, check, what, required=required)

    def optional_email(value: str) -> str | None:
        return s.email_answer(value) if value.strip() else None

    brand = asker.one("--brand", _str(flags["brand"]), "Brand name (e.g. Lumora)", text("brand"))
    brand_id = asker.one("--brand-id", _str(flags["brand_id"]), "Brand id", s.brand_id_answer,
                         s.slug_of(brand) or None)
    terms = asker.many("--term", _list(flags["term"]), "Trademark terms (comma-separated)",
                       items(text("term"), "term"), [brand])
    domains = asker.many("--domain", _list(flags["domain"]),
                         "The brand's own domains (comma-separated, e.g. lumora.com)",
                         items(s.domain_answer, "domain"))
    markets = asker.markets(_list(flags["market"]))
    if not markets:
        raise s.AnswerError("--market is needed (COUNTRY:LANGUAGE:TIMEZONE[:CITY], "
                            "e.g. US:en:America/New_York)")
    engines = asker.many("--engine", _list(flags["engine"]),
                         f"Engines (comma-separated; known: {', '.join(s.ENGINE_NAMES)})",
                         items(s.engine_answer, "engine"), scaffold.DEFAULT_ENGINES)
    networks = asker.many("--network", _list(flags["network"]),
                          "Affiliate networks you use (comma-separated, e.g. awin, cj, impact; "
                          "Enter: none)", items(s.network_answer, "network", False), ())
    sender = asker.one("--sender-email", _str(flags["sender_email"]),
                       "Notices come from (e-mail)", s.email_answer, f"compliance@{domains[0]}")
    sender_name = asker.one("--sender-name", _str(flags["sender_name"]), "Sender name",
                            text("sender name"), f"{brand} Affiliate Compliance")
    reply_to = asker.one("--partner-contact", _str(flags["reply_to"]),
                         "Partners reply to (e-mail; Enter: the sender)", optional_email, "")
    manager = asker.one("--manager", _str(flags["manager"]), "Who signs the notices (name)",
                        text("program manager"), f"{brand} Affiliate Compliance")
    office = asker.one("--office-timezone", _str(flags["office_timezone"]),
                       "The office's time zone (schedule, digest)", s.timezone_answer,
                       markets[0].timezone)
    return scaffold.ProgramAnswers(
        brand_id=brand_id, brand_name=brand, terms=terms, domains=domains, markets=markets,
        engines=engines, networks=networks,
        modifiers=_flag_list("--modifier", _list(flags["modifier"]), items(
            text("modifier"), "modifier", False))
        if flags["modifier"] else scaffold.DEFAULT_MODIFIERS,
        misspellings=_flag_list("--misspelling", _list(flags["misspelling"]), items(
            text("misspelling"), "misspelling", False)),
        devices=_flag_list("--device", _list(flags["device"]), items(
            s.device_answer, "device")) if flags["device"] else scaffold.DEFAULT_DEVICES,
        sender_email=sender, sender_name=sender_name, reply_to=reply_to,
        program_manager=manager, office_timezone=office)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _list(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


@app.command("init")
@friendly_errors
def init(
    directory: Annotated[Path, typer.Argument(help="Where to write the program.")] = Path("rules"),
    brand: Annotated[str | None, typer.Option(help="The brand's name.", show_default=False)] = None,
    brand_id: Annotated[str | None, typer.Option(
        help="The brand's id (default: from the name).", show_default=False)] = None,
    term: Annotated[list[str] | None, typer.Option(
        help="A trademark term (repeatable; default: the brand's name).")] = None,
    domain: Annotated[list[str] | None, typer.Option(
        help="One of the brand's own domains (repeatable).")] = None,
    market: Annotated[list[str] | None, typer.Option(
        help="COUNTRY:LANGUAGE:TIMEZONE[:CITY], e.g. US:en:America/New_York (repeatable).")
    ] = None,
    engine: Annotated[list[str] | None, typer.Option(
        help="An engine to sweep (repeatable; default: google, bing).")] = None,
    network: Annotated[list[str] | None, typer.Option(
        help="An affiliate network the brand uses (repeatable).")] = None,
    modifier: Annotated[list[str] | None, typer.Option(
        help="A modifier searched with each term (repeatable; default: coupon, promo code, "
             "discount, login).")] = None,
    misspelling: Annotated[list[str] | None, typer.Option(
        help="A misspelling of a term to search (repeatable).")] = None,
    device: Annotated[list[str] | None, typer.Option(
        help="desktop or mobile (repeatable; default: both).")] = None,
    sender_email: Annotated[str | None, typer.Option(
        help="Notices come from (default: compliance@ the first domain).",
        show_default=False)] = None,
    sender_name: Annotated[str | None, typer.Option(help="The sender's name.",
                                                    show_default=False)] = None,
    reply_to: Annotated[str | None, typer.Option(
        "--partner-contact", "--reply-to", help="Where partners' replies go.",
        show_default=False)] = None,
    manager: Annotated[str | None, typer.Option(
        help="Who signs the notices.", show_default=False)] = None,
    office_timezone: Annotated[str | None, typer.Option(
        help="The schedule's time zone (default: the first market's).",
        show_default=False)] = None,
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help="Ask nothing: the flags and the defaults are the answers.")] = False,
    force: Annotated[bool, typer.Option(help="Replace a program already in DIR.")] = False,
) -> None:
    """Start a compliance program: brand, terms, domains, markets, engines and networks.

    Asks on a terminal; with --yes or without a terminal the flags are the answers (a bad
    one: exit 2). The program written is checked by `rules check`'s own loader before init
    says it is done.
    """
    from monitor.program.scaffold import refuse_occupied, write_program

    interactive = sys.stdin.isatty() and not yes
    refuse_occupied(directory, force=force)  # before any question: no answers for nothing
    flags: dict[str, object] = {
        "brand": brand, "brand_id": brand_id, "term": term, "domain": domain, "market": market,
        "engine": engine, "network": network, "modifier": modifier, "misspelling": misspelling,
        "device": device, "sender_email": sender_email, "sender_name": sender_name,
        "reply_to": reply_to, "manager": manager, "office_timezone": office_timezone}
    answers = gather(Asker(interactive), flags)
    _report(write_program(directory, answers, force=force), answers)


def _report(written: WrittenProgram, answers: ProgramAnswers) -> None:
    from monitor.program.scaffold import SCHEMA_FILE

    directory = written.directory
    verb = "replaced" if written.replaced else "wrote"
    out.print(f"{directory}: {verb} {', '.join(written.files)}; the program validates "
              f"({_count(answers.terms, 'term')}, {_count(answers.markets, 'market')}, "
              f"{_count(answers.engines, 'engine')}).", markup=False, highlight=False,
              soft_wrap=True)
    if written.schema_written:
        out.print(f"{directory / SCHEMA_FILE}: the JSON Schema editors check the files "
                  "against.", markup=False, highlight=False, soft_wrap=True)
    else:
        out.print("(no JSON Schema written: this bidwatch cannot make one yet)", markup=False)
    out.print("Next:", markup=False)
    for network in answers.networks or ("NETWORK",):
        out.print(f"  bidwatch partners import {network}-publishers.csv --network {network} "
                  f"--rules {directory}", markup=False, highlight=False, soft_wrap=True)
    out.print(f"  bidwatch rules check {directory}", markup=False, highlight=False)
    out.print(f"  bidwatch sweep --dry-run --rules {directory}", markup=False, highlight=False)


def _count(items: Sized, noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"

