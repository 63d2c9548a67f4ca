"""One daemon per home: an fcntl lock that the kernel releases when the process ends."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from monitor.errors import BidwatchError

LOCK_NAME = "bidwatch-run.lock"


class InstanceLock:
    """`with InstanceLock(home):` holds the lock; a second holder gets a BidwatchError."""

    def __init__(self, home: Path) -> None:
        self.path = home / LOCK_NAME
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for the process's life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise BidwatchError(
                f"another `bidwatch run` (pid {holder}) already runs on {self.path.parent}; "
                "stop it first, or give this one its own BIDWATCH_HOME") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()
