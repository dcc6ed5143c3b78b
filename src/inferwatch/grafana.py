"""The Grafana dashboards, written as data: ``python -m inferwatch.grafana`` renders them.

Each dashboard is built from plain dictionaries in the classic JSON model, so the files in
``deploy/grafana/dashboards/`` are reviewable diffs and need nothing beyond the standard
library to regenerate. ``python -m inferwatch.grafana --check`` exits 1 when the committed
files differ from what this module renders (the tests run the same comparison).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
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


def traffic_panels() -> list[Panel]:
    """The "Traffic and latency" row: the same for classifiers and regressors."""
    mod = 'model=~"$model"'
    routes = f"{{{INFER_ROUTES}}}"
    req = f"inferwatch_http_requests_total{{{INST}, {INFER_ROUTES}}}"
    return [
        row("Traffic and latency"),
        timeseries(
            "Inference volume by status",
            [
                target(
                    "sum by (status_code) "
                    f"(job_route_status_code:inferwatch_http_requests:rate5m{routes})",
                    "{{status_code}}",
                )
            ],
            unit="reqps",
            stack="normal",
            w=8,
            description="Requests per second to /predict and /invocations (5m rate).",
        ),
        timeseries(
            "Latency p50 / p95 / p99",
            [
                target(
                    f"max by (route) (job_route:inferwatch_http_request_duration_seconds:{q}_rate5m"
                    f"{routes})",
                    f"{q} {{{{route}}}}",
                    ref,
                )
                for q, ref in (("p50", "A"), ("p95", "B"), ("p99", "C"))
            ],
            unit="s",
            w=8,
            threshold_line=0.5,
            description="End-to-end latency of the model routes; HighPredictionLatency at "
            "p95 > 500 ms.",
        ),
        timeseries(
            "Error rate",
            [
                target(
                    "sum("
                    + rate(
                        "inferwatch_http_requests_total",
                        INFER_ROUTES,
                        'status_code=~"4..|5.."',
                        base=INST,
                    )
                    + ")"
                    f" / clamp_min(sum(rate({req}[{RI}])), 1e-9)",
                    "4xx + 5xx",
                ),
                target(
                    "max(job:inferwatch_prediction_requests_failed:ratio_rate5m)",
                    "5xx (alert, 5m)",
                    "B",
                ),
            ],
            unit="percentunit",
            lo=0,
            threshold_line=0.1,
            w=8,
            description="Share of inference requests answered 4xx or 5xx; "
            "PredictionFailureRateHigh fires when the 5xx share passes 10%.",
        ),
        timeseries(
            "Inference errors by type",
            [
                target(
                    "sum by (error_type) (" + rate("inferwatch_inference_errors_total") + ")",
                    "{{error_type}}",
                )
            ],
            unit="reqps",
            w=12,
            description="validation, model, upstream, timeout, store.",
        ),
        timeseries(
            "Rows scored",
            [target("model:inferwatch_inference_rows:rate5m{" + mod + "}", "{{model}}")],
            unit="rowsps",
            lo=0,
            w=12,
        ),
    ]


def model_tables() -> list[Panel]:
    """The serving model and the firing alerts (both dashboards of a model end with them)."""
    return [
        table(
            "Serving model",
            [
                target(
                    f"max by (model, model_version, stage) (inferwatch_model_info{{{M}}}) == 1",
                    instant=True,
                )
            ],
            w=8,
        ),
        table(
            "Firing alerts",
            [
                target(
                    'max by (alertname, severity, model) (ALERTS{alertstate="firing"})',
                    instant=True,
                )
            ],
            w=16,
            description="Alerts Prometheus is firing now (rules in deploy/prometheus/rules).",
        ),
    ]


def model_overview() -> Panel:
    """Dashboard 1: how the model performs and how much it serves.

    Headline numbers read the recording rules (all replicas, from counters); the
    ``instance`` variable filters the per-process panels.
    """
    mod = 'model=~"$model"'
    perf = [
        (
            "Precision",
            f"avg by (model) (model_class:inferwatch_model_precision:ratio_rate10m{{{mod}}})",
        ),
        ("Recall", f"avg by (model) (model_class:inferwatch_model_recall:ratio_rate10m{{{mod}}})"),
        ("F1", f"model:inferwatch_model_f1:macro_ratio_rate10m{{{mod}}}"),
    ]
    accuracy = f"model:inferwatch_model_accuracy:ratio_rate10m{{{mod}}}"
    estimated = f"avg by (model) (inferwatch_model_estimated_accuracy_ratio{{{M}}})"
    panels: list[Panel] = [
        row("Classifier performance (labelled, all replicas, 10m)"),
        panel(
            "gauge",
            "Accuracy",
            [target(accuracy, "{{model}}")],
            w=6,
            description=CLASSIFIERS_ONLY
            + "Labelled accuracy over 10 minutes from the confusion counters of "
            "every replica. Alerts at 0.8 (warning) and 0.7 (critical).",
            field=_field("percentunit", lo=0, hi=1, steps=ACCURACY_STEPS),
            options={
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "showThresholdMarkers": True,
                "showThresholdLabels": False,
            },
        ),
        *[
            stat(
                name,
                [target(expr, "{{model}}")],
                unit="percentunit",
                lo=0,
                hi=1,
                steps=ACCURACY_STEPS,
                h=8,
                w=4,
                description=CLASSIFIERS_ONLY
                + f"Macro {name.lower()} over 10 minutes, all replicas.",
            )
            for name, expr in perf
        ],
        stat(
            "Estimated accuracy",
            [target(estimated, "{{model}}")],
            unit="percentunit",
            lo=0,
            hi=1,
            steps=ACCURACY_STEPS,
            h=8,
            w=6,
            description=CLASSIFIERS_ONLY
            + "Label-free estimate: mean top-class confidence over the window.",
        ),
        timeseries(
            "Labelled vs estimated accuracy",
            [
                target(accuracy, "labelled {{model}}"),
                target(estimated, "estimated {{model}}", "B"),
                target(
                    f"model:inferwatch_model_accuracy:baseline_floor{{{mod}}}",
                    "baseline - margin {{model}}",
                    "C",
                ),
            ],
            unit="percentunit",
            lo=0,
            hi=1,
            threshold_line=0.8,
            description=CLASSIFIERS_ONLY
            + "A gap between the two means the model's confidence is no longer "
            "calibrated, or labels lag behind. Under the baseline line (the accuracy on "
            "the reference data minus the margin) the baseline-relative alerts fire.",
        ),
        timeseries(
            "Precision, recall and F1",
            [
                target(expr, f"{name.lower()} {{{{model}}}}", ref)
                for (name, expr), ref in zip(perf, "ABC", strict=True)
            ],
            unit="percentunit",
            lo=0,
            hi=1,
            description=CLASSIFIERS_ONLY + "Macro averages over 10 minutes, all replicas.",
        ),
        *traffic_panels(),
        row("Outputs"),
        timeseries(
            "Predicted class distribution",
            [target(f"model_class:inferwatch_predictions:ratio_rate10m{{{mod}}}", "{{class}}")],
            unit="percentunit",
            stack="normal",
            lo=0,
            hi=1,
            w=8,
            description=CLASSIFIERS_ONLY
            + "Share of each predicted class over 10 minutes, all replicas.",
        ),
        panel(
            "heatmap",
            "Confidence distribution",
            [
                target(
                    "sum by (le) ("
                    + rate("inferwatch_prediction_confidence_ratio_bucket", fn="increase")
                    + ")",
                    "{{le}}",
                )
                | {"format": "heatmap"}
            ],
            w=8,
            description=CLASSIFIERS_ONLY + "Top-class probability of each prediction; "
            "a shift to the left means the model is unsure.",
            options={
                "calculate": False,
                "yAxis": {"unit": "percentunit"},
                "color": {"mode": "scheme", "scheme": "Viridis", "steps": 64},
                "cellGap": 1,
                "legend": {"show": True},
            },
        ),
        timeseries(
            "Prediction drift (PSI)",
            [
                target(
                    f'max by (model) (inferwatch_prediction_drift_score{{{M}, method="psi"}})',
                    "{{model}}",
                )
            ],
            w=8,
            lo=0,
            threshold_line=0.2,
        ),
        *model_tables(),
    ]
    return dashboard(
        "inferwatch-model-overview",
        "inferwatch / Model overview",
        "Accuracy, traffic, latency, errors and outputs of the served model (classifiers; "
        "regression models have Model overview (regression)).",
        [MODEL_VAR, INSTANCE_VAR],
        panels,
    )


def dashed(p: Panel, series: str) -> Panel:
    """``p`` with the series whose name matches the regex ``series`` drawn dashed."""
    override = {
        "matcher": {"id": "byRegexp", "options": series},
        "properties": [
            {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
            {"id": "custom.fillOpacity", "value": 0},
        ],
    }
    field = dict(p["fieldConfig"])
    field["overrides"] = [*field["overrides"], override]
    return p | {"fieldConfig": field}


def model_regression() -> Panel:
    """Dashboard 1b: a regression model's error against its baseline, and its outputs.

    The baseline (``inferwatch_model_reference_performance``) is the error measured on the
    reference data by ``inferwatch init --target``; the ratios are the recording rules the
    regression alerts fire on (worst replica's label window).
    """
    mod = 'model=~"$model"'
    live = {
        "mae": f"max by (model) (inferwatch_model_mean_absolute_error{{{M}}})",
        "rmse": f"max by (model) (inferwatch_model_root_mean_squared_error{{{M}}})",
    }
    baseline = {
        m: f'max by (model) (inferwatch_model_reference_performance{{{mod}, metric="{m}"}})'
        for m in ("mae", "rmse")
    }
    ratio = {
        "mae": f"model:inferwatch_model_mean_absolute_error:reference_ratio{{{mod}}}",
        "rmse": f"model:inferwatch_model_root_mean_squared_error:reference_ratio{{{mod}}}",
    }
    ratio_help = {
        "mae": "ModelErrorHigh (warning) fires above 1.5x, ModelErrorCritical above 2x.",
        "rmse": "ModelLargeErrorsIncreasing (info) fires above 1.5x while the MAE ratio stays "
        "under 1.2x: a few rows get very wrong predictions.",
    }
    names = {"mae": "MAE", "rmse": "RMSE"}
    ratio_field = _field(RATIO_UNIT, lo=0, hi=3, steps=ERROR_RATIO_STEPS)
    ratio_field["defaults"]["decimals"] = 2
    matched = sel("inferwatch_feedback_total", 'outcome="matched"')
    panels: list[Panel] = [
        row("Regressor error against the baseline (labelled, worst replica)"),
        *[
            panel(
                "gauge",
                f"{names[m]} / baseline",
                [target(ratio[m], "{{model}}")],
                w=6,
                description=f"Regressors only. Live {names[m]} over the label window divided "
                f"by the {names[m]} on the reference data. " + ratio_help[m],
                field=ratio_field,
                options={
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "showThresholdMarkers": True,
                    "showThresholdLabels": False,
                },
            )
            for m in ("mae", "rmse")
        ],
        *[
            stat(
                names[m],
                [
                    target(live[m], "live {{model}}"),
                    target(baseline[m], "baseline {{model}}", "B"),
                ],
                unit="short",
                w=6,
                h=8,
                description=f"Regressors only. {names[m]} over the label window (in the "
                "target's unit) and on the reference data when the model directory was made.",
            )
            for m in ("mae", "rmse")
        ],
        dashed(
            timeseries(
                "MAE and RMSE against the baseline",
                [
                    target(live["mae"], "MAE {{model}}"),
                    target(live["rmse"], "RMSE {{model}}", "B"),
                    target(baseline["mae"], "baseline MAE {{model}}", "C"),
                    target(baseline["rmse"], "baseline RMSE {{model}}", "D"),
                ],
                lo=0,
                description="Regressors only. Live error of each process's label window "
                "(worst replica) with the baseline as dashed lines; a window has values once "
                "it holds INFERWATCH_MIN_LABELS labels.",
            ),
            "baseline.*",
        ),
        timeseries(
            "Error to baseline ratio",
            [
                target(ratio["mae"], "MAE / baseline {{model}}"),
                target(ratio["rmse"], "RMSE / baseline {{model}}", "B"),
            ],
            unit=RATIO_UNIT,
            lo=0,
            thresholds=ERROR_RATIO_STEPS,
            description="Regressors only. 1 = as good as on the reference data. "
            + ratio_help["mae"],
        ),
        timeseries(
            "Labelled rows",
            [target(f"sum by (model) (rate({matched}[{RI}]))", "{{model}}")],
            unit="short",
            lo=0,
            description="Labels matched to a prediction per second (POST /feedback); the "
            "error panels need labels.",
        ),
        timeseries(
            "Labels in the last 10 minutes",
            [target(f"sum by (model) (increase({matched}[10m]))", "{{model}}")],
            unit="short",
            lo=0,
        ),
        row("Regressor outputs"),
        timeseries(
            "Prediction drift (PSI)",
            [
                target(
                    f'max by (model) (inferwatch_prediction_drift_score{{{M}, method="psi"}})',
                    "{{model}}",
                )
            ],
            lo=0,
            threshold_line=0.2,
            description="Predicted values binned at the deciles of the model's output on "
            "the reference data; PredictionDriftDetected fires above 0.2.",
        ),
        timeseries(
            "Prediction drift by method (per process)",
            [
                target(
                    f"max by (model, method) (inferwatch_prediction_drift_score{{{M}}})",
                    "{{method}} {{model}}",
                )
            ],
            lo=0,
            description="PSI, Jensen-Shannon, KS and Wasserstein of the predicted values.",
        ),
        *traffic_panels(),
        row("Serving model and alerts"),
        *model_tables(),
    ]
    return dashboard(
        "inferwatch-model-regression",
        "inferwatch / Model overview (regression)",
        "Error against the baseline, prediction drift, traffic and latency of a regression model.",
        [MODEL_VAR, INSTANCE_VAR],
        panels,
    )


def drift_quality() -> Panel:
    """Dashboard 2: whether the inputs still look like the training data."""
    f = f'{M}, feature=~"$feature"'
    mf = 'model=~"$model", feature=~"$feature"'
    psi = f"max by (feature) (model_feature:inferwatch_feature_psi:rate10m{{{mf}}})"
    panels: list[Panel] = [
        row("Drift (all replicas, 10m)"),
        timeseries(
            "PSI per feature",
            [target(psi, "{{feature}}")],
            lo=0,
            threshold_line=0.2,
            w=16,
            description="Population stability index of each feature over 10 minutes, from "
            "the bin counters of every replica, against the reference; 0.2 is the alert line.",
        ),
        panel(
            "bargauge",
            "PSI now",
            [target(psi, "{{feature}}")],
            w=8,
            field=_field("short", lo=0, hi=0.5, steps=PSI_STEPS),
            options={
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "orientation": "horizontal",
                "displayMode": "gradient",
                "showUnfilled": True,
            },
        ),
        panel(
            "state-timeline",
            "Drift detected per feature",
            [target(f"max by (feature) (inferwatch_feature_drift_detected{{{f}}})", "{{feature}}")],
            w=24,
            h=7,
            description="The service's own decision (PSI over its threshold with enough rows).",
            field={
                "defaults": {
                    "unit": "short",
                    "color": {"mode": "thresholds"},
                    "thresholds": _thresholds([("green", None), ("red", 1)]),
                    "mappings": [
                        {
                            "type": "value",
                            "options": {
                                "0": {"text": "stable", "color": "green"},
                                "1": {"text": "drift", "color": "red"},
                            },
                        }
                    ],
                    "custom": {"fillOpacity": 70, "lineWidth": 0},
                },
                "overrides": [],
            },
            options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8},
        ),
        timeseries(
            "Drift scores by method (per process)",
            [
                target(
                    f"max by (feature, method) (inferwatch_feature_drift_score{{{f}}})",
                    "{{feature}} {{method}}",
                )
            ],
            lo=0,
            description="PSI, Jensen-Shannon, KS and Wasserstein of each process's window.",
        ),
        timeseries(
            "Rows in the drift window",
            [target(f"sum by (model) (inferwatch_window_rows{{{M}}})", "{{model}}")],
            lo=0,
        ),
        row("Live vs reference distribution"),
        panel(
            "barchart",
            "Live vs reference: $feature",
            [
                target(
                    "avg by (bin) "
                    f"(model_feature_bin:inferwatch_feature_bin_observations:ratio_rate10m{{{mf}}})",
                    "live",
                    instant=True,
                ),
                target(
                    "avg by (bin) "
                    f"(model_feature_bin:inferwatch_feature_reference_bin:ratio{{{mf}}})",
                    "reference",
                    "B",
                    instant=True,
                ),
            ],
            w=12,
            description="Share of observations per bin over the last 10 minutes (all "
            "replicas) against the training data.",
            field=_field("percentunit", lo=0),
            options={
                "xField": "bin",
                "orientation": "vertical",
                "groupWidth": 0.7,
                "barWidth": 0.9,
                "showValue": "never",
                "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            },
            repeat="feature",
            repeatDirection="h",
            maxPerRow=2,
            transformations=[
                {"id": "joinByField", "options": {"byField": "bin", "mode": "outer"}},
                {
                    "id": "organize",
                    "options": {
                        "excludeByName": {"Time": True, "Time 1": True, "Time 2": True},
                        "renameByName": {"Value #A": "live", "Value #B": "reference"},
                    },
                },
            ],
        ),
        row("Data quality"),
        timeseries(
            "Data-quality issues by feature and check",
            [
                target(
                    "sum by (feature, check) ("
                    + rate("inferwatch_data_quality_issues_total", base=f)
                    + ")",
                    "{{feature}} {{check}}",
                )
            ],
            unit="short",
            w=12,
            description="missing, non_finite, out_of_range, unknown_category, wrong_type.",
        ),
        timeseries(
            "Issues per scored row (10m)",
            [
                target(
                    'model:inferwatch_data_quality_issues:ratio_rate10m{model=~"$model"}',
                    "{{model}}",
                )
            ],
            unit="percentunit",
            lo=0,
            threshold_line=0.05,
            w=12,
            description="DataQualityDegraded fires above 5%.",
        ),
        table(
            "Issues in the last 10 minutes",
            [
                target(
                    "sum by (feature, check) "
                    f"(model_feature_check:inferwatch_data_quality_issues:increase10m{{{mf}}}) > 0",
                    instant=True,
                )
            ],
            w=24,
            h=7,
        )
        | {
            "transformations": [
                {
                    "id": "organize",
                    "options": {
                        "excludeByName": {"Time": True},
                        "renameByName": {"Value": "issues"},
                    },
                }
            ]
        },
    ]
    feature_var = variable(
        "feature",
        "Feature",
        'label_values(inferwatch_feature_reference_bin_ratio{model=~"$model"}, feature)',
    )
    return dashboard(
        "inferwatch-drift-quality",
        "inferwatch / Data drift and quality",
        "Per-feature drift against the reference, live vs reference bins, data-quality issues.",
        [MODEL_VAR, INSTANCE_VAR, feature_var],
        panels,
    )


def service() -> Panel:
    """Dashboard 3: the host, the process and the data sources feeding the model."""
    src = 'source=~"$source"'
    panels: list[Panel] = [
        row("Host and process"),
        timeseries(
            "Host CPU, memory, disk",
            [
                target(
                    f"max by (instance) (inferwatch_system_{r}_usage_ratio{{{INST}}})",
                    f"{r} {{{{instance}}}}",
                    ref,
                )
                for r, ref in (("cpu", "A"), ("memory", "B"), ("disk", "C"))
            ],
            unit="percentunit",
            lo=0,
            hi=1,
            threshold_line=0.85,
        ),
        timeseries(
            "Process resident memory",
            [
                target(
                    sel("process_resident_memory_bytes", base=INST)
                    + " and on (job, instance) inferwatch_http_requests_in_progress",
                    "{{instance}}",
                )
            ],
            unit="bytes",
            lo=0,
            threshold_line=750e6,
        ),
        timeseries(
            "Process CPU",
            [
                target(
                    rate("process_cpu_seconds_total", base=INST)
                    + " and on (job, instance) inferwatch_http_requests_in_progress",
                    "{{instance}}",
                )
            ],
            unit="percentunit",
            lo=0,
            w=8,
        ),
        timeseries(
            "Requests in flight",
            [
                target(
                    f"sum by (instance) (inferwatch_http_requests_in_progress{{{INST}}})",
                    "{{instance}}",
                )
            ],
            lo=0,
            w=8,
        ),
        timeseries(
            "Scrape target up",
            [target(f"up{{{INST}}}", "{{job}} {{instance}}")],
            lo=0,
            hi=1,
            w=8,
        ),
        timeseries(
            "HTTP requests by route and status",
            [
                target(
                    "sum by (route, status_code) "
                    "(job_route_status_code:inferwatch_http_requests:rate5m)",
                    "{{route}} {{status_code}}",
                )
            ],
            unit="reqps",
            w=24,
            description="Every route of the service, all replicas (5m rate).",
        ),
        row("Data sources"),
        timeseries(
            "Data-source requests by status",
            [
                target(
                    "sum by (source, status_code) ("
                    + rate("inferwatch_source_requests_total", src, base=INST)
                    + ")",
                    "{{source}} {{status_code}}",
                ),
                target(
                    f"source:inferwatch_source_requests_unavailable:increase5m{{{src}}}",
                    "{{source}} 503s in 5m",
                    "B",
                ),
            ],
            unit="short",
            w=8,
            description="Pulls from the data lake; any 503 raises DataLakeUnavailable.",
        ),
        timeseries(
            "Ingestion latency p95",
            [
                target(
                    f"source:inferwatch_source_request_duration_seconds:p95_rate5m{{{src}}}",
                    "{{source}}",
                )
            ],
            unit="s",
            lo=0,
            threshold_line=2,
            w=8,
        ),
        timeseries(
            "Data freshness",
            [
                target(
                    "time() - max by (source) ("
                    + sel("inferwatch_source_last_success_timestamp_seconds", src, base=INST)
                    + ")",
                    "{{source}}",
                )
            ],
            unit="s",
            lo=0,
            w=8,
            description="Seconds since the last successful pull from each source.",
        ),
        row("Labels and retraining"),
        timeseries(
            "Feedback by outcome",
            [
                target(
                    f"sum by (outcome) (rate(inferwatch_feedback_total{{{M}}}[{RI}]))",
                    "{{outcome}}",
                )
            ],
            unit="reqps",
            w=8,
        ),
        timeseries(
            "Label delay p95",
            [
                target(
                    "histogram_quantile(0.95, sum by (le, model) "
                    f"(rate(inferwatch_feedback_delay_seconds_bucket{{{M}}}[{RI}])))",
                    "{{model}}",
                )
            ],
            unit="s",
            lo=0,
            w=8,
        ),
        timeseries(
            "Retraining runs",
            [
                target(
                    "sum by (trigger, outcome) ("
                    + rate("inferwatch_retraining_runs_total", fn="increase", window="1h")
                    + ")",
                    "{{trigger}} {{outcome}}",
                )
            ],
            lo=0,
            w=8,
        ),
    ]
    source_var = variable(
        "source", "Source", "label_values(inferwatch_source_requests_total, source)"
    )
    return dashboard(
        "inferwatch-service",
        "inferwatch / Service and data sources",
        "Host and process resources, HTTP serving, data-lake pulls, labels and retraining.",
        [MODEL_VAR, INSTANCE_VAR, source_var],
        panels,
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
    parser = argparse.ArgumentParser(prog="python -m inferwatch.grafana", description=__doc__)
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
        print("out of date (run python -m inferwatch.grafana):", *stale, file=sys.stderr)
        return 1
    return 0


__all__ = ["DATASOURCE_UID", "SCHEMA_VERSION", "dashboards", "expressions", "main", "render"]


if __name__ == "__main__":
    raise SystemExit(main())
