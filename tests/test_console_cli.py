"""`bidwatch users` and `bidwatch serve`'s key: users added with a password from stdin
(never printed), listed without secrets, given a token shown once, disabled."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.cli import app
from monitor.cli.console import ROLES
from monitor.cli.schemas import validate
from monitor.console.auth import secret_hash
from monitor.console.secret import console_secret
from monitor.settings import Settings
from monitor.store import Store
from monitor.store.console import ROLES as STORE_ROLES
from tests.conftest import RULES

PASSWORD = "a long enough password"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BIDWATCH_HOME", str(tmp_path))
    monkeypatch.setenv("BIDWATCH_RULES", str(RULES))
    return tmp_path


def bidwatch(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    done = CliRunner().invoke(app, list(args), input=stdin)
    return done.exit_code, done.stdout, done.stderr


def test_users_add_list_token_disable(home: Path) -> None:
    assert ROLES == STORE_ROLES
    code, stdout, stderr = bidwatch("users", "add", "ana", "--role", "admin",
                                    stdin=PASSWORD + "\n")
    assert code == 0 and "added ana (admin)" in stdout
    assert PASSWORD not in stdout + stderr
    code, stdout, _ = bidwatch("users", "list", "--json")
    (line,) = stdout.splitlines()
    document = json.loads(line)
    validate(document)  # console-user/1, monitor.cli.schemas
    assert (document["name"], document["role"], document["disabled"]) == ("ana", "admin", False)

    code, stdout, stderr = bidwatch("users", "token", "ana")
    token = stdout.strip()
    assert code == 0 and token.startswith("bw_") and "shown once" in stderr
    store = Store(Settings().database)
    try:
        user = store.user_of_token(secret_hash(token), datetime.now(UTC))
        assert user is not None and user.name == "ana"
        # the database holds neither the password nor the token
        raw = (home / "bidwatch.db").read_bytes()
        assert PASSWORD.encode() not in raw and token.encode() not in raw
    finally:
        store.close()
    assert bidwatch("users", "disable", "ana")[0] == 0
    assert "disabled" in bidwatch("users", "list")[1]


def test_users_add_refuses_a_bad_role_name_or_password(home: Path) -> None:
    code, _, stderr = bidwatch("users", "add", "ana", "--role", "root", stdin=PASSWORD + "\n")
    assert code == 2 and "--role" in stderr
    code, _, stderr = bidwatch("users", "add", "a/b", stdin=PASSWORD + "\n")
    assert code == 2 and "user name" in stderr
    code, _, stderr = bidwatch("users", "add", "ana", stdin="short\n")
    assert code == 2 and "too short" in stderr
    assert bidwatch("users", "add", "ana", stdin=PASSWORD + "\n")[0] == 0
    code, _, stderr = bidwatch("users", "add", "ana", stdin=PASSWORD + "\n")
    assert code == 2 and "already" in stderr
    code, _, stderr = bidwatch("users", "token", "nobody")
    assert code == 2 and "no user" in stderr


def test_the_console_key_comes_from_the_environment_or_a_private_file(home: Path) -> None:
    made = console_secret(Settings())
    assert made.note and "generated" in made.note
    path = home / "console.secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(made.value) >= 48
    again = console_secret(Settings())
    assert again.value == made.value and again.note and "generated" not in again.note
    given = console_secret(Settings(console_secret="from-the-environment-" + "k" * 32))
    assert given.value.startswith("from-the-environment-") and given.note is None
