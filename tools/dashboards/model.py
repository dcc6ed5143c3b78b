"""The model dashboards: Model overview (classifiers) and Model overview (regression)."""

from __future__ import annotations

from tools.dashboards.panels import (
    ACCURACY_STEPS,
    CLASSIFIERS_ONLY,
    ERROR_RATIO_STEPS,
    INFER_ROUTES,
    INST,
    INSTANCE_VAR,
    MODEL_VAR,
    RATIO_UNIT,
    RI,
    M,
    Panel,
    _field,
    dashboard,
    panel,
    rate,
    row,
    sel,
    stat,
    table,
    target,
    timeseries,
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
