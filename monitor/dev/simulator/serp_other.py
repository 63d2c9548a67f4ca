"""DuckDuckGo (HTML version) and Yahoo result pages. Both syndicate Bing's ads, so their ad
links wrap a www.bing.com/aclick URL: DuckDuckGo in duckduckgo.com/y.js?u3=…, Yahoo in
r.search.yahoo.com/cbclk2/…/RU=…/.

DuckDuckGo: div.result.result--ad with a.result__a, a.result__url and a.badge--ad.
Yahoo: ol.searchCenterTopAds / ol.searchCenterBottomAds > li > div.dd with h3.title > a
(data-matarget="ad") and the display URL in the div after the h3.
"""

from __future__ import annotations

import base64
import time
from urllib.parse import quote

from monitor.dev.simulator.markup import (
    Locale,
    bing_click_url,
    css_class,
    esc,
    registrable_guess,
    token,
)
from monitor.dev.simulator.matching import Organic, Search
from monitor.dev.simulator.scenario import Ad

_DDG_AD_INFO = "https://duckduckgo.com/duckduckgo-help-pages/company/ads-by-microsoft-on-duckduckgo"


def duckduckgo_click_url(ad: Ad) -> str:
    return (
        f"https://duckduckgo.com/y.js?ad_domain={quote(registrable_guess(ad.link))}"
        f"&ad_provider=bingv7aa&ad_type=txad&rut={token(40)}"
        f"&u3={quote(bing_click_url(ad.link), safe='')}"
    )


def _ddg_ad(ad: Ad, label: str) -> str:
    href = esc(duckduckgo_click_url(ad))
    return (
        f'<div class="result results_links results_links_deep result--ad" '
        f'data-domain="{esc(registrable_guess(ad.display_url))}"><div class="links_main '
        f'links_deep result__body"><h2 class="result__title"><a rel="nofollow" '
        f'class="result__a" href="{href}">{esc(ad.headline)}</a></h2><div class="result__extras">'
        f'<div class="result__extras__url"><a class="result__url" href="{href}">'
        f'{esc(ad.display_url)}</a><a class="badge--ad" href="{_DDG_AD_INFO}">{esc(label)}</a>'
        f'</div></div><a class="result__snippet" href="{href}">{esc(ad.description)}</a>'
        f'<div class="clear"></div></div></div>'
    )


def _ddg_organic(result: Organic) -> str:
    href = esc(f"//duckduckgo.com/l/?uddg={quote(result.url, safe='')}&rut={token(40)}")
    return (
        f'<div class="result results_links results_links_deep web-result"><div class="links_main '
        f'links_deep result__body"><h2 class="result__title"><a rel="nofollow" class="result__a" '
        f'href="{href}">{esc(result.title)}</a></h2><div class="result__extras">'
        f'<div class="result__extras__url"><a class="result__url" href="{href}">'
        f'{esc(result.url)}</a></div></div><a class="result__snippet" href="{href}">'
        f"{esc(result.text)}</a></div></div>"
    )


def duckduckgo_page(search: Search, top: list[Ad], bottom: list[Ad], organic: list[Organic]) -> str:
    label = Locale(search.language).label[2]
    body = "".join(_ddg_ad(ad, label) for ad in top)
    body += "".join(_ddg_organic(r) for r in organic)
    if not (top or bottom or organic):
        body += '<div class="no-results">No results.</div>'
    body += "".join(_ddg_ad(ad, label) for ad in bottom)
    return (
        f'<!DOCTYPE html><html lang="{esc(search.language)}"><head><meta charset="utf-8">'
        f'<meta name="robots" content="noindex, nofollow"><title>{esc(search.query)} at '
        f'DuckDuckGo</title></head><body class="body--html"><div id="header"><form '
        f'id="search_form" action="/html/" method="post"><input name="q" class="search__input" '
        f'value="{esc(search.query)}"></form></div><div><div class="serp__results">'
        f'<div id="links" class="results">{body}</div></div></div></body></html>'
    )


def yahoo_click_url(ad: Ad) -> str:
    stamp = int(time.time())
    ticket = base64.urlsafe_b64encode(f"ue={token(16)}&ut={stamp}000&lt=2".encode()).decode()
    return (
        f"https://r.search.yahoo.com/cbclk2/{ticket.replace('=', '-')}/RV=2/RE={stamp + 86400}"
        f"/RO=10/RU={quote(bing_click_url(ad.link), safe='')}/RK=0/RS={token(26)}-"
    )


def _yahoo_ad(ad: Ad) -> str:
    href = esc(yahoo_click_url(ad))
    return (
        f'<li><div class="dd {css_class()} {css_class()}"><div class="layoutMiddle">'
        f'<div class="compTitle"><h3 class="title"><a class="td-n" data-matarget="ad" '
        f'href="{href}" target="_blank">{esc(ad.headline)}</a></h3> <div><a '
        f'class="{css_class()}" data-matarget="ad" href="{href}" target="_blank">'
        f'{esc(ad.display_url)}</a></div></div><div class="layoutCenter"><div class="compText">'
        f'<p class="lh-17 fz-s">{esc(ad.description)}</p></div></div></div></div></li>'
    )


def _yahoo_organic(result: Organic) -> str:
    return (
        f'<li><div class="dd algo algo-sr Sr"><div class="compTitle options-toggle">'
        f'<h3 class="title"><a href="{esc(result.url)}">{esc(result.title)}</a></h3><div>'
        f'<span class="fz-ms fw-m fc-12th wr-bw lh-17">{esc(result.url)}</span></div></div>'
        f'<div class="compText aAbs"><p class="fz-ms lh-1_43x">{esc(result.text)}</p></div>'
        f"</div></li>"
    )


def _yahoo_block(css: str, items: str) -> str:
    return f'<ol class=" reg {css}">{items}</ol>' if items else ""


def yahoo_page(search: Search, top: list[Ad], bottom: list[Ad], organic: list[Organic]) -> str:
    middle = "".join(_yahoo_organic(r) for r in organic) or (
        '<li><div class="compText"><p>We did not find results for: '
        f"<b>{esc(search.query)}</b></p></div></li>"
        if not (top or bottom)
        else ""
    )
    blocks = (
        _yahoo_block("searchCenterTopAds", "".join(_yahoo_ad(ad) for ad in top))
        + _yahoo_block("searchCenterMiddle", middle)
        + _yahoo_block("searchCenterBottomAds", "".join(_yahoo_ad(ad) for ad in bottom))
    )
    return (
        f'<!DOCTYPE html><html lang="{esc(search.language)}" id="atomic"><head><meta '
        f'charset="utf-8"><title>{esc(search.query)} - Yahoo Search Results</title></head>'
        f'<body><div id="doc"><div id="bd"><div id="results"><div id="cols"><div id="left">'
        f'<div id="main"><div>{blocks}</div></div></div></div></div></div></div></body></html>'
    )
