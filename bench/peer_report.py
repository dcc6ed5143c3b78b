"""Run one drift report on two Parquet tables and print its cost as JSON (one line).

Started by ``bench/drift_speed.py`` in a child process, so that each library runs in its own
interpreter (Evidently in the bench virtualenv, inferwatch in the project's) on the same files,
and its peak memory is its own:

    python bench/peer_report.py {inferwatch|evidently} REF.parquet CUR.parquet

``seconds`` is the report alone (tables already loaded); ``rss_start`` is the resident memory
after the imports and the tables are loaded, ``rss_peak`` the process's peak (both bytes).
"""

from __future__ import annotations

import json
import resource
import sys
import time

import pandas as pd


def rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def main() -> None:
    tool, ref_path, cur_path = sys.argv[1:4]
    if tool == "evidently":
        from evidently import Report
        from evidently.presets import DataDriftPreset

        def run(ref: pd.DataFrame, cur: pd.DataFrame) -> object:
            return Report([DataDriftPreset()]).run(cur, ref)
    else:
        from inferwatch.core import drift_report

        def run(ref: pd.DataFrame, cur: pd.DataFrame) -> object:
            return drift_report(ref, cur)

    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    start = rss_now()
    t = time.perf_counter()
    run(ref, cur)
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "rss_start": start, "rss_peak": peak}))


if __name__ == "__main__":
    main()
