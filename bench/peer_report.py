"""Run one drift report on two Parquet tables and print its cost as JSON (one line).

Started by ``bench/drift_speed.py`` in a child process, so that each library runs in its own
interpreter (Evidently in the bench virtualenv, inferwatch in the project's) on the same files,
and its peak memory is its own. Each loads the files the way its users do: Evidently takes
pandas DataFrames, ``inferwatch report`` reads the columns with pyarrow (``inferwatch.tables``)
and never imports pandas:

    python bench/peer_report.py {inferwatch|evidently} REF.parquet CUR.parquet [REPEAT]

``seconds`` is the best of ``REPEAT`` (1) runs of the report alone (tables already loaded; the
machine may be shared), ``first`` the first run's, ``loaded`` the seconds from the start of
the program to the tables in memory (imports and reading); ``rss_start`` is the resident memory
after the imports and the tables are loaded, ``rss_peak`` the process's peak (``VmHWM``; both
bytes).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

STARTED = time.perf_counter()


def status(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in bytes. ``VmHWM`` is the peak
    resident memory since this program started (``ru_maxrss`` would carry the parent's peak
    over through fork and exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def main() -> None:
    tool, ref_path, cur_path = sys.argv[1:4]
    repeat = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    run: Callable[[Any, Any], object]
    if tool == "evidently":
        import pandas as pd
        from evidently import Report
        from evidently.presets import DataDriftPreset

        def run(ref: Any, cur: Any) -> object:
            return Report([DataDriftPreset()]).run(cur, ref)

        ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    else:  # what `inferwatch report` does: pyarrow reads the files, no pandas
        from inferwatch.core.report import drift_report
        from inferwatch.tables import lean_memory, open_columns

        def run(ref: Any, cur: Any) -> object:
            return drift_report(ref, cur)

        lean_memory()
        ref, cur = open_columns(ref_path), open_columns(cur_path)
    loaded = time.perf_counter() - STARTED
    start = status("VmRSS")
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        run(ref, cur)
        times.append(time.perf_counter() - t)
    peak = status("VmHWM")
    out = {
        "seconds": min(times),
        "first": times[0],
        "loaded": loaded,
        "rss_start": start,
        "rss_peak": peak,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
