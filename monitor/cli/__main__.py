"""`python -m monitor.cli`: the same as the `bidwatch` command."""

from monitor.cli import app

app()
