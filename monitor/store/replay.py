"""Reading every stored sighting of a period as the judge needs it, read-only and streamed.

`replay_rows(url, start, end)` yields one plain tuple per sighting (columns: `ROW_COLUMNS`),
in sighting-id order, from a cursor that is iterated, never fetched whole, so a store of
millions of sightings is read in constant memory. The database is opened read-only (SQLite:
a `mode=ro` URI and `PRAGMA query_only`; PostgreSQL: a READ ONLY transaction), so replaying
a changed program can never change what was recorded. No migration runs: a store that is
not at the latest schema is refused with a message, not upgraded.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from monitor.errors import BidwatchError

#: the columns of each row, in order: the sighting's task and time, its ad, its chain's
#: landing, its attribution (what the judge reads), and the findings stored for it
ROW_COLUMNS = (
    "id", "seen_at", "brand", "engine", "market", "device", "query", "term_group",
    "kind", "position", "rank", "headline", "description", "display_url", "link",
    "click_url", "advertiser", "merchant", "price",
    "start_url", "landing_url", "chain_error",
    "advertiser_class", "partner", "network", "publisher_id", "advertiser_id", "creative_id",
    "sub_id", "click_id", "aggregator", "display_domain", "landing_domain", "domains_json",
    "reason", "inner_networks_json",
    "findings",
)
#: where the ad's facts start and end in a row (the slice many sightings share)
AD_FACTS = slice(ROW_COLUMNS.index("kind"), ROW_COLUMNS.index("findings"))

_SELECT = """
SELECT s.id, s.seen_at, s.brand, s.engine, s.market, s.device, s.query, s.term_group,
       a.kind, a.position, a.rank, a.headline, a.description, a.display_url, a.link,
       a.click_url, a.advertiser, a.merchant, a.price,
       c.start_url, c.landing_url, c.error,
       COALESCE(t.advertiser_class, s.advertiser_class), t.partner, t.network, t.publisher_id,
       t.advertiser_id, t.creative_id, t.sub_id, t.click_id, t.aggregator, t.display_domain,
       t.landing_domain, t.domains_json, t.reason, t.inner_networks_json,
       (SELECT {aggregate} FROM findings f WHERE f.sighting_id = s.id)
FROM sightings s
JOIN ads a ON a.id = s.ad_id
LEFT JOIN chains c ON c.ad_id = s.ad_id
LEFT JOIN attributions t ON t.ad_id = s.ad_id
WHERE s.seen_at >= {start} AND s.seen_at < {end}
ORDER BY s.id
"""
#: the stored findings of a sighting as "policy=severity,…" (policy ids are slugs)
_SQLITE_FINDINGS = "group_concat(f.policy || '=' || f.severity, ',')"
_POSTGRES_FINDINGS = "string_agg(f.policy || '=' || f.severity, ',')"
#: rows fetched from the database per round trip
BATCH = 5000
#: the widest period: every sighting ever stored
EVER = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))


class StoreNotReadable(BidwatchError):
    """The store could not be read (missing, or not at the latest schema)."""


@contextmanager
def replay_rows(url: str, start: datetime, end: datetime) -> Iterator[Iterator[tuple[Any, ...]]]:
    """The sightings seen in [start, end), with their facts and stored findings, read-only."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        with _sqlite_rows(parsed.database or "", start, end) as rows:
            yield rows
    else:
        with _postgres_rows(url, start, end) as rows:
            yield rows


def allowlist_pairs(url: str) -> list[tuple[str, str]]:
    """The (advertiser, destination) pairs staff cleared, read-only: the judge's `cleared`."""
    parsed = make_url(url)
    query = "SELECT advertiser, destination FROM allowlist"
    if parsed.get_backend_name() == "sqlite":
        database = _sqlite_connect(parsed.database or "")
        try:
            return [(str(a), str(d)) for a, d in _execute(database, query, ())]
        finally:
            database.close()
    engine = create_engine(_postgres_url(url))
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            return [(str(a), str(d)) for a, d in connection.execute(text(query))]
    finally:
        engine.dispose()


def _sqlite_connect(database: str) -> sqlite3.Connection:
    path = Path(database)
    if not database or database == ":memory:" or not path.is_file():
        raise StoreNotReadable(f"no store at {database or '(memory)'}: nothing to replay")
    # mode=ro: SQLite opens the file read-only (no write can reach it, not even a
    # checkpoint); query_only refuses any statement that would write, to be doubly sure
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
    connection.execute("PRAGMA query_only = ON")
    return connection


def _execute(connection: sqlite3.Connection, query: str, params: tuple[Any, ...]
             ) -> sqlite3.Cursor:
    try:
        return connection.execute(query, params)
    except sqlite3.OperationalError as error:
        raise StoreNotReadable(f"the store cannot be read ({error}); run `bidwatch sweeps` "
                               f"once to bring it to the latest schema") from None


@contextmanager
def _sqlite_rows(database: str, start: datetime, end: datetime
                 ) -> Iterator[Iterator[tuple[Any, ...]]]:
    connection = _sqlite_connect(database)
    try:
        query = _SELECT.format(aggregate=_SQLITE_FINDINGS, start="?", end="?")
        # the store keeps UTC times as "YYYY-MM-DD HH:MM:SS.ffffff", which sorts as text
        cursor = _execute(connection, query, (_sqlite_time(start), _sqlite_time(end)))
        yield _batched(cursor)
    finally:
        connection.close()


def _batched(cursor: Any) -> Iterator[tuple[Any, ...]]:
    while batch := cursor.fetchmany(BATCH):
        yield from batch


def _sqlite_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _postgres_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@contextmanager
def _postgres_rows(url: str, start: datetime, end: datetime
                   ) -> Iterator[Iterator[tuple[Any, ...]]]:
    engine = create_engine(_postgres_url(url))
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            query = _SELECT.format(aggregate=_POSTGRES_FINDINGS, start=":start", end=":end")
            result = connection.execution_options(stream_results=True, yield_per=BATCH
                                                  ).execute(text(query),
                                                            {"start": start, "end": end})
            yield (tuple(row) for row in result)
    finally:
        engine.dispose()
