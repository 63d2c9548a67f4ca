"""Evidence on disk: every captured page's HTML (gzip) and full-page screenshot, stored by
content hash under $BIDWATCH_HOME/evidence, so the same page saved twice is stored once."""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
from pathlib import Path


class EvidenceStore:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.root = home / "evidence"

    def save_html(self, html: str) -> str:
        data = html.encode("utf-8", "surrogatepass")
        return self._save(gzip.compress(data, compresslevel=6, mtime=0),
                          hashlib.sha256(data).hexdigest(), ".html.gz")

    def save_screenshot(self, png: bytes) -> str:
        return self._save(png, hashlib.sha256(png).hexdigest(), ".png")

    def read_html(self, relative: str) -> str:
        return gzip.decompress((self.home / relative).read_bytes()).decode("utf-8", "replace")

    def path(self, relative: str) -> Path:
        return self.home / relative

    def _save(self, data: bytes, digest: str, suffix: str) -> str:
        relative = Path("evidence") / digest[:2] / f"{digest}{suffix}"
        target = self.home / relative
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename: a crash never leaves a truncated file under the final name.
            # (named per process and thread: two captures may save the same page at once)
            temporary = target.with_suffix(
                target.suffix + f".{os.getpid()}.{threading.get_ident()}.tmp")
            temporary.write_bytes(data)
            temporary.replace(target)
        return relative.as_posix()
