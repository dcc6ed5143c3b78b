"""``inferwatch demo``: the whole system on one machine, playing an incident cycle.

It trains the ``cancer`` example if it is absent, serves it (uvicorn in a thread of this
process), starts Prometheus and Alertmanager as child processes through the stack runner,
and plays a timeline with the traffic simulator: healthy traffic, input drift, recovery,
an accuracy drop (concept drift), recovery, again and again. Alerts are shown as they fire
and resolve. Ctrl-C, SIGTERM or the end of ``--duration`` stops everything; every child
process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, start_http_server
from rich.console import Console

from inferwatch.ingest import HttpDataSource, IngestionWorker, SourceMetrics
from inferwatch.local.pages import print_pages
from inferwatch.local.plan import EXAMPLE, DemoPlan
from inferwatch.local.stack import (
    ALERTMANAGER_BINARIES,
    INSTALL_HINT,
    PROMETHEUS_BINARIES,
    LocalStack,
    StackError,
    find_binary,
)
from inferwatch.settings import Settings
from inferwatch.simulate.client import TrafficConfig, TrafficEngine
from inferwatch.simulate.display import LiveDisplay, summary_table
from inferwatch.simulate.play import load_example_data, phase_message
from inferwatch.simulate.timeline import Phase, Timeline
from inferwatch.simulate.watch import AlertTracker, monitor_alerts, prometheus_alerts

DRIFT_FEATURES = ("mean_texture", "mean_symmetry", "clinic")
LAKE_OUTAGE_SECONDS = 15.0
"""Each cycle the data lake answers 503 this long as the drift recovers (DataLakeUnavailable)."""
"""Features that barely matter to the model: drifting them raises the drift alert while the
accuracy stays high, so the two incidents of the cycle are told apart."""
DRIFT_ALERTS = ("FeatureDriftDetected",)
ACCURACY_ALERTS = ("ModelAccuracyLow", "ModelAccuracyCritical")
EVENTS_FILE = "demo-events.jsonl"


class DemoError(Exception):
    """The demo cannot start; the message says what to do."""


# ---------------------------------------------------------------- service and stack


def _check_port_free(host: str, port: int, what: str) -> None:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise DemoError(
                f"{what} port {host}:{port} is not free ({exc.strerror}); choose another one"
            ) from exc


def ensure_model(settings: Settings, console: Console) -> None:
    """Train the demo's example model into ``settings.model_dir`` unless it is there."""
    from inferwatch.lifecycle.examples import write_example

    if (settings.model_dir / "model.joblib").exists():
        return
    console.print(f"training the {EXAMPLE} example model into {settings.model_dir} ...")
    write_example(EXAMPLE, settings.model_dir)


@contextlib.contextmanager
def serve_in_thread(settings: Settings) -> Iterator[str]:
    """Serve the app with uvicorn in a thread of this process; yields the base URL.
    ``settings.port`` 0 picks a free port."""
    import uvicorn

    from inferwatch.server.app import create_app
    from inferwatch.server.run import uvicorn_options

    sock = socket.socket()
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        raise DemoError(
            f"service port {settings.host}:{settings.port} is not free ({exc.strerror}); "
            "choose another one with --port"
        ) from exc
    host, port = sock.getsockname()[:2]
    options = uvicorn_options(settings)
    options["log_level"] = "warning"
    config = uvicorn.Config(create_app(settings), **options)  # type: ignore[arg-type]  # options are typed per key by uvicorn
    with _app_in_thread(config, sock, "inferwatch-service"):
        yield f"http://{host}:{port}"


@contextlib.contextmanager
def _app_in_thread(config: Any, sock: socket.socket, name: str) -> Iterator[None]:
    """Run a uvicorn ``config`` on the bound ``sock`` in a thread until the block ends."""
    import uvicorn

    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30.0
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise DemoError(f"{name} did not start on {sock.getsockname()}")
            time.sleep(0.05)
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=15.0)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=5.0)
        sock.close()


@dataclass
class Gateway:
    """The IoT-gateway side of the demo: a data lake and where its worker's metrics are."""

    lake_url: str
    registry: CollectorRegistry
    metrics_target: str


@contextlib.contextmanager
def iot_gateway() -> Iterator[Gateway]:
    """A data lake of the example's rows (its faults switchable) and a ``/metrics`` endpoint
    for the ingestion worker's ``inferwatch_source_*`` metrics, both on free loopback ports."""
    import uvicorn

    from inferwatch.ingest.datalake import create_datalake
    from inferwatch.lifecycle.examples import load_example_frame

    features, labels = load_example_frame(EXAMPLE)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    lake_port = sock.getsockname()[1]
    config = uvicorn.Config(create_datalake(features, labels), log_level="warning", lifespan="off")
    registry = CollectorRegistry()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        metrics_port = probe.getsockname()[1]
    metrics_server, metrics_thread = start_http_server(
        metrics_port, addr="127.0.0.1", registry=registry
    )
    try:
        with _app_in_thread(config, sock, "inferwatch-datalake"):
            yield Gateway(
                f"http://127.0.0.1:{lake_port}/records", registry, f"127.0.0.1:{metrics_port}"
            )
    finally:
        metrics_server.shutdown()
        metrics_server.server_close()
        metrics_thread.join(timeout=5.0)


def missing_binaries() -> list[str]:
    """Monitoring binaries that are not installed."""
    wanted = {"prometheus": PROMETHEUS_BINARIES, "alertmanager": ALERTMANAGER_BINARIES}
    return [name for name, binaries in wanted.items() if find_binary(binaries) is None]


@contextlib.contextmanager
def monitoring_stack(
    settings: Settings,
    plan: DemoPlan,
    fast: bool,
    console: Console,
    extra_jobs: dict[str, str] | None = None,
) -> Iterator[tuple[str, str] | None]:
    """Prometheus and Alertmanager as children; yields their URLs, or ``None`` when the
    binaries are missing (the demo then goes on without them)."""
    missing = missing_binaries()
    if missing:
        console.print(
            f"[yellow]{' and '.join(missing)} not found: running without the alerting stack. "
            f"Install with: {INSTALL_HINT}[/yellow]"
        )
        yield None
        return
    _check_port_free("127.0.0.1", settings.prometheus_port, "Prometheus")
    _check_port_free("127.0.0.1", settings.alertmanager_port, "Alertmanager")
    try:
        stack = LocalStack(
            settings,
            fast=fast,
            rule_range_seconds=plan.rule_range_seconds,
            extra_jobs=extra_jobs,
        )
        stack.start()
    except StackError as exc:
        raise DemoError(str(exc)) from exc
    try:
        yield stack.prometheus_url, stack.alertmanager_url
    finally:
        stack.stop()


# ---------------------------------------------------------------- the run


class _Stop(Exception):
    """SIGTERM during start-up."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def run_demo(
    settings: Settings,
    *,
    fast: bool = False,
    duration: float | None = None,
    stack: bool = True,
    timeline: str | None = None,
    console: Console | None = None,
) -> int:
    """Run the demo until Ctrl-C, SIGTERM or ``duration`` seconds; returns the exit code."""
    console = console or Console()
    plan = DemoPlan.for_mode(fast)
    settings = plan.settings(settings)
    story = Timeline.parse(timeline) if timeline else plan.timeline
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        ensure_model(settings, console)
        with contextlib.ExitStack() as stack_:
            url = stack_.enter_context(serve_in_thread(settings))
            gateway = stack_.enter_context(iot_gateway())
            jobs = {"inferwatch-ingest": gateway.metrics_target}
            urls = (
                stack_.enter_context(monitoring_stack(settings, plan, fast, console, jobs))
                if stack
                else None
            )
            print_pages(console, url, urls, plan, story, gateway.lake_url)
            asyncio.run(_play(settings, plan, story, url, urls, duration, console, gateway))
            console.print("stopping ...")
        console.print("stopped: every part of the demo is down.")
        return 0
    except (KeyboardInterrupt, _Stop):
        console.print("stopped.")
        return 130
    except DemoError as exc:
        console.print(f"[red]inferwatch demo: {exc}[/red]")
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)


class _EventLog:
    """Shows the run's events on the live display and appends them to its events file."""

    def __init__(self, display: LiveDisplay, path: Path) -> None:
        self.display = display
        self.path = path
        self.started = time.monotonic()
        path.write_text("", encoding="utf-8")  # this run's events only

    def __call__(self, kind: str, text: str, style: str | None = None, **extra: Any) -> None:
        elapsed = time.monotonic() - self.started
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.display.event(f"{stamp} {text}", style=style)
        record = {"t": round(elapsed, 2), "kind": kind, "text": text, **extra}
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")


def _traffic_config(settings: Settings, plan: DemoPlan, url: str) -> TrafficConfig:
    return TrafficConfig(
        url=url,
        rate=plan.rate,
        batch_size=plan.batch_size,
        token=settings.resolved_api_token(),
        drift_features=DRIFT_FEATURES,
        drift_shift=2.0,
        drift_mode="gradual",
        flip_rate=0.5,
        label_delay=plan.label_delay,
        label_coverage=plan.label_coverage,
        seed=None,
    )


def _phase_handler(
    note: _EventLog, gateway: Gateway | None, background: set[asyncio.Task[None]]
) -> Callable[[Phase], None]:
    """Notes each phase; once a cycle, as the drift recovers, takes the data lake down."""
    previous: list[str] = [""]

    def on_phase(phase: Phase) -> None:
        note("phase", phase_message(phase), "bold", phase=phase.name, scenario=phase.scenario)
        # once a cycle, as the drift recovers, the data lake goes down for a while
        if gateway is not None and previous[0] == "drift" and phase.name == "recovery":
            task = asyncio.get_running_loop().create_task(_lake_outage(gateway.lake_url, note))
            background.add(task)
            task.add_done_callback(background.discard)
        previous[0] = phase.scenario

    return on_phase


async def _lake_outage(lake_url: str, note: _EventLog) -> None:
    faults = lake_url.rsplit("/", 1)[0] + "/faults"
    async with httpx.AsyncClient(timeout=5.0) as client:
        await client.put(faults, json={"error_rate": 1.0})
        note("incident", f"data lake outage for {LAKE_OUTAGE_SECONDS:g} s", "yellow")
        try:
            await asyncio.sleep(LAKE_OUTAGE_SECONDS)
        finally:
            await client.put(faults, json={"error_rate": 0.0})
    note("incident", "data lake back", "yellow")


async def _traffic(
    engine: TrafficEngine, story: Timeline, note: _EventLog, finished: asyncio.Event
) -> None:
    cycle = 0
    while not finished.is_set():
        cycle += 1
        note("cycle", f"cycle {cycle}", cycle=cycle)
        await engine.run(story)


_ALERT_STYLES = {"firing": "bold red", "resolved": "bold green", "inactive": "dim"}


async def _watch(
    settings: Settings,
    url: str,
    urls: tuple[str, str] | None,
    headers: dict[str, str],
    note: _EventLog,
    display: LiveDisplay,
) -> None:
    tracker = AlertTracker()
    async with httpx.AsyncClient(timeout=5.0, headers=headers) as client:
        while True:
            if urls is not None:
                alerts = await prometheus_alerts(client, urls[0])
            else:
                alerts = await monitor_alerts(client, url, settings.min_labels)
            if alerts is not None:
                for event in tracker.update(alerts):
                    note(
                        "alert",
                        event.describe(),
                        style=_ALERT_STYLES.get(event.state),
                        alert=event.name,
                        state=event.state,
                        labels=dict(event.labels),
                    )
            display.set_status(
                [
                    f"active: {name} ({state}) {labels.get('feature', '')}"
                    for name, state, labels in tracker.active
                ]
            )
            await asyncio.sleep(1.0)


async def _ingest(gateway: Gateway, url: str, token: str | None) -> None:
    metrics = SourceMetrics(gateway.registry)
    async with httpx.AsyncClient(timeout=5.0) as client:
        source = HttpDataSource(gateway.lake_url, metrics=metrics, client=client)
        worker = IngestionWorker(
            source, client, service_url=url, poll_seconds=2.0, batch_size=5, token=token
        )
        await worker.run()


async def _wait_for_end(
    tasks: list[asyncio.Task[None]], stop: asyncio.Event, duration: float | None
) -> None:
    """Wait for a stop signal, ``duration`` or a task ending; re-raise a task's error."""
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait([waiter, *tasks], timeout=duration, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    for task in tasks:
        error = task.exception() if task.done() else None
        if error is not None:
            raise error


async def _wind_down(tasks: list[asyncio.Task[None]], background: set[asyncio.Task[None]]) -> None:
    # let the requests in flight finish: a request cut off mid-body is logged by the
    # server as an error, which a user would take for a fault
    await asyncio.wait([tasks[0]], timeout=5.0)
    for task in [*tasks, *background]:
        task.cancel()
    await asyncio.gather(*tasks, *background, return_exceptions=True)


async def _play(
    settings: Settings,
    plan: DemoPlan,
    story: Timeline,
    url: str,
    urls: tuple[str, str] | None,
    duration: float | None,
    console: Console,
    gateway: Gateway | None = None,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    data = load_example_data(EXAMPLE)
    config = _traffic_config(settings, plan, url)
    display = LiveDisplay(console, title="inferwatch demo")
    note = _EventLog(display, settings.data_dir / EVENTS_FILE)
    background: set[asyncio.Task[None]] = set()
    on_phase = _phase_handler(note, gateway, background)
    engine = TrafficEngine(config, data, on_progress=display.update, on_phase=on_phase)
    headers = {"authorization": f"Bearer {config.token}"} if config.token else {}
    finished = asyncio.Event()
    with display:
        tasks = [
            asyncio.create_task(_traffic(engine, story, note, finished)),
            asyncio.create_task(_watch(settings, url, urls, headers, note, display)),
        ]
        if gateway is not None:
            tasks.append(asyncio.create_task(_ingest(gateway, url, config.token)))
        try:
            await _wait_for_end(tasks, stop, duration)
        finally:
            finished.set()
            engine.stop()
            await _wind_down(tasks, background)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    reason = "interrupted" if stop.is_set() else "duration reached"
    note("stop", f"{reason}: stopping", reason=reason)
    console.print(summary_table(engine.stats))


__all__ = [
    "ACCURACY_ALERTS",
    "DRIFT_ALERTS",
    "DRIFT_FEATURES",
    "EXAMPLE",
    "DemoError",
    "DemoPlan",
    "ensure_model",
    "missing_binaries",
    "run_demo",
]
