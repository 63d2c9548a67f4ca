"""Evidence by content id only: a screenshot or saved page is named by its sha256, looked up
in the store, and read from the path the store holds; no part of a request reaches the file
system. A saved page is served as a sandbox (CSP `sandbox`, nothing loads, no script runs)
for an <iframe sandbox> on the case page, never as a page of the console's origin."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi import Path as PathParam
from starlette.responses import Response

from monitor.console.context import Console, console_of, principal_of

router = APIRouter(prefix="/evidence", include_in_schema=False,
                   dependencies=[Depends(principal_of)])
Digest = Annotated[str, PathParam(pattern="^[0-9a-f]{64}$")]
#: a saved page: sandboxed (an opaque origin: no scripts, forms, popups or cookies), loading
#: nothing (default-src 'none'), framed only by the console itself
PAGE_POLICY = ("sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
               "frame-ancestors 'self'")
MAX_PAGE_BYTES = 20 * 1024 * 1024


def _file(console: Console, digest: str, kind: str) -> Path:
    relative = console.store.evidence_file(digest, kind)
    if relative is None:
        raise HTTPException(404, "no such evidence")
    root = (console.settings.home / "evidence").resolve()
    path = (console.settings.home / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise HTTPException(404, "the evidence file is gone (pruned?)")
    return path


def screenshot_size(console: Console, digest: str) -> tuple[int, int] | None:
    """A stored screenshot's width and height, from its PNG header (None: not a PNG, or
    gone)."""
    try:
        with _file(console, digest, "screenshot").open("rb") as handle:
            header = handle.read(24)
    except HTTPException:
        return None
    if header[:8] != b"\x89PNG\r\n\x1a\n" or header[12:16] != b"IHDR":
        return None
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


@router.get("/screenshot/{digest}")
def screenshot(digest: Digest, console: Annotated[Console, Depends(console_of)]) -> Response:
    data = _file(console, digest, "screenshot").read_bytes()
    return Response(data, media_type="image/png",
                    headers={"Content-Disposition": f'inline; filename="{digest}.png"'})


@router.get("/page/{digest}")
def saved_page(digest: Digest, console: Annotated[Console, Depends(console_of)]) -> Response:
    with gzip.open(_file(console, digest, "html")) as handle:
        data = handle.read(MAX_PAGE_BYTES)
    return Response(data, media_type="text/html; charset=utf-8", headers={
        "Content-Security-Policy": PAGE_POLICY, "X-Frame-Options": "SAMEORIGIN"})
