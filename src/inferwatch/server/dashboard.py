"""The built-in live dashboard: the page, its static files and a read-only PromQL proxy.

The browser never sends PromQL. ``GET /api/query?name=accuracy&range=15m`` runs one of the
named expressions in ``QUERIES`` against ``Settings.prometheus_url``; anything else is a 400.
When Prometheus cannot be reached the answer is still 200, with ``"prometheus":
"unreachable"``, so the page can say so and fall back to the service's own history.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

import httpx
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from inferwatch.core.snapshot import Task
from inferwatch.settings import Settings

INFER = 'route=~"/predict|/invocations"'
WINDOW = "1m"
CLS: Task = "classification"
REG: Task = "regression"


@dataclass(frozen=True)
class NamedQuery:
    expr: str
    instant: bool = False
    task: Task | None = None
    """The one task the query has data for (``None``: every model); the page asks only for
    the queries of the served model's task."""


def _quantile(q: float) -> str:
    return (
        f"histogram_quantile({q}, sum by (le) "
        f"(rate(inferwatch_http_request_duration_seconds_bucket{{{INFER}}}[{WINDOW}])))"
    )


QUERIES: dict[str, NamedQuery] = {
    "accuracy": NamedQuery("avg by (model) (inferwatch_model_accuracy_ratio)", task=CLS),
    "precision": NamedQuery("avg by (model) (inferwatch_model_precision_ratio)", task=CLS),
    "recall": NamedQuery("avg by (model) (inferwatch_model_recall_ratio)", task=CLS),
    "f1": NamedQuery("avg by (model) (inferwatch_model_f1_ratio)", task=CLS),
    "estimated_accuracy": NamedQuery(
        "avg by (model) (inferwatch_model_estimated_accuracy_ratio)", task=CLS
    ),
    "mae": NamedQuery("max by (model) (inferwatch_model_mean_absolute_error)", task=REG),
    "rmse": NamedQuery("max by (model) (inferwatch_model_root_mean_squared_error)", task=REG),
    "throughput": NamedQuery(
        f"sum by (status_code) (rate(inferwatch_http_requests_total{{{INFER}}}[{WINDOW}]))"
    ),
    "latency_p50": NamedQuery(_quantile(0.5)),
    "latency_p95": NamedQuery(_quantile(0.95)),
    "latency_p99": NamedQuery(_quantile(0.99)),
    "error_rate": NamedQuery(
        f'sum(rate(inferwatch_http_requests_total{{{INFER}, status_code=~"4..|5.."}}[{WINDOW}]))'
        f" / clamp_min(sum(rate(inferwatch_http_requests_total{{{INFER}}}[{WINDOW}])), 1e-9)"
    ),
    "psi": NamedQuery('max by (feature) (inferwatch_feature_drift_score{method="psi"})'),
    "prediction_psi": NamedQuery('max(inferwatch_prediction_drift_score{method="psi"})'),
    "predictions": NamedQuery(
        f"sum by (class) (rate(inferwatch_predictions_total[{WINDOW}]))", task=CLS
    ),
    "cpu": NamedQuery("max(inferwatch_system_cpu_usage_ratio)"),
    "memory": NamedQuery("max(inferwatch_system_memory_usage_ratio)"),
    "disk": NamedQuery("max(inferwatch_system_disk_usage_ratio)"),
    "process_memory": NamedQuery(
        # only processes that export inferwatch metrics, not Prometheus' own
        "sum(process_resident_memory_bytes"
        " and on (job, instance) inferwatch_http_requests_in_progress)"
    ),
    "alerts": NamedQuery(
        'max by (alertname, severity, model) (ALERTS{alertstate="firing"})', instant=True
    ),
}
"""Every expression the built-in dashboard may run, by name."""

RANGES: dict[str, float] = {"5m": 300.0, "15m": 900.0, "1h": 3600.0, "6h": 21600.0}
POINTS = 180
"""About this many points per series; the step follows the range."""

STATIC_FILES: dict[str, str] = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
_STATIC = resources.files("inferwatch.web") / "static"


def _value(v: str) -> float | None:
    x = float(v)
    return x if math.isfinite(x) else None


def _series(result: list[dict[str, Any]], instant: bool) -> list[dict[str, Any]]:
    out = []
    for item in result:
        points = [item["value"]] if instant else item.get("values", [])
        out.append(
            {
                "metric": item.get("metric", {}),
                "values": [[float(t), _value(v)] for t, v in points],
            }
        )
    return out


def _query_params(
    base: str, query: NamedQuery, seconds: float, end: float, step: float
) -> tuple[str, dict[str, str]]:
    """The Prometheus URL and parameters of ``query`` over the last ``seconds`` to ``end``."""
    if query.instant:
        return f"{base}/api/v1/query", {"query": query.expr, "time": f"{end:.3f}"}
    return f"{base}/api/v1/query_range", {
        "query": query.expr,
        "start": f"{end - seconds:.3f}",
        "end": f"{end:.3f}",
        "step": f"{step:g}",
    }


async def _ask_prometheus(
    base: str,
    timeout: httpx.Timeout,
    name: str,
    range_: str,
    query: NamedQuery,
    seconds: float,
) -> JSONResponse:
    """Run ``query`` and answer its series (``prometheus``: ok, unreachable or error)."""
    end = time.time()
    step = max(2.0, seconds / POINTS)
    url, params = _query_params(base, query, seconds, end, step)
    head: dict[str, Any] = {"name": name, "range": range_, "step": step, "instant": query.instant}
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            resp = await client.get(url, params=params)
    except httpx.HTTPError as exc:
        error = str(exc) or type(exc).__name__
        return JSONResponse({"prometheus": "unreachable", **head, "error": error, "series": []})
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if resp.status_code != 200 or body.get("status") != "success":
        error = body.get("error") or f"HTTP {resp.status_code}"
        return JSONResponse(
            {"prometheus": "error", **head, "error": error, "series": []}, status_code=502
        )
    result = body.get("data", {}).get("result", [])
    return JSONResponse({"prometheus": "ok", **head, "series": _series(result, query.instant)})


def dashboard_router(settings: Settings, *, timeout_seconds: float = 3.0) -> APIRouter:
    """Routes of the built-in dashboard; queries go to ``settings.prometheus_url``."""
    router = APIRouter()
    base = settings.prometheus_url.rstrip("/")
    timeout = httpx.Timeout(timeout_seconds, connect=min(1.0, timeout_seconds))

    @router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard_page() -> HTMLResponse:
        html = (_STATIC / "dashboard.html").read_text(encoding="utf-8")
        return HTMLResponse(html, headers={"Cache-Control": "no-cache"})

    @router.get("/dashboard/static/{name}", include_in_schema=False)
    async def dashboard_static(name: str) -> Response:
        media_type = STATIC_FILES.get(name)
        if media_type is None:
            raise HTTPException(status_code=404, detail=f"name: no static file {name!r}")
        body = (_STATIC / name).read_bytes()
        return Response(body, media_type=media_type, headers={"Cache-Control": "no-cache"})

    @router.get("/api/query", tags=["dashboard"])
    async def named_query(
        name: str = Query(description="one of the dashboard's named queries"),
        range_: str = Query("15m", alias="range", description="5m, 15m, 1h or 6h"),
    ) -> JSONResponse:
        """Run one of the dashboard's named PromQL queries (read-only, allow-listed)."""
        query = QUERIES.get(name)
        if query is None:
            raise HTTPException(
                status_code=400,
                detail=f"name: unknown query {name!r}; known: {', '.join(sorted(QUERIES))}",
            )
        seconds = RANGES.get(range_)
        if seconds is None:
            raise HTTPException(
                status_code=400, detail=f"range: must be one of {', '.join(RANGES)}"
            )
        return await _ask_prometheus(base, timeout, name, range_, query, seconds)

    return router


__all__ = ["QUERIES", "RANGES", "NamedQuery", "dashboard_router"]
