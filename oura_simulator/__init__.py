"""Oura Cloud API v2 simulator: OAuth2, every registered data route, deterministic plausible
data, revisions and fault knobs. `python -m oura_simulator --port 8089`."""

from oura_simulator.app import create_app
from oura_simulator.config import SimulatorConfig
from oura_simulator.server import SimulatorServer
from oura_simulator.state import Simulator

__all__ = ["Simulator", "SimulatorConfig", "SimulatorServer", "create_app"]
