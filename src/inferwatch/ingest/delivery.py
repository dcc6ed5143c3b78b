"""``Delivery``: what a streaming source (lake files, MQTT) hands the worker, and the seam.

A delivery is a batch of records read from the source, not yet acknowledged to it. The
worker scores and stores it through the service, then calls ``commit()``: only then does the
source move its cursor (lake files) or acknowledge its messages (MQTT). A crash or an outage
before that point leaves the records at the source, to be read again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class Delivery:
    """Records read but not yet acknowledged to the source.

    ``records`` are the feature rows; ``ids`` the source's own id of each row (its id column
    or field) or ``None`` when the source has none; ``labels`` the ground truth of each row
    (``None`` where a row has none). ``late_labels`` are ``(id, label)`` pairs that arrived on
    their own (a labels file or topic), to be joined to earlier rows by id. ``oldest`` is the
    Unix time the oldest record became available (for the lag). ``commit`` acknowledges
    everything in the delivery to the source.
    """

    records: list[dict[str, Any]]
    ids: list[str] | None = None
    labels: list[Any] | None = None
    late_labels: list[tuple[str, Any]] = field(default_factory=list)
    oldest: float | None = None
    commit: Callable[[], None] = lambda: None

    def __len__(self) -> int:
        return len(self.records) + len(self.late_labels)


class StreamSource(Protocol):
    """A source that pushes or lists records: lake files, MQTT topics."""

    name: str

    async def start(self) -> None:
        """Connect, subscribe or load the cursor."""

    async def next(self, wait: float) -> Delivery | None:
        """The next delivery, or ``None`` when nothing arrived within ``wait`` seconds."""

    def lag(self, now: float) -> float:
        """Seconds since the oldest record the source knows of but has not acknowledged."""

    async def close(self) -> None: ...


def split_record(
    record: dict[str, Any], id_field: str | None, label_field: str | None
) -> tuple[dict[str, Any], str | None, Any]:
    """A record's features, its own id and its label, each field removed from the features.

    >>> split_record({"x": 1.0, "id": 7, "y": "a"}, "id", "y")
    ({'x': 1.0}, '7', 'a')
    >>> split_record({"x": 1.0}, "id", "y")
    ({'x': 1.0}, None, None)
    """
    row = dict(record)
    raw_id = row.pop(id_field, None) if id_field else None
    label = row.pop(label_field, None) if label_field else None
    return row, None if raw_id is None else str(raw_id), label


class Merged:
    """Several sources read in turn (rows from one, labels from another) as one."""

    def __init__(self, sources: list[StreamSource], name: str) -> None:
        self.sources = sources
        self.name = name
        self._turn = 0

    async def start(self) -> None:
        for source in self.sources:
            await source.start()

    async def next(self, wait: float) -> Delivery | None:
        share = wait / len(self.sources)
        for _ in self.sources:
            source = self.sources[self._turn]
            self._turn = (self._turn + 1) % len(self.sources)
            delivery = await source.next(share)
            if delivery is not None:
                return delivery
        return None

    def lag(self, now: float) -> float:
        return max(source.lag(now) for source in self.sources)

    async def close(self) -> None:
        for source in self.sources:
            await source.close()


__all__ = ["Delivery", "Merged", "StreamSource", "split_record"]
