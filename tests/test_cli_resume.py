"""`bidwatch sweep --resume [SWEEP_ID]` without a browser: what it refuses, and a home with
nothing to resume. (Resuming a killed or stopped sweep for real: tests/test_faults_browser.)"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from monitor.cli import app
from tests.conftest import RULES


def _sweep(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["sweep", *args],
                                env={"BIDWATCH_HOME": str(home), "BIDWATCH_RULES": str(RULES)})
    # the message as one line, whatever box the terminal width wrapped it in
    return result.exit_code, " ".join(result.output.replace("\u2502", " ").split())


def test_resume_with_nothing_to_resume_says_so_in_one_line(tmp_path: Path) -> None:
    code, output = _sweep(tmp_path, "--resume")
    assert code == 2
    assert "has tasks never asked" in output and "Traceback" not in output


def test_a_sweep_id_goes_with_resume_only(tmp_path: Path) -> None:
    code, output = _sweep(tmp_path, "7")
    assert code == 2 and "a sweep id goes with --resume" in output


def test_a_resumed_sweep_takes_no_filters(tmp_path: Path) -> None:
    code, output = _sweep(tmp_path, "--resume", "--engine", "google")
    assert code == 2 and "no filters" in output
