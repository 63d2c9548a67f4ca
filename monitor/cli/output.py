"""What every `bidwatch` command shares: where it prints, and how our errors end it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from monitor.errors import BidwatchError

# a wide table in a pipe or a log, the terminal's width in a terminal
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(function: F) -> F:
    """Our errors become one clear message and exit status 2, never a traceback."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except BidwatchError as error:
            err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]
