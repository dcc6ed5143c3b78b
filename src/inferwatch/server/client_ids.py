"""Client-supplied prediction ids on ``/predict``: ``{"instances": [...], "ids": [...]}``.

A source that has its own id for each row (a device reading id, a lake row key) sends it,
so a label arriving later, from elsewhere, joins by that id. Ids are unique in the store:
one already stored, or held by a request still being committed, is refused with 409 naming
it, before the rows join the group commit (a duplicate cannot fail anyone else's write).
The check and the reservation happen in one event-loop step, so two requests racing with
the same id cannot both pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from inferwatch.server.inputs import Rejected

MAX_ID_LENGTH = 128


def parse_ids(data: Any) -> list[str] | None:
    """The ``ids`` beside ``instances`` (``None`` when there are none); 422 naming the field
    if unusable, 409 if one repeats.

    >>> parse_ids({"instances": [{}], "ids": ["r1"]})
    ['r1']
    >>> parse_ids([{}]) is None
    True
    """
    if not isinstance(data, dict) or "ids" not in data or "instances" not in data:
        return None
    n_rows = len(data["instances"]) if isinstance(data["instances"], list) else 0
    ids = data["ids"]
    if not isinstance(ids, list) or len(ids) != n_rows:
        raise Rejected(422, "ids", f"expected a list of {n_rows} ids, one per instance")
    seen: set[str] = set()
    for i, value in enumerate(ids):
        if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
            raise Rejected(
                422, f"ids[{i}]", f"expected a non-empty string of at most {MAX_ID_LENGTH} chars"
            )
        if value in seen:
            raise Rejected(409, f"ids[{i}]", f"id {value!r} appears twice in this request")
        seen.add(value)
    return ids


class IdReservations:
    """Ids held by requests between their check and their commit."""

    def __init__(self) -> None:
        self._held: set[str] = set()

    def reserve(self, ids: list[str], stored: list[str]) -> None:
        """Hold ``ids``; 409 naming the first one that is ``stored`` or already held."""
        clash = next((i for i in ids if i in self._held), None) or (stored[0] if stored else None)
        if clash is not None:
            raise Rejected(
                409, f"ids[{ids.index(clash)}]", f"a prediction with id {clash!r} already exists"
            )
        self._held.update(ids)

    async def claim(self, ids: list[str], stored: Callable[[list[str]], list[str]]) -> None:
        """Hold ``ids`` unless one is held or ``stored`` (a store lookup, run in a thread)
        finds it; 409 naming it otherwise. Held first, so no commit can slip in between."""
        self.reserve(ids, [])
        try:
            found = await asyncio.to_thread(stored, ids)
        except BaseException:
            self.release(ids)
            raise
        if found:
            self.release(ids)
            self.reserve(ids, found)

    def release(self, ids: list[str]) -> None:
        self._held.difference_update(ids)


__all__ = ["IdReservations", "parse_ids"]
