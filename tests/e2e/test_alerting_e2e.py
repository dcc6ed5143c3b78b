"""The alerting path end to end, all on 127.0.0.1.

The real service (iris example, a 30 s monitoring window) is scraped by a real Prometheus
and its alerts go through a real Alertmanager (both started by ``LocalStack(fast=True)``)
to a Slack-compatible HTTP receiver, an SMTP server and back to the service's ``/alerts``.

Traffic shifts one feature and labels break accuracy (75%, then 50%); then healthy traffic
and correct labels resolve everything. Checked: Prometheus fires FeatureDriftDetected and
ModelAccuracyLow; Slack gets both; the escalation to ModelAccuracyCritical is emailed;
``/api/alerts`` shows them firing, then resolved.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tests.support.waiting import free_port

from inferwatch.local.stack import LocalStack
from inferwatch.settings import Settings

pytestmark = pytest.mark.e2e

CLASSES = ("setosa", "versicolor", "virginica")
DRIFTED = "sepal_width"


class SlackReceiver:
    """A loopback HTTP server that records the JSON bodies posted to it."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                posts.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T0/B0/test"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def texts(self) -> list[str]:
        return [json.dumps(p) for p in list(self.posts)]


@pytest.fixture
def slack() -> Iterator[SlackReceiver]:
    receiver = SlackReceiver()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        receiver.thread.join(5)


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


class Traffic:
    """Batches of iris rows through /predict, and labels for some of them via /feedback."""

    def __init__(self, client: httpx.Client, seed: int = 0) -> None:
        from inferwatch.lifecycle.examples import load_example_frame

        features, _ = load_example_frame("iris")
        self.rows = features.to_dict(orient="records")
        self.client = client
        self.rng = np.random.default_rng(seed)
        self.model = ""

    def send(self, rows: int, *, drift: bool, labels: int, correct_every: int | None) -> None:
        """Score ``rows`` rows (``sepal_width`` + 2 cm when ``drift``); label the first
        ``labels`` of them, every ``correct_every``-th label wrong (``None``: all right)."""
        picked = [dict(self.rows[i]) for i in self.rng.integers(len(self.rows), size=rows)]
        if drift:
            for row in picked:
                row[DRIFTED] += 2.0
        r = self.client.post("/predict", json={"instances": picked})
        assert r.status_code == 200, r.text
        body = r.json()
        self.model = body["model"]
        feedback = []
        for n, (pid, pred) in enumerate(
            list(zip(body["ids"], body["predictions"], strict=True))[:labels]
        ):
            wrong = correct_every is not None and n % correct_every == 0
            label = CLASSES[(CLASSES.index(pred) + 1) % 3] if wrong else pred
            feedback.append({"id": pid, "label": label})
        if feedback:
            r = self.client.post("/feedback", json={"labels": feedback})
            assert r.status_code == 200, r.text


def wait_while_sending(
    what: str, check: Callable[[], Any], send: Callable[[], None], timeout: float
) -> Any:
    """Keep sending traffic until ``check()`` is truthy; bounded by ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        send()
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what}: not seen within {timeout:g}s (last: {last!r})")


def prometheus_firing(url: str) -> set[tuple[str, str]]:
    alerts = httpx.get(url + "/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return {
        (a["labels"]["alertname"], a["labels"].get("model", ""))
        for a in alerts
        if a["state"] == "firing"
    }


def app_alerts(client: httpx.Client) -> dict[str, set[str]]:
    body = client.get("/api/alerts").json()
    return {
        kind: {f"{a['alertname']}/{a['model']}" for a in body[kind]}
        for kind in ("firing", "resolved")
    }


def test_drift_and_accuracy_alerts_reach_slack_email_and_the_app_then_resolve(
    tmp_path: Path,
    service: Callable[..., Any],
    slack: SlackReceiver,
    smtp: tuple[Mailbox, int],
) -> None:
    mailbox, smtp_port = smtp
    svc = service(window_buckets=6, bucket_seconds=5.0)
    target = svc.url.removeprefix("http://")
    slack_file = tmp_path / "slack_api_url"
    slack_file.write_text(slack.url)
    settings = Settings(
        data_dir=tmp_path / "stack",
        prometheus_port=free_port(),
        alertmanager_port=free_port(),
        scrape_interval="1s",
        evaluation_interval="1s",
        slack_api_url_file=slack_file,
        smtp_smarthost=f"127.0.0.1:{smtp_port}",
        smtp_to="oncall@example.org",
        smtp_require_tls=False,
    )
    traffic = Traffic(svc.client)

    # the rule ranges follow the service's 30 s window, as the fast demo renders them
    with LocalStack(
        settings, fast=True, fast_for=3, rule_range_seconds=30.0, scrape_target=target
    ) as stack:
        prom = stack.prometheus_url

        # 1. drift + 75% accuracy: FeatureDriftDetected and ModelAccuracyLow fire
        def incident() -> None:
            traffic.send(60, drift=True, labels=20, correct_every=4)

        wait_while_sending(
            "FeatureDriftDetected and ModelAccuracyLow firing in Prometheus",
            lambda: (
                {("FeatureDriftDetected", "iris"), ("ModelAccuracyLow", "iris")}
                <= prometheus_firing(prom)
            ),
            incident,
            timeout=60,
        )
        assert traffic.model == "iris"
        assert ("ModelAccuracyCritical", "iris") not in prometheus_firing(prom)

        def slack_has(alertname: str) -> bool:
            return any(alertname in t and "iris" in t for t in slack.texts())

        wait_while_sending(
            "Slack messages",
            lambda: slack_has("FeatureDriftDetected") and slack_has("ModelAccuracyLow"),
            incident,
            timeout=30,
        )
        drift_post = next(t for t in slack.texts() if "FeatureDriftDetected" in t)
        assert DRIFTED in drift_post and "PSI" in drift_post and "/dashboard" in drift_post
        wait_while_sending(
            "alerts in /api/alerts",
            lambda: (
                {"FeatureDriftDetected/iris", "ModelAccuracyLow/iris"}
                <= app_alerts(svc.client)["firing"]
            ),
            incident,
            timeout=30,
        )

        # 2. accuracy falls to 50%: ModelAccuracyCritical fires and is emailed
        wait_while_sending(
            "ModelAccuracyCritical emailed",
            lambda: any("ModelAccuracyCritical" in (m["Subject"] or "") for m in mailbox.messages),
            lambda: traffic.send(60, drift=True, labels=30, correct_every=2),
            timeout=60,
        )
        mail = next(m for m in mailbox.messages if "ModelAccuracyCritical" in m["Subject"])
        assert "iris" in mail["Subject"] and mail["To"] == "oncall@example.org"

        # 3. healthy traffic and correct labels resolve everything
        def healthy() -> None:
            traffic.send(200, drift=False, labels=200, correct_every=None)

        wait_while_sending(
            "drift and accuracy alerts resolved in Prometheus",
            lambda: (
                not {
                    ("FeatureDriftDetected", "iris"),
                    ("ModelAccuracyLow", "iris"),
                    ("ModelAccuracyCritical", "iris"),
                }
                & prometheus_firing(prom)
            ),
            healthy,
            timeout=90,
        )
        expected = {"FeatureDriftDetected/iris", "ModelAccuracyLow/iris"}
        got = wait_while_sending(
            "alerts resolved in /api/alerts",
            lambda: (
                (book := app_alerts(svc.client))["resolved"] >= expected
                and not book["firing"] & expected
                and book
            ),
            healthy,
            timeout=30,
        )
        assert "ModelAccuracyCritical/iris" in got["resolved"]
