"""``inferwatch report``: a drift report of one table against another, from the command line."""

from __future__ import annotations

import typer

from inferwatch import cli_options as opts


def report(
    reference: opts.ReportReferenceOption,
    current: opts.ReportCurrentOption,
    format: opts.ReportFormatOption = "table",
    bins: opts.ReportBinsOption = 10,
    psi_threshold: opts.ReportPsiThresholdOption = 0.2,
    min_rows: opts.ReportMinRowsOption = 200,
    categorical: opts.ReportCategoricalOption = None,
    exclude: opts.ReportExcludeOption = None,
    target: opts.ReportTargetOption = None,
    fail_on_drift: opts.ReportFailOnDriftOption = False,
) -> None:
    """Drift report of a current table against a reference table, feature by feature."""
    from inferwatch.core.report import drift_report
    from inferwatch.core.schema import FeatureSchema, SchemaError
    from inferwatch.lifecycle.options import split_names  # stdlib only: no pandas
    from inferwatch.tables import TableError, lean_memory, open_columns

    if format not in ("table", "json"):
        typer.echo("error: --format must be table or json", err=True)
        raise typer.Exit(2)
    try:
        lean_memory()
        ref, cur = open_columns(reference), open_columns(current)  # no pandas: see tables.py
        categories, left_out = split_names(categorical), split_names(exclude)
        left_out += (target,) if target is not None else ()
        unknown = [n for n in (*categories, *left_out) if n not in ref]
        if unknown:
            raise TableError(
                f"column(s) {', '.join(repr(n) for n in unknown)} not in {reference} "
                f"(columns: {', '.join(map(str, ref))})"
            )
        schema = FeatureSchema.infer(  # no value ranges: numeric columns are not even read
            ref, categorical=list(categories), exclude=list(left_out), ranges=False
        )
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


__all__ = ["report"]
