"""`bidwatch` as scripts use it: exit statuses, `--json` against its documented schemas,
`--csv` read back by the csv module, the global options, and a sweep's exit status from its
report."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from monitor.cli import app
from monitor.cli.app import FailOn
from monitor.cli.incidents import INCIDENT_STATUSES
from monitor.cli.output import ExitCode, friendly_errors
from monitor.cli.progress import CountProgress, SweepProgress
from monitor.cli.schemas import SCHEMAS, json_schema, validate
from monitor.cli.sweeps import sweep_exit_code
from monitor.errors import SweepError
from monitor.judge.incidents import IncidentStatus
from tests.conftest import RULES, shared_dir

runner = CliRunner()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BIDWATCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BIDWATCH_RULES", str(RULES))
    return tmp_path / "home"


def _json(args: list[str]) -> list[dict[str, object]]:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    text = result.stdout.strip()
    # one indented object, or JSON lines
    documents = [json.loads(text)] if text.startswith("{\n") else [
        json.loads(line) for line in text.splitlines()]
    for document in documents:
        validate(document)
    return documents


# -- exit statuses -------------------------------------------------------------------------


def _summary(tasks: int, captured: int, *, status: str = "done", new: set[int] | None = None,
             again: set[int] | None = None) -> SimpleNamespace:
    report = SimpleNamespace(status=status, tasks=tasks, captured=captured,
                             incidents_new=new or set(), incidents_seen_again=again or set(),
                             clauses_new=set())
    return SimpleNamespace(report=report, coverage=captured / tasks if tasks else 1.0)


@pytest.mark.parametrize(("summary", "fail_on", "min_coverage", "code"), [
    (_summary(10, 10), None, None, ExitCode.OK),
    (_summary(10, 10, new={3}), None, None, ExitCode.OK),  # findings fail only when asked
    (_summary(10, 10, new={3}), FailOn.new, None, ExitCode.FINDINGS),
    (_summary(10, 10, again={3}), FailOn.new, None, ExitCode.OK),
    (_summary(10, 10, again={3}), FailOn.any, None, ExitCode.FINDINGS),
    (_summary(10, 7), None, 0.8, ExitCode.FINDINGS),
    (_summary(10, 8), None, 0.8, ExitCode.OK),
    (_summary(10, 0), None, None, ExitCode.INCOMPLETE),  # every page blocked: engines down
    (_summary(10, 0, new={3}), FailOn.new, 0.8, ExitCode.INCOMPLETE),  # 3 outranks 1
    (_summary(10, 10, status="failed"), None, None, ExitCode.INCOMPLETE),
])
def test_a_sweeps_exit_status_says_what_cron_must_know(
    summary: SimpleNamespace, fail_on: FailOn | None, min_coverage: float | None,
    code: ExitCode,
) -> None:
    assert sweep_exit_code(summary, fail_on, min_coverage) is code


def test_a_sweep_that_could_not_run_exits_3_in_one_line() -> None:
    @friendly_errors
    def failing() -> None:
        raise SweepError("the engines did not answer")

    import typer

    with pytest.raises(typer.Exit) as stopped:
        failing()
    assert stopped.value.exit_code == 3


def test_usage_errors_exit_2() -> None:
    assert runner.invoke(app, ["sweep", "--min-coverage", "2"]).exit_code == 2
    assert runner.invoke(app, ["sweep", "--fail-on", "sometimes"]).exit_code == 2
    assert runner.invoke(app, ["incidents", "--json", "--csv"]).exit_code == 2
    assert runner.invoke(app, ["nonsense"]).exit_code == 2


def test_rules_test_exits_1_on_findings_only_with_fail_on(tmp_path: Path) -> None:
    page = shared_dir("serp-corpus", "pages", "google_zlurad_1.html")
    plain = runner.invoke(app, ["rules", "test", str(RULES), "--capture", str(page), "--json"])
    assert plain.exit_code == 0, plain.output
    document = json.loads(plain.stdout)
    validate(document)
    failing = runner.invoke(app, ["rules", "test", str(RULES), "--capture", str(page),
                                  "--fail-on", "any"])
    assert failing.exit_code == (1 if document["findings"] else 0), failing.output


def test_rules_check_json_and_its_exit_statuses(tmp_path: Path) -> None:
    (ok,) = _json(["rules", "check", str(RULES), "--json"])
    assert ok["ok"] is True and ok["issues"] == [] and ok["program"]["partners"] == 4
    broken = tmp_path / "rules"
    broken.mkdir()
    (broken / "brands.yaml").write_text("brands: [\n", encoding="utf-8")
    result = runner.invoke(app, ["rules", "check", str(broken), "--json"])
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    validate(document)
    assert document["ok"] is False and document["issues"]


def test_rules_check_warns_of_what_is_valid_but_likely_not_meant(tmp_path: Path) -> None:
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    partners = rules / "partners.yaml"
    text = partners.read_text()
    assert "    name: DealSpotter\n    language: en\n" in text
    partners.write_text(text.replace("    name: DealSpotter\n    language: en\n",
                                     "    name: DealSpotter\n    language: fr\n", 1))
    shown = runner.invoke(app, ["rules", "check", str(rules)])
    assert shown.exit_code == 0, shown.output  # a warning never fails the check
    (line,) = [w for w in shown.output.splitlines() if w.startswith("warning: ")]
    assert f"{partners}:" in line and "fr" in line
    (document,) = _json(["rules", "check", str(rules), "--json"])
    assert document["ok"] is True and len(document["warnings"]) == 1
    assert document["warnings"][0]["file"] == str(partners)
    (clean,) = _json(["rules", "check", str(RULES), "--json"])
    assert clean["warnings"] == []  # the example program means what it says


# -- --json on every command that reports --------------------------------------------------


@pytest.mark.parametrize("args", [
    ["sweeps", "--json"], ["incidents", "--json"], ["outbox", "--json"],
    ["incidents", "allowlist", "--json"], ["outbox", "deliver", "--json"],
    ["outbox", "retry", "--dead", "--json"], ["evidence", "prune", "--json"],
])
def test_json_of_an_empty_home_matches_its_schema(args: list[str]) -> None:
    documents = _json(args)
    for document in documents:
        assert document["schema"] in SCHEMAS


def test_digest_json_names_the_files(tmp_path: Path) -> None:
    (document,) = _json(["digest", "--date", "2026-11-20", "--out", str(tmp_path / "d.html"),
                         "--json"])
    assert Path(str(document["html"])).is_file() and document["sent"] is None


def test_every_schema_is_a_json_schema_with_its_name() -> None:
    for name in SCHEMAS:
        schema = json_schema(name)
        assert schema["type"] == "object" and "schema" in schema["required"], name
        assert schema["properties"]["schema"]["const"] == name
    listed = runner.invoke(app, ["schema"])
    assert listed.exit_code == 0 and all(name in listed.output for name in SCHEMAS)
    shown = runner.invoke(app, ["schema", "sweep/1"])
    assert json.loads(shown.stdout)["properties"]["coverage"]["type"] == "number"


# -- --csv on every list -------------------------------------------------------------------


@pytest.fixture
def one_case(isolated_home: Path) -> None:
    """A home holding one breach: a case, its sighting and its held or pending notice."""
    from monitor.store import Store
    from tests.notify_support import Breach, record_breach
    from tests.test_notify_outbox import T0

    store = Store(f"sqlite:///{(isolated_home / 'bidwatch.db').resolve()}")
    record_breach(store, isolated_home, Breach("sleepsaver"), T0)
    store.close()


@pytest.mark.usefixtures("one_case")
def test_csv_round_trips_what_json_prints() -> None:
    for args in (["incidents"], ["outbox"], ["sweeps"], ["incidents", "allowlist"]):
        as_json = _json([*args, "--json"])
        result = runner.invoke(app, [*args, "--csv"])
        assert result.exit_code == 0, result.output
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert len(rows) == len(as_json), args
        for row, document in zip(rows, as_json, strict=True):
            assert row["id"] == str(document["id"])
            assert all(row[k] == str(document[k]) for k in row
                       if isinstance(document.get(k), str | int) and
                       not isinstance(document.get(k), bool)), (args, row)


@pytest.mark.usefixtures("one_case")
def test_incidents_show_lists_the_sighting_ids_explain_takes() -> None:
    (row,) = _json(["incidents", "--json"])
    assert row["headline"]
    (detail,) = _json(["incidents", "show", str(row["id"]), "--json"])
    ids = detail["sighting_ids"]
    assert ids
    text = runner.invoke(app, ["incidents", "show", str(row["id"])], env={"COLUMNS": "80"})
    assert f"sightings: {' '.join(map(str, ids))}" in text.output
    table = runner.invoke(app, ["incidents"], env={"COLUMNS": "80"})
    assert all(len(line) <= 80 for line in table.output.splitlines()), table.output
    assert str(row["reference"])[-1] and str(row["first_seen"])[:16].replace("T", " ") in (
        table.output)


# -- global options, validation, progress --------------------------------------------------


def test_version_home_and_rules_are_global(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.output.startswith("bidwatch ")
    monkeypatch.delenv("BIDWATCH_RULES")
    elsewhere = tmp_path / "elsewhere"
    result = runner.invoke(app, ["--home", str(elsewhere), "--rules", str(RULES),
                                 "-q", "rules", "check", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["directory"] == str(RULES)
    assert (elsewhere / "cache" / "templates-checked").is_file()


def test_the_statuses_listed_in_help_are_the_judges() -> None:
    assert set(INCIDENT_STATUSES) == {s.value for s in IncidentStatus}


def test_help_has_no_type_placeholders() -> None:
    for args in (["--help"], ["sweep", "--help"], ["incidents", "--help"]):
        shown = runner.invoke(app, args)
        assert shown.exit_code == 0 and "<bool>" not in shown.output, shown.output
        assert all(len(line) <= 80 for line in shown.output.splitlines()), shown.output


def test_progress_off_a_terminal_is_a_line_now_and_then(
    capsys: pytest.CaptureFixture[str]
) -> None:
    now = [0.0]
    progress = SweepProgress(4, lambda: 2, live=False, clock=lambda: now[0])
    covered = SimpleNamespace(status=SimpleNamespace(blocked=False, covered=True))
    blocked = SimpleNamespace(status=SimpleNamespace(blocked=True, covered=False,
                                                     __str__=lambda self: "captcha"))
    with progress:
        for step, capture in enumerate([covered, blocked, covered, covered]):
            now[0] = step * 6.0
            progress.advance(capture, 3)  # type: ignore[arg-type]
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("sweep: 0/4")
    assert any("ETA" in line for line in lines[1:-1])
    assert lines[-1].startswith("sweep: 4/4") and "12 ads" in lines[-1]
    assert "blocked 1" in lines[-1] and "2 new cases" in lines[-1]
    assert progress.blocked == Counter({str(blocked.status): 1})


def test_counted_progress_off_a_terminal_is_a_line_now_and_then(
    capsys: pytest.CaptureFixture[str]
) -> None:
    now = [0.0]
    with CountProgress("outbox", live=False, clock=lambda: now[0]) as progress:
        for done in range(6):
            now[0] = done * 4.0
            progress.update(done, 5, f"sent {done}")
    lines = capsys.readouterr().err.strip().splitlines()
    # the start, one line every ten seconds, and the end
    assert lines == ["outbox: 0/5 · sent 0", "outbox: 3/5 · sent 3", "outbox: 5/5 · sent 5"]
