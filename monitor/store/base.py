"""What every part of the store shares: one engine, migrated on open, and its sessions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlmodel import Session

from monitor.store.db import make_engine, migrate


class StoreBase:
    """One database, migrated to the latest schema on open. The store's parts (sweeps,
    recording, incidents, outbox, reports) are mixins over this one engine."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        migrate(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()
