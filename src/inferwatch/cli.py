"""The ``inferwatch`` command. Each command builds ``Settings`` and imports its module lazily,
so ``inferwatch --help`` stays fast and the core works without the server extra."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from inferwatch import cli_options as opts
from inferwatch.cli_report import report
from inferwatch.cli_stack import stack_app

if TYPE_CHECKING:
    from inferwatch.ingest.sources import StreamOptions
    from inferwatch.lifecycle.bring import InitResult
    from inferwatch.lifecycle.options import InitOptions
    from inferwatch.settings import Settings

app = typer.Typer(
    name="inferwatch",
    help="Serve or front an ML model and watch every prediction.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def serve(
    host: opts.HostOption = None,
    port: opts.PortOption = None,
    model_dir: opts.ModelDirOption = None,
    models_dir: opts.ModelsDirOption = None,
    upstream: opts.UpstreamOption = None,
    upstream_protocol: opts.UpstreamProtocolOption = None,
    data_dir: opts.DataDirOption = None,
    window_buckets: opts.WindowBucketsOption = None,
    bucket_seconds: opts.BucketSecondsOption = None,
    min_window_rows: opts.MinWindowRowsOption = None,
    psi_threshold: opts.PsiThresholdOption = None,
    min_labels: opts.MinLabelsOption = None,
    access_log: opts.ServeAccessLogOption = False,
    workers: opts.WorkersOption = None,
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
    example: opts.TrainExampleOption,
    out: opts.TrainOutOption = None,
    version: opts.TrainVersionOption = "1",
) -> None:
    """Train an example model and write its model directory (model, schema, profile)."""
    from inferwatch.lifecycle.examples import EXAMPLES, write_example
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
    url: opts.UrlOption = "http://127.0.0.1:8000",
    scenario: opts.ScenarioOption = "normal",
    rate: opts.RateOption = 10.0,
    duration: opts.DurationOption = 60.0,
    concurrency: opts.ConcurrencyOption = 8,
    batch_size: opts.BatchSizeOption = 1,
    seed: opts.SeedOption = None,
    example: opts.ExampleOption = None,
    drift_features: opts.DriftFeaturesOption = "",
    drift_mode: opts.DriftModeOption = "gradual",
    drift_shift: opts.DriftShiftOption = 2.0,
    flip_rate: opts.FlipRateOption = 0.5,
    error_share: opts.ErrorShareOption = 0.5,
    label_delay: opts.LabelDelayOption = 5.0,
    label_coverage: opts.LabelCoverageOption = 1.0,
    timeline: opts.TimelineOption = None,
    token: opts.TokenOption = None,
) -> None:
    """Send realistic traffic and incidents to a running service, with delayed labels."""
    from inferwatch.simulate.client import TrafficConfig
    from inferwatch.simulate.play import (
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
    fast: opts.DemoFastOption = False,
    duration: opts.DemoDurationOption = None,
    port: opts.DemoPortOption = None,
    prometheus_port: opts.DemoPrometheusPortOption = None,
    alertmanager_port: opts.DemoAlertmanagerPortOption = None,
    data_dir: opts.DemoDataDirOption = None,
    stack: opts.DemoStackOption = True,
    timeline: opts.DemoTimelineOption = None,
) -> None:
    """Run the service, Prometheus, Alertmanager and the traffic simulator; show the alerts."""
    from inferwatch.local.demo import run_demo
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


def _init_result(
    model: str | None,
    reference: Path,
    no_model: bool,
    prediction: str | None,
    options: InitOptions,
) -> InitResult:
    """The model directory ``init`` makes: from MODEL, or log-only with ``--no-model``."""
    from inferwatch.lifecycle.bring import init_model_dir
    from inferwatch.lifecycle.options import InitError

    if no_model:
        from inferwatch.lifecycle.logonly import init_log_only

        if model is not None or prediction is None:
            raise InitError("--no-model takes no MODEL and needs --prediction COLUMN")
        return init_log_only(reference, prediction, options)
    if model is None:
        raise InitError("MODEL is missing (or pass --no-model --prediction COLUMN)")
    return init_model_dir(model, reference, options)


@app.command()
def init(
    model: opts.ModelOption = None,
    *,
    reference: opts.ReferenceOption,
    no_model: opts.NoModelOption = False,
    prediction: opts.PredictionOption = None,
    target: opts.TargetOption = None,
    name: opts.NameOption = None,
    version: opts.VersionOption = None,
    out: opts.OutOption = None,
    categorical: opts.CategoricalOption = None,
    numeric: opts.NumericOption = None,
    exclude: opts.ExcludeOption = None,
    psi_threshold: opts.InitPsiThresholdOption = None,
    task: opts.TaskOption = None,
    bins: opts.BinsOption = None,
    config: opts.ConfigOption = None,
    evaluation: opts.EvaluationOption = None,
) -> None:
    """Make a model directory from your own model and its reference data."""
    from inferwatch.lifecycle.bring import describe
    from inferwatch.lifecycle.options import (
        InitError,
        InitOptions,
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
        result = _init_result(model, reference, no_model, prediction, options)
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
    data: opts.DataOption,
    url: opts.UrlOption = "http://127.0.0.1:8000",
    target: opts.ReplayTargetOption = None,
    labels: opts.LabelsOption = None,
    timestamp_column: opts.TimestampColumnOption = None,
    speed: opts.SpeedOption = None,
    rate: opts.ReplayRateOption = None,
    label_delay: opts.ReplayLabelDelayOption = 0.0,
    batch_size: opts.ReplayBatchSizeOption = None,
    max_request_rows: opts.MaxRequestRowsOption = 1000,
    drop: opts.DropOption = None,
    token: opts.TokenOption = None,
    in_flight: opts.ReplayInFlightOption = 4,
) -> None:
    """Send a table through a running service in time order, with delayed labels."""
    from inferwatch.lifecycle.loaders import read_table
    from inferwatch.lifecycle.options import InitError, split_names
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
            in_flight=in_flight,
        )
    except (InitError, ReplayError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo("\n".join(summary.lines()))
    raise typer.Exit(0 if summary.errors == 0 and summary.feedback_errors == 0 else 1)


def _stream_options(
    settings: Settings,
    poll: float,
    *,
    batch_size: int,
    id_field: str,
    label_field: str,
    labels_source: str | None,
    cursor_dir: Path | None,
    schema: Path | None,
    endpoint_url: str | None,
    password_file: Path | None,
    ca_file: Path | None,
    client_id: str,
) -> StreamOptions:
    """How ``ingest`` reads its source: the options given, else the settings' defaults."""
    from inferwatch.ingest.sources import StreamOptions
    from inferwatch.lifecycle.modeldir import read_schema

    schema_path = schema or settings.model_dir / "schema.json"
    return StreamOptions(
        batch_size=batch_size,
        poll_seconds=poll,
        id_field=id_field or None,
        label_field=label_field or None,
        labels_source=labels_source,
        schema=read_schema(schema_path) if schema_path.exists() else None,
        cursor_dir=cursor_dir or settings.data_dir / "ingest",
        endpoint_url=endpoint_url,
        password_file=password_file,
        ca_file=ca_file,
        client_id=client_id,
    )


@app.command()
def ingest(
    source: opts.IngestSourceOption = None,
    url: opts.IngestUrlOption = "http://127.0.0.1:8000",
    metrics_port: opts.IngestMetricsPortOption = 9101,
    metrics_host: opts.IngestMetricsHostOption = "127.0.0.1",
    poll_seconds: opts.IngestPollSecondsOption = None,
    batch_size: opts.IngestBatchSizeOption = 100,
    duration: opts.IngestDurationOption = None,
    label_field: opts.IngestLabelFieldOption = "label",
    id_field: opts.IngestIdFieldOption = "",
    labels_source: opts.IngestLabelsSourceOption = None,
    cursor_dir: opts.IngestCursorDirOption = None,
    schema: opts.IngestSchemaOption = None,
    endpoint_url: opts.IngestEndpointUrlOption = None,
    password_file: opts.IngestPasswordFileOption = None,
    ca_file: opts.IngestCaFileOption = None,
    client_id: opts.IngestClientIdOption = "inferwatch-ingest",
    source_timeout: opts.IngestSourceTimeoutOption = 10.0,
) -> None:
    """Read records from a data lake, lake files or MQTT and score them through the service."""
    from inferwatch.ingest.launch import run_ingest
    from inferwatch.settings import Settings

    settings = Settings()
    source = source or settings.source_url
    if source is None:
        typer.echo("no data source: pass --source or set INFERWATCH_SOURCE_URL", err=True)
        raise typer.Exit(2)
    poll = poll_seconds if poll_seconds is not None else settings.source_poll_seconds
    stream = _stream_options(
        settings,
        poll,
        batch_size=batch_size,
        id_field=id_field,
        label_field=label_field,
        labels_source=labels_source,
        cursor_dir=cursor_dir,
        schema=schema,
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
    host: opts.DatalakeHostOption = "127.0.0.1",
    port: opts.DatalakePortOption = 8081,
    example: opts.DatalakeExampleOption = "iris",
    seed: opts.DatalakeSeedOption = 0,
    error_rate: opts.DatalakeErrorRateOption = 0.0,
    latency: opts.DatalakeLatencyOption = 0.0,
) -> None:
    """Serve example rows as a data lake, with faults you can switch on (PUT /faults)."""
    from inferwatch.ingest.launch import run_datalake

    run_datalake(host, port, example, seed=seed, error_rate=error_rate, latency=latency)


app.command()(report)
app.add_typer(stack_app, name="stack")


@app.command()
def retrain(
    url: opts.RetrainUrlOption = "http://127.0.0.1:8000",
    timeout: opts.RetrainTimeoutOption = 600.0,
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
