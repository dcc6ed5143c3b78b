"""The binary tensor data extension of the Open Inference Protocol (as Triton's clients use by
default): a request or answer body is a JSON header followed by raw tensor bytes.

- The ``Inference-Header-Content-Length`` header gives the size of the JSON part; without it
  the body is JSON alone.
- An input with ``parameters.binary_data_size`` takes that many bytes of the binary part, in
  the order of the inputs: numbers little-endian in the tensor's datatype, ``BYTES`` elements
  each a 4-byte little-endian length and then the bytes (UTF-8 here). The element count must
  match the shape, and the sizes must use up the binary part exactly.
- The answer puts an output in binary when the request asks for it (``parameters.binary_data``
  of a requested output, or ``parameters.binary_data_output`` of the request for all).

Every refusal names the field (``inputs[i].parameters.binary_data_size``, ...): a 400 for a
broken header length, a 422 for tensors that do not fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from inferwatch.server.inputs import Rejected, loads

HEADER = "inference-header-content-length"
"""The HTTP header (case-insensitive) that gives the size of a body's JSON part."""

_DTYPES: dict[str, str] = {
    "BOOL": "|b1",
    "UINT8": "|u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "|i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}


def split_body(body: bytes, header_length: str | None) -> tuple[Any, bytes]:
    """The JSON part of a request (parsed) and its binary part (empty without the header)."""
    if header_length is None:
        return loads(body), b""
    text = header_length.strip()
    if not text.isdigit() or not 0 < int(text) <= len(body):
        raise Rejected(
            400,
            "Inference-Header-Content-Length",
            f"Inference-Header-Content-Length: expected the size of the JSON part, between 1 "
            f"and the body's {len(body)} bytes",
        )
    size = int(text)
    return loads(body[:size]), body[size:]


def _elements(shape: Any, field: str) -> int:
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise Rejected(422, field, f"{field}: expected a list of non-negative sizes")
    return int(np.prod(shape, dtype=np.int64)) if shape else 1


def _strings(raw: bytes, count: int, field: str) -> list[str]:
    out: list[str] = []
    at = 0
    for _ in range(count):
        if at + 4 > len(raw):
            raise Rejected(422, field, f"{field}: fewer BYTES elements than the shape says")
        size = int.from_bytes(raw[at : at + 4], "little")
        at += 4
        if at + size > len(raw):
            raise Rejected(422, field, f"{field}: a BYTES element runs past its tensor's data")
        try:
            out.append(raw[at : at + size].decode("utf-8"))
        except UnicodeDecodeError:
            raise Rejected(422, field, f"{field}: a BYTES element is not UTF-8 text") from None
        at += size
    if at != len(raw):
        raise Rejected(422, field, f"{field}: more BYTES data than the shape says")
    return out


def _decode(tensor: Mapping[str, Any], raw: bytes, field: str) -> list[Any]:
    count = _elements(tensor.get("shape"), f"{field}.shape")
    datatype = tensor.get("datatype")
    if datatype == "BYTES":
        return _strings(raw, count, f"{field}.data")
    dtype = _DTYPES.get(datatype) if isinstance(datatype, str) else None
    if dtype is None:
        known = ", ".join([*_DTYPES, "BYTES"])
        raise Rejected(422, f"{field}.datatype", f"{field}.datatype: expected one of {known}")
    width = np.dtype(dtype).itemsize
    if len(raw) != count * width:
        raise Rejected(
            422,
            f"{field}.parameters.binary_data_size",
            f"{field}.parameters.binary_data_size: {len(raw)} bytes do not hold "
            f"{count} {datatype} values",
        )
    values: list[Any] = np.frombuffer(raw, dtype=dtype).tolist()
    return values


def inline_binary(data: Any, tail: bytes) -> Any:
    """``data`` with each binary input's bytes from ``tail`` decoded into its ``data`` list,
    so the rest of the service sees a JSON request."""
    inputs = data.get("inputs") if isinstance(data, dict) else None
    if not isinstance(inputs, list):
        if tail:
            raise Rejected(422, "inputs", "inputs: binary data without tensors that use it")
        return data
    at = 0
    decoded = []
    for i, tensor in enumerate(inputs):
        params = tensor.get("parameters") if isinstance(tensor, dict) else None
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        if size is None:
            decoded.append(tensor)
            continue
        field = f"inputs[{i}]"
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            detail = f"{field}.parameters.binary_data_size: expected a byte count"
            raise Rejected(422, f"{field}.parameters.binary_data_size", detail)
        if at + size > len(tail):
            raise Rejected(
                422,
                f"{field}.parameters.binary_data_size",
                f"{field}.parameters.binary_data_size: {size} bytes, but only "
                f"{len(tail) - at} are left in the body",
            )
        values = _decode(tensor, tail[at : at + size], field)
        at += size
        decoded.append({**tensor, "data": values})
    if at != len(tail):
        raise Rejected(
            422, "inputs", f"inputs: {len(tail) - at} bytes of binary data no tensor claims"
        )
    return {**data, "inputs": decoded}


def binary_outputs(data: Any, names: Sequence[str]) -> set[str]:
    """The outputs of ``names`` the request wants as binary data."""
    if not isinstance(data, dict):
        return set()
    params = data.get("parameters")
    everything = isinstance(params, dict) and params.get("binary_data_output") is True
    wanted: set[str] = set(names) if everything else set()
    for item in data.get("outputs") or []:
        if not isinstance(item, dict) or item.get("name") not in names:
            continue
        flag = (item.get("parameters") or {}).get("binary_data")
        if flag is True:
            wanted.add(item["name"])
        elif flag is False:
            wanted.discard(item["name"])
    return wanted


def _raw(values: np.ndarray, datatype: str) -> bytes:
    if datatype == "BYTES":
        parts = []
        for v in values.reshape(-1).tolist():
            b = str(v).encode("utf-8")
            parts.append(len(b).to_bytes(4, "little") + b)
        return b"".join(parts)
    return np.ascontiguousarray(values, dtype=_DTYPES[datatype]).tobytes()


def encode_answer(
    body: dict[str, Any], arrays: Mapping[str, np.ndarray], binary: set[str]
) -> tuple[bytes, int | None]:
    """The answer's bytes and the size of its JSON part (``None``: JSON alone). Each output
    named in ``binary`` loses its ``data`` list and travels as raw bytes after the JSON."""
    if not binary:
        return orjson.dumps(body), None
    chunks: list[bytes] = []
    outputs = []
    for tensor in body["outputs"]:
        name = tensor["name"]
        if name not in binary:
            outputs.append(tensor)
            continue
        raw = _raw(arrays[name], tensor["datatype"])
        chunks.append(raw)
        params = {**tensor.get("parameters", {}), "binary_data_size": len(raw)}
        outputs.append({k: v for k, v in tensor.items() if k != "data"} | {"parameters": params})
    header = orjson.dumps({**body, "outputs": outputs})
    return header + b"".join(chunks), len(header)


__all__ = ["HEADER", "binary_outputs", "encode_answer", "inline_binary", "split_body"]
