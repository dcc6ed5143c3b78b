"""JSON bodies parsed safely (bounded nesting and text the store can encode), and written fast.

The fast parser (orjson) refuses lone surrogates and nesting deeper than ``MAX_DEPTH``;
the standard parser is only the fallback for the non-standard ``NaN``/``Infinity``
literals many clients send, and it accepts what orjson refuses. So what the fallback
returns is checked here, and every refusal names the field it found the problem in.

>>> parse(b'{"a": [1, NaN]}')
{'a': [1, nan]}
>>> try:
...     parse(b'{"rows": [{"colour": "\\\\ud800"}]}')
... except JsonError as exc:
...     print(exc.field)
rows[0].colour
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

MAX_DEPTH = 1024
"""Deepest nesting accepted (orjson's own limit; the fallback parser stops sooner)."""


class JsonError(ValueError):
    """A body that cannot be used: ``field`` names where, ``detail`` says what;
    ``unreadable`` is true for a body that is not JSON at all (else the text is bad)."""

    def __init__(self, field: str, detail: str, *, unreadable: bool = True) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail
        self.unreadable = unreadable


def printable(text: str) -> str:
    """``text`` with anything UTF-8 cannot encode escaped (safe to echo in an answer)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def encodable(text: str) -> bool:
    """Whether ``text`` is valid Unicode text (no lone surrogates), so UTF-8 can store it."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    key = printable(key)
    return key if path == "body" else f"{path}.{key}"


def unencodable_field(value: Any, root: str = "body") -> str | None:
    """Path of the first string (or key) in ``value`` that is not valid Unicode text."""
    stack: list[tuple[str, Any]] = [(root, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if not encodable(item):
                return path
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and not encodable(key):
                    return _child(path, key)
                stack.append((_child(path, key), child))
        elif isinstance(item, list):
            stack.extend((_child(path, i), child) for i, child in enumerate(item))
    return None


def parse(body: bytes, what: str = "request body") -> Any:
    """Parse ``body``; raise ``JsonError`` when it is empty, malformed, nested deeper than
    ``MAX_DEPTH`` or holds text that is not valid Unicode."""
    if not body:
        raise JsonError("body", f"empty {what}: expected JSON")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as fast_error:
        if "depth" in str(fast_error):
            raise JsonError("body", f"JSON nested deeper than {MAX_DEPTH} levels") from None
        try:
            data = json.loads(body)
        except RecursionError:
            raise JsonError("body", "JSON nested too deep") from None
        except (ValueError, UnicodeDecodeError):
            raise JsonError("body", f"malformed JSON: {fast_error}") from None
    field = unencodable_field(data)
    if field is not None:
        detail = f"{field}: text is not valid Unicode (a lone surrogate?)"
        raise JsonError(field, detail, unreadable=False)
    return data


def dumps(body: Any, *, keep_non_finite: bool = False) -> bytes:
    """``body`` as JSON bytes: orjson, several times faster than the standard encoder, which
    only takes what orjson refuses (integers beyond 64 bits). orjson writes NaN and infinities
    as ``null``; with ``keep_non_finite`` a body holding one goes out with the standard
    encoder's ``NaN``/``Infinity`` tokens instead, which ``parse`` reads back as numbers.

    >>> dumps({"a": [1.5, None]}), dumps({"a": float("nan")}, keep_non_finite=True)
    (b'{"a":[1.5,null]}', b'{"a": NaN}')
    """
    if keep_non_finite and _non_finite(body):
        return json.dumps(body).encode()
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body).encode()


def _non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_non_finite(v) for v in value)
    return False


__all__ = [
    "MAX_DEPTH",
    "JsonError",
    "dumps",
    "encodable",
    "parse",
    "printable",
    "unencodable_field",
]
