"""``POST /feedback``: ground-truth labels by prediction id, durable before the answer.

Each label gets its own outcome (``matched``, ``unknown_id``, ``duplicate``, ``invalid``):
one bad item never fails the batch. A single label sent alone (``{"id": ..., "label": ...}``)
is answered 404 for an unknown id and 422 when invalid, so a simple client sees the error.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from inferwatch.core.jsonbody import encodable, printable
from inferwatch.server.deps import Service, require_token
from inferwatch.server.flusher import FlusherStopped
from inferwatch.server.inputs import Rejected, loads
from inferwatch.server.models import FEEDBACK_BODY, FeedbackResponse
from inferwatch.server.predict import json_response
from inferwatch.server.records import label_item

MAX_ID_LENGTH = 128


def _class_label(label: Any, classes: Sequence[str] | None) -> str | None:
    """The class ``label`` names (as the model spells it), or ``None`` if it names none."""
    if isinstance(label, bool) or not isinstance(label, (str, int, float)):
        return None
    if isinstance(label, float) and not math.isfinite(label):
        return None
    text = str(label)
    if classes is None or text in classes:
        return text
    if isinstance(label, float) and label.is_integer() and str(int(label)) in classes:
        return str(int(label))
    return None


def _check_item(
    item: Any, where: str, task: str, classes: Sequence[str] | None
) -> tuple[str, Any] | tuple[None, str]:
    """``(id, label)`` or ``(None, reason)``. A classifier's label must be one of the
    model's ``classes``; a regressor's a finite number."""
    if not isinstance(item, dict):
        return None, f"{where}: expected an object with id and label"
    pid = item.get("id")
    if not isinstance(pid, str) or not pid or len(pid) > MAX_ID_LENGTH or not encodable(pid):
        return None, f"{where}.id: expected a prediction id (a non-empty string)"
    if "label" not in item:
        return None, f"{where}.label: missing"
    label = item["label"]
    if task == "regression":
        if isinstance(label, bool) or not isinstance(label, (int, float)):
            return None, f"{where}.label: expected a number"
        try:
            value = float(label)
        except OverflowError:
            return None, f"{where}.label: number too large"
        if not math.isfinite(value):
            return None, f"{where}.label: not finite"
        return pid, value
    name = _class_label(label, classes)
    if name is None:
        if isinstance(label, (str, int, float)) and not isinstance(label, bool):
            shown = repr(printable(str(label))[:40])
        else:
            shown = f"a {type(label).__name__}"
        known = ", ".join(classes[:10]) if classes else "a class"
        return None, f"{where}.label: {shown} is not one of the model's classes ({known})"
    return pid, name


def _count(outcomes: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def feedback_router() -> APIRouter:
    router = APIRouter(tags=["model"], dependencies=[Depends(require_token)])

    @router.post(
        "/feedback",
        summary="Ground-truth labels by prediction id",
        response_model=FeedbackResponse,
        openapi_extra=FEEDBACK_BODY,
    )
    async def feedback(request: Request, state: Service) -> Response:
        served = state.served
        try:
            data = loads(await request.body())
        except Rejected as exc:
            state.totals.add_feedback({"invalid": 1})
            return json_response(exc.body(), exc.status)
        single = isinstance(data, dict) and "labels" not in data
        if single:
            items: Any = [data]
        elif isinstance(data, dict) and isinstance(data["labels"], list):
            items = data["labels"]
        else:
            state.totals.add_feedback({"invalid": 1})
            return json_response({"detail": "labels: expected a list", "field": "labels"}, 422)
        if len(items) > state.settings.max_batch_rows:
            state.totals.add_feedback({"invalid": len(items)})
            detail = f"labels: {len(items)} is over the limit of {state.settings.max_batch_rows}"
            return json_response({"detail": detail, "field": "labels"}, 413)

        task = served.task
        classes = served.metadata.classes
        now = state.clock()
        results: list[dict[str, Any]] = []
        valid: list[tuple[int, Any]] = []
        for i, item in enumerate(items):
            where = "body" if single else f"labels[{i}]"
            pid, value = _check_item(item, where, task, classes)
            if pid is None:
                raw = item.get("id") if isinstance(item, dict) else None
                results.append(
                    {
                        "id": raw if isinstance(raw, str) else None,
                        "outcome": "invalid",
                        "detail": value,
                    }
                )
            else:
                results.append({"id": pid, "outcome": None})
                valid.append((i, label_item(pid, value, now)))
        invalid = len(items) - len(valid)
        if invalid:
            state.totals.add_feedback({"invalid": invalid})

        if valid:
            try:
                flusher = state.flusher_or_raise()
                outcomes = await flusher.submit_labels([lab for _, lab in valid], served)
            except (FlusherStopped, Exception) as exc:  # store down: nothing is acknowledged
                return json_response({"detail": f"prediction store unavailable: {exc}"}, 503)
            state.totals.add_feedback(_count(o.outcome for o in outcomes))
            for (i, _), outcome in zip(valid, outcomes, strict=True):
                results[i]["outcome"] = outcome.outcome
                if outcome.delay_seconds is not None:
                    results[i]["delay_seconds"] = outcome.delay_seconds

        counts = _count(r["outcome"] for r in results)
        if single:
            only = results[0]
            if only["outcome"] == "invalid":
                field = only["detail"].split(":", 1)[0].replace("body.", "")
                return json_response({"detail": only["detail"], "field": field}, 422)
            if only["outcome"] == "unknown_id":
                return json_response(
                    {
                        "detail": f"id: no prediction with id {only['id']!r}",
                        "field": "id",
                        "outcome": "unknown_id",
                    },
                    404,
                )
        return json_response({"results": results, "counts": counts})

    return router


__all__ = ["feedback_router"]
