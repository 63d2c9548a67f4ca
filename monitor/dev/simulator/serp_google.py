"""Google result pages, shaped like the 2023-2024 pages (desktop and mobile).

Structure kept from real pages: #tvcap > #tads (top) and #bottomads > #tadsb (bottom), each
with a localised aria-label; items div.uEierd > div[data-text-ad]; headline in
div[role=heading]; the headline link's href is the ad's link, with data-rw holding the aclk
click URL and data-pcu the link's origin; display URL in span[role=text]; the label and
display URL rendered twice (once hidden); a hidden aclk anchor; scripts and CSS around.
"""

from __future__ import annotations

from monitor.dev.simulator.markup import (
    Locale,
    css_class,
    esc,
    google_click_url,
    origin_of,
    registrable_guess,
    token,
)
from monitor.dev.simulator.matching import Organic, Search
from monitor.dev.simulator.scenario import Ad

_TITLE_SUFFIX = {
    "en": "Google Search",
    "de": "Google Suche",
    "id": "Penelusuran Google",
    "ar": "بحث Google",
}
_NO_MATCH = "Your search - <b>{q}</b> - did not match any documents."

# The loader Google inlines in #tads: it swaps data-rw into href on click. Kept as noise and
# because it is what makes a real browser send the click to /aclk.
_CLICK_SCRIPT = """(function(){var r=function(a){if(a&&a.dataset&&a.dataset.rw){
a.setAttribute("data-ohref",a.href);a.href=a.dataset.rw+(a.dataset.ved?"&ved="+a.dataset.ved:"")}};
window.J4LCUe=r;window.TPUtub=r;})();"""

_STYLE = (
    ".uEierd{margin-bottom:24px}.U3A9Ac{font-weight:700}.sVXRqc{text-decoration:none}"
    ".oVrGyb{display:none}.nMdasd{display:none}.MjjYud{margin-bottom:30px}"
    ".LC20lb{font-size:20px}.Uo8X3b{display:none}"
)


def _ved() -> str:
    return f"2ahUKEw{token(30)}QFnoECA{token(4)}"


def _display_block(ad: Ad, hidden: bool) -> str:
    extra = " oVrGyb" if hidden else ""
    return (
        f'<div class="d8lRkd{extra}"><span class="yIn8Od"><span class="wbJOMb">'
        f'<span class="pKWwCd yUTMj"><div class="Aozhyc MUxGbd lyLwlc aLF0Z OSrXXb">'
        f'<span class="BTu2cd">{esc(ad.advertiser)}</span></div></span>'
        f'<span class="OSrXXb VN4UC"><span class="x2VHCd OSrXXb qzEoUe" '
        f'data-dtld="{esc(registrable_guess(ad.display_url))}" role="text">'
        f"{esc(ad.display_url)}</span></span></span></span></div>"
    )


def _anchor_attrs(ad: Ad, click_url: str, css: str) -> str:
    return (
        f'class="{css}" data-agch="HJ3bqe" data-impdclcc="1" '
        f'data-pcu="{esc(origin_of(ad.link))}" data-rw="{esc(click_url)}" '
        f'href="{esc(ad.link)}" data-ae="1" data-al="1" data-ved="{_ved()}" '
        f'onmousedown="J4LCUe(this)"'
    )


def _sitelinks(ad: Ad, query: str) -> str:
    if not ad.sitelinks:
        return ""
    links = " · ".join(
        f'&lrm;<a data-rw="{esc(google_click_url(s.url, query))}" href="{esc(s.url)}" '
        f'data-ved="{_ved()}">{esc(s.text)}</a>'
        for s in ad.sitelinks
    )
    return f'<div class="bOeY0b"><div class="dcuivd MUxGbd lyLwlc aLF0Z OSrXXb">{links}</div></div>'


def desktop_ad(ad: Ad, rank: int, search: Search) -> str:
    click_url = google_click_url(ad.link, search.query)
    label = Locale(search.language).label[0]
    return (
        f'<div class="uEierd"><div><div data-text-ad="1" data-hveid="CA{token(4)}" '
        f'data-ta-slot="0" data-ta-slot-pos="{rank}"><div class="vdQmEd fP1Qef EtOod pkphOe">'
        f'<span class="U3A9Ac qV8iec">{esc(label)}</span><div class="v5yQqb">'
        f"<a {_anchor_attrs(ad, click_url, 'sVXRqc')}>"
        f'<div class="CCgQ5 vCa9Yd QfkTvb N8QANc MUxGbd v0nnCb" aria-level="3" role="heading">'
        f"<span>{esc(ad.headline)}</span></div>{_display_block(ad, hidden=False)}</a>"
        f'<a id="s0p{rank}" style="display:none" aria-hidden="true" href="{esc(click_url)}"></a>'
        f"{_display_block(ad, hidden=True)}</div>"
        f'<div class="jLvEdc ZD9zO"></div></div><div><div class="MUxGbd yDYNvb lyLwlc"><div>'
        f"<span>{esc(ad.description)}</span></div></div></div>"
        f"{_sitelinks(ad, search.query)}</div></div></div>"
    )


def mobile_ad(ad: Ad, rank: int, search: Search) -> str:
    click_url = google_click_url(ad.link, search.query)
    label = Locale(search.language).label[0]
    return (
        f'<div class="uEierd"><div class="U3THc"><div data-text-ad="1" data-hveid="CA{token(4)}">'
        f'<div class="mnr-c O9g5cc uUPGi"><div class="d5oMvf KJDcUb">'
        f'<a {_anchor_attrs(ad, click_url, "cz3goc v5yQqb BmP5tf")} data-slot-pos="{rank}">'
        f'<div class="pxCxEd"><div class="abuKkc MUxGbd lyLwlc aLF0Z">'
        f'<span class="jpu5Q VqFMTc p8AiDd U3A9Ac">{esc(label)}'
        f'<span style="padding:0 5px">&middot;</span></span>'
        f'<span class="Zu0yb UGIkD qzEoUe" role="text">{esc(ad.display_url)}</span></div></div>'
        f'<div class="PpBGzd YcUVQe cfxYMc MUxGbd v0nnCb lEBKkf" aria-level="3" role="heading">'
        f'<div class="yUTMj MBeuO ynAwRc gsrt PpBGzd YcUVQe">{esc(ad.headline)}</div></div></a>'
        f'<a style="display:none" aria-hidden="true" href="{esc(click_url)}"></a></div>'
        f'<div class="MUxGbd yDYNvb lyLwlc"><span class="BTu2cd">{esc(ad.advertiser)}</span> '
        f"{esc(ad.description)}</div></div></div></div></div>"
    )


def _ads_block(ads: list[Ad], search: Search, block_id: str) -> str:
    heading = Locale(search.language).ads_heading
    render = mobile_ad if search.device == "mobile" else desktop_ad
    items = "".join(render(ad, rank, search) for rank, ad in enumerate(ads, start=1))
    return (
        f'<div class="qGXjvb" id="{block_id}" aria-label="{esc(heading)}" role="region" '
        f'data-ved="{_ved()}"><h1 class="Uo8X3b OhScic zsYMMe">{esc(heading)}</h1>'
        f'<script nonce="{token(22)}">{_CLICK_SCRIPT}</script>{items}</div>'
    )


def organic_result(result: Organic) -> str:
    return (
        f'<div class="MjjYud"><div class="g Ww4FFb vt6azd tF2Cxc asEBEc" '
        f'data-hveid="CB{token(4)}"><div class="kvH3mc BToiNc UK95Uc">'
        f'<div class="Z26q7c UK95Uc jGGQ5e"><div class="yuRUbf"><a href="{esc(result.url)}" '
        f'ping="/url?sa=t&amp;source=web&amp;url={esc(result.url)}"><br>'
        f'<h3 class="LC20lb MBeuO DKV0Md">{esc(result.title)}</h3><div class="TbwUpd NJjxre">'
        f'<cite class="qLRx3b tjvcx GvPZzd cHaqb" role="text">{esc(result.url)}</cite></div></a>'
        f'</div></div><div class="Z26q7c UK95Uc"><div class="VwiC3b yXK7lf MUxGbd yDYNvb lyLwlc">'
        f"<span>{esc(result.text)}</span></div></div></div></div></div>"
    )


def _results(search: Search, organic: list[Organic], has_ads: bool) -> str:
    if not organic and not has_ads:
        message = _NO_MATCH.format(q=esc(search.query))
        notice = f'<div class="card-section"><p role="heading">{message}</p></div>'
        return f'<div id="topstuff">{notice}</div>'
    items = "".join(organic_result(r) for r in organic)
    return (
        f'<div id="topstuff"></div><div id="search"><div><h1 class="Uo8X3b OhScic zsYMMe">'
        f'Search Results</h1><div class="v7W49e" id="rso">{items}</div></div></div>'
    )


def _head(search: Search) -> str:
    suffix = _TITLE_SUFFIX.get(search.language, _TITLE_SUFFIX["en"])
    return (
        f'<head><meta charset="UTF-8"><meta content="origin" name="referrer">'
        f"<title>{esc(search.query)} - {esc(suffix)}</title><style>{_STYLE}</style>"
        f'<script nonce="{token(22)}">(function(){{window.google={{kEI:"{token(22)}",'
        f'kEXPI:"0,{css_class()}",u:"{css_class()}"}};}})();</script></head>'
    )


def page(search: Search, top: list[Ad], bottom: list[Ad], organic: list[Organic]) -> str:
    """A whole result page for `search` with these ads and unpaid results."""
    locale = Locale(search.language)
    top_block = _ads_block(top, search, "tads") if top else ""
    bottom_block = _ads_block(bottom, search, "tadsb") if bottom else ""
    return (
        f'<!DOCTYPE html><html itemscope="" itemtype="http://schema.org/SearchResultsPage" '
        f'lang="{esc(search.language)}" dir="{locale.direction}">{_head(search)}'
        f'<body jsmodel="hspDDf" class="srp"><div class="L3eUgb">'
        f'<form id="tsf" action="/search" method="GET" role="search"><textarea class="gLFyf" '
        f'name="q" aria-label="Search">{esc(search.query)}</textarea></form>'
        f'<div id="main"><div id="cnt"><div id="rcnt"><div id="center_col">'
        f'<div id="taw"><div id="oFNiHe"></div><div id="tvcap">{top_block}</div></div>'
        f'<div class="eqAnXb" id="res" role="main">{_results(search, organic, bool(top or bottom))}'
        f'</div><div id="bottomads">{bottom_block}</div><div id="botstuff"></div>'
        f"</div></div></div></div></div></body></html>"
    )
