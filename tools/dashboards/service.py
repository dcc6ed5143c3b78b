"""The Drift & data quality and the Service dashboards."""

from __future__ import annotations

from tools.dashboards.panels import (
    INST,
    INSTANCE_VAR,
    MODEL_VAR,
    PSI_STEPS,
    RI,
    M,
    Panel,
    _field,
    _thresholds,
    dashboard,
    panel,
    rate,
    row,
    sel,
    table,
    target,
    timeseries,
    variable,
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
