"""The `bidwatch` command line: a Typer app, one module per command group."""

from monitor.cli.main import app

__all__ = ["app"]
