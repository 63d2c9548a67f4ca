"""Who placed an ad: chain → network ids → partner, or brand, competitor, unknown.

Order of evidence, strongest first: a network publisher id on the chain that the program
knows; a domain (display or on the chain) that a partner owns; the engine's advertiser name.
The brand itself is only the advertiser when both the display and the landing domains are the
brand's and no affiliate network or partner shows up anywhere on the chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from monitor.engines import is_engine_click_url
from monitor.models import AdvertiserClass, Attribution, Chain, NetworkIds, ObservedAd
from monitor.networks.hosts import browser_url, registered_domain
from monitor.networks.table import canonical_network, rakuten_eaid, recognise, recognise_layers
from monitor.networks.tracking import looks_like_tracking
from monitor.program import Program
from monitor.program.models import Partner


def registrable_domain(url_or_host: str | None) -> str | None:
    """The registrable domain (eTLD+1) of a URL, a bare display URL or a host, lower case,
    read as a browser reads it (monitor.networks.hosts).

    IP-address hosts come back as the address; hosts with no public suffix give None.
    """
    value = (url_or_host or "").strip()
    if value and "://" not in value[:12] and not value.startswith("//"):
        value = "//" + value.lstrip("/")  # a bare display URL or host
    return registered_domain(browser_url(value).host) if value else None


def chain_domains(chain: Chain) -> tuple[str, ...]:
    """Every registrable domain on the chain, in order of first appearance."""
    urls = (chain.start_url, *chain.urls, chain.landing_url)
    return tuple(dict.fromkeys(d for d in map(registrable_domain, urls) if d))


def is_unrecognised_tracking(chain: Chain) -> bool:
    """Whether a chain went through what looks like a tracking link (a redirect parameter,
    an affiliate id, a tracking path) that no network of the table claims: a network bidwatch
    does not know yet, to be seen on the first day, like a stray ad click. Engine click URLs
    carry a redirect parameter by design and are not counted."""
    if recognise_layers(chain.urls):
        return False
    return any(looks_like_tracking(url) for url in chain.urls if not is_engine_click_url(url))


def attribute(ad: ObservedAd, chain: Chain, program: Program) -> Attribution:
    """Classify the advertiser of `ad` given where its chain led; Attribution.reason says how."""
    layers = recognise_layers(chain.urls)
    network = layers[0] if layers else None
    display = registrable_domain(ad.display_url) or registrable_domain(ad.link)
    landing = registrable_domain(chain.landing_url)
    domains = chain_domains(chain)
    partner, reason = find_partner(ad, chain, program, display, domains)
    advertiser_class = AdvertiserClass.partner if partner else AdvertiserClass.unknown
    if partner is None:
        advertiser_class, reason = _without_partner(ad, program, layers, display, landing, domains)
    return Attribution(
        advertiser_class=advertiser_class,
        partner=partner.id if partner else None,
        network=network,
        display_domain=display,
        landing_domain=landing,
        domains=domains,
        reason=reason,
        inner_networks=layers[1:],
    )


def find_partner(
    ad: ObservedAd, chain: Chain, program: Program, display: str | None, domains: Sequence[str]
) -> tuple[Partner | None, str]:
    """The partner behind the ad and how it was found: network id, then domain, then name."""
    for ids in _all_network_ids(chain.urls):
        partner = partner_by_network_id(program.partners, ids)
        if partner:
            return partner, f"{ids.network} publisher {ids.publisher_id} is {partner.id}"
    for domain in ([display] if display else []) + list(domains):
        partner = next((p for p in program.partners if domain in _domains(p.domains)), None)
        if partner:
            return partner, f"domain {domain} belongs to {partner.id}"
    name = (ad.advertiser or "").strip().casefold()
    for partner in program.partners if name else []:
        if name in {n.strip().casefold() for n in (*partner.advertiser_names, partner.name)}:
            return partner, f"advertiser name {ad.advertiser!r} is {partner.id}"
    return None, ""


def partner_by_network_id(partners: Iterable[Partner], ids: NetworkIds) -> Partner | None:
    """The partner whose network id (network + publisher id) matches `ids`."""
    if not ids.publisher_id:
        return None
    wanted = _publisher_key(ids.network, ids.publisher_id)
    for partner in partners:
        keys = {_publisher_key(n.network, n.publisher_id) for n in partner.network_ids}
        if wanted in keys:
            return partner
    return None


def _publisher_key(network: str, publisher_id: str) -> tuple[str, str]:
    name = canonical_network(network)
    value = publisher_id.strip()
    if name == "rakuten":
        value = rakuten_eaid(value) or value
    return name, value


def _all_network_ids(urls: Sequence[str]) -> list[NetworkIds]:
    """Ids from every URL on the chain: an aggregator's hop may hide a partner's later hop."""
    return [ids for ids in map(recognise, urls) if ids is not None]


def _domains(values: Iterable[str]) -> set[str]:
    return {d for d in map(registrable_domain, values) if d}


def _without_partner(
    ad: ObservedAd,
    program: Program,
    layers: Sequence[NetworkIds],
    display: str | None,
    landing: str | None,
    domains: Sequence[str],
) -> tuple[AdvertiserClass, str]:
    brand = _domains(program.brand_domains())
    competitor_reason = _competitor(ad, program, display, domains)
    if competitor_reason:
        return AdvertiserClass.competitor, competitor_reason
    own = bool(display and landing and display in brand and landing in brand)
    if own and not layers:
        return AdvertiserClass.brand, f"display and landing on the brand's own {landing}"
    if layers:
        who = " via ".join(_publisher(ids) for ids in layers)
        return AdvertiserClass.unknown, f"{who} is not in the program"
    return AdvertiserClass.unknown, f"no partner, brand or competitor matches {display}"


def _publisher(ids: NetworkIds) -> str:
    return f"{ids.network} publisher {ids.publisher_id or '(id not visible)'}"


def _competitor(
    ad: ObservedAd, program: Program, display: str | None, domains: Sequence[str]
) -> str | None:
    seen = ([display] if display else []) + list(domains)
    name = (ad.advertiser or "").strip().casefold()
    for competitor in program.competitors:
        owned = _domains(competitor.domains)
        domain = next((d for d in seen if d in owned), None)
        if domain:
            return f"domain {domain} belongs to competitor {competitor.id}"
        if name and name == competitor.name.strip().casefold():
            return f"advertiser name {ad.advertiser!r} is competitor {competitor.id}"
    return None
