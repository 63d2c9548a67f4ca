"""Evidence retention: page HTML and screenshots older than the retention period are deleted,
unless an open incident still rests on them or a newer capture shares the same file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.errors import BidwatchError
from monitor.store import Store


@dataclass(frozen=True)
class PruneReport:
    files_deleted: int
    bytes_freed: int
    files_kept_shared: int


def prune_evidence(store: Store, home: Path, older_than: timedelta) -> PruneReport:
    """Delete evidence past retention; the store forgets the paths in the same pass. A
    negative period is refused: it would put the cut-off in the future and delete all."""
    if older_than < timedelta(0):
        raise BidwatchError(f"evidence retention of {older_than.days} days: it must be 0 or "
                            "more (BIDWATCH_EVIDENCE_DAYS, --older-than)")
    cutoff = datetime.now(UTC) - older_than
    released, kept = store.prune_evidence_rows(cutoff)
    deleted = freed = 0
    for relative in sorted(released - kept):
        size = _remove(home / relative)
        if size is not None:
            deleted, freed = deleted + 1, freed + size
    orphans = _orphans(home / "evidence", kept, cutoff.timestamp())
    for path in orphans:
        size = _remove(path)
        if size is not None:
            deleted, freed = deleted + 1, freed + size
    return PruneReport(deleted, freed, len(released & kept))


def _orphans(root: Path, kept: set[str], before: float) -> list[Path]:
    """Old files no capture names: left by a task that was interrupted mid-write."""
    if not root.is_dir():
        return []
    home = root.parent
    return [path for path in root.glob("*/*") if path.is_file()
            and path.relative_to(home).as_posix() not in kept and path.stat().st_mtime < before]


def _remove(path: Path) -> int | None:
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return None
    return size
