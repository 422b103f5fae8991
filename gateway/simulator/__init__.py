"""The simulated plant: seeded, realistic signals with labelled injected faults (no I/O here)."""

from gateway.simulator.faults import Fault, GroundTruth
from gateway.simulator.params import FaultKind, FaultSettings
from gateway.simulator.plant import PlantSimulator, SimulationRun, simulate

__all__ = ["Fault", "FaultKind", "FaultSettings", "GroundTruth", "PlantSimulator", "SimulationRun", "simulate"]
