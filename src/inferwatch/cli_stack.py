"""``inferwatch stack``: Prometheus and Alertmanager for the local service."""

from __future__ import annotations

import typer

from inferwatch import cli_options as opts

stack_app = typer.Typer(
    help="Prometheus and Alertmanager for the local service, on 127.0.0.1.",
    no_args_is_help=True,
)


@stack_app.command("up")
def stack_up(
    fast: opts.StackUpFastOption = False,
) -> None:
    """Render the configs into <data_dir>/stack/, start both, wait until they are ready."""
    from inferwatch.local.stack import LocalStack, StackError
    from inferwatch.settings import Settings

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
    from inferwatch.local.stack import LocalStack
    from inferwatch.settings import Settings

    stack = LocalStack(Settings())
    running = [s.name for s in stack.status() if s.running]
    stack.stop()
    typer.echo(f"stopped {' and '.join(running)}" if running else "nothing was running")


@stack_app.command("status")
def stack_status() -> None:
    """Show whether Prometheus and Alertmanager run and are ready; exit 1 if not."""
    from inferwatch.local.stack import LocalStack
    from inferwatch.settings import Settings

    statuses = LocalStack(Settings()).status()
    for s in statuses:
        state = "ready" if s.ready else "running, not ready" if s.running else "stopped"
        typer.echo(f"{s.name:<13}{state:<20}{s.url}" + (f"  pid {s.pid}" if s.running else ""))
    raise typer.Exit(0 if all(s.ready for s in statuses) else 1)


__all__ = ["stack_app"]
