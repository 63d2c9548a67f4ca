"""Bing result pages, shaped like real ones: ol#b_results > li.b_ad (top) and li.b_ad.b_adBottom
(bottom), each holding ul > li > div.sb_add; headline h2 > a whose href is the
www.bing.com/aclick URL (u=a1 + base64url of the link); display URL in .b_adurl cite; the
label in span.b_adSlug; the last item marked b_adLastChild; organic results in li.b_algo.
"""

from __future__ import annotations

import secrets

from monitor.dev.simulator.markup import Locale, bing_click_url, esc, token
from monitor.dev.simulator.matching import Organic, Search
from monitor.dev.simulator.scenario import Ad

_NO_RESULTS = "There are no results for <strong>{q}</strong>"


def _sitelinks(ad: Ad) -> str:
    if not ad.sitelinks:
        return ""
    items = "".join(
        f'<li><a href="{esc(bing_click_url(s.url))}" h="ID=SERP,{secrets.randbelow(9000)}.1,Ads">'
        f"{esc(s.text)}</a></li>"
        for s in ad.sitelinks
    )
    return f'<div class="b_vlist2col b_deep"><ul>{items}</ul></div>'


def ad_item(ad: Ad, last: bool, label: str) -> str:
    marker = ' class="b_adLastChild"' if last else ""
    return (
        f'<li data-bm="{secrets.randbelow(90) + 10}"{marker}><div class="sb_add sb_adTA">'
        f'<h2 class=""><a class="" href="{esc(bing_click_url(ad.link))}" '
        f'h="ID=SERP,{secrets.randbelow(9000)}.1,Ads">{esc(ad.headline)}</a></h2>'
        f'<div class="b_caption"><div class="b_attribution"><div class="b_adurl" '
        f'style="max-width: 585px"><cite>{esc(ad.display_url)}</cite></div>'
        f'<a class="b_adcaret" href="javascript:void(0)" title="About our ads"></a></div>'
        f'<p class=""><span class="b_adSlug">{esc(label)}</span>{esc(ad.description)}</p>'
        f'<div class="b_secondaryText b_adProvider">{esc(ad.advertiser)}</div>'
        f"{_sitelinks(ad)}</div></div></li>"
    )


def _ads_block(ads: list[Ad], search: Search, bottom: bool) -> str:
    if not ads:
        return ""
    label = Locale(search.language).label[1]
    items = "".join(ad_item(ad, i == len(ads) - 1, label) for i, ad in enumerate(ads))
    css = "b_ad b_adBottom" if bottom else "b_ad"
    return f'<li class="{css}" data-bm="{secrets.randbelow(9) + 1}"><ul>{items}</ul></li>'


def organic_result(result: Organic) -> str:
    return (
        f'<li class="b_algo" data-bm="{secrets.randbelow(90) + 10}"><div class="b_title"><h2>'
        f'<a href="{esc(result.url)}" h="ID=SERP,{secrets.randbelow(9000)}.1">'
        f'{esc(result.title)}</a></h2></div><div class="b_caption"><div class="b_attribution">'
        f"<cite>{esc(result.url)}</cite></div><p>{esc(result.text)}</p></div></li>"
    )


def _organic(search: Search, organic: list[Organic], has_ads: bool) -> str:
    if not organic and not has_ads:
        return f'<li class="b_no"><h1>{_NO_RESULTS.format(q=esc(search.query))}</h1></li>'
    return "".join(organic_result(r) for r in organic)


def page(search: Search, top: list[Ad], bottom: list[Ad], organic: list[Organic]) -> str:
    locale = Locale(search.language)
    results = (
        _ads_block(top, search, bottom=False)
        + _organic(search, organic, bool(top or bottom))
        + _ads_block(bottom, search, bottom=True)
    )
    return (
        f'<!DOCTYPE html><html dir="{locale.direction}" lang="{esc(search.language)}">'
        f'<head><meta content="text/html; charset=utf-8" http-equiv="content-type">'
        f"<title>{esc(search.query)} - Search</title>"
        f"<style>.b_ad{{background:#fff}}.b_adSlug{{padding-right:4px}}</style>"
        f'<script type="text/javascript">var _G={{ST:(new Date),IG:"{token(32)}"}};</script>'
        f'</head><body class="b_respl"><header id="b_header"><form action="/search" '
        f'id="sb_form"><input id="sb_form_q" name="q" value="{esc(search.query)}"></form>'
        f'</header><div id="b_content"><main aria-label="Search Results"><ol id="b_results">'
        f'{results}<li class="b_pag"><nav role="navigation"></nav></li></ol></main>'
        f'<aside aria-label="Additional Results"><ol id="b_context"></ol></aside></div>'
        f"</body></html>"
    )
