"""The ``inferwatch`` command. Each command builds ``Settings`` and imports its module lazily,
so ``inferwatch --help`` stays fast and the core works without the server extra."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="inferwatch",
    help="Serve or front an ML model and watch every prediction.",
    no_args_is_help=True,
    add_completion=False,
)


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


@app.command()
def serve(
    host: Annotated[str | None, setting_option("host", "Address to listen on.")] = None,
    port: Annotated[int | None, setting_option("port", "Port to listen on.")] = None,
    model_dir: Annotated[
        Path | None, setting_option("model_dir", "Model directory to serve.")
    ] = None,
    models_dir: Annotated[
        Path | None,
        setting_option("models_dir", "Serve every model directory under this one (/models/NAME)."),
    ] = None,
    upstream: Annotated[
        str | None,
        setting_option("upstream_url", "Front this model server instead of a local model."),
    ] = None,
    upstream_protocol: Annotated[
        str | None,
        setting_option("upstream_protocol", "How the upstream speaks: mlflow or v2 (OIP)."),
    ] = None,
    data_dir: Annotated[
        Path | None, setting_option("data_dir", "Where the prediction store lives.")
    ] = None,
    window_buckets: Annotated[
        int | None, setting_option("window_buckets", "Time buckets in the monitoring window.")
    ] = None,
    bucket_seconds: Annotated[
        float | None,
        setting_option("bucket_seconds", "Seconds per bucket (window = buckets x seconds)."),
    ] = None,
    min_window_rows: Annotated[
        int | None,
        setting_option("min_window_rows", "Fewest rows in the window before drift is decided."),
    ] = None,
    psi_threshold: Annotated[
        float | None,
        setting_option(
            "psi_threshold", "PSI above which a feature drifts (unless the model sets its own)."
        ),
    ] = None,
    min_labels: Annotated[
        int | None,
        setting_option("min_labels", "Fewest labels in the window before accuracy is reported."),
    ] = None,
    access_log: bool = typer.Option(False, help="Log every request."),
    workers: Annotated[
        int | None, setting_option("workers", "Worker processes on the one port.", min=1)
    ] = None,
) -> None:
    """Serve the model over HTTP with monitoring (/predict, /invocations, /feedback, /metrics)."""
    from inferwatch.server.run import run_server
    from inferwatch.settings import Settings

    if upstream_protocol not in (None, "mlflow", "v2"):
        typer.echo("error: --upstream-protocol must be mlflow or v2", err=True)
        raise typer.Exit(2)
    overrides: dict[str, object] = {
        "host": host,
        "port": port,
        "model_dir": model_dir,
        "models_dir": models_dir,
        "upstream_url": upstream,
        "upstream_protocol": upstream_protocol,
        "data_dir": data_dir,
        "window_buckets": window_buckets,
        "bucket_seconds": bucket_seconds,
        "min_window_rows": min_window_rows,
        "psi_threshold": psi_threshold,
        "min_labels": min_labels,
        "workers": workers,
    }
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]  # values are validated by pydantic
    raise typer.Exit(run_server(settings, access_log=access_log))


@app.command()
def train(
    example: Annotated[str, typer.Option(help="Example model to train: iris or cancer.")],
    out: Annotated[
        Path | None, typer.Option(help="Directory to write (<data_dir>/models/EXAMPLE).")
    ] = None,
    version: Annotated[str, typer.Option(help="Model version to record.")] = "1",
) -> None:
    """Train an example model and write its model directory (model, schema, profile)."""
    from inferwatch.examples import EXAMPLES, write_example
    from inferwatch.settings import Settings

    if example not in EXAMPLES:
        typer.echo(f"error: --example must be one of {', '.join(EXAMPLES)}", err=True)
        raise typer.Exit(2)
    target = out if out is not None else Settings().data_dir / "models" / example
    bundle = write_example(example, target, version=version)
    meta = bundle.metadata
    scores = ", ".join(f"{k} {v:.3f}" for k, v in meta.reference_performance.items())
    typer.echo(f"{meta.name} {meta.version}: {len(meta.feature_names)} features, {scores}")
    typer.echo(f"wrote {target}")


@app.command()
def simulate(
    url: Annotated[str, typer.Option(help="Base URL of the service.")] = "http://127.0.0.1:8000",
    scenario: Annotated[
        str, typer.Option(help="normal, high_load, drift, errors, accuracy_drop or timeline.")
    ] = "normal",
    rate: Annotated[float, typer.Option(help="Requests per second (high_load: at start).")] = 10.0,
    duration: Annotated[float, typer.Option(help="Seconds to run, then stop.")] = 60.0,
    concurrency: Annotated[int, typer.Option(min=1, help="Most requests in flight.")] = 8,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per request.")] = 1,
    seed: Annotated[int | None, typer.Option(help="Random seed for a repeatable run.")] = None,
    example: Annotated[
        str | None,
        typer.Option(help="Rows of this example: iris or cancer (default: the served model)."),
    ] = None,
    drift_features: Annotated[
        str, typer.Option(help="Comma-separated features to drift (default: three).")
    ] = "",
    drift_mode: Annotated[str, typer.Option(help="gradual or abrupt.")] = "gradual",
    drift_shift: Annotated[
        float, typer.Option(help="Shift of drifted numeric features, in reference SDs.")
    ] = 2.0,
    flip_rate: Annotated[
        float, typer.Option(help="accuracy_drop: share of labels that disagree.")
    ] = 0.5,
    error_share: Annotated[float, typer.Option(help="errors: share of bad requests.")] = 0.5,
    label_delay: Annotated[float, typer.Option(help="Seconds before a label is sent.")] = 5.0,
    label_coverage: Annotated[
        float, typer.Option(help="Share of predictions that get a label.")
    ] = 1.0,
    timeline: Annotated[
        str | None, typer.Option(help="--scenario timeline phases: normal:60,drift:60,...")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(envvar="INFERWATCH_API_TOKEN", show_envvar=True, help="Bearer token."),
    ] = None,
) -> None:
    """Send realistic traffic and incidents to a running service, with delayed labels."""
    from inferwatch.simulate.client import TrafficConfig
    from inferwatch.simulate.command import (
        build_timeline,
        load_example_data,
        run_simulation,
        served_example,
    )

    try:
        if drift_mode not in ("gradual", "abrupt"):
            raise ValueError("--drift-mode must be gradual or abrupt")
        if token is None:  # or from INFERWATCH_API_TOKEN_FILE, as compose passes it
            from inferwatch.settings import Settings

            token = Settings().resolved_api_token()
        plan = build_timeline(scenario, duration, timeline)
        config = TrafficConfig(
            url=url,
            rate=rate,
            concurrency=concurrency,
            batch_size=batch_size,
            seed=seed,
            token=token,
            drift_features=tuple(f.strip() for f in drift_features.split(",") if f.strip()),
            drift_mode="abrupt" if drift_mode == "abrupt" else "gradual",
            drift_shift=drift_shift,
            flip_rate=flip_rate,
            error_share=error_share,
            label_delay=label_delay,
            label_coverage=label_coverage,
        )
        data = load_example_data(example or served_example(config.base_url, token) or "iris")
        data.check_features(config.drift_features)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    stats = run_simulation(config, plan, data)
    raise typer.Exit(0 if stats.ok else 1)


@app.command()
def demo(
    fast: Annotated[
        bool, typer.Option(help="Short windows and alert delays: an incident cycle in minutes.")
    ] = False,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    port: Annotated[int | None, setting_option("port", "Service port.")] = None,
    prometheus_port: Annotated[
        int | None, setting_option("prometheus_port", "Prometheus port.")
    ] = None,
    alertmanager_port: Annotated[
        int | None, setting_option("alertmanager_port", "Alertmanager port.")
    ] = None,
    data_dir: Annotated[
        Path | None,
        setting_option("data_dir", "State directory (model, store, Prometheus data, events)."),
    ] = None,
    stack: Annotated[
        bool, typer.Option("--stack/--no-stack", help="Start Prometheus and Alertmanager.")
    ] = True,
    timeline: Annotated[
        str | None, typer.Option(help="Phases instead of the default, e.g. normal:20,drift:40.")
    ] = None,
) -> None:
    """Run the service, Prometheus, Alertmanager and the traffic simulator; show the alerts."""
    from inferwatch.demo import run_demo
    from inferwatch.settings import Settings

    settings = Settings()
    overrides = {
        "port": port,
        "prometheus_port": prometheus_port,
        "alertmanager_port": alertmanager_port,
        "data_dir": data_dir,
    }
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    try:
        code = run_demo(settings, fast=fast, duration=duration, stack=stack, timeline=timeline)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


@app.command()
def init(
    model: Annotated[
        str | None,
        typer.Argument(help="joblib/pickle file, MLflow model directory or models:/ URI."),
    ] = None,
    *,
    reference: Annotated[Path, typer.Option(help="Reference (training) data: CSV or Parquet.")],
    no_model: Annotated[
        bool,
        typer.Option(
            "--no-model",
            help="Predictions are made elsewhere and logged (POST /log): profile the "
            "reference data's --prediction column instead of a model.",
        ),
    ] = False,
    prediction: Annotated[
        str | None, typer.Option(help="With --no-model: the column of the model's predictions.")
    ] = None,
    target: Annotated[str | None, typer.Option(help="Label column: records the baseline.")] = None,
    name: Annotated[str | None, typer.Option(help="Model name (default: the file name).")] = None,
    version: Annotated[str | None, typer.Option(help="Model version (default 1).")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Directory to write (.inferwatch/models/NAME).")
    ] = None,
    categorical: Annotated[
        list[str] | None, typer.Option(help="Columns to treat as categories.")
    ] = None,
    numeric: Annotated[list[str] | None, typer.Option(help="Columns to treat as numbers.")] = None,
    exclude: Annotated[
        list[str] | None, typer.Option(help="Columns to leave out (ids, times).")
    ] = None,
    psi_threshold: Annotated[
        list[str] | None,
        typer.Option(help="Per-feature drift threshold, FEATURE=PSI; repeat for more."),
    ] = None,
    task: Annotated[
        str | None, typer.Option(help="classification or regression (inferred).")
    ] = None,
    bins: Annotated[
        int | None, typer.Option(min=2, help="Drift bins per numeric feature (10).")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="YAML/TOML file with these options.")] = None,
    evaluation: Annotated[
        Path | None, typer.Option(help="Held-out data with the target for the baseline.")
    ] = None,
) -> None:
    """Make a model directory from your own model and its reference data."""
    from inferwatch.bring import (
        InitError,
        InitOptions,
        describe,
        init_model_dir,
        load_config,
        parse_thresholds,
        split_names,
    )

    try:
        options = InitOptions().merged(load_config(config) if config else {})
        options = options.merged(
            {
                "target": target,
                "name": name,
                "version": version,
                "out": out,
                "task": task,
                "bins": bins,
                "categorical": split_names(categorical),
                "numeric": split_names(numeric),
                "exclude": split_names(exclude),
                "psi_thresholds": parse_thresholds(psi_threshold or []),
                "evaluation": evaluation,
            }
        )
        if no_model:
            from inferwatch.logonly import init_log_only

            if model is not None or prediction is None:
                raise InitError("--no-model takes no MODEL and needs --prediction COLUMN")
            result = init_log_only(reference, prediction, options)
        elif model is None:
            raise InitError("MODEL is missing (or pass --no-model --prediction COLUMN)")
        else:
            result = init_model_dir(model, reference, options)
    except InitError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    lines = describe(result)
    if no_model:
        lines = [ln for ln in lines if not ln.startswith("model file")]
        lines.append("model file       none: log predictions to POST /log")
    typer.echo("\n".join(lines))


@app.command()
def replay(
    data: Annotated[Path, typer.Argument(help="Table to replay: CSV or Parquet.")],
    url: Annotated[str, typer.Option(help="Base URL of the service.")] = "http://127.0.0.1:8000",
    target: Annotated[
        str | None, typer.Option(help="Label column in DATA (not sent as a feature).")
    ] = None,
    labels: Annotated[
        Path | None, typer.Option(help="Labels file aligned row by row with DATA.")
    ] = None,
    timestamp_column: Annotated[
        str | None, typer.Option(help="Replay in the order of this column.")
    ] = None,
    speed: Annotated[
        float | None, typer.Option(help="Compress the rows' own time gaps by this.")
    ] = None,
    rate: Annotated[
        float | None, typer.Option(help="Rows per second instead of the timestamps.")
    ] = None,
    label_delay: Annotated[
        float, typer.Option(help="Seconds before a batch's labels are sent.")
    ] = 0.0,
    batch_size: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Rows per request, sent at the first row's time (default: every row already "
            "due). A request never holds more than --max-request-rows: larger batches are split.",
        ),
    ] = None,
    max_request_rows: Annotated[
        int,
        typer.Option(
            min=1,
            help="Most rows in one request: the service's limit, INFERWATCH_MAX_BATCH_ROWS.",
        ),
    ] = 1000,
    drop: Annotated[list[str] | None, typer.Option(help="Columns not to send (ids, ...).")] = None,
    token: Annotated[
        str | None,
        typer.Option(envvar="INFERWATCH_API_TOKEN", show_envvar=True, help="Bearer token."),
    ] = None,
) -> None:
    """Send a table through a running service in time order, with delayed labels."""
    from inferwatch.bring import InitError, read_table, split_names
    from inferwatch.replay import ReplayError
    from inferwatch.replay import replay as run_replay

    reported = [0]

    def progress(summary: object) -> None:
        done = getattr(summary, "rows_sent", 0) + getattr(summary, "errors", 0)
        if done // 500 > reported[0] // 500:
            typer.echo(f"  {done} rows", err=True)
        reported[0] = done

    try:
        frame = read_table(data)
        summary = run_replay(
            frame,
            url=url,
            target=target,
            labels_path=labels,
            timestamp_column=timestamp_column,
            drop=split_names(drop),
            speed=speed,
            rate=rate,
            label_delay=label_delay,
            batch_size=batch_size,
            max_request_rows=max_request_rows,
            token=token,
            on_batch=progress,
        )
    except (InitError, ReplayError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo("\n".join(summary.lines()))
    raise typer.Exit(0 if summary.errors == 0 and summary.feedback_errors == 0 else 1)


@app.command()
def ingest(
    source: str | None = typer.Option(
        None,
        envvar="INFERWATCH_SOURCE_URL",
        show_envvar=True,
        help="Where records come from: an HTTP data lake (GET ?cursor=&limit=), lake files "
        "(file:///lake/readings/, s3://bucket/prefix/; Parquet or CSV) or an MQTT topic "
        "(mqtt://host:1883/plant/+/readings, mqtts:// for TLS).",
    ),
    url: str = typer.Option("http://127.0.0.1:8000", help="Base URL of the inferwatch service."),
    metrics_port: int = typer.Option(9101, help="Port of this worker's /metrics."),
    metrics_host: str = typer.Option("127.0.0.1", help="Address of this worker's /metrics."),
    poll_seconds: float | None = typer.Option(
        None,
        envvar="INFERWATCH_SOURCE_POLL_SECONDS",
        show_envvar=True,
        show_default="5.0",
        help="Seconds between pulls or listings.",
    ),
    batch_size: int = typer.Option(
        100, help="Records per pull (lake files and MQTT: per request)."
    ),
    duration: float | None = typer.Option(None, help="Stop after this many seconds."),
    label_field: str = typer.Option("label", help="Record field holding the ground truth."),
    id_field: str = typer.Option(
        "", help="Record field holding the record's own id (lake files, MQTT); labels join by it."
    ),
    labels_source: str | None = typer.Option(
        None, help="Labels arriving apart: a lake prefix of (id, label) files or an MQTT topic."
    ),
    cursor_dir: Path | None = typer.Option(
        None, help="Where lake cursors are kept [default: <data_dir>/ingest]."
    ),
    schema: Path | None = typer.Option(
        None, help="schema.json to cast lake columns by [default: the model directory's]."
    ),
    endpoint_url: str | None = typer.Option(
        None, help="S3-compatible endpoint (MinIO, Ceph) (AWS_ENDPOINT_URL also works)."
    ),
    password_file: Path | None = typer.Option(
        None, help="File holding the MQTT password (the user name goes in the URL)."
    ),
    ca_file: Path | None = typer.Option(None, help="CA certificate for mqtts://."),
    client_id: str = typer.Option(
        "inferwatch-ingest", help="MQTT client id: its persistent session survives restarts."
    ),
    source_timeout: float = typer.Option(10.0, help="Seconds before a pull times out."),
) -> None:
    """Read records from a data lake, lake files or MQTT and score them through the service."""
    from inferwatch.core.schema import FeatureSchema
    from inferwatch.ingest.command import run_ingest
    from inferwatch.ingest.sources import StreamOptions
    from inferwatch.settings import Settings

    settings = Settings()
    source = source or settings.source_url
    if source is None:
        typer.echo("no data source: pass --source or set INFERWATCH_SOURCE_URL", err=True)
        raise typer.Exit(2)
    poll = poll_seconds if poll_seconds is not None else settings.source_poll_seconds
    schema_path = schema or settings.model_dir / "schema.json"
    stream = StreamOptions(
        batch_size=batch_size,
        poll_seconds=poll,
        id_field=id_field or None,
        label_field=label_field or None,
        labels_source=labels_source,
        schema=FeatureSchema.load(schema_path) if schema_path.exists() else None,
        cursor_dir=cursor_dir or settings.data_dir / "ingest",
        endpoint_url=endpoint_url,
        password_file=password_file,
        ca_file=ca_file,
        client_id=client_id,
    )
    stats = run_ingest(
        source,
        url,
        metrics_host=metrics_host,
        metrics_port=metrics_port,
        poll_seconds=poll,
        batch_size=batch_size,
        duration=duration,
        token=settings.resolved_api_token(),
        source_timeout=source_timeout,
        label_field=label_field or None,
        stream=stream,
    )
    typer.echo(
        f"pulls {stats.pulls} (failed {stats.failed_pulls}), rows {stats.rows}, "
        f"scored {stats.scored}, rejected {stats.rejected}, labels {stats.labels}"
    )


@app.command()
def datalake(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8081, help="Port to listen on."),
    example: str = typer.Option("iris", help="Example whose rows to serve: iris or cancer."),
    seed: int = typer.Option(0, help="Seed of the row order."),
    error_rate: float = typer.Option(0.0, help="Share of pulls answered with 503."),
    latency: float = typer.Option(0.0, help="Seconds every answer waits."),
) -> None:
    """Serve example rows as a data lake, with faults you can switch on (PUT /faults)."""
    from inferwatch.ingest.command import run_datalake

    run_datalake(host, port, example, seed=seed, error_rate=error_rate, latency=latency)


def _names(values: list[str] | None) -> tuple[str, ...]:
    """``"a,b" "c"`` option values as ``("a", "b", "c")`` (``bring.split_names`` without
    importing pandas, which the report does not need)."""
    return tuple(n.strip() for v in values or () for n in v.split(",") if n.strip())


@app.command()
def report(
    reference: Annotated[Path, typer.Argument(help="Reference table: CSV or Parquet.")],
    current: Annotated[Path, typer.Argument(help="Current table: CSV or Parquet.")],
    format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    bins: Annotated[int, typer.Option(min=2, help="Quantile bins per numeric feature.")] = 10,
    psi_threshold: Annotated[float, typer.Option(help="PSI above which a feature drifts.")] = 0.2,
    min_rows: Annotated[int, typer.Option(min=1, help="Fewest current rows to decide.")] = 200,
    categorical: Annotated[
        list[str] | None,
        typer.Option(help="Columns to treat as categories: a,b or repeat the option."),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(help="Columns to leave out (ids, times): a,b or repeat the option."),
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Label column: left out, not reported as drift.")
    ] = None,
    fail_on_drift: Annotated[bool, typer.Option(help="Exit 1 when any feature drifted.")] = False,
) -> None:
    """Drift report of a current table against a reference table, feature by feature."""
    from inferwatch.core.report import drift_report
    from inferwatch.core.schema import FeatureSchema, SchemaError
    from inferwatch.tables import TableError, lean_memory, open_columns

    if format not in ("table", "json"):
        typer.echo("error: --format must be table or json", err=True)
        raise typer.Exit(2)
    try:
        lean_memory()
        ref, cur = open_columns(reference), open_columns(current)  # no pandas: see tables.py
        categories, left_out = _names(categorical), _names(exclude)
        left_out += (target,) if target is not None else ()
        unknown = [n for n in (*categories, *left_out) if n not in ref]
        if unknown:
            raise TableError(
                f"column(s) {', '.join(repr(n) for n in unknown)} not in {reference} "
                f"(columns: {', '.join(map(str, ref))})"
            )
        schema = FeatureSchema.infer(ref, categorical=list(categories), exclude=list(left_out))
        result = drift_report(
            ref,
            cur,
            schema=schema,
            bins=bins,
            psi_threshold=psi_threshold,
            min_window_rows=min_rows,
        )
    except (TableError, SchemaError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(result.to_json() if format == "json" else result.to_table())
    raise typer.Exit(1 if fail_on_drift and result.drift_detected else 0)


stack_app = typer.Typer(
    help="Prometheus and Alertmanager for the local service, on 127.0.0.1.",
    no_args_is_help=True,
)
app.add_typer(stack_app, name="stack")


@stack_app.command("up")
def stack_up(
    fast: Annotated[
        bool, typer.Option(help="Shorten every alert `for:` to 10s and group alerts quickly.")
    ] = False,
) -> None:
    """Render the configs into <data_dir>/stack/, start both, wait until they are ready."""
    from inferwatch.settings import Settings
    from inferwatch.stack import LocalStack, StackError

    stack = LocalStack(Settings(), fast=fast)
    try:
        stack.start(detach=True)
    except StackError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Prometheus   {stack.prometheus_url}")
    typer.echo(f"Alertmanager {stack.alertmanager_url}")
    typer.echo(f"configs and logs in {stack.paths.root}; stop with: inferwatch stack down")


@stack_app.command("down")
def stack_down() -> None:
    """Stop the Prometheus and Alertmanager that `stack up` started."""
    from inferwatch.settings import Settings
    from inferwatch.stack import LocalStack

    stack = LocalStack(Settings())
    running = [s.name for s in stack.status() if s.running]
    stack.stop()
    typer.echo(f"stopped {' and '.join(running)}" if running else "nothing was running")


@stack_app.command("status")
def stack_status() -> None:
    """Show whether Prometheus and Alertmanager run and are ready; exit 1 if not."""
    from inferwatch.settings import Settings
    from inferwatch.stack import LocalStack

    statuses = LocalStack(Settings()).status()
    for s in statuses:
        state = "ready" if s.ready else "running, not ready" if s.running else "stopped"
        typer.echo(f"{s.name:<13}{state:<20}{s.url}" + (f"  pid {s.pid}" if s.running else ""))
    raise typer.Exit(0 if all(s.ready for s in statuses) else 1)


@app.command()
def retrain(
    url: str = typer.Option("http://127.0.0.1:8000", help="Base URL of the service."),
    timeout: float = typer.Option(600.0, help="Seconds to wait for the run."),
) -> None:
    """Retrain the served model on recent labelled traffic; promote the candidate if it wins."""
    import httpx

    from inferwatch.settings import Settings

    token = Settings().resolved_api_token()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(f"{url.rstrip('/')}/api/retrain", headers=headers, timeout=timeout)
    if response.status_code != 200:
        typer.echo(f"retraining refused: HTTP {response.status_code}: {response.text}", err=True)
        raise typer.Exit(1)
    result = response.json()
    typer.echo(
        f"{result['outcome']}: {result['reason']} "
        f"({result['rows']} labelled rows, trigger {result['trigger']})"
    )
    raise typer.Exit(0 if result["outcome"] != "failed" else 1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
