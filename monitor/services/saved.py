"""A saved result page read from disk as the readers take it, bounded in size and nesting.

Apart from `explain` so that `bidwatch parse` imports only this and the engines, not the
store or the judge: it starts fast over many files."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from monitor.engines.pagetext import MAX_PAGE_BYTES, bound_page, decode_page
from monitor.errors import BidwatchError


@dataclass(frozen=True)
class SavedPage:
    """A saved page's text as the readers take it, and why it is not all of the file."""

    html: str
    cut: str | None = None


#: gzip's first two bytes
_GZIP = b"\x1f\x8b"
_CHUNK = 1024 * 1024


def read_page(path: Path) -> SavedPage:
    """A saved page, plain or as the store keeps evidence (.html.gz, whatever its name):
    at most MAX_PAGE_BYTES of it are read (a gzip file is inflated no further, so a bomb
    costs no more than a large page), decoded by what the page says it is (a byte-order mark,
    UTF-16, the <meta> charset) and bounded in nesting (`engines.pagetext`)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(len(_GZIP))
            if data == _GZIP:
                handle.seek(0)
                data, cut = _inflate(handle, path)
            else:
                data += handle.read(MAX_PAGE_BYTES + 1 - len(data))
                cut = None
    except OSError as error:
        raise BidwatchError(f"{path}: {error.strerror or error}") from None
    if len(data) > MAX_PAGE_BYTES:
        data, cut = data[:MAX_PAGE_BYTES], (
            f"more than {MAX_PAGE_BYTES // (1024 * 1024)} MB: read the first part")
    page = bound_page(decode_page(data))
    return SavedPage(page.html, cut or page.cut)


def _inflate(handle: BinaryIO, path: Path) -> tuple[bytes, str | None]:
    """At most MAX_PAGE_BYTES + 1 bytes out of a gzip stream, reading at most as much in
    (deflate can spend input on empty blocks and give nothing out)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out: list[bytes] = []
    size = read = 0
    try:
        while size <= MAX_PAGE_BYTES and read <= MAX_PAGE_BYTES:
            chunk = inflater.unconsumed_tail or handle.read(_CHUNK)
            if not inflater.unconsumed_tail:
                read += len(chunk)
            if not chunk:
                break
            piece = inflater.decompress(chunk, MAX_PAGE_BYTES + 1 - size)
            out.append(piece)
            size += len(piece)
            if inflater.eof:
                if inflater.unused_data[:2] != _GZIP:  # another member follows, or trailing junk
                    break
                tail = inflater.unused_data
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                out.append(inflater.decompress(tail, MAX_PAGE_BYTES + 1 - size))
                size += len(out[-1])
    except zlib.error as error:
        raise BidwatchError(f"{path}: damaged gzip file ({error})") from None
    data = b"".join(out)
    if read > MAX_PAGE_BYTES and size <= MAX_PAGE_BYTES:
        return data, f"a gzip file of more than {MAX_PAGE_BYTES // (1024 * 1024)} MB: " \
                     "read what its first part holds"
    if not inflater.eof and size <= MAX_PAGE_BYTES:
        return data, "the gzip file ends early: read what it holds"
    return data, None
