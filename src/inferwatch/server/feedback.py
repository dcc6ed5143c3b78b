"""``POST /feedback``: ground-truth labels by prediction id, durable before the answer.

Each label gets its own outcome (``matched``, ``unknown_id``, ``duplicate``, ``invalid``):
one bad item never fails the batch. A single label sent alone (``{"id": ..., "label": ...}``)
is answered 404 for an unknown id and 422 when invalid, so a simple client sees the error.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from inferwatch.core.jsonbody import encodable, printable
from inferwatch.server.deps import app_service, require_token
from inferwatch.server.flusher import FlusherStopped
from inferwatch.server.inputs import Rejected, loads
from inferwatch.server.responses import (
    FEEDBACK_BODY,
    PROBLEMS,
    FeedbackResponse,
    Problem,
    json_response,
    problem,
)
from inferwatch.store import LabelItem

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
    if type(item) is dict and task != "regression":  # the usual item, accepted at once: an
        pid, label = item.get("id"), item.get("label")  # ASCII id, a class as the model has it
        if (
            type(pid) is str
            and 0 < len(pid) <= MAX_ID_LENGTH
            and pid.isascii()
            and type(label) is str
            and (classes is None or label in classes)
        ):
            return pid, label
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
    return dict(Counter(outcomes))


def _label_list(data: Any, max_rows: int) -> tuple[list[Any], bool] | Response:
    """The label items of a body and whether it was a single label, or the 4xx answer."""
    if isinstance(data, dict) and "labels" not in data:
        return [data], True
    if isinstance(data, dict) and isinstance(data["labels"], list):
        items: list[Any] = data["labels"]
        if len(items) > max_rows:
            detail = f"labels: {len(items)} is over the limit of {max_rows}"
            return problem(413, detail, field="labels")
        return items, False
    return problem(422, "labels: expected a list", field="labels")


def _check_all(
    items: list[Any], single: bool, task: str, classes: Sequence[str] | None, now: float
) -> tuple[list[dict[str, Any]], list[tuple[int, LabelItem]]]:
    """One result per item (invalid ones final) and the valid labels by item index."""
    results: list[dict[str, Any]] = []
    valid: list[tuple[int, LabelItem]] = []
    for i, item in enumerate(items):
        pid, value = _check_item(item, "body" if single else f"labels[{i}]", task, classes)
        if pid is None:
            raw = item.get("id") if isinstance(item, dict) else None
            results.append(
                {"id": raw if isinstance(raw, str) else None, "outcome": "invalid", "detail": value}
            )
        else:
            results.append({"id": pid, "outcome": None})
            valid.append((i, LabelItem(pid, value, now)))
    return results, valid


def _single_answer(only: dict[str, Any]) -> Response | None:
    """A single label sent alone: 422 when invalid, 404 for an unknown id."""
    if only["outcome"] == "invalid":
        field = only["detail"].split(":", 1)[0].replace("body.", "")
        return problem(422, only["detail"], field=field)
    if only["outcome"] == "unknown_id":
        detail = f"id: no prediction with id {only['id']!r}"
        return problem(404, detail, field="id", outcome="unknown_id")
    return None


def feedback_router() -> APIRouter:
    router = APIRouter(tags=["model"], dependencies=[Depends(require_token)])

    @router.post(
        "/feedback",
        summary="Ground-truth labels by prediction id",
        response_model=FeedbackResponse,
        responses={
            **PROBLEMS,
            404: {"model": Problem, "description": "Unknown id (a label sent alone)"},
        },
        openapi_extra=FEEDBACK_BODY,
    )
    async def feedback(request: Request) -> Response:
        state = app_service(request.app)
        served = state.served  # read once: the labels go to this version's monitor
        try:
            data = loads(await request.body())
        except Rejected as exc:
            state.totals.add_feedback({"invalid": 1})
            return problem(exc.status, exc.detail, field=exc.field)
        listed = _label_list(data, state.settings.max_batch_rows)
        if isinstance(listed, Response):
            n = len(data["labels"]) if listed.status_code == 413 else 1
            state.totals.add_feedback({"invalid": n})
            return listed
        items, single = listed
        results, valid = _check_all(
            items, single, served.task, served.metadata.classes, state.clock()
        )
        if len(items) > len(valid):
            state.totals.add_feedback({"invalid": len(items) - len(valid)})
        if valid:
            try:
                flusher = state.flusher_or_raise()
                outcomes = await flusher.submit_labels([lab for _, lab in valid], served)
            except (FlusherStopped, Exception) as exc:  # store down: nothing is acknowledged
                return problem(503, f"prediction store unavailable: {exc}")
            state.totals.add_feedback(_count(map(attrgetter("outcome"), outcomes)))
            for (i, _), outcome in zip(valid, outcomes, strict=True):
                results[i]["outcome"] = outcome.outcome
                if outcome.delay_seconds is not None:
                    results[i]["delay_seconds"] = outcome.delay_seconds
        answer = _single_answer(results[0]) if single else None
        if answer is not None:
            return answer
        # the ``FeedbackResponse`` layout as plain data: one model object per label cost
        # as much as the labels' whole commit
        return json_response({"results": results, "counts": _count(r["outcome"] for r in results)})

    return router


__all__ = ["feedback_router"]
