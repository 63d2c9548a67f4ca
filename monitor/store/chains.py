"""Chains kept for reuse: the newest chain followed for a key (entry URL · market · device)
that ended well, so a sweep can reuse it instead of following it again."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from monitor.store.base import StoreBase
from monitor.store.mapping import chain_record
from monitor.store.records import ChainRecord
from monitor.store.tables import ChainRow, HopRow


class ChainStore(StoreBase):
    def reusable_chain(self, key: str, since: datetime) -> ChainRecord | None:
        """The newest chain followed for `key` at or after `since` that ended without an
        error (a timeout, a browser or network error, a refused hop: each may be a passing
        fault, so such a chain is never reused), with its hops; None when there is none."""
        with self.session() as s:
            row = s.exec(
                select(ChainRow)
                .where(ChainRow.reuse_key == key, col(ChainRow.followed_at) >= since,
                       col(ChainRow.error).is_(None), col(ChainRow.live_from).is_not(None))
                .order_by(col(ChainRow.followed_at).desc(), col(ChainRow.id).desc())
                .limit(1)
            ).first()
            if row is None:
                return None
            hops = s.exec(select(HopRow).where(HopRow.chain_id == row.id)
                          .order_by(col(HopRow.seq))).all()
            return chain_record(row, hops)
