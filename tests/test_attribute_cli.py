"""`bidwatch attribute URL... --json [--follow]`."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from typer.testing import CliRunner

from monitor.cli import app
from monitor.dev.simulator import Simulator

runner = CliRunner()
KEYS = ["url", "network", "publisher_id", "advertiser_id", "creative_id", "sub_id", "click_id",
        "landing_url", "inner_networks", "tracking"]
PARTNERIZE = ("https://prf.hn/click/camref:1100l5xYz/pubref:kw/"
              "destination:https%3A%2F%2Fwww.lumora.com%2Fsale")


def lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_offline_prints_one_object_per_url_with_nulls_where_unknown() -> None:
    result = runner.invoke(app, ["attribute", PARTNERIZE, "https://example.com/", "--json"])
    assert result.exit_code == 0, result.output
    partnerize, plain = lines(result.output)
    # the schema name first, as every --json object (docs/cli.md), then the attribution
    assert list(partnerize) == ["schema", *KEYS] and list(plain) == ["schema", *KEYS]
    assert partnerize == {"schema": "attribution/1", "url": PARTNERIZE, "network": "partnerize",
                          "publisher_id": "1100l5xYz", "advertiser_id": None,
                          "creative_id": None, "sub_id": "kw", "click_id": None,
                          "landing_url": "https://www.lumora.com/sale", "inner_networks": [],
                          "tracking": "recognised"}
    assert all(plain[k] is None for k in KEYS[1:7])
    assert plain["landing_url"] == "https://example.com/"
    assert (plain["inner_networks"], plain["tracking"]) == ([], None)


UNKNOWN_TRACKING = "https://trk.unknownnet.io/click/123456?dest=https%3A%2F%2Fwww.lumora.com"


def test_an_unrecognised_tracking_link_says_so() -> None:
    result = runner.invoke(app, ["attribute", UNKNOWN_TRACKING, "--json"])
    (found,) = lines(result.output)
    assert found["network"] is None
    assert found["tracking"] == "unrecognised tracking link"
    text = runner.invoke(app, ["attribute", UNKNOWN_TRACKING, "https://www.lumora.com/"]).output
    assert "  unrecognised tracking link\n" in text
    assert "  no affiliate network recognised\n" in text  # the plain page


def test_an_engine_click_url_alone_is_not_an_unrecognised_tracking_link() -> None:
    google = ("https://www.googleadservices.com/pagead/aclk?sa=L&ai=DChcSEwi&adurl="
              "https%3A%2F%2Fwww.lumora.com%2F%3Futm_source%3Dgoogle")
    (found,) = lines(runner.invoke(app, ["attribute", google, "--json"]).output)
    assert found["tracking"] is None


def test_a_nested_link_names_the_outermost_network_and_the_ones_inside() -> None:
    awin = ("https://www.awin1.com/cread.php?awinmid=1001&awinaffid=412345"
            "&ued=https%3A%2F%2Fwww.lumora.com%2Fsale")
    skim = "https://go.skimresources.com/?id=98765X111&url=" + quote(awin, safe="")
    (found,) = lines(runner.invoke(app, ["attribute", skim, "--json"]).output)
    assert (found["network"], found["publisher_id"]) == ("skimlinks", "98765")
    assert found["inner_networks"] == [
        {"network": "awin", "publisher_id": "412345", "advertiser_id": "1001",
         "creative_id": None, "sub_id": None, "click_id": None}]
    assert found["landing_url"] == "https://www.lumora.com/sale"
    text = runner.invoke(app, ["attribute", skim]).output
    assert "  via network=awin publisher_id=412345 advertiser_id=1001\n" in text


def test_a_landing_page_lands_on_itself_and_a_bare_click_url_is_unknown() -> None:
    landing = "https://www.lumora.com/?awc=55123_1700000000_abc"
    bare_click = "https://www.anrdoezrs.net/click-7012345-13579"
    found = lines(runner.invoke(app, ["attribute", landing, bare_click, "--json"]).output)
    assert (found[0]["network"], found[0]["landing_url"]) == ("awin", landing)
    assert (found[1]["network"], found[1]["publisher_id"]) == ("cj", "7012345")
    assert found[1]["landing_url"] is None


def test_offline_unwraps_an_engine_click_url_down_to_the_network() -> None:
    bing = ("https://www.bing.com/aclick?ld=x&u=a1aHR0cHM6Ly9sdW1vcmEuc2p2LmlvL2MvMjM0NTY3OC8x"
            "MjM0NTY3LzE1ODkwP3U9aHR0cHMlM0ElMkYlMkZ3d3cubHVtb3JhLmNvLmlkJTJGcHJvbW8")
    (found,) = lines(runner.invoke(app, ["attribute", bing, "--json"]).output)
    assert (found["network"], found["publisher_id"]) == ("impact", "2345678")
    assert found["landing_url"] == "https://www.lumora.co.id/promo"


@pytest.mark.browser
def test_follow_records_every_hop_through_the_simulator(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIDWATCH_SIMULATOR", simulator.address)
    result = runner.invoke(app, ["attribute", "--follow", "--json",
                                 "https://go.sleepsaver.net/r/lumora"])
    assert result.exit_code == 0, result.output
    (found,) = lines(result.output)
    assert [h["how"] for h in found["hops"]] == ["start", "meta", "http"]
    assert found["network"] == "partnerize" and found["publisher_id"] == "1100l5xYz"
    assert str(found["landing_url"]).startswith("https://www.lumora.com/sale?clickref=")
    assert found["error"] is None


@pytest.mark.browser
def test_follow_refuses_a_private_address_and_says_so(browser_path: object) -> None:
    result = runner.invoke(app, ["attribute", "--follow", "--json", "http://127.0.0.1/admin"])
    assert result.exit_code == 0, result.output
    (found,) = lines(result.output)
    assert found["error"] and "127.0.0.1" in str(found["error"])
    assert len(found["hops"]) <= 1


@pytest.mark.browser
def test_follow_refuses_a_port_that_is_not_configured(
    browser_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "https://www.lumora.com:8443/"
    (refused,) = lines(runner.invoke(app, ["attribute", "--follow", "--json", url]).output)
    assert "port 8443" in str(refused["error"])
    monkeypatch.setenv("BIDWATCH_CHAIN_PORTS", "[443, 8443]")
    (allowed,) = lines(runner.invoke(app, ["attribute", "--follow", "--json", url]).output)
    assert "port 8443" not in str(allowed["error"])
