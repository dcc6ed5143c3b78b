"""Grafana JSON model building blocks: queries, panels, rows, variables, layout, dashboard."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

DATASOURCE_UID = "inferwatch-prometheus"
# The dashboard schema Grafana 11.6 (the version docker-compose.yml pins) writes: a
# provisioned dashboard needs no migration when it loads.
SCHEMA_VERSION = 41
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
TAG = "inferwatch"

Panel = dict[str, Any]

# Label filters every query carries, so one dashboard serves many models and replicas.
M = 'model=~"$model", instance=~"$instance"'
INST = 'instance=~"$instance"'
INFER_ROUTES = 'route=~"/predict|/invocations"'
RI = "$__rate_interval"

ACCURACY_STEPS = [("red", None), ("orange", 0.7), ("green", 0.8)]
PSI_STEPS = [("green", None), ("red", 0.2)]
# ModelErrorHigh (warning) and ModelErrorCritical in deploy/prometheus/rules/regression.yml.
ERROR_RATIO_STEPS = [("green", None), ("orange", 1.5), ("red", 2.0)]
RATIO_UNIT = "suffix:x"
CLASSIFIERS_ONLY = "Classifiers only (a regression model: see Model overview (regression)). "


def sel(metric: str, *matchers: str, base: str = M) -> str:
    """``metric{base, matchers...}``: a selector with the dashboard's variable filters."""
    return metric + "{" + ", ".join([base, *matchers]) + "}"


def rate(metric: str, *matchers: str, base: str = M, fn: str = "rate", window: str = RI) -> str:
    return f"{fn}({sel(metric, *matchers, base=base)}[{window}])"


def target(expr: str, legend: str = "", ref: str = "A", *, instant: bool = False) -> Panel:
    t: Panel = {"refId": ref, "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
    if instant:
        t.update({"instant": True, "range": False, "format": "table"})
    else:
        t.update({"instant": False, "range": True})
    return t


def _thresholds(steps: Sequence[tuple[str, float | None]]) -> Panel:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


def _field(
    unit: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    steps: Sequence[tuple[str, float | None]] = (("green", None),),
    custom: Panel | None = None,
) -> Panel:
    defaults: Panel = {
        "unit": unit,
        "thresholds": _thresholds(steps),
        "color": {"mode": "palette-classic"},
    }
    if lo is not None:
        defaults["min"] = lo
    if hi is not None:
        defaults["max"] = hi
    if custom is not None:
        defaults["custom"] = custom
    return {"defaults": defaults, "overrides": []}


def panel(
    kind: str,
    title: str,
    targets: Iterable[Panel],
    *,
    w: int,
    h: int = 8,
    description: str = "",
    field: Panel | None = None,
    options: Panel | None = None,
    **extra: Any,
) -> Panel:
    p: Panel = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"w": w, "h": h},
        "targets": list(targets),
        "fieldConfig": field or _field("short"),
        "options": options or {},
    }
    p.update(extra)
    return p


def timeseries(
    title: str,
    targets: Iterable[Panel],
    *,
    unit: str = "short",
    w: int = 12,
    lo: float | None = None,
    hi: float | None = None,
    threshold_line: float | None = None,
    thresholds: Sequence[tuple[str, float | None]] | None = None,
    stack: str | None = None,
    description: str = "",
) -> Panel:
    """A time series; ``threshold_line`` draws one red dashed line, ``thresholds`` several
    (colour, value) steps as dashed lines."""
    custom: Panel = {"drawStyle": "line", "lineWidth": 2, "fillOpacity": 10, "showPoints": "never"}
    steps: list[tuple[str, float | None]] = [("green", None)]
    if threshold_line is not None:
        steps.append(("red", threshold_line))
    if thresholds is not None:
        steps = list(thresholds)
    if len(steps) > 1:
        custom["thresholdsStyle"] = {"mode": "dashed"}
    if stack is not None:
        custom["stacking"] = {"mode": stack, "group": "A"}
        custom["fillOpacity"] = 60
    return panel(
        "timeseries",
        title,
        targets,
        w=w,
        description=description,
        field=_field(unit, lo=lo, hi=hi, steps=steps, custom=custom),
        options={
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    )


def stat(
    title: str,
    targets: Iterable[Panel],
    *,
    unit: str,
    w: int = 4,
    h: int = 5,
    steps: Sequence[tuple[str, float | None]] = (("green", None),),
    lo: float | None = None,
    hi: float | None = None,
    description: str = "",
) -> Panel:
    return panel(
        "stat",
        title,
        targets,
        w=w,
        h=h,
        description=description,
        field=_field(unit, lo=lo, hi=hi, steps=steps),
        options={
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
            "textMode": "value_and_name",
            "orientation": "auto",
        },
    )


def table(
    title: str, targets: Iterable[Panel], *, w: int, h: int = 6, description: str = ""
) -> Panel:
    return panel(
        "table",
        title,
        targets,
        w=w,
        h=h,
        description=description,
        options={"showHeader": True, "cellHeight": "sm"},
        transformations=[
            {
                "id": "organize",
                "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True}},
            }
        ],
    )


def row(title: str) -> Panel:
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "panels": [],
        "gridPos": {"w": 24, "h": 1},
    }


def variable(name: str, label: str, query: str, *, include_all: bool = True) -> Panel:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-values"},
        "refresh": 2,
        "sort": 1,
        "multi": True,
        "includeAll": include_all,
        "allValue": ".*",
        "current": {},
        "hide": 0,
    }


def layout(panels: Sequence[Panel]) -> list[Panel]:
    """Give every panel an id and a place on the 24-column grid, filling rows left to right."""
    out: list[Panel] = []
    x = y = row_h = 0
    for pid, src in enumerate(panels, start=1):
        p = dict(src)
        pos = dict(p["gridPos"])
        w, h = pos["w"], pos["h"]
        if p["type"] == "row" or x + w > 24:
            y += row_h
            x = row_h = 0
        pos.update({"x": x, "y": y})
        p["gridPos"] = pos
        p["id"] = pid
        out.append(p)
        x += w
        row_h = max(row_h, h)
        if p["type"] == "row":
            y += h
            x = row_h = 0
    return out


def dashboard(
    uid: str, title: str, description: str, variables: Sequence[Panel], panels: Sequence[Panel]
) -> Panel:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": [TAG],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "links": [
            {
                "title": "inferwatch",
                "type": "dashboards",
                "tags": [TAG],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "templating": {"list": list(variables)},
        "panels": layout(panels),
    }


MODEL_VAR = variable("model", "Model", "label_values(inferwatch_model_info, model)")
INSTANCE_VAR = variable(
    "instance", "Instance", "label_values(inferwatch_http_requests_total, instance)"
)
