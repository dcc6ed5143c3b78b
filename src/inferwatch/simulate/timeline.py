"""A timeline: scenarios played one after another, each for a number of seconds.

>>> t = Timeline.parse("normal:60,drift:30,normal:60")
>>> [p.name for p in t.phases], t.duration
(['healthy', 'drift', 'recovery'], 150.0)
>>> t.at(75.0)
(Phase(name='drift', scenario='drift', seconds=30.0), 15.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Scenario = Literal["normal", "high_load", "drift", "errors", "accuracy_drop"]
SCENARIOS: tuple[Scenario, ...] = ("normal", "high_load", "drift", "errors", "accuracy_drop")


@dataclass(frozen=True)
class Phase:
    """One step of a timeline: ``scenario`` played for ``seconds``; ``name`` is what the
    progress display shows (``healthy`` and ``recovery`` are both normal traffic)."""

    name: str
    scenario: Scenario
    seconds: float


def _phase_name(scenario: Scenario, index: int) -> str:
    if scenario == "normal":
        return "healthy" if index == 0 else "recovery"
    return scenario


@dataclass(frozen=True)
class Timeline:
    phases: tuple[Phase, ...]

    @classmethod
    def parse(cls, spec: str) -> Timeline:
        """Build from ``"scenario:seconds,scenario:seconds,..."``."""
        phases = []
        for i, part in enumerate(p.strip() for p in spec.split(",") if p.strip()):
            scenario, sep, seconds = part.partition(":")
            if scenario not in SCENARIOS:
                raise ValueError(
                    f"unknown scenario {scenario!r} in timeline; choose from {', '.join(SCENARIOS)}"
                )
            try:
                length = float(seconds) if sep else float("nan")
            except ValueError:
                length = float("nan")
            if not length > 0:
                raise ValueError(
                    f"timeline phase {part!r} needs a positive length: scenario:seconds"
                )
            name = _phase_name(scenario, i)
            phases.append(Phase(name, scenario, length))
        if not phases:
            raise ValueError("a timeline needs at least one phase")
        return cls(tuple(phases))

    @classmethod
    def single(cls, scenario: Scenario, seconds: float) -> Timeline:
        return cls((Phase(scenario, scenario, seconds),))

    @classmethod
    def incident_cycle(cls, phase_seconds: float, healthy_seconds: float | None = None) -> Timeline:
        """Healthy, drift, recovery, accuracy drop, recovery: the demo's story."""
        first = phase_seconds if healthy_seconds is None else healthy_seconds
        return cls(
            (
                Phase("healthy", "normal", first),
                Phase("drift", "drift", phase_seconds),
                Phase("recovery", "normal", phase_seconds),
                Phase("accuracy_drop", "accuracy_drop", phase_seconds),
                Phase("recovery", "normal", phase_seconds),
            )
        )

    @property
    def duration(self) -> float:
        return sum(p.seconds for p in self.phases)

    def at(self, elapsed: float) -> tuple[Phase, float] | None:
        """The phase playing ``elapsed`` seconds after the start and the seconds spent in it,
        or ``None`` once the timeline is over."""
        start = 0.0
        for phase in self.phases:
            if elapsed < start + phase.seconds:
                return phase, max(0.0, elapsed - start)
            start += phase.seconds
        return None

    def spec(self) -> str:
        return ",".join(f"{p.scenario}:{p.seconds:g}" for p in self.phases)


__all__ = ["SCENARIOS", "Phase", "Scenario", "Timeline"]
