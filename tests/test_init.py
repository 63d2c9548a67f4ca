"""`bidwatch init`: a program from flags and from a real terminal session, checked by the
real loader, `rules check` and a dry-run sweep of the simulator."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
import yaml
from typer.testing import CliRunner

from monitor.cli import app
from monitor.dev.simulator import Simulator
from monitor.program import load_program
from monitor.program.scaffold import PROGRAM_FILES, SCHEMA_LINE, yaml_text
from monitor.resources import templates_dir
from tests.conftest import ROOT

runner = CliRunner()
#: the `bidwatch` script beside this interpreter (the project's venv, wherever it is)
BIDWATCH = Path(sys.executable).with_name("bidwatch")
FLAGS = ["--brand", "Acme Beds", "--term", "Acme", "--term", "Acme Beds",
         "--domain", "acme.example", "--domain", "acme.co.id",
         "--market", "US:en:America/New_York:New York,New York,United States",
         "--market", "id:ID:Asia/Jakarta", "--engine", "google", "--network", "awin",
         "--network", "impact", "--manager", "Jo Smith", "--partner-contact",
         "affiliates@acme.example"]


def init(directory: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["init", str(directory), *args])
    return result.exit_code, result.output


def rules_check(directory: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIDWATCH), "rules", "check", str(directory)], text=True,
                          capture_output=True, timeout=120, check=False,
                          env={**os.environ, "BIDWATCH_HOME": str(home)})


def test_flags_write_a_commented_program_that_loads_and_passes_rules_check(
    tmp_path: Path
) -> None:
    code, output = init(tmp_path / "rules", *FLAGS)
    assert code == 0, output
    assert "the program validates" in output
    program = load_program(tmp_path / "rules", templates_dir())
    assert program.brands[0].id == "acme-beds" and program.brands[0].terms == ["Acme", "Acme Beds"]
    assert program.brands[0].domains == ["acme.example", "acme.co.id"]
    assert [m.id for m in program.markets] == ["us-en", "id-id"]
    assert program.markets[0].city == "New York,New York,United States"
    assert program.markets[1].timezone == "Asia/Jakarta"
    assert program.engines == ["google"]
    assert program.notices.program_manager == "Jo Smith"
    assert program.notices.reply_to == "affiliates@acme.example"
    assert program.notices.sender_email == "compliance@acme.example"
    assert program.schedule.timezone == "America/New_York"
    assert {p.id for p in program.policies} >= {"no-brand-bidding", "no-direct-linking"}
    for name in PROGRAM_FILES:
        text = (tmp_path / "rules" / name).read_text(encoding="utf-8")
        assert text.splitlines()[0] == SCHEMA_LINE
        assert sum(line.lstrip().startswith("#") for line in text.splitlines()) >= 3, name
    partners = (tmp_path / "rules" / "partners.yaml").read_text(encoding="utf-8")
    assert "partners import impact-publishers.csv --network impact" in partners
    checked = rules_check(tmp_path / "rules", tmp_path / "home")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "ok — program 'Acme Beds paid-search brand protection'" in checked.stdout


@pytest.mark.skipif(importlib.util.find_spec("monitor.program.jsonschema") is None,
                    reason="monitor.program.jsonschema (bidwatch rules schema) is not there yet")
def test_the_schema_written_beside_the_files_accepts_each_of_them(tmp_path: Path) -> None:
    import jsonschema

    assert init(tmp_path / "rules", *FLAGS)[0] == 0
    schema = json.loads((tmp_path / "rules" / "program.schema.json").read_text())
    for name in PROGRAM_FILES:
        data = yaml.safe_load((tmp_path / "rules" / name).read_text(encoding="utf-8"))
        jsonschema.validate(data, schema)


@pytest.mark.parametrize(("flag", "value", "says"), [
    ("--domain", "https://acme.example/shop", "is not a domain name"),
    ("--network", "awinn", "unknown network 'awinn'; did you mean 'awin'?"),
    ("--market", "US:en:America/Springfield", "'America/Springfield' is not an IANA time zone"),
    ("--market", "USA:en:America/New_York", "not a two-letter country code"),
    ("--market", "US:english:America/New_York", "is not a language code"),
    ("--market", "US-en", "is not COUNTRY:LANGUAGE:TIMEZONE[:CITY]"),
    ("--engine", "altavista", "unknown engine 'altavista'; known: google, bing"),
    ("--partner-contact", "a@b.example\r\nBcc: x@y.example", "not a plain email address"),
    ("--brand-id", "Acme Beds", "is not a valid id"),
])
def test_a_bad_flag_says_why_exits_2_and_writes_nothing(
    tmp_path: Path, flag: str, value: str, says: str
) -> None:
    base = ["--brand", "Acme", "--domain", "acme.example", "--market", "US:en:America/New_York"]
    if flag in ("--domain", "--market"):
        base = [a for i, a in enumerate(base) if flag not in (a, base[i - 1] if i else "")]
    code, output = init(tmp_path / "rules", *base, flag, value)
    assert code == 2, output
    assert says in " ".join(output.split()), output
    assert "Traceback" not in output
    assert not list((tmp_path / "rules").glob("*.yaml")) if (tmp_path / "rules").exists() \
        else True


def test_what_is_missing_is_named_without_a_terminal(tmp_path: Path) -> None:
    code, output = init(tmp_path / "rules", "--brand", "Acme", "--market", "US:en:UTC")
    assert code == 2 and "--domain is needed" in output
    code, output = init(tmp_path / "rules", "--brand", "Acme", "--domain", "acme.example")
    assert code == 2 and "--market is needed" in output
    assert not (tmp_path / "rules").exists() or not list((tmp_path / "rules").iterdir())


def test_an_existing_program_is_kept_unless_force(tmp_path: Path) -> None:
    assert init(tmp_path / "rules", *FLAGS)[0] == 0
    brands = tmp_path / "rules" / "brands.yaml"
    before = brands.read_text(encoding="utf-8")
    code, output = init(tmp_path / "rules", "--brand", "Other", "--domain", "other.example",
                        "--market", "GB:en:Europe/London")
    assert code == 2 and "already holds a program" in output and "--force" in output
    assert brands.read_text(encoding="utf-8") == before
    code, output = init(tmp_path / "rules", "--force", "--brand", "Other", "--domain",
                        "other.example", "--market", "GB:en:Europe/London")
    assert code == 0, output
    assert load_program(tmp_path / "rules").brands[0].name == "Other"
    assert not [p for p in (tmp_path / "rules").iterdir() if p.name.startswith(".")]


def test_force_refuses_a_directory_with_yaml_files_of_other_programs(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "extra.yaml").write_text("ignore: [x.example]\n")
    code, output = init(tmp_path / "rules", "--force", *FLAGS)
    assert code == 2 and "extra.yaml, which would be read with the new program" in output


def test_hostile_answers_stay_text_and_the_yaml_reads_back_what_was_given(
    tmp_path: Path
) -> None:
    name = 'Acme: "Beds" #1 \u202eevil\u202c'
    code, output = init(tmp_path / "rules", "--brand", name, "--brand-id", "acme", "--term",
                        "yes", "--term", "2024", "--domain", "acme.example", "--market",
                        "AE:ar:Asia/Dubai", "--manager", "- [x]: y")
    assert code == 0, output
    program = load_program(tmp_path / "rules", templates_dir())
    assert program.brands[0].name == 'Acme: "Beds" #1 evil'  # the bidi override is gone
    assert program.brands[0].terms == ["yes", "2024"]  # not True and 2024
    assert program.notices.program_manager == "- [x]: y"
    code, output = init(tmp_path / "big", "--brand", "x" * 1_000_000, "--domain",
                        "acme.example", "--market", "US:en:UTC")
    assert code == 2 and "at most 200" in output


@pytest.mark.parametrize("value", ["Lumora", "Kupon Hemat", "كوبونات العرب", "O'Brien & Co",
                                   "yes", "null", "1e3", "- x", "a: b", "a #b", "[x]", "*x",
                                   "x,y", "'q'", ""])
def test_yaml_text_reads_back_as_the_same_string(value: str) -> None:
    assert yaml.safe_load(f"k: {yaml_text(value)}") == {"k": value}


def test_a_terminal_session_asks_says_why_an_answer_is_refused_and_asks_again(
    tmp_path: Path
) -> None:
    directory = tmp_path / "rules"
    env = {**os.environ, "BIDWATCH_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    session = pexpect.spawn(str(BIDWATCH), ["init", str(directory)], env=env, timeout=60,
                            encoding="utf-8", dimensions=(40, 200))
    try:
        def answer(question: str, reply: str) -> None:
            session.expect_exact(question)
            session.sendline(reply)

        answer("Brand name", "Acme Beds")
        answer("Brand id [acme-beds]", "")
        answer("Trademark terms (comma-separated) [Acme Beds]", "Acme, Acme Beds")
        answer("The brand's own domains", "https://acme.example/")
        session.expect_exact("is not a domain name")
        session.expect_exact("try again")
        answer("The brand's own domains", "acme.example")
        answer("Market 1: country", "USA")
        session.expect_exact("not a two-letter country code")
        answer("Market 1: country", "us")
        answer("language", "en")
        answer("time zone (IANA, e.g. America/New_York) [America/New_York]", "Mars/Olympus")
        session.expect_exact("'Mars/Olympus' is not an IANA time zone")
        answer("time zone", "America/Chicago")
        answer("city", "")
        answer("Another market?", "y")
        answer("Market 2: country", "ae")
        answer("language", "ar")
        answer("time zone (IANA, e.g. America/New_York) [Asia/Dubai]", "")
        answer("city", "Dubai,Dubai,United Arab Emirates")
        answer("Another market?", "n")
        answer("Engines", "google, altavista")
        session.expect_exact("unknown engine 'altavista'")
        answer("Engines", "bing")
        answer("Affiliate networks", "awin, cjj")
        session.expect_exact("unknown network 'cjj'; did you mean 'cj'?")
        answer("Affiliate networks", "awin, cj")
        answer("Notices come from (e-mail) [compliance@acme.example]", "")
        answer("Sender name", "")
        answer("Partners reply to", "not an address")
        session.expect_exact("not a plain email address")
        answer("Partners reply to", "")
        answer("Who signs the notices", "Jo Smith")
        answer("The office's time zone (schedule, digest) [America/Chicago]", "Europe/London")
        session.expect_exact("the program validates")
        session.expect(pexpect.EOF)
    finally:
        session.close()
    assert session.exitstatus == 0, session.before
    program = load_program(directory, templates_dir())
    assert program.brands[0].terms == ["Acme", "Acme Beds"]
    assert [(m.id, m.timezone, m.city) for m in program.markets] == [
        ("us-en", "America/Chicago", None),
        ("ae-ar", "Asia/Dubai", "Dubai,Dubai,United Arab Emirates")]
    assert program.engines == ["bing"] and program.schedule.timezone == "Europe/London"
    assert "--network cj" in (directory / "partners.yaml").read_text(encoding="utf-8")
    assert rules_check(directory, tmp_path / "home").returncode == 0


def test_on_a_terminal_an_occupied_directory_is_refused_before_any_question(
    tmp_path: Path
) -> None:
    assert init(tmp_path / "rules", *FLAGS)[0] == 0
    session = pexpect.spawn(str(BIDWATCH), ["init", str(tmp_path / "rules")], timeout=60,
                            encoding="utf-8", env={**os.environ,
                                                   "BIDWATCH_HOME": str(tmp_path / "home")})
    session.expect(pexpect.EOF)
    session.close()
    assert session.exitstatus == 2
    assert "already holds a program" in str(session.before)
    assert "Brand name" not in str(session.before)


@pytest.mark.browser
def test_the_program_init_writes_runs_a_dry_run_sweep_of_the_simulator(
    tmp_path: Path, simulator: Simulator
) -> None:
    assert init(tmp_path / "rules", *FLAGS, "--modifier", "coupon")[0] == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIDWATCH_")}
    env.update({"BIDWATCH_HOME": str(tmp_path / "home"), "BIDWATCH_SIMULATOR": simulator.address,
                "BIDWATCH_ALLOW_PRIVATE_NETWORKS": "1", "BIDWATCH_PACE_S": "0",
                "BIDWATCH_PACE_JITTER_S": "0", "BIDWATCH_PAGE_TIMEOUT_S": "20"})
    done = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "sweep", "--dry-run", "--json", "--rules",
         str(tmp_path / "rules"), "--market", "us-en", "--device", "desktop", "--term", "Acme",
         "--term", "Acme coupon"],
        capture_output=True, text=True, timeout=300, check=False, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["tasks"] == 2 and summary["captured"] == 2, summary
    assert summary["notices_queued"] == 0


@pytest.mark.parametrize("command", [["init", "--help"], ["partners", "import", "--help"]])
def test_the_commands_help_imports_nothing_heavy(tmp_path: Path, command: list[str]) -> None:
    from tests.test_cli_startup import HEAVY, imported

    loaded = imported(command, tmp_path)
    assert not loaded & {*HEAVY, "pydantic_settings", "rich", "ruamel", "pexpect"}
    assert "monitor.program.scaffold" not in loaded
    assert "monitor.program.partners_import" not in loaded
