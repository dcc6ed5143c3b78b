"""The Grafana dashboards, written as data: ``python -m tools.dashboards`` renders them.

A development tool, not part of the service: each dashboard is built from plain dictionaries
in the classic JSON model, so the files in ``deploy/grafana/dashboards/`` are reviewable
diffs and need nothing beyond the standard library to regenerate.
``python -m tools.dashboards --check`` exits 1 when the committed files differ from what
this package renders (the tests run the same comparison).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tools.dashboards.model import (
    model_overview,
    model_regression,
)
from tools.dashboards.panels import (
    DATASOURCE_UID,
    SCHEMA_VERSION,
    Panel,
)
from tools.dashboards.service import (
    drift_quality,
    service,
)


def dashboards() -> dict[str, Panel]:
    """File name to dashboard JSON model."""
    return {
        "model-overview.json": model_overview(),
        "model-regression.json": model_regression(),
        "drift-quality.json": drift_quality(),
        "service.json": service(),
    }


def expressions(model: Panel) -> list[tuple[str, str]]:
    """Every ``(panel title, PromQL)`` of a dashboard JSON model, rows' children included."""
    out: list[tuple[str, str]] = []
    stack = list(model.get("panels", []))
    while stack:
        p = stack.pop(0)
        stack.extend(p.get("panels", []))
        out.extend((p.get("title", ""), t["expr"]) for t in p.get("targets", []) if "expr" in t)
    return out


def render(d: Panel) -> str:
    return json.dumps(d, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.dashboards", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("deploy/grafana/dashboards"))
    parser.add_argument("--check", action="store_true", help="exit 1 if the files are out of date")
    args = parser.parse_args(argv)
    stale = []
    for name, model in dashboards().items():
        path = args.out / name
        text = render(model)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print("out of date (run python -m tools.dashboards):", *stale, file=sys.stderr)
        return 1
    return 0


__all__ = ["DATASOURCE_UID", "SCHEMA_VERSION", "dashboards", "expressions", "main", "render"]


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = [
    "DATASOURCE_UID",
    "SCHEMA_VERSION",
    "dashboards",
    "expressions",
    "main",
    "render",
]
