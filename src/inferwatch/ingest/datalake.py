"""A small data lake for the demo and the tests: pages of example rows, with faults.

``GET /records?cursor=C&limit=N`` answers ``{"records": [...], "next_cursor": "C+N"}``; each
record carries its ground truth in ``label``. ``PUT /faults`` with
``{"error_rate": 0.5, "latency_seconds": 2.5}`` makes that share of requests answer 503 and
every answer wait that long, so an outage (DataLakeUnavailable) or a slow lake
(HighIngestionDelay) can be played on purpose. Rows are drawn with a seeded generator.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pandas as pd
from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, Field


class Faults(BaseModel):
    error_rate: float = Field(0.0, ge=0.0, le=1.0)
    latency_seconds: float = Field(0.0, ge=0.0, le=30.0)


def create_datalake(
    features: pd.DataFrame, labels: pd.Series[Any], *, seed: int = 0, faults: Faults | None = None
) -> FastAPI:
    """An app serving rows of ``features`` (with ``labels``) in a seeded random order."""
    app = FastAPI(title="inferwatch data lake", docs_url=None, redoc_url=None)
    rng = np.random.default_rng(seed)
    current = faults or Faults()
    columns = list(features.columns)
    values = features.to_numpy(dtype=object)
    truth = labels.astype(str).to_numpy()

    def rows(start: int, limit: int) -> list[dict[str, Any]]:
        # The row order is a function of the position, so a retried page returns the same rows.
        picks = np.random.default_rng([seed, start]).integers(0, len(values), size=limit)
        return [
            {**dict(zip(columns, values[i].tolist(), strict=True)), "label": truth[i]}
            for i in picks
        ]

    @app.get("/records")
    async def records(
        cursor: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000)
    ) -> dict[str, Any]:
        if current.latency_seconds:
            await asyncio.sleep(current.latency_seconds)
        if current.error_rate and rng.random() < current.error_rate:
            raise HTTPException(503, "data lake unavailable")
        return {"records": rows(cursor, limit), "next_cursor": str(cursor + limit)}

    @app.get("/faults")
    async def get_faults() -> Faults:
        return current

    @app.put("/faults")
    async def put_faults(faults: Faults) -> Faults:
        current.error_rate = faults.error_rate
        current.latency_seconds = faults.latency_seconds
        return current

    return app


__all__ = ["Faults", "create_datalake"]
