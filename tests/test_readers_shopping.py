"""Shopping ads (product listing units) are read with their merchant and price as the page
shows them, and their click URL (the hidden /aclk twin of the visible link)."""

from __future__ import annotations

from monitor.engines import get_engine
from monitor.models import AdKind, AdPosition
from tests.corpus_support import corpus_html, needs_corpus


@needs_corpus
def test_google_product_units_of_a_2024_page_read_as_shown() -> None:
    # the truth file's notes: three .pla-unit GU gel products in #tads before the text ad
    ads = get_engine("google").read_ads(corpus_html("google_websearcher_14.html"))
    shopping = [a for a in ads if a.kind is AdKind.shopping]

    assert [(a.position, a.rank, a.price, a.merchant) for a in shopping] == [
        (AdPosition.top, 1, "$32.95", "Amazon.com"),
        (AdPosition.top, 2, "$12.95", "Amazon.com"),
        (AdPosition.top, 3, "$35.39", "Amazon.com"),
    ]
    assert shopping[1].headline == (
        "GU Energy - Original Sports Nutrition Energy Gel, Vegan, Gluten-Free, Kosher, and"
        " Dairy-Free On-the-Go Energy for Any Workout, 8-Count, Vanilla Bean"
    )
    assert shopping[0].link.startswith("https://www.amazon.com/GU-Energy-Original-Nutrition")
    assert all(a.click_url and a.click_url.startswith("/aclk?sa=l&ai=") for a in shopping)


_UNIT = """<div class="pla-unit" data-dtld="{domain}"><a style="display:none"
 href="/aclk?sa=l&amp;ai=DCh{n}&amp;adurl="></a><a href="https://{domain}/p/{n}"
 aria-label="x"><div role="heading" aria-level="3"><span>{title}</span></div></a>
<div><span>{price}</span></div><div><span>(2.1K)</span></div><div><span>{merchant}</span></div>
</div>"""


def test_google_product_unit_price_in_any_currency_and_its_merchant() -> None:
    units = [
        _UNIT.format(n=1, domain="velo.example", title="Rennrad Aero 7", price="1.299,00 €",
                     merchant="Velo Haus"),
        _UNIT.format(n=2, domain="bike.example", title="Gravel Bike", price="CHF 849.90",
                     merchant="Bike Shop AG"),
    ]
    html = f'<html><body><div id="tads">{"".join(units)}</div><div id="rso"></div></body></html>'

    ads = [a for a in get_engine("google").read_ads(html) if a.kind is AdKind.shopping]

    assert [(a.headline, a.price, a.merchant, a.click_url) for a in ads] == [
        ("Rennrad Aero 7", "1.299,00 €", "Velo Haus", "/aclk?sa=l&ai=DCh1&adurl="),
        ("Gravel Bike", "CHF 849.90", "Bike Shop AG", "/aclk?sa=l&ai=DCh2&adurl="),
    ]
