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
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from types import FrameType
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, start_http_server
from rich.console import Console

from inferwatch.ingest import HttpDataSource, IngestionWorker, SourceMetrics
from inferwatch.settings import Settings
from inferwatch.simulate.client import TrafficConfig, TrafficEngine
from inferwatch.simulate.command import load_example_data, phase_message
from inferwatch.simulate.display import LiveDisplay, summary_table
from inferwatch.simulate.timeline import Phase, Timeline
from inferwatch.simulate.watch import AlertTracker, monitor_alerts, prometheus_alerts
from inferwatch.stack import (
    ALERTMANAGER_BINARIES,
    INSTALL_HINT,
    PROMETHEUS_BINARIES,
    LocalStack,
    StackError,
    find_binary,
)

EXAMPLE = "cancer"
"""The demo's model: 30 numeric features and two categoricals, so drift shows on both kinds."""
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


@dataclass(frozen=True)
class DemoPlan:
    """Window sizes, traffic and timeline of one demo mode."""

    bucket_seconds: float
    window_buckets: int
    timeline: Timeline
    rate: float
    batch_size: int
    label_delay: float
    label_coverage: float
    scrape_interval: str | None = None
    """Prometheus scrape and evaluation interval (``None``: the settings' own)."""
    rule_range_seconds: float | None = None
    """Shorten every range selector of the alert and recording rules to at most this, so
    Prometheus's view follows the short window (``None``: the rules as shipped)."""

    @classmethod
    def for_mode(cls, fast: bool) -> DemoPlan:
        if fast:
            # 30 s window: a drift enters and leaves the window within half a minute.
            return cls(
                bucket_seconds=5.0,
                window_buckets=6,
                timeline=Timeline.parse("normal:20,drift:40,normal:45,accuracy_drop:40,normal:45"),
                rate=10.0,
                batch_size=4,
                label_delay=2.0,
                label_coverage=0.5,
                scrape_interval="2s",
                rule_range_seconds=30.0,
            )
        # 10 min window, matching the 10m ranges of the shipped rules; with their 5m "for"
        # each alert fires about 10 minutes into its phase and resolves within 7 minutes.
        return cls(
            bucket_seconds=30.0,
            window_buckets=20,
            timeline=Timeline.parse("normal:120,drift:900,normal:720,accuracy_drop:720,normal:720"),
            rate=10.0,
            batch_size=4,
            label_delay=10.0,
            label_coverage=0.5,
        )

    @property
    def window_seconds(self) -> float:
        return self.bucket_seconds * self.window_buckets

    def settings(self, base: Settings) -> Settings:
        """``base`` with the demo's model directory and window, Prometheus and Alertmanager
        on loopback at the configured ports (the dashboard queries that Prometheus)."""
        update: dict[str, Any] = {
            "model_dir": base.data_dir / "models" / EXAMPLE,
            "bucket_seconds": self.bucket_seconds,
            "window_buckets": self.window_buckets,
            "prometheus_url": f"http://127.0.0.1:{base.prometheus_port}",
            "alertmanager_url": f"http://127.0.0.1:{base.alertmanager_port}",
        }
        if self.scrape_interval is not None:
            update["scrape_interval"] = update["evaluation_interval"] = self.scrape_interval
        return base.model_copy(update=update)


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
    from inferwatch.examples import write_example

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

    from inferwatch.examples import load_example_frame
    from inferwatch.ingest.datalake import create_datalake

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
            _print_urls(console, url, urls, plan, story, gateway.lake_url)
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


def answering(url: str) -> bool:
    """Whether a GET of ``url`` answers 2xx (Debian's Prometheus has no web UI: ``/alerts``
    is a 404 there, so a page is printed only when it is really served)."""
    try:
        return httpx.get(url, timeout=3.0, follow_redirects=True).is_success
    except httpx.HTTPError:
        return False


def working_urls(url: str, urls: tuple[str, str] | None) -> list[tuple[str, str]]:
    """``(what, url)`` of every page of the demo that answers: for Prometheus and
    Alertmanager their web UI when it is served, else their alerts API."""
    candidates: list[tuple[str, tuple[str, ...]]] = [
        ("dashboard", (f"{url}/dashboard",)),
        ("API docs", (f"{url}/docs",)),
        ("metrics", (f"{url}/metrics",)),
        ("alerts", (f"{url}/api/alerts",)),
    ]
    if urls is not None:
        prom, am = urls
        candidates.append(("Prometheus", (f"{prom}/alerts", f"{prom}/api/v1/alerts")))
        candidates.append(("Alertmanager", (f"{am}/#/alerts", f"{am}/api/v2/alerts")))
    out = []
    for what, options in candidates:
        found = next((u for u in options if answering(u.split("#")[0])), None)
        if found is not None:
            out.append((what, found))
    return out


def _print_urls(
    console: Console,
    url: str,
    urls: tuple[str, str] | None,
    plan: DemoPlan,
    story: Timeline,
    lake_url: str,
) -> None:
    console.print(f"[bold]inferwatch demo[/bold] (pid {os.getpid()}), model {EXAMPLE}")
    for what, link in [*working_urls(url, urls), ("data lake", lake_url)]:
        console.print(f"  {what:<13} {link}", soft_wrap=True, highlight=False)
    console.print(f"  window        {plan.window_seconds:g} s", soft_wrap=True)
    console.print(f"  timeline      {story.spec()} (repeats)", soft_wrap=True)
    console.print("Ctrl-C stops everything.")


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
    config = TrafficConfig(
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
    started = time.monotonic()
    events_path = settings.data_dir / EVENTS_FILE
    events_path.write_text("", encoding="utf-8")  # this run's events only
    display = LiveDisplay(console, title="inferwatch demo")

    def note(kind: str, text: str, style: str | None = None, **extra: Any) -> None:
        elapsed = time.monotonic() - started
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        display.event(f"{stamp} {text}", style=style)
        record = {"t": round(elapsed, 2), "kind": kind, "text": text, **extra}
        with events_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    previous: list[str] = [""]
    background: set[asyncio.Task[None]] = set()

    def on_phase(phase: Phase) -> None:
        note("phase", phase_message(phase), "bold", phase=phase.name, scenario=phase.scenario)
        # once a cycle, as the drift recovers, the data lake goes down for a while
        if gateway is not None and previous[0] == "drift" and phase.name == "recovery":
            task = asyncio.get_running_loop().create_task(lake_outage(gateway.lake_url))
            background.add(task)
            task.add_done_callback(background.discard)
        previous[0] = phase.scenario

    async def lake_outage(lake_url: str) -> None:
        faults = lake_url.rsplit("/", 1)[0] + "/faults"
        async with httpx.AsyncClient(timeout=5.0) as client:
            await client.put(faults, json={"error_rate": 1.0})
            note("incident", f"data lake outage for {LAKE_OUTAGE_SECONDS:g} s", "yellow")
            try:
                await asyncio.sleep(LAKE_OUTAGE_SECONDS)
            finally:
                await client.put(faults, json={"error_rate": 0.0})
        note("incident", "data lake back", "yellow")

    engine = TrafficEngine(config, data, on_progress=display.update, on_phase=on_phase)
    headers = {"authorization": f"Bearer {config.token}"} if config.token else {}

    finished = asyncio.Event()

    async def traffic() -> None:
        cycle = 0
        while not finished.is_set():
            cycle += 1
            note("cycle", f"cycle {cycle}", cycle=cycle)
            await engine.run(story)

    async def watch() -> None:
        tracker = AlertTracker()
        async with httpx.AsyncClient(timeout=5.0, headers=headers) as client:
            while True:
                if urls is not None:
                    alerts = await prometheus_alerts(client, urls[0])
                else:
                    alerts = await monitor_alerts(client, url, settings.min_labels)
                if alerts is not None:
                    for event in tracker.update(alerts):
                        style = {
                            "firing": "bold red",
                            "resolved": "bold green",
                            "inactive": "dim",
                        }.get(event.state)
                        note(
                            "alert",
                            event.describe(),
                            style=style,
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

    async def ingest() -> None:
        assert gateway is not None
        metrics = SourceMetrics(gateway.registry)
        async with httpx.AsyncClient(timeout=5.0) as client:
            source = HttpDataSource(gateway.lake_url, metrics=metrics, client=client)
            worker = IngestionWorker(
                source, client, service_url=url, poll_seconds=2.0, batch_size=5, token=config.token
            )
            await worker.run()

    with display:
        tasks = [asyncio.create_task(traffic()), asyncio.create_task(watch())]
        if gateway is not None:
            tasks.append(asyncio.create_task(ingest()))
        try:
            waiter = asyncio.create_task(stop.wait())
            await asyncio.wait(
                [waiter, *tasks], timeout=duration, return_when=asyncio.FIRST_COMPLETED
            )
            waiter.cancel()
            for task in tasks:
                error = task.exception() if task.done() else None
                if error is not None:
                    raise error
        finally:
            finished.set()
            engine.stop()
            # let the requests in flight finish: a request cut off mid-body is logged by the
            # server as an error, which a user would take for a fault
            await asyncio.wait([tasks[0]], timeout=5.0)
            for task in [*tasks, *background]:
                task.cancel()
            await asyncio.gather(*tasks, *background, return_exceptions=True)
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
