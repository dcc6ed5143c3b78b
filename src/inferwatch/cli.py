"""The ``inferwatch`` command. Each command builds ``Settings`` and imports its module lazily,
so ``inferwatch --help`` stays fast and the core works without the server extra."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="inferwatch",
    help="Serve or front an ML model and watch every prediction.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def init(
    model: Annotated[
        str, typer.Argument(help="joblib/pickle file, MLflow model directory or models:/ URI.")
    ],
    reference: Annotated[Path, typer.Option(help="Reference (training) data: CSV or Parquet.")],
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
            }
        )
        result = init_model_dir(model, reference, options)
    except InitError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo("\n".join(describe(result)))


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
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per request.")] = 1,
    drop: Annotated[list[str] | None, typer.Option(help="Columns not to send (ids, ...).")] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="INFERWATCH_API_TOKEN", help="Bearer token [env INFERWATCH_API_TOKEN]."
        ),
    ] = None,
) -> None:
    """Send a table through a running service in time order, with delayed labels."""
    from inferwatch.bring import InitError, read_table, split_names
    from inferwatch.replay import ReplayError
    from inferwatch.replay import replay as run_replay

    def progress(summary: object) -> None:
        done = getattr(summary, "rows_sent", 0) + getattr(summary, "errors", 0)
        if done and done % 500 < batch_size:
            typer.echo(f"  {done} rows", err=True)

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
            token=token,
            on_batch=progress,
        )
    except (InitError, ReplayError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo("\n".join(summary.lines()))
    raise typer.Exit(0 if summary.errors == 0 and summary.feedback_errors == 0 else 1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
