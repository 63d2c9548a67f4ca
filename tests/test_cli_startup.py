"""What `bidwatch` imports at start-up: structural, not timed (a loaded machine makes timings
noise; an import that comes back is a fact). The figures: `python -m tests.bench startup`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.networks.names import network_names
from monitor.networks.table import load_table
from tests.conftest import RULES

#: what no command needs before it runs: the store, the browser, the mailer, the templates
#: and the suffix list (each imported by the command that uses it)
HEAVY = ("sqlalchemy", "playwright", "apprise", "jinja2", "tldextract", "requests")


def imported(args: list[str], home: Path) -> set[str]:
    """The top-level packages and monitor modules loaded by `bidwatch ARGS`, in a fresh
    interpreter."""
    script = (
        "import json, sys\n"
        "from monitor.cli import app\n"
        "try:\n"
        f"    app({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stderr.write(json.dumps(sorted(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False, timeout=120, env={
                              **os.environ, "BIDWATCH_HOME": str(home),
                              "BIDWATCH_RULES": str(RULES)})
    modules = json.loads(done.stderr.strip().splitlines()[-1])
    return {m.split(".")[0] for m in modules} | {m for m in modules if m.startswith("monitor.")}


def test_help_imports_no_store_browser_mailer_templates_or_suffix_list(tmp_path: Path) -> None:
    loaded = imported(["--help"], tmp_path)
    assert not loaded & {*HEAVY, "pydantic_settings", "rich"}
    # the engines' names make the --engine choices; their readers are not needed for that
    assert "monitor.engines.google" not in loaded and "selectolax" not in loaded


def test_rules_check_reads_network_names_without_the_recognisers(tmp_path: Path) -> None:
    imported(["rules", "check", str(RULES)], tmp_path)  # remembers the clean template check
    loaded = imported(["rules", "check", str(RULES)], tmp_path)
    assert "monitor.program" in loaded and "monitor.networks.names" in loaded
    assert not loaded & {*HEAVY, "monitor.networks.table", "selectolax"}
    # nor the settings' reader, nor Rich: a clean check prints plain lines
    assert not loaded & {"pydantic_settings", "rich", "monitor.settings"}


def test_rules_check_reads_home_and_rules_as_the_settings_do(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.cli.rules import RULES_CHECK_DEFAULTS, _home_and_rules
    from monitor.settings import Settings

    for name in ("BIDWATCH_HOME", "BIDWATCH_RULES", "bidwatch_home", "bidwatch_rules"):
        monkeypatch.delenv(name, raising=False)
    defaults = Settings()
    assert RULES_CHECK_DEFAULTS == (defaults.home, defaults.rules) == _home_and_rules()
    monkeypatch.setenv("bidwatch_home", "/srv/h")  # pydantic-settings reads any case
    monkeypatch.setenv("BIDWATCH_RULES", "/srv/r")
    assert _home_and_rules() == (Settings().home, Settings().rules) == (
        Path("/srv/h"), Path("/srv/r"))


@pytest.mark.parametrize("command", ["parse", "attribute"])
def test_command_help_imports_no_settings(tmp_path: Path, command: str) -> None:
    loaded = imported([command, "--help"], tmp_path)
    assert not loaded & {*HEAVY, "pydantic_settings", "monitor.settings"}


def test_the_names_read_cheaply_are_the_validated_tables() -> None:
    assert network_names() == tuple(load_table().networks)
