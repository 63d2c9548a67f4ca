"""The canonical network names, read from networks.yaml without validating, compiling or
indexing its rows: checking a program (`rules check`) needs the names only, and the full
table (monitor.networks.table) costs pydantic models, every row's regexes and tldextract."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import yaml

from monitor.errors import ConfigError

TABLE_PATH = Path(__file__).with_name("networks.yaml")
#: libyaml's loader when PyYAML has it
FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: what table.NetworkName accepts
_NAME = re.compile(r"[0-9a-z]+")


@cache
def network_names() -> tuple[str, ...]:
    """The names under `networks:`, in the file's order (those of the validated table when it
    is valid; a test holds them equal). ConfigError when none can be read."""
    listed = _listed()
    if listed is None:
        raise ConfigError(f"{TABLE_PATH}: no network names could be read (a mapping under "
                          "networks: of lower-case letters and digits)")
    return listed


def _listed() -> tuple[str, ...] | None:
    try:
        data = yaml.load(TABLE_PATH.read_text(encoding="utf-8"), Loader=FAST_LOADER)
    except (OSError, yaml.YAMLError):
        return None
    networks = data.get("networks") if isinstance(data, dict) else None
    if not isinstance(networks, dict) or not networks:
        return None
    if not all(isinstance(name, str) and _NAME.fullmatch(name) for name in networks):
        return None
    return tuple(networks)
