"""The compliance program: rules/*.yaml read, validated and checked into a `Program`.

fields (shared value types) → terms (term-group vocabulary) → conditions (the `when:`
grammar) → schedule and calendar → models → source (YAML and its line map) → checks.
"""

from monitor.program.checks import check_program, load_program
from monitor.program.models import Program
from monitor.program.source import ProgramError, ProgramIssue

__all__ = ["Program", "ProgramError", "ProgramIssue", "check_program", "load_program"]
