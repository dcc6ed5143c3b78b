"""Date-partitioned lakes of iris readings, written the way a lake writer does (whole files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from inferwatch.examples import load_example_frame


def readings(n: int, start: int = 0) -> pa.Table:
    """``n`` iris rows with a ``reading_id`` (``r<start>``...) and a ``label`` column."""
    features, labels = load_example_frame("iris")
    idx = [(start + i) % len(features) for i in range(n)]
    table = pa.Table.from_pandas(features.iloc[idx].reset_index(drop=True), preserve_index=False)
    table = table.append_column("label", pa.array([str(labels.iloc[i]) for i in idx]))
    return table.append_column("reading_id", pa.array([f"r{start + i}" for i in range(n)]))


def write_partition(root: Path | str, day: str, n: int, start: int, *, fs: Any = None) -> str:
    """``root/date=<day>/part-0.parquet`` with ``n`` readings from id ``start``; its path."""
    path = f"{root}/date={day}/part-0.parquet"
    if fs is None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(readings(n, start), path, row_group_size=64, filesystem=fs)
    return path


__all__ = ["readings", "write_partition"]
