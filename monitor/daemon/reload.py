"""Noticing that rules/ changed, and saying why a program was refused."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from monitor.program import ProgramIssue

Fingerprint = tuple[tuple[str, int, int], ...]


class ProgramWatcher:
    """Polls the YAML files' names, sizes and modification times (cheap, and works on every
    file system, where inotify does not)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.seen = self.fingerprint()

    def fingerprint(self) -> Fingerprint:
        try:
            paths = sorted(p for p in self.root.iterdir() if p.suffix in (".yaml", ".yml"))
        except OSError:
            return ()
        out = []
        for path in paths:
            try:
                stat = path.stat()
            except OSError:
                continue
            out.append((path.name, stat.st_mtime_ns, stat.st_size))
        return tuple(out)

    def changed(self) -> bool:
        return self.fingerprint() != self.seen

    def mark_seen(self) -> None:
        """The files as they are now have been read (well or not): no reload until they
        change again."""
        self.seen = self.fingerprint()


def describe_issues(issues: Sequence[ProgramIssue]) -> str:
    """Every problem as FILE:LINE: field.path: message, one a line, as `rules check` prints."""
    return "\n".join(str(issue) for issue in issues)
