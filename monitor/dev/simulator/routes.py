"""Turn one request into one reply: chains first, then engines and their redirectors, then
landing sites, else a neutral 404. Dispatch is on the Host header, as the browser sends it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from urllib.parse import unquote

from monitor.dev.simulator import pages, serp_bing, serp_google, serp_other
from monitor.dev.simulator.exchange import Reply, Request
from monitor.dev.simulator.markup import decode_bing_u, token
from monitor.dev.simulator.matching import (
    Impressions,
    Organic,
    Search,
    ads_for,
    misbehaviour_for,
    normalise_query,
    organic_for,
    resolve_market,
)
from monitor.dev.simulator.scenario import Ad, Hop, Misbehaviour, Scenario

PageBuilder = Callable[[Search, list[Ad], list[Ad], list[Organic]], str]

_GOOGLE = re.compile(r"^(www\.)?google\.[a-z]{2,3}(\.[a-z]{2})?$")
_BING = re.compile(r"^(www\.|cn\.)?bing\.com$")
_DUCKDUCKGO = {"duckduckgo.com", "html.duckduckgo.com", "lite.duckduckgo.com"}
_YAHOO = re.compile(r"^(?:([a-z]{2})\.)?search\.yahoo\.com$")
_PLACEHOLDER = re.compile(r"\{(click_id|arg:[A-Za-z0-9_.-]+)\}")
#: the country a Google domain stands for when the URL carries no gl=
_GOOGLE_TLD_COUNTRY = {"co.uk": "GB", "co.id": "ID", "ae": "AE", "de": "DE", "fr": "FR"}
#: the engines' hosts, for the certificate (others are covered by its "*" name)
ENGINE_HOSTS = (
    "www.google.com",
    "consent.google.com",
    "www.googleadservices.com",
    "www.bing.com",
    "duckduckgo.com",
    "html.duckduckgo.com",
    "search.yahoo.com",
    "r.search.yahoo.com",
    "consent.yahoo.com",
)


def _web_url(value: str | None) -> str | None:
    return value if value and value.startswith(("http://", "https://")) else None


def _redirect_or_404(request: Request, target: str | None) -> Reply:
    target = _web_url(target)
    return Reply.redirect(302, target, pages.NO_STORE) if target else pages.not_found(request)


class Router:
    """Answers requests from a scenario. `clock` is read on every search (hours-limited ads)."""

    def __init__(self, scenario: Scenario, clock: Callable[[], datetime]) -> None:
        self.scenario = scenario
        self.clock = clock
        self._hops = {(h.host, h.path): h for h in scenario.hops() if not h.path.endswith("*")}
        self._prefix_hops = [h for h in scenario.hops() if h.path.endswith("*")]
        self._sites = {host.lower(): site for site in scenario.sites for host in site.hosts}
        self._impressions = Impressions()

    def hosts(self) -> list[str]:
        return sorted({*ENGINE_HOSTS, *self._sites, *(h.host for h in self.scenario.hops())})

    def answer(self, request: Request) -> Reply:
        hop = self._hop_for(request)
        if hop:
            return pages.hop(hop, self._fill(hop.to, request))
        for route in (self._google, self._bing, self._duckduckgo, self._yahoo):
            reply = route(request)
            if reply:
                return reply
        site = self._sites.get(request.host)
        return pages.landing(site, request) if site else pages.not_found(request)

    # --- chains ---------------------------------------------------------------------------

    def _hop_for(self, request: Request) -> Hop | None:
        path = unquote(request.path)
        exact = self._hops.get((request.host, path))
        if exact:
            return exact
        return next(
            (
                h
                for h in self._prefix_hops
                if h.host == request.host and path.startswith(h.path[:-1])
            ),
            None,
        )

    @staticmethod
    def _fill(template: str, request: Request) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            return token(24) if name == "click_id" else request.args.get(name[4:], "")

        return _PLACEHOLDER.sub(value, template)

    # --- engines --------------------------------------------------------------------------

    def _google(self, request: Request) -> Reply | None:
        host, path = request.host, request.path
        if host == "consent.google.com":
            if path == "/save" and request.method == "POST":
                return pages.google_consent_save(request)
            return pages.google_consent_page(request)
        if host == "www.googleadservices.com" and path == "/pagead/aclk":
            return _redirect_or_404(request, request.args.get("adurl"))
        if not _GOOGLE.match(host):
            return None
        if path == "/aclk":
            return _redirect_or_404(request, request.args.get("adurl"))
        if path == "/url":
            return _redirect_or_404(request, request.args.get("q") or request.args.get("url"))
        if path == "/consent/set":
            return pages.google_consent_set(request)
        if path == "/sorry/index":
            return pages.google_sorry_page(request)
        if path == "/search":
            return self._search(request, self._google_search(request), serp_google.page)
        return None

    def _google_search(self, request: Request) -> Search:
        suffix = request.host.split("google.", 1)[-1]
        country = request.args.get("gl") or _GOOGLE_TLD_COUNTRY.get(suffix)
        return self._make_search(
            "google", request, request.args.get("q", ""), country, request.args.get("hl")
        )

    def _bing(self, request: Request) -> Reply | None:
        if not _BING.match(request.host):
            return None
        if request.path in ("/aclick", "/aclk"):
            return _redirect_or_404(request, decode_bing_u(request.args.get("u", "")))
        if request.path == "/turing/captcha/challenge":
            return pages.bing_captcha_page()
        if request.path != "/search":
            return None
        language, _, country = request.args.get("mkt", "").partition("-")
        search = self._make_search(
            "bing",
            request,
            request.args.get("q", ""),
            country or request.args.get("cc"),
            request.args.get("setlang") or language,
        )
        return self._search(request, search, serp_bing.page)

    def _duckduckgo(self, request: Request) -> Reply | None:
        if request.host not in _DUCKDUCKGO:
            return None
        if request.path == "/y.js":
            return _redirect_or_404(request, request.args.get("u3"))
        if request.path == "/l/":
            return _redirect_or_404(request, request.args.get("uddg"))
        if request.path.rstrip("/") not in ("/html", "/lite"):
            return None
        fields = {**request.args, **request.form}
        country, _, language = fields.get("kl", "").partition("-")
        search = self._make_search("duckduckgo", request, fields.get("q", ""), country, language)
        return self._search(request, search, serp_other.duckduckgo_page)

    def _yahoo(self, request: Request) -> Reply | None:
        if request.host == "consent.yahoo.com":
            if request.method == "POST":
                return pages.generic_consent_save(request)
            return pages.generic_consent(request)
        if request.host == "r.search.yahoo.com" and request.path.startswith("/cbclk"):
            found = re.search(r"/RU=([^/]+)/", request.path)
            return _redirect_or_404(request, unquote(found.group(1)) if found else None)
        match = _YAHOO.match(request.host)
        if not match or request.path != "/search":
            return None
        country = (match.group(1) or "us").upper()
        search = self._make_search("yahoo", request, request.args.get("p", ""), country, None)
        return self._search(request, search, serp_other.yahoo_page)

    # --- result pages ---------------------------------------------------------------------

    def _make_search(
        self,
        engine: str,
        request: Request,
        raw_query: str,
        country: str | None,
        language: str | None,
    ) -> Search:
        market = resolve_market(self.scenario, country, language)
        page_language = (language or (market.language if market else "en")).lower()[:2] or "en"
        return Search(engine, normalise_query(raw_query), market, request.device, page_language)

    def _search(self, request: Request, search: Search, build: PageBuilder) -> Reply:
        rule = misbehaviour_for(self.scenario, search)
        if rule:
            blocked = self._blocked(rule, request, search)
            if blocked:
                return blocked
        reply = Reply.html(200, self._render(search, build), headers=(pages.NO_STORE,))
        return _misbehaving_page(rule, reply) if rule else reply

    def _render(self, search: Search, build: PageBuilder) -> str:
        ads = ads_for(self.scenario, search, self.clock(), self._impressions)
        top = [ad for ad in ads if ad.position == "top"]
        bottom = [ad for ad in ads if ad.position == "bottom"]
        return build(search, top, bottom, organic_for(self.scenario, search.query))

    @staticmethod
    def _blocked(rule: Misbehaviour, request: Request, search: Search) -> Reply | None:
        """A block or wall that replaces the result page, or None to serve the page."""
        if rule.kind == "rate_limit":
            return pages.rate_limited()
        if rule.kind == "consent":
            return _consent(request, search, sticky=rule.sticky)
        if rule.kind == "captcha":
            return _captcha(request, search)
        return None


def _consent(request: Request, search: Search, *, sticky: bool) -> Reply | None:
    if search.engine != "google" and request.method == "POST" and request.form.get("continue"):
        return pages.generic_consent_save(request)  # the wall's own form, posted back
    if not sticky and request.cookie(pages.CONSENT_COOKIE):
        return None  # consent was given in this browser context: the results follow
    if search.engine == "yahoo":
        return pages.yahoo_consent_redirect(request)
    if search.engine != "google":
        return pages.generic_consent(request)
    return pages.google_consent_redirect(request)


def _captcha(request: Request, search: Search) -> Reply:
    if search.engine == "google":
        return pages.google_sorry_redirect(request)
    if search.engine == "bing":
        return pages.bing_captcha_redirect(request)
    return pages.generic_captcha(search.engine)


def _misbehaving_page(rule: Misbehaviour, reply: Reply) -> Reply:
    """The result page, but slow, stalling half-way, or cut off mid-markup."""
    if rule.kind == "slow":
        return Reply(reply.status, reply.body, headers=reply.headers, delay=rule.seconds)
    if rule.kind == "hang":
        return Reply(reply.status, reply.body, headers=reply.headers, stall=rule.seconds)
    if rule.kind == "crash":
        return Reply(reply.status, pages.renderer_crash(), headers=reply.headers)
    if rule.kind == "broken":
        cut = reply.body[: len(reply.body) * 3 // 5]
        return Reply(reply.status, cut + b'<div class="uEierd"><div data-text-ad="1"><a href="')
    return reply
