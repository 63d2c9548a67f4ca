"""`bidwatch serve` and `bidwatch users`: the web console for compliance staff."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from monitor.cli.app import app, users_app
from monitor.cli.output import emit_json_lines, err, friendly_errors, out

#: the console's roles (monitor.store.console.ROLES, checked equal by the tests)
ROLES = ("viewer", "reviewer", "admin")


def _read_password(confirm: bool = True) -> str:
    """From a prompt that does not echo, or the first line of stdin when it is not a
    terminal (a script); never printed or logged."""
    if sys.stdin.isatty():
        return str(typer.prompt("Password", hide_input=True, confirmation_prompt=confirm))
    return sys.stdin.readline().rstrip("\r\n")


@users_app.command("add")
@friendly_errors
def users_add(
    name: Annotated[str, typer.Argument(help="The user's name (letters, digits, . _ @ -).")],
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")] = "viewer",
) -> None:
    """Add a console user; the password is asked without echo (or read from stdin)."""
    from monitor.cli.output import known_values
    from monitor.console.users import add_user
    from monitor.settings import Settings

    known_values("--role", [role], ROLES)
    user = add_user(Settings(), name, role, _read_password())
    out.print(f"added {user.name} ({user.role})", markup=False, highlight=False)


@users_app.command("list")
@friendly_errors
def users_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """List the console's users (never a secret of theirs)."""
    from monitor.console.users import list_users, user_document
    from monitor.settings import Settings

    users = [user_document(u) for u in list_users(Settings())]
    if as_json:
        emit_json_lines("console-user/1", users)
        return
    for user in users:
        state = "disabled" if user["disabled"] else "active"
        out.print(f"{user['name']}\t{user['role']}\t{state}\t{user['created_at']}",
                  markup=False, highlight=False)


@users_app.command("disable")
@friendly_errors
def users_disable(name: Annotated[str, typer.Argument(help="The user's name.")]) -> None:
    """Disable a user: their sessions end and their tokens stop working at once."""
    from monitor.console.users import disable_user
    from monitor.settings import Settings

    disable_user(Settings(), name)
    out.print(f"disabled {name}", markup=False, highlight=False)


@users_app.command("token")
@friendly_errors
def users_token(name: Annotated[str, typer.Argument(help="The user's name.")]) -> None:
    """Make an API token for the user and print it, once (only its hash is kept)."""
    from monitor.console.users import add_token
    from monitor.settings import Settings

    token = add_token(Settings(), name)
    err.print("the token is shown once; send it as 'Authorization: Bearer TOKEN'",
              markup=False, highlight=False)
    sys.stdout.write(token + "\n")


@app.command("serve")
@friendly_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8700,
) -> None:
    """Serve the web console (docs/console.md); every page needs a login."""
    from monitor.console.serve import serve_console
    from monitor.settings import Settings

    serve_console(Settings(), host, port, say=lambda line: err.print(
        line, markup=False, highlight=False))
