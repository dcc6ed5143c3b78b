"""Serving overhead of monitoring: inferwatch serve against a bare app on the same model.

Three servers, each a subprocess on 127.0.0.1 under the same uvicorn settings (one worker,
uvloop + httptools, access log off), all scoring with the same ``LocalModelBackend`` and
parsing JSON with orjson:

  monitored  ``inferwatch serve`` with the iris example: validation, durable group commit,
             drift/quality/performance monitoring, HTTP metrics.
  bare       FastAPI, one route, no monitoring at all.
  usual      the common way: bare + prometheus_client counter/histogram in a
             ``BaseHTTPMiddleware``, no drift, no store (context only).
  path       ``inferwatch serve`` with its writer replaced by one that acknowledges at once:
             the request path alone (validation, ids, HTTP metrics, the answer), nothing
             stored and nothing monitored. Not a mode users can run: it shows how much of the
             gap is the request path, the ceiling of any monitoring design in this process
             (context only).

Each is driven with wrk (a Lua script POSTing JSON) at fixed connections and duration,
in alternating rounds; the medians are compared, and the spread of the per-round ratios
(monitored against the bare run beside it) is printed with them: on a small shared machine
the bare server's own throughput moves from round to round. Each run also reads the
server's CPU time (all threads, from /proc), printed per request: what monitoring costs in
work, which moves less than throughput does. Goals: monitored >= 0.90 x bare throughput
and p99 <= 1.2 x bare, for single rows; >= 0.85 x bare rows/s for 100-row batches.

    python bench/serving_overhead.py [--duration 10] [--connections 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry
from prometheus_client.process_collector import ProcessCollector

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("{body}", "rb"))
wrk.body = f:read("*a")
f:close()
"""


# --------------------------------------------------------------------------- servers


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of process ``pid`` so far (prometheus_client reads /proc)."""
    registry = CollectorRegistry()
    ProcessCollector(pid=lambda: pid, registry=registry)
    return registry.get_sample_value("process_cpu_seconds_total") or 0.0


def _bare_app(model_dir: Path, with_metrics: bool) -> Any:
    from inferwatch.backends import LocalModelBackend
    from inferwatch.lifecycle.modeldir import load_model_dir

    bundle = load_model_dir(model_dir)
    backend = LocalModelBackend(bundle)
    names = list(bundle.metadata.feature_names)
    app = FastAPI()

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        data = orjson.loads(await request.body())
        rows = data["instances"] if isinstance(data, dict) and "instances" in data else [data]
        columns = {n: np.asarray([r[n] for r in rows], dtype=np.float64) for n in names}
        out = await backend.predict(columns)
        body = {"predictions": out.predictions.tolist(), "probabilities": out.probabilities}
        return Response(
            orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json"
        )

    if with_metrics:
        from prometheus_client import CollectorRegistry, Counter, Histogram
        from starlette.middleware.base import BaseHTTPMiddleware

        registry = CollectorRegistry()
        requests = Counter("http_requests", "", ["method", "path", "status"], registry=registry)
        latency = Histogram("http_request_seconds", "", ["method", "path"], registry=registry)

        async def metrics_middleware(request: Request, call_next: Any) -> Any:
            start = time.perf_counter()
            response = await call_next(request)
            requests.labels(request.method, request.url.path, str(response.status_code)).inc()
            latency.labels(request.method, request.url.path).observe(time.perf_counter() - start)
            return response

        app.add_middleware(BaseHTTPMiddleware, dispatch=metrics_middleware)
    return app


def serve_baseline(model_dir: Path, port: int, with_metrics: bool) -> None:
    import uvicorn

    from inferwatch.server.run import uvicorn_options
    from inferwatch.settings import Settings

    options = uvicorn_options(Settings(host="127.0.0.1", port=port, log_level="warning"))
    uvicorn.run(_bare_app(model_dir, with_metrics), **options)  # type: ignore[arg-type]


def serve_path_only(model_dir: Path, port: int, data_dir: Path) -> None:
    """``inferwatch serve`` whose writer acknowledges each request at once (see ``path``)."""
    from inferwatch.server import flusher
    from inferwatch.server.run import run_server
    from inferwatch.settings import Settings

    def acknowledge(self: flusher.Flusher, job: flusher.PredictionJob | flusher.LabelJob) -> None:
        if not self._accepting:
            raise flusher.FlusherStopped("the prediction store writer is not running")
        if isinstance(job, flusher.LabelJob):
            job.future.set_result([])
        else:
            job.future.set_result(None)

    flusher.Flusher._submit = acknowledge  # type: ignore[method-assign]  # the bench's probe
    settings = Settings(host="127.0.0.1", port=port, model_dir=model_dir, data_dir=data_dir)
    run_server(settings.model_copy(update={"log_level": "warning"}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(kind: str, model_dir: Path, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERWATCH_")}
    env["INFERWATCH_LOG_LEVEL"] = "warning"
    if kind == "monitored":
        cmd = [sys.executable, "-m", "inferwatch.cli", "serve", "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--model-dir", str(model_dir), "--data-dir", str(data_dir)]
    else:
        cmd = [sys.executable, __file__, "--serve", kind, "--model-dir", str(model_dir)]
        cmd += ["--port", str(port), "--data-dir", str(data_dir)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"{kind} server exited: {err}")
        try:
            if httpx.post(url + "/predict", json=ROW, timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{kind} server did not start")


# --------------------------------------------------------------------------- wrk


def _seconds(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(text)
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def wrk(url: str, script: Path, connections: int, duration: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = _seconds(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p50 = _seconds(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    if non2xx or errors:
        print(f"  ! {url}: {non2xx.group(0) if non2xx else ''} {errors.group(0) if errors else ''}")
    return {"rps": rps, "p50": p50, "p99": p99}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--payloads", default="one,batch", help="comma-separated: one (single row), batch"
    )
    parser.add_argument("--serve", choices=["bare", "usual", "path"], help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "path":
        serve_path_only(args.model_dir, args.port, args.data_dir)
        return 0
    if args.serve:
        serve_baseline(args.model_dir, args.port, with_metrics=args.serve == "usual")
        return 0

    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install wrk (make system-deps-bench)", file=sys.stderr)
        return 2
    from inferwatch.lifecycle.examples import write_example

    work = Path(tempfile.mkdtemp(prefix="inferwatch-bench-"))
    model_dir = work / "iris"
    write_example("iris", model_dir)
    one = work / "one.json"
    one.write_bytes(orjson.dumps(ROW))
    batch = work / "batch.json"
    batch.write_bytes(orjson.dumps({"instances": [ROW] * 100}))
    scripts = {}
    for name, body in (("one", one), ("batch", batch)):
        scripts[name] = work / f"{name}.lua"
        scripts[name].write_text(LUA.format(body=body))

    kinds = ["monitored", "bare", "usual", "path"]
    servers = {k: start(k, model_dir, work / f"data-{k}") for k in kinds}
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    try:
        for _, url in servers.values():  # warm up
            wrk(url + "/predict", scripts["one"], args.connections, 2)
        for r in range(args.rounds):
            order = kinds if r % 2 == 0 else kinds[::-1]
            for payload in args.payloads.split(","):
                for kind in order:
                    proc, url = servers[kind]
                    cpu0 = cpu_seconds(proc.pid)
                    res = wrk(url + "/predict", scripts[payload], args.connections, args.duration)
                    res["cpu"] = (cpu_seconds(proc.pid) - cpu0) / max(res["rps"] * args.duration, 1)
                    results.setdefault((kind, payload), []).append(res)
                    print(
                        f"round {r + 1} {payload:5} {kind:9} {res['rps']:9.0f} req/s"
                        f"  p50 {res['p50'] * 1e3:6.2f} ms  p99 {res['p99'] * 1e3:6.2f} ms"
                        f"  CPU {res['cpu'] * 1e6:6.0f} us/req",
                        flush=True,
                    )
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()

    def med(kind: str, payload: str, key: str) -> float:
        return statistics.median(x[key] for x in results[(kind, payload)])

    print()
    print(f"wrk: {args.connections} connections, {args.duration}s x {args.rounds} rounds, medians")
    print(f"{'':24}" + "".join(f"{k:>12}" for k in kinds) + f"{'mon/bare':>10}{'path/bare':>11}")

    def line(label: str, values: dict[str, float], fmt: str, ratios: bool = True) -> None:
        cells = "".join(format(values[k], fmt).rjust(12) for k in kinds)
        if ratios:
            bare = max(values["bare"], 1e-12)
            cells += f"{values['monitored'] / bare:10.2f}{values['path'] / bare:11.2f}"
        print(f"{label:24}{cells}")

    for payload, label in (("one", "single row"), ("batch", "100-row batch")):
        if payload not in args.payloads.split(","):
            continue
        rps = {k: med(k, payload, "rps") for k in kinds}
        line(label + " req/s", rps, ".0f")
        line(label + " p99 ms", {k: med(k, payload, "p99") * 1e3 for k in kinds}, ".2f")
        if payload == "batch":
            line("100-row batch rows/s", {k: v * 100 for k, v in rps.items()}, ".0f", False)
        line(label + " CPU us/req", {k: med(k, payload, "cpu") * 1e6 for k in kinds}, ".0f")
        for kind in ("monitored", "path"):
            pairs = zip(results[(kind, payload)], results[("bare", payload)], strict=True)
            ratios = ", ".join(f"{m['rps'] / b['rps']:.2f}" for m, b in pairs)
            print(f"{label + ' ' + kind + '/bare':24}{ratios:>46} by round")
    print()
    if "one" in args.payloads.split(","):
        thr = med("monitored", "one", "rps") / med("bare", "one", "rps")
        tail = med("monitored", "one", "p99") / med("bare", "one", "p99")
        ok = thr >= 0.90 and tail <= 1.2
        print(
            f"single-row goal (throughput >= 0.90x, p99 <= 1.2x): {thr:.2f}x, {tail:.2f}x"
            f" -> {'PASS' if ok else 'FAIL'}"
        )
    if "batch" in args.payloads.split(","):
        rows = med("monitored", "batch", "rps") / med("bare", "batch", "rps")
        print(
            f"100-row goal (rows/s >= 0.85x): {rows:.2f}x -> {'PASS' if rows >= 0.85 else 'FAIL'}"
        )
    for payload, label in (("one", "single row"), ("batch", "100 rows")):
        if payload in args.payloads.split(","):
            ceiling = med("path", payload, "rps") / med("bare", payload, "rps")
            print(
                f"{label}: the request path alone (nothing stored or monitored) runs at"
                f" {ceiling:.2f}x of bare (context: the ceiling in this process)"
            )
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
