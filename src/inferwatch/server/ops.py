"""Operational routes: ``/healthz``, ``/readyz``, ``/metrics``, ``/api/snapshot``,
``/api/history``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.exposition import choose_encoder

from inferwatch.core.snapshot import FeatureDrift, MonitorSnapshot
from inferwatch.server.deps import Service
from inferwatch.server.predict import json_response


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _drift_dict(f: FeatureDrift) -> dict[str, Any]:
    return {
        "name": f.name,
        "kind": f.kind,
        "bins": list(f.bins),
        "reference_ratios": list(f.reference_ratios),
        "window_counts": list(f.window_counts),
        "scores": {k: _num(v) for k, v in f.scores.items()},
        "threshold": f.threshold,
        "drift_detected": f.drift_detected,
    }


def _pairs(m: Mapping[tuple[str, str], int], a: str, b: str) -> list[dict[str, Any]]:
    return [{a: k[0], b: k[1], "count": v} for k, v in m.items()]


def snapshot_dict(snap: MonitorSnapshot) -> dict[str, Any]:
    """A ``MonitorSnapshot`` as plain JSON (tuple keys become lists of objects)."""
    perf = snap.performance
    return {
        "model": snap.model,
        "model_version": snap.model_version,
        "task": snap.task,
        "timestamp": snap.timestamp,
        "window_rows": snap.window_rows,
        "drift_detected": snap.drift_detected,
        "estimated_accuracy": _num(snap.estimated_accuracy),
        "features": [_drift_dict(f) for f in snap.features],
        "prediction": _drift_dict(snap.prediction),
        "performance": {
            "labels": perf.labels,
            "accuracy": _num(perf.accuracy),
            "precision": _num(perf.precision),
            "recall": _num(perf.recall),
            "f1": _num(perf.f1),
            "mae": _num(perf.mae),
            "rmse": _num(perf.rmse),
            "per_class": {
                cls: {
                    "precision": _num(m.precision),
                    "recall": _num(m.recall),
                    "f1": _num(m.f1),
                    "support": m.support,
                }
                for cls, m in perf.per_class.items()
            },
        },
        "totals": {
            "rows": snap.totals.rows,
            "predictions": dict(snap.totals.predictions),
            "bin_observations": {k: list(v) for k, v in snap.totals.bin_observations.items()},
            "quality_issues": _pairs(snap.totals.quality_issues, "feature", "check"),
            "labeled": _pairs(snap.totals.labeled, "actual", "predicted"),
        },
    }


def ops_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @router.get("/readyz", summary="Readiness: model reachable, store writable")
    async def readyz(state: Service) -> Response:
        checks = await state.readiness()
        ready = all(ok for ok, _ in checks.values())
        body = {
            "status": "ready" if ready else "not ready",
            "checks": {k: {"ok": ok, "detail": d} for k, (ok, d) in checks.items()},
        }
        return json_response(body, 200 if ready else 503)

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=True)
    def metrics(state: Service, request: Request) -> Response:
        """The text format, or OpenMetrics when the scraper's ``Accept`` header asks for it
        (as Prometheus does); with ``serve --workers N``, the text format of the sum over
        every worker."""
        workers = getattr(request.app.state, "worker_metrics", None)
        if workers is not None:  # serve --workers N: the sum over every worker
            return Response(workers.render(), media_type=CONTENT_TYPE_LATEST)
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(state.registry), headers={"content-type": content_type})

    @router.get("/api/snapshot", summary="The monitor's current view plus service figures")
    def snapshot(state: Service) -> Response:
        out = snapshot_dict(state.snapshot())
        out["service"] = state.service_figures()
        out["alerts"] = state.alerts.to_dict()
        return json_response(out)

    @router.get("/api/history", summary="Recent history (about 30 min), oldest first")
    async def history(state: Service, since: float = 0.0) -> Response:
        points = state.history.since(since)
        return json_response(
            {
                "interval_seconds": state.settings.history_interval_seconds,
                "points": [p.to_dict() for p in points],
            }
        )

    return router


__all__ = ["ops_router", "snapshot_dict"]
