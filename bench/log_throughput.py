"""Log mode throughput: rows per second through ``POST /log`` against ``POST /predict`` on
the same rows, in the same run, on the same ``inferwatch serve`` process.

Both take 100-row batches of the iris example; ``/log`` carries the predictions and
probabilities ``/predict`` answered for those rows, so the two differ only in who scored them.
wrk drives each route in alternating rounds; the medians are compared. Goal: ``/log`` rows/s
>= 1.0 x ``/predict`` rows/s (logging skips the model call and must not cost more than it).

    python bench/log_throughput.py [--duration 8] [--connections 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving_overhead import LUA, start, wrk  # the sibling script's helpers

BATCH = 100
GOAL = 1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install wrk (make system-deps-bench)", file=sys.stderr)
        return 2

    from inferwatch.examples import load_example_frame, write_example

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model_dir = root / "iris"
        write_example("iris", model_dir)
        frame, _ = load_example_frame("iris")
        rows = frame.sample(BATCH, replace=True, random_state=0).to_dict("records")
        proc, url = start("monitored", model_dir, root / "data")
        try:
            scored = httpx.post(url + "/predict", json={"instances": rows}, timeout=30).json()
            bodies = {
                "predict": {"instances": rows},
                "log": {
                    "rows": rows,
                    "predictions": scored["predictions"],
                    "probabilities": scored["probabilities"],
                },
            }
            scripts = {}
            for route, body in bodies.items():
                (root / f"{route}.json").write_bytes(orjson.dumps(body))
                script = root / f"{route}.lua"
                script.write_text(LUA.replace("{body}", str(root / f"{route}.json")))
                scripts[route] = script
                wrk(f"{url}/{route}", script, args.connections, 2)  # warm up
            results: dict[str, list[float]] = {"predict": [], "log": []}
            for _ in range(args.rounds):
                for route in ("predict", "log"):
                    res = wrk(f"{url}/{route}", scripts[route], args.connections, args.duration)
                    results[route].append(res["rps"] * BATCH)
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    predict = statistics.median(results["predict"])
    logged = statistics.median(results["log"])
    ratio = logged / predict
    print(f"wrk: {args.connections} connections, {args.duration}s x {args.rounds} rounds, medians")
    print(f"/predict  {predict:12,.0f} rows/s  ({BATCH}-row batches)")
    print(f"/log      {logged:12,.0f} rows/s  ({BATCH}-row batches)")
    verdict = "PASS" if ratio >= GOAL else "FAIL"
    print(f"/log / /predict = {ratio:.2f}x (goal >= {GOAL:.2f}x)  {verdict}")
    return 0 if ratio >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
