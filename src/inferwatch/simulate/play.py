"""``inferwatch simulate``: play one scenario or a timeline against a running service."""

from __future__ import annotations

import asyncio

from rich.console import Console

from inferwatch.simulate.client import TrafficConfig, TrafficEngine, TrafficStats
from inferwatch.simulate.display import LiveDisplay, summary_table
from inferwatch.simulate.scenarios import ExampleData
from inferwatch.simulate.timeline import Phase, Timeline


def load_example_data(name: str) -> ExampleData:
    """The rows of a built-in example (``iris`` or ``cancer``), the same the model learnt from."""
    from inferwatch.lifecycle.examples import load_example_frame

    features, target = load_example_frame(name)
    return ExampleData.from_frame(features, target)


def served_example(url: str, token: str | None = None) -> str | None:
    """The example the service at ``url`` serves, when its model is one of them."""
    import httpx

    from inferwatch.lifecycle.examples import EXAMPLES

    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(f"{url.rstrip('/')}/api/snapshot", headers=headers, timeout=5.0)
        model = response.json().get("model") if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return model if model in EXAMPLES else None


def build_timeline(scenario: str, duration: float, spec: str | None = None) -> Timeline:
    """One scenario for ``duration`` seconds, or for ``timeline`` the phases of ``spec``
    (default: the incident cycle, each of its five phases a fifth of ``duration``)."""
    if scenario == "timeline":
        return Timeline.parse(spec) if spec else Timeline.incident_cycle(duration / 5.0)
    return Timeline.parse(f"{scenario}:{duration!r}")


def phase_message(phase: Phase) -> str:
    return f"phase {phase.name}: {phase.scenario} for {phase.seconds:g} s"


def run_simulation(
    config: TrafficConfig, timeline: Timeline, data: ExampleData, console: Console | None = None
) -> TrafficStats:
    """Play ``timeline`` with a live progress view; prints the summary at the end (also
    after Ctrl-C, which stops the run)."""
    console = console or Console()
    display = LiveDisplay(console, title=f"inferwatch simulate -> {config.base_url}")
    engine = TrafficEngine(
        config,
        data,
        on_progress=display.update,
        on_phase=lambda phase: display.event(phase_message(phase), style="bold"),
    )
    try:
        with display:
            asyncio.run(engine.run(timeline))
    except KeyboardInterrupt:
        console.print("interrupted", style="yellow")
    console.print(summary_table(engine.stats))
    if engine.stats.sent and engine.stats.transport_errors == engine.stats.sent:
        console.print(f"no answer from {config.base_url}: is the service running?", style="red")
    return engine.stats


__all__ = [
    "build_timeline",
    "load_example_data",
    "phase_message",
    "run_simulation",
    "served_example",
]
