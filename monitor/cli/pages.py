"""`bidwatch attribute` and `parse`: read an URL or a saved result page by hand.

Nothing heavy at import (every command pays for this module's imports): the settings, Rich,
the engines and the networks are imported by the command that needs them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from monitor.cli.app import EngineOrAuto, app
from monitor.cli.output import emit_csv, emit_json, err, friendly_errors, one_format, out
from monitor.errors import BidwatchError

# -- attribute -----------------------------------------------------------------------------


@app.command()
@friendly_errors
def attribute(
    urls: Annotated[list[str], typer.Argument(help="Ad, click or landing URLs.")],
    follow: Annotated[bool, typer.Option(help="Follow each chain live (the browser).")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="One JSON object per URL (schema attribution/1).")] = False,
) -> None:
    """Which network and publisher a URL names; offline unless --follow."""
    for url in urls:  # before any work: a typo is a usage error, not "no network recognised"
        _check_url(url)
    from monitor.services.inspect import attribute_live, attribute_offline

    if follow:
        from monitor.settings import Settings

        documents = attribute_live(urls, Settings())
    else:
        documents = attribute_offline(urls)
    for document in documents:
        if as_json:
            emit_json("attribution/1", document)
            continue
        out.print(f"{document['url']}\n  {_ids_line(document)}", markup=False)
        for inner in document["inner_networks"]:
            out.print(f"  via {_ids_line(inner)}", markup=False)
        out.print(f"  lands on {document['landing_url'] or '?'}", markup=False)
        for hop in document.get("hops", []):
            out.print(f"  → [{hop['how']}] {hop['status'] or ''} {hop['url']}", markup=False)
        if document.get("error"):
            out.print(f"  stopped: {document['error']}", markup=False)


def _check_url(url: str) -> None:
    """An http(s) URL with a host, or a host and path (`lumora.com/sale`), read as the
    recognisers read it; anything else exits 2 naming it."""
    from monitor.networks.hosts import browser_url

    scheme, sep, _ = url.strip().partition("://")
    if (sep and scheme.lower() not in ("http", "https")) or not browser_url(url).host:
        raise BidwatchError(f"not an http(s) URL: {url!r} (give e.g. https://host/path)")


def _ids_line(ids: dict[str, Any]) -> str:
    """network=… publisher_id=…, or what is known when no network is."""
    line = " ".join(f"{k}={ids[k]}" for k in ("network", "publisher_id", "advertiser_id",
                    "creative_id", "sub_id", "click_id") if ids.get(k))
    if line:
        return line
    if ids.get("tracking"):
        return str(ids["tracking"])
    return "no affiliate network recognised"


# -- parse ---------------------------------------------------------------------------------

#: `parse --csv`: one row per ad, after its page's file, engine and why it was cut
PARSE_CSV = ("file", "engine", "truncated", "kind", "position", "rank", "headline",
             "description", "display_url", "link", "click_url")
#: from this many files on, pages are read by a pool of processes (one per core): a page
#: costs the readers ~30 ms of CPU, forking a worker a few ms
POOL_FROM = 4


@app.command()
@friendly_errors
def parse(
    files: Annotated[list[Path], typer.Argument(help="Saved result pages.")],
    engine: Annotated[EngineOrAuto, typer.Option(help="The engine's reader.")] = "auto",
    as_json: Annotated[bool, typer.Option(
        "--json", help="One JSON object per file (schema parse/1).")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="One CSV row per ad.")] = False,
) -> None:
    """Read the paid ads of saved result pages (.html, or the evidence's .html.gz)."""
    one_format(as_json, as_csv)
    documents = _parsed(files, str(engine))
    if as_csv:
        emit_csv(PARSE_CSV, _ad_rows(documents))
        return
    for path, document in zip(files, documents, strict=False):
        if as_json:
            emit_json("parse/1", document)
        else:
            _print_ads(path, document)


def _parsed(files: Sequence[Path], engine: str) -> Iterator[dict[str, Any]]:
    """Each file's ads in the order given, saying on stderr what the reader could not account
    for: a page only partly read, ad clicks outside every ad read (the markup may have
    changed), a page that is not a result page. The first file that cannot be read ends the
    run (exit 2), after the files before it."""
    for path, document in zip(files, _read_all(files, engine), strict=True):
        for trouble in _unaccounted(document):
            err.print(f"{path}: {trouble}", markup=False, highlight=False, soft_wrap=True)
        yield document


def _unaccounted(document: dict[str, Any]) -> list[str]:
    troubles = []
    if document["truncated"]:  # the ads printed are those of the part that was read
        troubles.append(document["truncated"])
    if strays := document["stray_click_urls"]:
        troubles.append(f"{len(strays)} {document['engine']} ad clicks outside every ad read "
                        f"(has the markup changed?): {strays[0][:150]}")
    if document["status"] not in ("ok", "no_results"):
        troubles.append(f"not a result page: a {document['status']} page "
                        "(its ads, if any, are not a search's)")
    return troubles


def _read_all(files: Sequence[Path], engine: str) -> Iterator[dict[str, Any]]:
    """parse_file over `files`, in their order. Many files are read in worker processes
    (the readers are pure CPU, in Python and lexbor: threads would share one core); the
    results come back in order, so the output is the serial output."""
    import multiprocessing

    from monitor.services.commands import parse_file

    workers = min(_cores(), len(files))
    if (len(files) < POOL_FROM or workers < 2
            or "fork" not in multiprocessing.get_all_start_methods()):
        yield from (parse_file(path, engine) for path in files)
        return
    yield from _pooled(files, engine, workers)


def _pooled(files: Sequence[Path], engine: str, workers: int) -> Iterator[dict[str, Any]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    from monitor.engines import ENGINES
    from monitor.services.commands import parse_file

    # fork: the workers start with what this process has imported (the readers, imported
    # here once rather than in each worker) and need nothing pickled but a path
    list(ENGINES.values())
    for stream in (sys.stdout, sys.stderr):  # a forked worker flushes what it inherits
        stream.flush()
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        results = pool.map(partial(parse_file, engine_name=engine), files, chunksize=1)
        try:
            yield from results
        finally:  # an unreadable file stops the run: pages not started yet are not read
            pool.shutdown(wait=True, cancel_futures=True)


def _cores() -> int:
    """The cores this process may run on (a container or `taskset` may allow fewer)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _ad_rows(documents: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for document in documents:
        page = {k: document[k] for k in ("file", "engine", "truncated")}
        for ad in document["ads"]:
            yield {**page, **ad}


def _print_ads(path: Path, document: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=(
        f"{escape(str(path))}: {document['engine'] or 'unknown engine'}, "
        f"{len(document['ads'])} ads"))
    table.add_column("pos", no_wrap=True)
    table.add_column("#", no_wrap=True, justify="right")
    # folded, never cut: a URL cut at 80 columns is a different URL
    table.add_column("headline", overflow="fold", ratio=2)
    table.add_column("display URL", overflow="fold", ratio=1)
    table.add_column("link", overflow="fold", ratio=2)
    for ad in document["ads"]:
        # ad text is a stranger's: shown as text, never read as Rich markup
        table.add_row(ad["position"], str(ad["rank"]), escape(ad["headline"]),
                      escape(ad["display_url"]), escape(ad["link"]))
    out.print(table)
