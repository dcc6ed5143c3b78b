"""One typed settings object for the whole process (env prefix ``INFERWATCH_``).

Built once at the edge (the CLI) and passed down. Tests build it with explicit
values: ``Settings(port=0, data_dir=tmp_path)``; nothing else reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_RUNBOOK_BASE_URL = "https://git.example.org/inferwatch/blob/main/docs/runbooks.md"
"""The runbook page the rules in ``deploy/prometheus/rules`` link to (each alert's
``runbook_url`` is this base, ``#``, the alert's name in lower case)."""


def _monitor_default(name: str) -> Any:
    """The monitor's own default for ``name`` (imported on use: the core is heavy to load)."""
    from inferwatch.core.monitor import MonitorConfig

    return MonitorConfig.__dataclass_fields__[name].default


class Settings(BaseSettings):
    """Configuration of an inferwatch process. Every field maps to ``INFERWATCH_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="INFERWATCH_", extra="ignore")

    # --- service
    host: str = "127.0.0.1"
    port: int = 8000
    model_dir: Path = Path(".inferwatch/models/iris")
    data_dir: Path = Path(".inferwatch")
    upstream_url: str | None = None
    """Front an MLflow-protocol model server at this URL instead of loading a local model."""
    upstream_timeout_seconds: float = 5.0
    models_dir: Path | None = None
    """Serve every model directory under this directory (``/models/<name>/...``) instead of
    the one ``model_dir``."""
    upstream_protocol: Literal["mlflow", "v2"] = "mlflow"
    """How to talk to the upstream: MLflow scoring (``/invocations``) or the Open Inference
    Protocol (KServe v2: ``/v2/models/<name>/infer``, as MLServer, KServe and Triton serve)."""
    upstream_model_name: str | None = None
    """The model's name on a v2 upstream (the model directory's name if unset)."""
    upstream_max_answer_bytes: int = 20_000_000
    """Largest upstream answer read (a larger one is a 502, read no further than this)."""
    upstream_token: SecretStr | None = None
    """A bearer token sent to the upstream model server (``Authorization: Bearer``), e.g. a
    KServe or Triton endpoint behind an authenticating gateway."""
    upstream_token_file: Path | None = None
    """A file holding that token (its first line), e.g. a mounted Kubernetes Secret."""
    api_token: SecretStr | None = None
    api_token_file: Path | None = None
    allow_insecure_public_bind: bool = False
    """Allow binding a non-loopback host without an API token."""
    max_body_bytes: int = 2_000_000
    max_batch_rows: int = 1_000
    monitor_linger_seconds: float = 0.1
    """Longest a committed prediction waits to be pooled with others before the monitor sees
    it (the store write itself has no interval: each request waits only for its commit)."""
    retention_days: float = 30.0
    workers: int = 1
    """Worker processes behind the one port (``serve --workers``); each is a whole service
    sharing the store, and ``/metrics`` adds their counters up."""
    store_url: SecretStr | None = None
    """Where predictions and labels are kept: ``sqlite:///path`` (default: a file in
    ``data_dir``) or ``postgresql://user@host:port/db``, one database every replica and worker
    shares. Secret because a URL may carry a password; it is never printed in full."""
    store_password_file: Path | None = None
    """A file holding the PostgreSQL password (else libpq's ``PGPASSWORD`` / ``.pgpass``)."""
    log_level: str = "info"
    model_stage: str = "production"
    """The ``stage`` label of ``inferwatch_model_info`` for the served model."""
    accept_missing_values: bool = False
    """Pass rows with missing or non-finite inputs to the model (only for models that take
    NaN); by default such rows are refused with a 422 naming the feature."""
    history_interval_seconds: float = 2.0
    """How often the service keeps a point of in-memory history for the dashboard."""
    history_points: int = 900

    # --- monitoring core
    window_buckets: int = 60
    bucket_seconds: float = 60.0
    min_window_rows: int = 200
    psi_threshold: float = 0.2
    min_labels: int = Field(default_factory=lambda: _monitor_default("min_labels"))
    """Labels a window needs before accuracy is reported (default: the monitor's,
    ``inferwatch.core.monitor.MIN_LABELS``)."""

    # --- retraining
    retrain_on_alerts: list[str] = []
    """Alert names that start a retraining run when Alertmanager reports them firing
    (JSON list, e.g. ``["ModelAccuracyLow"]``); empty: only by hand (``POST /api/retrain``)."""
    retrain_min_labels: int = 200
    retrain_min_improvement: float = 0.0
    retrain_holdout_share: float = 0.3
    retrain_reference_tolerance: float = 0.05
    """How much a candidate may lose on the model's reference evaluation rows (accuracy
    points, or a share of the target's standard deviation). Recent labels alone can be
    poisoned; raise it (1.0 turns the check off) only to accept that the concept changed."""
    retrain_lookback_seconds: float = 86_400.0
    retrain_cooldown_seconds: float = 600.0

    # --- the monitoring stack around the service
    prometheus_url: str = "http://127.0.0.1:9090"
    alertmanager_url: str = "http://127.0.0.1:9093"
    prometheus_port: int = 9090
    alertmanager_port: int = 9093
    scrape_interval: str = "5s"
    evaluation_interval: str = "5s"
    slack_api_url_file: Path | None = None
    slack_channel: str = "#ml-alerts"
    smtp_smarthost: str | None = None
    smtp_from: str = "inferwatch@localhost"
    smtp_to: str | None = None
    smtp_username: str | None = None
    smtp_password_file: Path | None = None
    smtp_require_tls: bool = True
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL
    """Absolute URL of the runbooks page; `stack up` renders it into every ``runbook_url``."""

    # --- the data lake ingestion worker
    source_url: str | None = None
    source_poll_seconds: float = 5.0

    @field_validator("port", "prometheus_port", "alertmanager_port")
    @classmethod
    def _port_in_range(cls, v: int) -> int:
        if not 0 <= v <= 65535:
            raise ValueError("port must be between 0 and 65535")
        return v

    @field_validator("runbook_base_url")
    @classmethod
    def _absolute_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")) or "#" in v:
            raise ValueError("runbook_base_url must be an absolute http(s) URL without '#'")
        return v

    def resolved_api_token(self) -> str | None:
        """The bearer token: ``api_token``, or else the first line of ``api_token_file``."""
        if self.api_token is not None:
            return self.api_token.get_secret_value() or None
        if self.api_token_file is not None:
            token = self.api_token_file.read_text(encoding="utf-8").strip()
            return token or None
        return None

    def resolved_upstream_token(self) -> str | None:
        """The upstream's bearer token: ``upstream_token``, or else the first line of
        ``upstream_token_file``."""
        if self.upstream_token is not None:
            return self.upstream_token.get_secret_value().strip() or None
        if self.upstream_token_file is not None:
            lines = self.upstream_token_file.read_text(encoding="utf-8").splitlines()
            return (lines[0].strip() or None) if lines else None
        return None

    @property
    def store_path(self) -> Path:
        """The SQLite file used when ``store_url`` is not set."""
        return self.data_dir / "predictions.sqlite3"

    def resolved_store_url(self) -> str:
        """``store_url``, or else the SQLite file in ``data_dir``."""
        if self.store_url is not None and self.store_url.get_secret_value():
            return self.store_url.get_secret_value()
        return f"sqlite:///{self.store_path}"


__all__ = ["Settings"]
