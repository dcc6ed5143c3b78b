"""What ``inferwatch init`` was asked for: options, a YAML/TOML/JSON config file, and
the error every problem of ``init`` raises.

Options win over the file (:meth:`InitOptions.merged`); per-feature PSI thresholds merge.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

CONFIG_KEYS = frozenset(
    {
        "target",
        "name",
        "version",
        "task",
        "categorical",
        "numeric",
        "exclude",
        "psi_thresholds",
        "bins",
        "out",
        "evaluation",
    }
)


class InitError(ValueError):
    """A model or table that cannot become a model directory; ``column`` names the culprit."""

    def __init__(self, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.column = column


@dataclass(frozen=True)
class InitOptions:
    """What ``inferwatch init`` was asked for; see :func:`load_config` for the file form."""

    target: str | None = None
    name: str | None = None
    version: str = "1"
    task: str | None = None
    """``classification`` or ``regression``; inferred from the model when unset."""
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    psi_thresholds: Mapping[str, float] = field(default_factory=dict)
    bins: int = 10
    out: Path | None = None
    evaluation: Path | None = None
    """Held-out table with the target for the baseline; without it, the reference is used."""

    def merged(self, overrides: Mapping[str, Any]) -> InitOptions:
        """These options with the non-empty ``overrides`` on top (thresholds merge per feature)."""
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            if value is None or value == () or value == [] or value == {}:
                continue
            if key == "psi_thresholds":
                changes[key] = {**self.psi_thresholds, **value}
            else:
                changes[key] = value
        return replace(self, **changes)


def _names(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return split_names(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InitError(f"config: {key} must be a list of column names")


def split_names(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"a,b" "c"`` style option values to ``("a", "b", "c")``.

    >>> split_names(["id, ts", "day"])
    ('id', 'ts', 'day')
    """
    if text is None:
        return ()
    parts = [text] if isinstance(text, str) else list(text)
    return tuple(n.strip() for p in parts for n in p.split(",") if n.strip())


def parse_thresholds(items: Iterable[str]) -> dict[str, float]:
    """``["alcohol=0.3", "ph=0.25"]`` to ``{"alcohol": 0.3, "ph": 0.25}``.

    >>> parse_thresholds(["alcohol=0.3", "color=0.5"])
    {'alcohol': 0.3, 'color': 0.5}
    """
    out: dict[str, float] = {}
    for item in items:
        feature, sep, value = item.rpartition("=")
        if not sep or not feature.strip():
            raise InitError(f"--psi-threshold {item!r}: expected FEATURE=VALUE")
        out[feature.strip()] = _threshold(feature.strip(), value)
    return out


def _threshold(feature: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InitError(
            f"PSI threshold for {feature!r}: {value!r} is not a number", feature
        ) from None
    if not number > 0:
        raise InitError(f"PSI threshold for {feature!r} must be > 0, got {number}", feature)
    return number


def load_config(path: str | Path) -> dict[str, Any]:
    """Read ``init`` options from YAML (``.yml``/``.yaml``), TOML (``.toml``) or JSON.

    Keys: ``target, name, version, task, categorical, numeric, exclude, bins, out,
    evaluation`` and
    ``psi_thresholds`` (a table of feature to PSI; the key ``prediction`` sets the
    threshold of the model's output). A TOML file may hold them under
    ``[tool.inferwatch]`` or ``[inferwatch]``.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InitError(f"cannot read config {p}: {exc}") from exc
    suffix = p.suffix.lower()
    raw: Any
    try:
        if suffix in (".yml", ".yaml"):
            import yaml

            raw = yaml.safe_load(text) or {}
        elif suffix == ".toml":
            if sys.version_info < (3, 11):
                raise InitError("TOML config needs Python 3.11 or newer; use YAML")
            import tomllib

            raw = tomllib.loads(text)
            raw = raw.get("tool", {}).get("inferwatch", raw.get("inferwatch", raw))
        elif suffix == ".json":
            raw = json.loads(text)
        else:
            raise InitError(f"config {p}: expected .yaml, .yml, .toml or .json")
    except InitError:
        raise
    except Exception as exc:  # yaml/toml/json parse errors have no common base
        raise InitError(f"config {p}: cannot parse: {exc}") from exc
    if not isinstance(raw, dict):
        raise InitError(f"config {p}: expected a mapping of options")
    unknown = sorted(set(raw) - CONFIG_KEYS)
    if unknown:
        raise InitError(f"config {p}: unknown option {unknown[0]!r}; known: {sorted(CONFIG_KEYS)}")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("categorical", "numeric", "exclude"):
            out[key] = _names(value, key)
        elif key == "psi_thresholds":
            if not isinstance(value, dict):
                raise InitError(f"config {p}: psi_thresholds must map feature to number")
            out[key] = {str(k): _threshold(str(k), v) for k, v in value.items()}
        elif key == "bins":
            if not isinstance(value, int) or value < 2:
                raise InitError(f"config {p}: bins must be an integer >= 2")
            out[key] = value
        elif key in ("out", "evaluation"):
            out[key] = Path(str(value))
        else:
            out[key] = None if value is None else str(value)
    return out


__all__ = [
    "CONFIG_KEYS",
    "InitError",
    "InitOptions",
    "load_config",
    "parse_thresholds",
    "split_names",
]
