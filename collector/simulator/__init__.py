"""Oura Cloud API v2 simulator: OAuth2, every registered data route, deterministic plausible
data, revisions and fault knobs. `python -m collector.simulator --port 8089`."""

from collector.simulator.app import create_app
from collector.simulator.config import SimulatorConfig
from collector.simulator.server import SimulatorServer
from collector.simulator.state import Simulator

__all__ = ["Simulator", "SimulatorConfig", "SimulatorServer", "create_app"]
