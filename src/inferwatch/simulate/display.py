"""Live terminal view of a simulation (rich), and the summary printed at the end.

On a terminal a live panel redraws in place; otherwise (a pipe, a log file) only events
(phase changes, alerts) and the final summary are printed, one plain line each.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from inferwatch.simulate.client import Progress, TrafficStats


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def progress_table(progress: Progress) -> Table:
    s = progress.stats
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan")
    table.add_column()
    phase = progress.phase
    where = "-" if phase is None else f"{phase.name} ({phase.scenario})"
    table.add_row("phase", where)
    table.add_row("elapsed", f"{progress.elapsed:5.0f} s of {progress.duration:.0f} s")
    table.add_row(
        "requests",
        f"{s.sent} sent, {s.ok} ok, {s.client_errors} 4xx, "
        f"{s.server_errors} 5xx, {s.transport_errors} failed",
    )
    table.add_row(
        "rate",
        f"{progress.rps:.1f} rps (target {progress.rate:.1f}, concurrency {progress.concurrency})",
    )
    table.add_row("labels", f"{s.labels_sent} sent")
    table.add_row(
        "latency", f"p50 {_ms(s.latency_quantile(0.5))}, p95 {_ms(s.latency_quantile(0.95))}"
    )
    return table


def summary_table(stats: TrafficStats) -> Table:
    table = Table(title="traffic summary", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for name, value in (
        ("requests sent", stats.sent),
        ("ok (2xx/3xx)", stats.ok),
        ("4xx", stats.client_errors),
        ("5xx", stats.server_errors),
        ("transport errors", stats.transport_errors),
        ("malformed requests sent", stats.bad_requests),
        ("rows scored", stats.rows),
        ("labels sent", stats.labels_sent),
        ("labels refused", stats.labels_failed),
        ("labels not yet due at the end", stats.labels_dropped),
        ("latency p50", _ms(stats.latency_quantile(0.5))),
        ("latency p95", _ms(stats.latency_quantile(0.95))),
    ):
        table.add_row(name, str(value))
    return table


class LiveDisplay:
    """A context manager that shows the latest :class:`Progress` and prints events above it."""

    def __init__(self, console: Console | None = None, title: str = "inferwatch simulate") -> None:
        self.console = console or Console()
        self.title = title
        self._live: Live | None = None
        self._extra: list[Text] = []

    def __enter__(self) -> LiveDisplay:
        if self.console.is_terminal:
            self._live = Live(
                Text(self.title), console=self.console, refresh_per_second=4, transient=True
            )
            self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
            self._live = None

    def set_status(self, lines: list[str]) -> None:
        """Extra lines under the progress panel (the demo's active alerts)."""
        self._extra = [Text(line) for line in lines]

    def update(self, progress: Progress) -> None:
        if self._live is not None:
            self._live.update(
                Group(Text(self.title, style="bold"), progress_table(progress), *self._extra)
            )

    def event(self, message: str, style: str | None = None) -> None:
        """One line that stays: printed above the live panel, or plainly when not a terminal."""
        self.console.print(message, style=style, markup=False, highlight=False, soft_wrap=True)


__all__ = ["LiveDisplay", "progress_table", "summary_table"]
