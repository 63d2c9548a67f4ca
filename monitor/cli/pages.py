"""`bidwatch attribute` and `parse`: read an URL or a saved result page by hand."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from monitor.cli.app import EngineOrAuto, app
from monitor.cli.output import err, friendly_errors, out
from monitor.settings import Settings

# -- attribute -----------------------------------------------------------------------------


@app.command()
@friendly_errors
def attribute(
    urls: Annotated[list[str], typer.Argument(help="Ad, click or landing URLs.")],
    follow: Annotated[bool, typer.Option(help="Follow each chain live (the browser).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per URL.")] = False,
) -> None:
    """Which network and publisher a URL names; offline unless --follow."""
    from monitor.services.inspect import attribute_live, attribute_offline

    documents = attribute_live(urls, Settings()) if follow else attribute_offline(urls)
    for document in documents:
        if as_json:
            sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
            continue
        out.print(f"{document['url']}\n  {_ids_line(document)}", markup=False)
        for inner in document["inner_networks"]:
            out.print(f"  via {_ids_line(inner)}", markup=False)
        out.print(f"  lands on {document['landing_url'] or '?'}", markup=False)
        for hop in document.get("hops", []):
            out.print(f"  → [{hop['how']}] {hop['status'] or ''} {hop['url']}", markup=False)
        if document.get("error"):
            out.print(f"  stopped: {document['error']}", markup=False)


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


@app.command()
@friendly_errors
def parse(
    files: Annotated[list[Path], typer.Argument(help="Saved result pages.")],
    engine: Annotated[EngineOrAuto, typer.Option(help="The engine's reader.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Read the paid ads of saved result pages (.html, or the evidence's .html.gz)."""
    from monitor.services.commands import parse_file

    for path in files:
        document = parse_file(path, str(engine))
        if document["truncated"]:  # the ads printed are those of the part that was read
            err.print(f"{path}: {document['truncated']}", markup=False, highlight=False,
                      soft_wrap=True)
        if as_json:
            sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
        else:
            _print_ads(path, document)


def _print_ads(path: Path, document: dict[str, Any]) -> None:
    table = Table("pos", "#", "headline", "display URL", "link", title=(
        f"{escape(str(path))}: {document['engine'] or 'unknown engine'}, "
        f"{len(document['ads'])} ads"))
    for ad in document["ads"]:
        # ad text is a stranger's: shown as text, never read as Rich markup
        table.add_row(ad["position"], str(ad["rank"]), escape(ad["headline"]),
                      escape(ad["display_url"]), escape(ad["link"]))
    out.print(table)
