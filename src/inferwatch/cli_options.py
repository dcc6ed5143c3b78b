"""The options of the ``inferwatch`` commands, declared once: each is an ``Annotated`` type that a
command's parameter takes (``host: HostOption = None``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def setting_option(name: str, help: str, **extra: Any) -> Any:
    """An option for the ``Settings`` field ``name``: when not given it comes from
    ``INFERWATCH_<NAME>``, else the field's default; ``--help`` shows both."""
    from inferwatch.settings import Settings

    default = Settings.model_fields[name].default
    return typer.Option(
        help=help,
        envvar=f"INFERWATCH_{name.upper()}",
        show_envvar=True,
        show_default=False if default is None else str(default),
        **extra,
    )


HostOption = Annotated[str | None, setting_option("host", "Address to listen on.")]

PortOption = Annotated[int | None, setting_option("port", "Port to listen on.")]

ModelDirOption = Annotated[Path | None, setting_option("model_dir", "Model directory to serve.")]

ModelsDirOption = Annotated[
    Path | None,
    setting_option("models_dir", "Serve every model directory under this one (/models/NAME)."),
]

UpstreamOption = Annotated[
    str | None, setting_option("upstream_url", "Front this model server instead of a local model.")
]

UpstreamProtocolOption = Annotated[
    str | None, setting_option("upstream_protocol", "How the upstream speaks: mlflow or v2 (OIP).")
]

DataDirOption = Annotated[
    Path | None, setting_option("data_dir", "Where the prediction store lives.")
]

WindowBucketsOption = Annotated[
    int | None, setting_option("window_buckets", "Time buckets in the monitoring window.")
]

BucketSecondsOption = Annotated[
    float | None,
    setting_option("bucket_seconds", "Seconds per bucket (window = buckets x seconds)."),
]

MinWindowRowsOption = Annotated[
    int | None,
    setting_option("min_window_rows", "Fewest rows in the window before drift is decided."),
]

PsiThresholdOption = Annotated[
    float | None,
    setting_option(
        "psi_threshold", "PSI above which a feature drifts (unless the model sets its own)."
    ),
]

MinLabelsOption = Annotated[
    int | None,
    setting_option("min_labels", "Fewest labels in the window before accuracy is reported."),
]

WorkersOption = Annotated[
    int | None, setting_option("workers", "Worker processes on the one port.", min=1)
]

UrlOption = Annotated[str, typer.Option(help="Base URL of the service.")]

ScenarioOption = Annotated[
    str, typer.Option(help="normal, high_load, drift, errors, accuracy_drop or timeline.")
]

RateOption = Annotated[float, typer.Option(help="Requests per second (high_load: at start).")]

DurationOption = Annotated[float, typer.Option(help="Seconds to run, then stop.")]

ConcurrencyOption = Annotated[int, typer.Option(min=1, help="Most requests in flight.")]

BatchSizeOption = Annotated[int, typer.Option(min=1, help="Rows per request.")]

SeedOption = Annotated[int | None, typer.Option(help="Random seed for a repeatable run.")]

ExampleOption = Annotated[
    str | None,
    typer.Option(help="Rows of this example: iris or cancer (default: the served model)."),
]

DriftFeaturesOption = Annotated[
    str, typer.Option(help="Comma-separated features to drift (default: three).")
]

DriftModeOption = Annotated[str, typer.Option(help="gradual or abrupt.")]

DriftShiftOption = Annotated[
    float, typer.Option(help="Shift of drifted numeric features, in reference SDs.")
]

FlipRateOption = Annotated[
    float, typer.Option(help="accuracy_drop: share of labels that disagree.")
]

ErrorShareOption = Annotated[float, typer.Option(help="errors: share of bad requests.")]

LabelDelayOption = Annotated[float, typer.Option(help="Seconds before a label is sent.")]

LabelCoverageOption = Annotated[float, typer.Option(help="Share of predictions that get a label.")]

TimelineOption = Annotated[
    str | None, typer.Option(help="--scenario timeline phases: normal:60,drift:60,...")
]

TokenOption = Annotated[
    str | None, typer.Option(envvar="INFERWATCH_API_TOKEN", show_envvar=True, help="Bearer token.")
]

ModelOption = Annotated[
    str | None, typer.Argument(help="joblib/pickle file, MLflow model directory or models:/ URI.")
]

ReferenceOption = Annotated[Path, typer.Option(help="Reference (training) data: CSV or Parquet.")]

NoModelOption = Annotated[
    bool,
    typer.Option(
        "--no-model",
        help="Predictions are made elsewhere and logged (POST /log): profile the "
        "reference data's --prediction column instead of a model.",
    ),
]

PredictionOption = Annotated[
    str | None, typer.Option(help="With --no-model: the column of the model's predictions.")
]

TargetOption = Annotated[str | None, typer.Option(help="Label column: records the baseline.")]

NameOption = Annotated[str | None, typer.Option(help="Model name (default: the file name).")]

VersionOption = Annotated[str | None, typer.Option(help="Model version (default 1).")]

OutOption = Annotated[
    Path | None, typer.Option(help="Directory to write (.inferwatch/models/NAME).")
]

CategoricalOption = Annotated[
    list[str] | None, typer.Option(help="Columns to treat as categories.")
]

NumericOption = Annotated[list[str] | None, typer.Option(help="Columns to treat as numbers.")]

ExcludeOption = Annotated[list[str] | None, typer.Option(help="Columns to leave out (ids, times).")]

InitPsiThresholdOption = Annotated[
    list[str] | None,
    typer.Option(help="Per-feature drift threshold, FEATURE=PSI; repeat for more."),
]

TaskOption = Annotated[str | None, typer.Option(help="classification or regression (inferred).")]

BinsOption = Annotated[int | None, typer.Option(min=2, help="Drift bins per numeric feature (10).")]

ConfigOption = Annotated[Path | None, typer.Option(help="YAML/TOML file with these options.")]

EvaluationOption = Annotated[
    Path | None, typer.Option(help="Held-out data with the target for the baseline.")
]

DataOption = Annotated[Path, typer.Argument(help="Table to replay: CSV or Parquet.")]

ReplayTargetOption = Annotated[
    str | None, typer.Option(help="Label column in DATA (not sent as a feature).")
]

LabelsOption = Annotated[
    Path | None, typer.Option(help="Labels file aligned row by row with DATA.")
]

TimestampColumnOption = Annotated[
    str | None, typer.Option(help="Replay in the order of this column.")
]

SpeedOption = Annotated[
    float | None, typer.Option(help="Compress the rows' own time gaps by this.")
]

ReplayRateOption = Annotated[
    float | None, typer.Option(help="Rows per second instead of the timestamps.")
]

ReplayLabelDelayOption = Annotated[
    float, typer.Option(help="Seconds before a batch's labels are sent.")
]

ReplayInFlightOption = Annotated[
    int,
    typer.Option(
        min=1,
        help="Requests at once while rows are due (answers are counted in table order; "
        "rows may reach the service this many requests out of order). 1: one at a time.",
    ),
]

ReplayBatchSizeOption = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Rows per request, sent at the first row's time (default: every row already "
        "due). A request never holds more than --max-request-rows: larger batches are split.",
    ),
]

MaxRequestRowsOption = Annotated[
    int,
    typer.Option(
        min=1,
        help="Most rows in one request: the service's limit, INFERWATCH_MAX_BATCH_ROWS.",
    ),
]

DropOption = Annotated[list[str] | None, typer.Option(help="Columns not to send (ids, ...).")]


IngestSourceOption = Annotated[
    str | None,
    typer.Option(
        envvar="INFERWATCH_SOURCE_URL",
        show_envvar=True,
        help="Where records come from: an HTTP data lake (GET ?cursor=&limit=), lake files "
        "(file:///lake/readings/, s3://bucket/prefix/; Parquet or CSV) or an MQTT topic "
        "(mqtt://host:1883/plant/+/readings, mqtts:// for TLS).",
    ),
]

IngestUrlOption = Annotated[str, typer.Option(help="Base URL of the inferwatch service.")]

IngestMetricsPortOption = Annotated[int, typer.Option(help="Port of this worker's /metrics.")]

IngestMetricsHostOption = Annotated[str, typer.Option(help="Address of this worker's /metrics.")]

IngestPollSecondsOption = Annotated[
    float | None,
    typer.Option(
        envvar="INFERWATCH_SOURCE_POLL_SECONDS",
        show_envvar=True,
        show_default="5.0",
        help="Seconds between pulls or listings.",
    ),
]

IngestBatchSizeOption = Annotated[
    int, typer.Option(help="Records per pull (lake files and MQTT: per request).")
]

IngestDurationOption = Annotated[float | None, typer.Option(help="Stop after this many seconds.")]

IngestLabelFieldOption = Annotated[str, typer.Option(help="Record field holding the ground truth.")]

IngestIdFieldOption = Annotated[
    str,
    typer.Option(
        help="Record field holding the record's own id (lake files, MQTT); labels join by it."
    ),
]

IngestLabelsSourceOption = Annotated[
    str | None,
    typer.Option(
        help="Labels arriving apart: a lake prefix of (id, label) files or an MQTT topic."
    ),
]

IngestCursorDirOption = Annotated[
    Path | None, typer.Option(help="Where lake cursors are kept [default: <data_dir>/ingest].")
]

IngestSchemaOption = Annotated[
    Path | None,
    typer.Option(help="schema.json to cast lake columns by [default: the model directory's]."),
]

IngestEndpointUrlOption = Annotated[
    str | None,
    typer.Option(help="S3-compatible endpoint (MinIO, Ceph) (AWS_ENDPOINT_URL also works)."),
]

IngestPasswordFileOption = Annotated[
    Path | None,
    typer.Option(help="File holding the MQTT password (the user name goes in the URL)."),
]

IngestCaFileOption = Annotated[Path | None, typer.Option(help="CA certificate for mqtts://.")]

IngestClientIdOption = Annotated[
    str, typer.Option(help="MQTT client id: its persistent session survives restarts.")
]

IngestSourceTimeoutOption = Annotated[float, typer.Option(help="Seconds before a pull times out.")]


ServeAccessLogOption = Annotated[bool, typer.Option(help="Log every request.")]

TrainExampleOption = Annotated[str, typer.Option(help="Example model to train: iris or cancer.")]

TrainOutOption = Annotated[
    Path | None, typer.Option(help="Directory to write (<data_dir>/models/EXAMPLE).")
]

TrainVersionOption = Annotated[str, typer.Option(help="Model version to record.")]

DemoFastOption = Annotated[
    bool, typer.Option(help="Short windows and alert delays: an incident cycle in minutes.")
]

DemoDurationOption = Annotated[float | None, typer.Option(help="Stop after this many seconds.")]

DemoPortOption = Annotated[int | None, setting_option("port", "Service port.")]

DemoPrometheusPortOption = Annotated[
    int | None, setting_option("prometheus_port", "Prometheus port.")
]

DemoAlertmanagerPortOption = Annotated[
    int | None, setting_option("alertmanager_port", "Alertmanager port.")
]

DemoDataDirOption = Annotated[
    Path | None,
    setting_option("data_dir", "State directory (model, store, Prometheus data, events)."),
]

DemoStackOption = Annotated[
    bool, typer.Option("--stack/--no-stack", help="Start Prometheus and Alertmanager.")
]

DemoTimelineOption = Annotated[
    str | None, typer.Option(help="Phases instead of the default, e.g. normal:20,drift:40.")
]

DatalakeHostOption = Annotated[str, typer.Option(help="Address to listen on.")]

DatalakePortOption = Annotated[int, typer.Option(help="Port to listen on.")]

DatalakeExampleOption = Annotated[
    str, typer.Option(help="Example whose rows to serve: iris or cancer.")
]

DatalakeSeedOption = Annotated[int, typer.Option(help="Seed of the row order.")]

DatalakeErrorRateOption = Annotated[float, typer.Option(help="Share of pulls answered with 503.")]

DatalakeLatencyOption = Annotated[float, typer.Option(help="Seconds every answer waits.")]

ReportReferenceOption = Annotated[Path, typer.Argument(help="Reference table: CSV or Parquet.")]

ReportCurrentOption = Annotated[Path, typer.Argument(help="Current table: CSV or Parquet.")]

ReportFormatOption = Annotated[str, typer.Option("--format", help="table or json.")]

ReportBinsOption = Annotated[int, typer.Option(min=2, help="Quantile bins per numeric feature.")]

ReportPsiThresholdOption = Annotated[float, typer.Option(help="PSI above which a feature drifts.")]

ReportMinRowsOption = Annotated[int, typer.Option(min=1, help="Fewest current rows to decide.")]

ReportCategoricalOption = Annotated[
    list[str] | None,
    typer.Option(help="Columns to treat as categories: a,b or repeat the option."),
]

ReportExcludeOption = Annotated[
    list[str] | None,
    typer.Option(help="Columns to leave out (ids, times): a,b or repeat the option."),
]

ReportTargetOption = Annotated[
    str | None, typer.Option(help="Label column: left out, not reported as drift.")
]

ReportFailOnDriftOption = Annotated[bool, typer.Option(help="Exit 1 when any feature drifted.")]

StackUpFastOption = Annotated[
    bool, typer.Option(help="Shorten every alert `for:` to 10s and group alerts quickly.")
]

RetrainUrlOption = Annotated[str, typer.Option(help="Base URL of the service.")]

RetrainTimeoutOption = Annotated[float, typer.Option(help="Seconds to wait for the run.")]
