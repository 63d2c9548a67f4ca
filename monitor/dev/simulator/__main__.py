"""`python -m monitor.dev.simulator --scenario FILE [--port N]`: the simulator, in the foreground.

It prints one line, "simulator listening on 127.0.0.1:PORT", once it accepts connections, and
stops cleanly on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from monitor.dev.simulator import DEFAULT_SCENARIO, ScenarioError, Simulator


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m monitor.dev.simulator", description=__doc__)
    parser.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO, help="scenario YAML")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (0 = any free port)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = _arguments(argv)
    try:
        simulator = Simulator(options.scenario, host=options.host, port=options.port)
    except ScenarioError as error:
        print(error, file=sys.stderr)
        return 2
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    with simulator:
        print(f"simulator listening on {simulator.address}", flush=True)
        while not done.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
