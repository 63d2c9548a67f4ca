"""Browser-context options for a task: a device that is consistent with the browser running it,
and the locale, time zone and place of the task's market."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitor.engines.markets import accept_language
from monitor.models import Device, SearchTask

#: approximate coordinates of the cities the example programs use; a market without one gets
#: no geolocation (the engines then place it by country and language parameters)
CITY_COORDINATES: dict[str, tuple[float, float]] = {
    "new york": (40.7128, -74.0060),
    "chicago": (41.8781, -87.6298),
    "los angeles": (34.0522, -118.2437),
    "london": (51.5072, -0.1276),
    "dubai": (25.2048, 55.2708),
    "abu dhabi": (24.4539, 54.3773),
    "riyadh": (24.7136, 46.6753),
    "cairo": (30.0444, 31.2357),
    "jakarta": (-6.2088, 106.8456),
    "surabaya": (-7.2575, 112.7521),
    "berlin": (52.5200, 13.4050),
    "paris": (48.8566, 2.3522),
    "sydney": (-33.8688, 151.2093),
    "toronto": (43.6532, -79.3832),
}


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    viewport: tuple[int, int]
    scale: float
    mobile: bool
    touch: bool
    #: a user agent of the Chromium actually running (version filled in at launch): a mobile
    #: profile is Chrome on Android, never an iPhone user agent on a Chromium engine
    user_agent: str


DESKTOP = DeviceProfile(
    (1366, 900), 1.0, False, False,
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{version} Safari/537.36",
)
MOBILE = DeviceProfile(
    (412, 915), 2.625, True, True,
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{version} Mobile Safari/537.36",
)
PROFILES = {Device.desktop: DESKTOP, Device.mobile: MOBILE}


def context_options(task: SearchTask, browser_version: str) -> dict[str, Any]:
    """Keyword arguments for `browser.new_context` for this task."""
    profile = PROFILES[task.device]
    market = task.market
    options: dict[str, Any] = {
        "viewport": {"width": profile.viewport[0], "height": profile.viewport[1]},
        "device_scale_factor": profile.scale,
        "is_mobile": profile.mobile,
        "has_touch": profile.touch,
        "user_agent": profile.user_agent.format(version=_major_only(browser_version)),
        "locale": f"{market.language}-{market.country.upper()}",
        "timezone_id": market.timezone,
        "extra_http_headers": {
            "Accept-Language": accept_language(task)
        },
        "service_workers": "block",
    }
    coordinates = _coordinates(market.city)
    if coordinates:
        options["geolocation"] = {"latitude": coordinates[0], "longitude": coordinates[1]}
        options["permissions"] = ["geolocation"]
    return options


def _major_only(version: str) -> str:
    # Chrome's reduced user agent shows only the major version: 150.0.0.0
    major = version.split(".", 1)[0] or "120"
    return f"{major}.0.0.0"


def _coordinates(city: str | None) -> tuple[float, float] | None:
    if not city:
        return None
    return CITY_COORDINATES.get(city.split(",", 1)[0].strip().casefold())
