"""A local search engine, affiliate redirectors and landing pages, for the demo and the tests.

The production capture code runs against it unchanged: Chromium resolves every host to the
simulator's loopback port (see Simulator.host_resolver_rule), which answers as the engines,
the affiliate networks and the landing sites would, from a scenario file.
"""

from __future__ import annotations

from pathlib import Path

from monitor.dev.simulator.exchange import RequestRecord
from monitor.dev.simulator.scenario import Scenario, ScenarioError, load_scenario
from monitor.dev.simulator.server import RequestLog, Simulator

#: the scenario `make demo` runs: the Lumora program's partners, a competitor, a hostile ad
DEFAULT_SCENARIO: Path = Path(__file__).parent / "scenarios" / "demo.yaml"

__all__ = [
    "DEFAULT_SCENARIO",
    "RequestLog",
    "RequestRecord",
    "Scenario",
    "ScenarioError",
    "Simulator",
    "load_scenario",
]
