"""The console's JSON API against its own OpenAPI description (schemathesis, in process over
the real app and a real SQLite store): every answer is one the description allows, and no
input makes a server error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from monitor.console.app import create_app
from monitor.console.users import add_token, add_user
from monitor.settings import Settings
from monitor.store import Store
from tests.conftest import RULES
from tests.notify_support import Breach, record_breach

NOW = datetime.now(UTC)
AUTH: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> object:
    home: Path = tmp_path_factory.mktemp("console-api")
    config = Settings(home=home, rules=RULES, database_url=None)
    add_user(config, "ada", "admin", "correct horse battery staple")
    AUTH["Authorization"] = f"Bearer {add_token(config, 'ada')}"
    store = Store(config.database)
    for n, partner in enumerate(("sleepsaver", "kuponhemat", "arabiccoupons")):
        record_breach(store, home, Breach(partner=partner), NOW - timedelta(hours=n))
    app = create_app(config, store, secret="s" * 48)
    return schemathesis.openapi.from_asgi("/openapi.json", app, headers=AUTH)


def test_the_api_answers_as_its_description_says(api_schema: Any) -> None:
    # (schemathesis's own pytest plugin does not run under pytest 9: each operation's
    # strategy is driven here by Hypothesis instead)
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {o.path for o in operations} >= {"/api/incidents", "/api/incidents/{case_id}",
                                            "/api/coverage"}
    for operation in operations:

        # a page cursor is opaque (made by the server; a made-up one is refused with 400,
        # which tests/test_console_security.py checks): none is invented here
        @given(case=operation.as_strategy().filter(lambda c: not (c.query or {}).get("after")))
        @settings(max_examples=25, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def answers(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=AUTH)

        answers()
