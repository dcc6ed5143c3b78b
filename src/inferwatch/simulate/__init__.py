"""The traffic simulator: a client of the HTTP API that plays realistic traffic and incidents
(drift, bad requests, an accuracy drop) and sends delayed ground-truth labels."""

from __future__ import annotations

from inferwatch.simulate.client import Progress, TrafficConfig, TrafficEngine, TrafficStats
from inferwatch.simulate.scenarios import ExampleData
from inferwatch.simulate.timeline import SCENARIOS, Phase, Scenario, Timeline

__all__ = [
    "SCENARIOS",
    "ExampleData",
    "Phase",
    "Progress",
    "Scenario",
    "Timeline",
    "TrafficConfig",
    "TrafficEngine",
    "TrafficStats",
]
