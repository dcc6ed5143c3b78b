"""The ``inferwatch`` command. Each command builds ``Settings`` and imports its module lazily,
so ``inferwatch --help`` stays fast and the core works without the server extra."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="inferwatch",
    help="Serve or front an ML model and watch every prediction.",
    no_args_is_help=True,
    add_completion=False,
)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
