"""The store: SQLModel tables, migrations, and the one API every reader and writer uses."""

from monitor.store.repo import (
    CoverageRow,
    IncidentDetail,
    RecordOutcome,
    SightingDetail,
    Store,
)

__all__ = ["CoverageRow", "IncidentDetail", "RecordOutcome", "SightingDetail", "Store"]
