"""The `bidwatch` command line: a Typer app, one module per command group.

The modules register their commands on `monitor.cli.app.app` when imported, and `--help`
lists the commands in the order of these imports.
"""

# isort: off
from monitor.cli.app import app
from monitor.cli import sweeps, incidents, pages, rules, evidence, formats  # noqa: F401  (registration)
# isort: on

__all__ = ["app"]
