"""``POST /feedback``: ground-truth labels by prediction id, durable before the answer.

Each label gets its own outcome (``matched``, ``unknown_id``, ``duplicate``, ``invalid``):
one bad item never fails the batch. A single label sent alone (``{"id": ..., "label": ...}``)
is answered 404 for an unknown id and 422 when invalid, so a simple client sees the error.

The answer holds the count of each outcome and, by default, every label's outcome in
order; ``?results=unmatched`` lists only the labels that were not matched, each with its
``index`` in ``labels`` (a client sending thousands of labels reads the few that need
attention, not one entry per label).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from inferwatch.core.jsonbody import encodable, printable
from inferwatch.integrations.logged import check_label
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
from inferwatch.store import LabelItem, LabelOutcome

MAX_ID_LENGTH = 128


def _check_item(
    item: Any, index: int | None, task: str, classes: Sequence[str] | None
) -> tuple[str, Any] | tuple[None, str]:
    """``(id, label)`` or ``(None, reason)`` for the item at ``index`` of ``labels`` (``None``:
    the body is the one label). A classifier's label must be one of the model's ``classes``;
    a regressor's a finite number."""
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
    where = "body" if index is None else f"labels[{index}]"
    if not isinstance(item, dict):
        return None, f"{where}: expected an object with id and label"
    pid = item.get("id")
    if not isinstance(pid, str) or not pid or len(pid) > MAX_ID_LENGTH or not encodable(pid):
        return None, f"{where}.id: expected a prediction id (a non-empty string)"
    if "label" not in item:
        return None, f"{where}.label: missing"
    value, reason = check_label(item["label"], f"{where}.label", task, classes)
    if reason is not None:
        return None, reason
    return pid, value


def _count(outcomes: Iterable[str]) -> dict[str, int]:
    return dict(Counter(outcomes))


RESULTS = ("all", "unmatched")
"""Values of ``?results=``: every label's outcome (the default), or only the unmatched."""


def results_mode(request: Request) -> str | Response:
    """The ``?results=`` of a request, or the 422 answer naming ``results``."""
    mode = request.query_params.get("results", "all")
    if mode in RESULTS:
        return mode
    shown = repr(printable(mode)[:40])
    return problem(422, f"results: {shown} is not one of {', '.join(RESULTS)}", field="results")


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
) -> tuple[list[LabelItem], list[int], dict[int, dict[str, Any]]]:
    """The valid labels, the index of each in ``items``, and the result of each invalid item
    by index (nothing is built per valid label but its ``LabelItem``)."""
    valid: list[LabelItem] = []
    at: list[int] = []
    invalid: dict[int, dict[str, Any]] = {}
    for i, item in enumerate(items):
        pid, value = _check_item(item, None if single else i, task, classes)
        if pid is None:
            raw = item.get("id") if isinstance(item, dict) else None
            invalid[i] = {
                "id": raw if isinstance(raw, str) else None,
                "outcome": "invalid",
                "detail": value,
            }
        else:
            valid.append(LabelItem(pid, value, now))
            at.append(i)
    return valid, at, invalid


def _result(outcome: LabelOutcome) -> dict[str, Any]:
    if outcome.delay_seconds is None:
        return {"id": outcome.id, "outcome": outcome.outcome}
    return {"id": outcome.id, "outcome": outcome.outcome, "delay_seconds": outcome.delay_seconds}


def _results(
    n: int,
    at: Sequence[int],
    outcomes: Sequence[LabelOutcome],
    invalid: dict[int, dict[str, Any]],
    mode: str,
) -> list[dict[str, Any]]:
    """The answer's ``results``: every item's in order, or (``unmatched``) those of the items
    not matched, each with its ``index``."""
    if mode == "all":
        results: list[dict[str, Any]] = [{}] * n
        for i, outcome in zip(at, outcomes, strict=True):
            results[i] = _result(outcome)
        for i, result in invalid.items():
            results[i] = result
        return results
    picked = {i: _result(o) for i, o in zip(at, outcomes, strict=True) if o.outcome != "matched"}
    picked.update(invalid)
    return [{"index": i, **picked[i]} for i in sorted(picked)]


def unmatched(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Of every label's result in order, those not matched, each with its ``index``."""
    return [{"index": i, **r} for i, r in enumerate(results) if r["outcome"] != "matched"]


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
        mode = results_mode(request)
        if isinstance(mode, Response):
            state.totals.add_feedback({"invalid": 1})
            return mode
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
        valid, at, invalid = _check_all(
            items, single, served.task, served.metadata.classes, state.clock()
        )
        counts: dict[str, int] = {}
        if invalid:
            counts["invalid"] = len(invalid)
            state.totals.add_feedback({"invalid": len(invalid)})
        outcomes: Sequence[LabelOutcome] = ()
        if valid:
            try:
                flusher = state.flusher_or_raise()
                outcomes = await flusher.submit_labels(valid, served)
            except (FlusherStopped, Exception) as exc:  # store down: nothing is acknowledged
                return problem(503, f"prediction store unavailable: {exc}")
            joined = _count(map(attrgetter("outcome"), outcomes))
            state.totals.add_feedback(joined)
            counts = {**joined, **counts}
        if single:
            answer = _single_answer(_results(1, at, outcomes, invalid, "all")[0])
            if answer is not None:
                return answer
        # the ``FeedbackResponse`` layout as plain data: one model object per label cost
        # as much as the labels' whole commit
        results = _results(len(items), at, outcomes, invalid, mode)
        return json_response({"results": results, "counts": counts})

    return router


__all__ = ["RESULTS", "check_label", "feedback_router", "results_mode", "unmatched"]
