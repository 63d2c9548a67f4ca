"""The store's reads for the console's overview pages: partners' cases and escalation,
coverage over time."""

from __future__ import annotations

from monitor.store.base import StoreBase


class OverviewStore(StoreBase):
    pass
