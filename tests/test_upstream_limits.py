"""A hostile or broken upstream costs a 502, bounded memory, and never leaks its credentials."""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inferwatch.backends import BackendError, UpstreamModelBackend
from inferwatch.backends.upstream import redact_url
from inferwatch.lifecycle.modeldir import ModelBundle, load_model_dir

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
SECRET = "s3cr3t-Pa55word"


class _Answers:
    """What the fake upstream answers next, and what it saw."""

    def __init__(self) -> None:
        self.body: Callable[[], Iterator[bytes]] = lambda: iter([b'{"predictions": ["setosa"]}'])
        self.length: int | None = None
        self.authorization: list[str | None] = []
        self.written = 0


@pytest.fixture
def upstream() -> Iterator[tuple[str, _Answers]]:
    answers = _Answers()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            answers.authorization.append(self.headers.get("authorization"))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            if answers.length is not None:
                self.send_header("content-length", str(answers.length))
            else:
                self.send_header("connection", "close")
            self.end_headers()
            try:
                for chunk in answers.body():
                    self.wfile.write(chunk)
                    answers.written += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", answers
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def iris(iris_model_dir: Path) -> ModelBundle:
    return load_model_dir(iris_model_dir, load_model=False)


def _predict(url: str, bundle: ModelBundle, **kwargs: Any) -> Any:
    async def go() -> Any:
        backend = UpstreamModelBackend(url, bundle.metadata, timeout=20, **kwargs)
        try:
            return await backend.predict({k: np.array([v]) for k, v in ROW.items()})
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_an_answer_over_the_limit_is_a_502_read_no_further(
    upstream: tuple[str, _Answers], iris: ModelBundle
) -> None:
    url, answers = upstream
    chunk = b" " * 65536
    answers.body = lambda: iter([b'{"predictions": ["setosa"], "pad": "'] + [chunk] * 1600)
    with pytest.raises(BackendError) as caught:
        _predict(url, iris, max_answer_bytes=1_000_000)
    assert caught.value.status_code == 502 and "limit of 1000000" in str(caught.value)
    # the 100 MB answer was abandoned long before its end
    assert answers.written < 40_000_000
    answers.length = 2_000_000
    with pytest.raises(BackendError, match="2000000 bytes"):
        _predict(url, iris, max_answer_bytes=1_000_000)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b'{"predictions": ' + b"[" * 3000 + b"]" * 3000 + b"}", "nested"),
        (b'{"predictions": ["\\ud800"], "x": NaN}', "Unicode"),
        (b"not json", "malformed"),
    ],
    ids=["deep", "surrogate", "garbage"],
)
def test_an_unusable_answer_is_a_502(
    upstream: tuple[str, _Answers], iris: ModelBundle, body: bytes, match: str
) -> None:
    url, answers = upstream
    answers.body = lambda: iter([body])
    with pytest.raises(BackendError, match=match) as caught:
        _predict(url, iris)
    assert caught.value.status_code == 502


def test_credentials_in_the_url_go_in_a_header_and_nowhere_else(
    upstream: tuple[str, _Answers], iris: ModelBundle, caplog: pytest.LogCaptureFixture
) -> None:
    url, answers = upstream
    secret_url = url.replace("http://", f"http://scorer:{SECRET}@")
    with caplog.at_level(logging.DEBUG):
        out = _predict(secret_url, iris)
    assert out.predictions.tolist() == ["setosa"]
    expected = "Basic " + base64.b64encode(f"scorer:{SECRET}".encode()).decode()
    assert answers.authorization == [expected]
    assert SECRET not in caplog.text and "HTTP Request" in caplog.text
    answers.body = lambda: iter([b"[1, 2]"])
    with pytest.raises(BackendError) as caught:
        _predict(secret_url, iris)
    assert SECRET not in str(caught.value)
    down = secret_url.rsplit(":", 1)[0] + ":9"  # nothing listens on port 9
    with pytest.raises(BackendError) as unreachable:
        _predict(down, iris)
    assert SECRET not in str(unreachable.value)
    assert redact_url(secret_url) == url


def test_the_service_never_shows_the_upstream_credentials(
    upstream: tuple[str, _Answers], service: Callable[..., Any]
) -> None:
    url, answers = upstream
    svc = service(upstream_url=url.replace("http://", f"http://scorer:{SECRET}@"))
    assert svc.client.post("/predict", json=ROW).status_code == 200
    answers.body = lambda: iter([b"[1, 2, 3]"])
    failed = svc.client.post("/predict", json=ROW)
    assert failed.status_code == 502
    for text in (failed.text, svc.client.get("/api/snapshot").text):
        assert SECRET not in text and "scorer" not in text
    assert url in svc.client.get("/api/snapshot").text


def test_a_token_from_a_file_reaches_the_upstream_as_a_bearer_and_nowhere_else(
    upstream: tuple[str, _Answers],
    service: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A gateway in front of KServe or Triton wants a bearer token: the operator mounts it
    as a file (a Kubernetes Secret) and names it in INFERWATCH_UPSTREAM_TOKEN_FILE."""
    url, answers = upstream
    token_file = tmp_path / "upstream-token"
    token_file.write_text(SECRET + "\n", encoding="utf-8")
    monkeypatch.setenv("INFERWATCH_UPSTREAM_TOKEN_FILE", str(token_file))
    with caplog.at_level(logging.DEBUG):
        svc = service(upstream_url=url)
        assert svc.client.post("/predict", json=ROW).status_code == 200
        assert answers.authorization == [f"Bearer {SECRET}"]
        answers.body = lambda: iter([b"[1, 2, 3]"])  # an unusable answer: a 502
        failed = svc.client.post("/predict", json=ROW)
    assert failed.status_code == 502
    shown = [failed.text, svc.client.get("/api/snapshot").text, svc.client.get("/metrics").text]
    for text in [*shown, caplog.text]:
        assert SECRET not in text


def test_a_token_from_the_environment_and_credentials_twice(
    upstream: tuple[str, _Answers], iris: ModelBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inferwatch.settings import Settings

    url, answers = upstream
    monkeypatch.setenv("INFERWATCH_UPSTREAM_TOKEN", SECRET)
    token = Settings().resolved_upstream_token()
    assert _predict(url, iris, token=token).predictions.tolist() == ["setosa"]
    assert answers.authorization == [f"Bearer {SECRET}"]
    # user-info in the URL and a token: which one the operator meant is unknown, so neither
    with pytest.raises(ValueError, match="credentials twice") as twice:
        _predict(url.replace("http://", f"http://scorer:{SECRET}@"), iris, token=token)
    assert SECRET not in str(twice.value)
    with pytest.raises(ValueError, match="one non-empty line"):
        _predict(url, iris, token=f"{SECRET}\r\nX-Injected: 1")
