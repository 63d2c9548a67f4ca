"""The store: SQLModel tables, migrations, and the one API every reader and writer uses.

`Store` is one database behind one engine; its methods come from the parts below, one per
job, and take and return records (monitor.models in, monitor.store.records out), never rows.
"""

from monitor.store.chains import ChainStore
from monitor.store.console import (
    AuditRecord,
    BadCursor,
    CasePage,
    CaseQuery,
    ConsoleLogin,
    ConsoleStore,
    ConsoleStoreError,
    ConsoleUser,
)
from monitor.store.incidents import IncidentStore
from monitor.store.outbox import OutboxError, OutboxStore
from monitor.store.overview import OverviewStore
from monitor.store.recording import RecordingStore
from monitor.store.records import (
    AdRecord,
    AllowRecord,
    AttributionRecord,
    CaptureRecord,
    ChainRecord,
    ClauseRecord,
    Coverage,
    CoverageRow,
    FindingRecord,
    HopRecord,
    IncidentDetail,
    IncidentEventRecord,
    IncidentRecord,
    OutboxItem,
    RecordOutcome,
    SightingDetail,
    SightingRecord,
    SweepRecord,
    TaskRecord,
)
from monitor.store.reports import ReportStore
from monitor.store.retention import RetentionStore
from monitor.store.sweeps import SweepStore


class Store(SweepStore, RecordingStore, ChainStore, IncidentStore, OutboxStore, ReportStore,
            RetentionStore, ConsoleStore, OverviewStore):
    """One database, migrated to the latest schema on open."""


__all__ = [
    "AdRecord", "AllowRecord", "AttributionRecord", "AuditRecord", "BadCursor", "CaptureRecord",
    "CasePage", "CaseQuery", "ChainRecord", "ClauseRecord", "ConsoleLogin", "ConsoleStoreError",
    "ConsoleUser", "Coverage", "CoverageRow", "FindingRecord", "HopRecord", "IncidentDetail",
    "IncidentEventRecord", "IncidentRecord", "OutboxError", "OutboxItem", "RecordOutcome",
    "SightingDetail", "SightingRecord", "Store", "SweepRecord", "TaskRecord",
]
