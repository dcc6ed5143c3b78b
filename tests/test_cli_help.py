"""What ``--help`` tells a new user: every option of ``serve`` with its environment variable
and default, boolean options in their ``--x/--no-x`` form."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from inferwatch.cli import app
from inferwatch.settings import Settings

SERVE_SETTINGS = {
    "--host": "host",
    "--port": "port",
    "--model-dir": "model_dir",
    "--upstream": "upstream_url",
    "--data-dir": "data_dir",
    "--window-buckets": "window_buckets",
    "--bucket-seconds": "bucket_seconds",
    "--min-window-rows": "min_window_rows",
    "--psi-threshold": "psi_threshold",
    "--min-labels": "min_labels",
    "--workers": "workers",
}


def _help(*command: str) -> str:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "240"})
    assert result.exit_code == 0, result.output
    return result.output


def _option_blocks(text: str) -> dict[str, str]:
    """Each option's help text, keyed by its first flag."""
    blocks: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        found = re.match(r"^[│|]\s+\*?\s*(--[\w-]+)", line)
        if found:
            current = found.group(1)
            blocks[current] = ""
        if current is not None:
            blocks[current] += " " + line.strip("│| ")
    return blocks


def test_serve_help_shows_env_var_and_default_of_every_setting() -> None:
    blocks = _option_blocks(_help("serve"))
    assert set(SERVE_SETTINGS) <= set(blocks), blocks.keys()
    for flag, field in SERVE_SETTINGS.items():
        text = re.sub(r"\s+", " ", blocks[flag])
        assert f"INFERWATCH_{field.upper()}" in text, (flag, text)
        default = Settings.model_fields[field].default
        if default is not None:
            assert f"default: ({default})" in text, (flag, text)
        assert "required" not in text
    # the hint that used to be swallowed as markup
    assert "Address to listen on." in blocks["--host"]


def test_demo_help_has_stack_switch_and_port_options() -> None:
    text = _help("demo")
    assert "--no-stack" in text and "--no-no-stack" not in text
    for flag in ("--prometheus-port", "--alertmanager-port", "--port", "--data-dir"):
        assert flag in text


def test_replay_help_says_the_row_limit() -> None:
    text = re.sub(r"[\s│|]+", " ", _help("replay"))
    assert "--max-request-rows" in text and "INFERWATCH_MAX_BATCH_ROWS" in text
    assert "default: 1000" in text


@pytest.mark.parametrize(
    ("command", "variable"),
    [
        ("simulate", "INFERWATCH_API_TOKEN"),
        ("replay", "INFERWATCH_API_TOKEN"),
        ("ingest", "INFERWATCH_SOURCE_URL"),
        ("ingest", "INFERWATCH_SOURCE_POLL_SECONDS"),
    ],
)
def test_environment_variables_survive_the_help_renderer(command: str, variable: str) -> None:
    assert f"env var: {variable}" in re.sub(r"[\s│|]+", " ", _help(command))
