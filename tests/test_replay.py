"""Replay: the schedule, the table preparation and what reaches the service, in what order."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from inferwatch.replay import (
    Replayer,
    ReplayError,
    labels_from_file,
    prepare,
    replay,
    schedule,
    timestamps_of,
)


class FakeClock:
    """A clock that only moves when the replayer sleeps (no real waiting in tests)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Recorder:
    """A tiny HTTP service on 127.0.0.1 that answers like /predict and /feedback."""

    def __init__(self, clock: FakeClock | None = None, fail_every: int = 0) -> None:
        self.calls: list[tuple[str, float, dict[str, Any], dict[str, str]]] = []
        self.queries: list[str] = []
        self.clock = clock
        self.fail_every = fail_every
        self.next_id = 0
        self.known: set[str] = set()
        self.lock = threading.Lock()
        self.takes_labels = False
        """Like the service: ``labels`` beside ``instances`` are joined to the rows (and a
        label ``"bad"`` refuses the request); otherwise they are ignored, as by an older
        service."""

    def handle(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        path, _, query = path.partition("?")
        with self.lock:
            at = self.clock() if self.clock else 0.0
            self.calls.append((path, at, body, headers))
            self.queries.append(query)
            if path == "/predict":
                if self.fail_every and len(self.calls) % self.fail_every == 0:
                    return 422, {"detail": "x: expected a number"}
                labels = body.get("labels") if self.takes_labels else None
                if labels is not None and "bad" in labels:
                    return 422, {"detail": "labels[0]: 'bad'", "field": "labels[0]"}
                ids = []
                for _ in body["instances"]:
                    ids.append(f"p{self.next_id}")
                    self.known.add(f"p{self.next_id}")
                    self.next_id += 1
                answer: dict[str, Any] = {"ids": ids, "predictions": [0] * len(ids)}
                if labels is not None:
                    answer["label_counts"] = {"matched": sum(x is not None for x in labels)}
                return 200, answer
            if path == "/feedback":
                matched = sum(1 for item in body["labels"] if item["id"] in self.known)
                return 200, {"matched": matched, "unknown_id": len(body["labels"]) - matched}
            return 404, {"detail": "not found"}


@pytest.fixture
def service() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            status, answer = recorder.handle(self.path, body, dict(self.headers.items()))
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_schedule_compresses_own_timestamps_by_speed() -> None:
    offsets = schedule(4, timestamps=np.array([0.0, 3600.0, 7200.0, 7260.0]), speed=3600.0)
    assert offsets.tolist() == [0.0, 1.0, 2.0, pytest.approx(2.0 + 60 / 3600)]


def test_schedule_fixed_rate_and_as_fast_as_possible() -> None:
    assert schedule(3, rate=10.0).tolist() == [0.0, 0.1, 0.2]
    assert schedule(3).tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("kwargs", "word"), [({"rate": 0.0}, "rate"), ({"rate": 1.0, "speed": 2.0}, "either")]
)
def test_schedule_rejects_bad_options(kwargs: dict[str, float], word: str) -> None:
    with pytest.raises(ReplayError, match=word):
        schedule(3, timestamps=[0.0, 1.0, 2.0], **kwargs)


def test_timestamps_parse_dates_and_numbers() -> None:
    frame = pd.DataFrame(
        {"when": ["2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z"], "secs": [10, 70]}
    )
    dates = timestamps_of(frame, "when")
    assert dates[1] - dates[0] == 60.0
    assert timestamps_of(frame, "secs").tolist() == [10.0, 70.0]
    with pytest.raises(ReplayError, match="'nope'"):
        timestamps_of(frame, "nope")


def test_prepare_sorts_by_time_and_keeps_labels_with_their_rows() -> None:
    frame = pd.DataFrame(
        {"t": [30, 10, 20], "x": [3.0, 1.0, np.nan], "color": ["c", "a", "b"], "y": [2, 0, 1]}
    )
    records, labels, ts = prepare(frame, target="y", timestamp_column="t")
    assert [r["color"] for r in records] == ["a", "b", "c"]
    assert labels == [0, 1, 2]
    assert ts is not None and ts.tolist() == [10.0, 20.0, 30.0]
    assert records[1] == {"x": None, "color": "b"}  # NaN becomes null; t and y are not sent


def test_prepare_names_missing_target() -> None:
    with pytest.raises(ReplayError, match="'label'"):
        prepare(pd.DataFrame({"x": [1.0]}), target="label")


def test_labels_file_is_aligned_by_position(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    pd.DataFrame({"label": ["a", "b"]}).to_csv(path, index=False)
    assert labels_from_file(path, 2) == ["a", "b"]
    with pytest.raises(ReplayError, match="has 2 rows but the data has 3"):
        labels_from_file(path, 3)


def test_replay_sends_rows_in_batches_and_labels_after_the_delay(
    service: tuple[str, Recorder],
) -> None:
    url, recorder = service
    clock = FakeClock()
    recorder.clock = clock
    frame = pd.DataFrame({"x": np.arange(5, dtype=float), "y": [1, 0, 1, 0, 1]})
    records, labels, _ = prepare(frame, target="y")
    with httpx.Client(base_url=url) as client:
        summary = Replayer(client, token="s3cret", clock=clock, sleep=clock.sleep).run(
            records, offsets=schedule(5, rate=1.0), labels=labels, label_delay=2.5, batch_size=2
        )
    paths = [(path, at) for path, at, _, _ in recorder.calls]
    # batches at t=0, 2, 4; labels of batch 1 due at 2.5 (after batch 2), of batch 2 at 4.5...
    assert paths == [
        ("/predict", 1000.0),
        ("/predict", 1002.0),
        ("/feedback", 1002.5),
        ("/predict", 1004.0),
        ("/feedback", 1004.5),
        ("/feedback", 1006.5),
    ]
    sent = [item for _, _, body, _ in recorder.calls if "labels" in body for item in body["labels"]]
    assert sent == [{"id": f"p{i}", "label": y} for i, y in enumerate([1, 0, 1, 0, 1])]
    assert all(h.get("Authorization") == "Bearer s3cret" for _, _, _, h in recorder.calls)
    assert (summary.rows_sent, summary.errors, summary.labels_sent, summary.labels_matched) == (
        5,
        0,
        5,
        5,
    )


def test_replay_as_fast_as_possible_sends_labels_alongside_rows_in_full_requests(
    service: tuple[str, Recorder],
) -> None:
    """Without timing, labels already due go out between the batches, as many to a request
    as the service takes, each label once; the rest follows the last batch. Here the service
    ignores labels beside the rows (an older one): the first batch offers them, and from its
    answer on they go to /feedback, those of the first batch too."""
    url, recorder = service
    frame = pd.DataFrame({"x": np.arange(2600, dtype=float), "y": np.arange(2600) % 3})
    summary = replay(frame, url=url, target="y", batch_size=500, max_request_rows=1000)
    offered = ["labels" in body for path, _, body, _ in recorder.calls if path == "/predict"]
    assert offered == [True] + [False] * 5
    calls = [
        (path, len(body["instances"] if path == "/predict" else body["labels"]))
        for path, _, body, _ in recorder.calls
    ]
    assert calls == [
        ("/predict", 500),
        ("/predict", 500),
        ("/feedback", 1000),
        ("/predict", 500),
        ("/predict", 500),
        ("/feedback", 1000),
        ("/predict", 500),
        ("/predict", 100),
        ("/feedback", 600),
    ]
    sent = [
        item
        for path, _, body, _ in recorder.calls
        if path == "/feedback"
        for item in body["labels"]
    ]
    assert sent == [{"id": f"p{i}", "label": i % 3} for i in range(2600)]
    assert (summary.rows_sent, summary.labels_sent, summary.labels_matched) == (2600, 2600, 2600)
    # only the counts are read: the answers list just the labels that were not matched
    asked = zip(recorder.calls, recorder.queries, strict=True)
    feedback = [query for (path, *_), query in asked if path == "/feedback"]
    assert feedback == ["results=unmatched"] * 3


def test_replay_without_a_delay_sends_the_labels_with_their_rows(
    service: tuple[str, Recorder],
) -> None:
    """A service that joins labels sent beside the rows gets them there: one request per
    batch, none to /feedback; a row without a label sends null."""
    url, recorder = service
    recorder.takes_labels = True
    frame = pd.DataFrame({"x": np.arange(1200, dtype=float), "y": np.arange(1200) % 3})
    frame.loc[7, "y"] = None
    summary = replay(frame, url=url, target="y", batch_size=500, in_flight=4)
    assert [path for path, *_ in recorder.calls] == ["/predict"] * 3
    # each label beside its own row (the requests may arrive in any order)
    sent = sorted(
        (row["x"], label)
        for _, _, body, _ in recorder.calls
        for row, label in zip(body["instances"], body["labels"], strict=True)
    )
    assert sent == [(float(i), None if i == 7 else i % 3) for i in range(1200)]
    assert (summary.rows_sent, summary.labels_sent, summary.labels_matched) == (1200, 1199, 1199)
    assert (summary.errors, summary.feedback_errors) == (0, 0)


def test_replay_sends_rows_again_without_a_label_the_service_refuses(
    service: tuple[str, Recorder],
) -> None:
    """One bad label must not cost its batch: the rows go again without labels, and the
    labels go to /feedback, where each is judged alone."""
    url, recorder = service
    recorder.takes_labels = True
    frame = pd.DataFrame({"x": np.arange(6, dtype=float), "y": ["a", "b", "bad", "a", "b", "a"]})
    summary = replay(frame, url=url, target="y", batch_size=3)
    calls = [(path, "labels" in body) for path, _, body, _ in recorder.calls]
    assert calls[:2] == [("/predict", True), ("/predict", False)]
    assert ("/feedback", True) in calls
    sent = [
        item["label"]
        for path, _, b, _ in recorder.calls
        if path == "/feedback"
        for item in b["labels"]
    ]
    assert sent == ["a", "b", "bad", "a", "b", "a"]
    assert (summary.rows_sent, summary.errors, summary.labels_sent) == (6, 0, 6)


def test_replay_counts_failed_rows_and_reports_the_answer(service: tuple[str, Recorder]) -> None:
    url, recorder = service
    recorder.fail_every = 2
    frame = pd.DataFrame({"x": np.arange(4, dtype=float), "y": [1.5, 2.5, 3.5, 4.5]})
    summary = replay(frame, url=url, target="y", batch_size=1)
    assert summary.rows == 4
    assert summary.errors == 2  # the 2nd and 4th requests are refused
    assert summary.rows_sent == 2
    assert summary.labels_sent == summary.labels_matched == 2
    assert any("422" in m and "expected a number" in m for m in summary.error_messages)


def test_replay_reports_an_unreachable_service() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    # nothing listens on the discard port of the loopback interface
    summary = replay(frame, url="http://127.0.0.1:9", timeout=2.0)
    assert summary.errors == 2 and summary.rows_sent == 0
    assert "ConnectError" in summary.error_messages[0]


def test_replay_default_batch_fits_the_row_limit(service: tuple[str, Recorder]) -> None:
    """Without timing every row is due at once: requests of at most the service's limit."""
    url, recorder = service
    frame = pd.DataFrame({"x": np.arange(2500, dtype=float)})
    summary = replay(frame, url=url)
    sizes = [len(body["instances"]) for path, _, body, _ in recorder.calls if path == "/predict"]
    assert sizes == [1000, 1000, 500]
    assert (summary.rows_sent, summary.errors) == (2500, 0)


def test_replay_splits_a_batch_larger_than_the_limit(service: tuple[str, Recorder]) -> None:
    url, recorder = service
    frame = pd.DataFrame({"x": np.arange(25, dtype=float)})
    replay(frame, url=url, batch_size=12, max_request_rows=5)
    sizes = [len(body["instances"]) for path, _, body, _ in recorder.calls if path == "/predict"]
    assert sizes == [5, 5, 2, 5, 5, 2, 1]


def test_replay_default_batch_keeps_the_rows_timing(service: tuple[str, Recorder]) -> None:
    """With a rate, the default sends each row when it falls due, not in early clumps."""
    url, recorder = service
    clock = FakeClock()
    recorder.clock = clock
    records, _, _ = prepare(pd.DataFrame({"x": np.arange(4, dtype=float)}))
    with httpx.Client(base_url=url) as client:
        Replayer(client, clock=clock, sleep=clock.sleep).run(records, offsets=schedule(4, rate=2.0))
    assert [(p, at, len(b["instances"])) for p, at, b, _ in recorder.calls] == [
        ("/predict", 1000.0, 1),
        ("/predict", 1000.5, 1),
        ("/predict", 1001.0, 1),
        ("/predict", 1001.5, 1),
    ]


def test_prepare_sends_categorical_codes_as_text() -> None:
    frame = pd.DataFrame({"plan": [1.0, 2.0, None], "x": [0.5, 1.5, 2.5]})
    records, _, _ = prepare(frame, categorical=["plan"])
    assert records == [
        {"plan": "1", "x": 0.5},
        {"plan": "2", "x": 1.5},
        {"plan": None, "x": 2.5},
    ]
