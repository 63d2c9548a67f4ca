"""The `bidwatch` command line: a Typer app, one module per command group.

The modules register their commands on `monitor.cli.app.app` when imported, and `--help`
lists the commands in the order of these imports.
"""

# isort: off
from monitor.cli.app import app
from monitor.cli import sweeps, incidents, pages, rules, evidence, formats  # noqa: F401  (registration)
from monitor.cli import program_init, partners, rules_schema, rules_terms  # noqa: F401
from monitor.cli import rules_whatif, notices_preview, console  # noqa: F401
# isort: on

__all__ = ["app"]
