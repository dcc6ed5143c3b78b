"""Retraining: fit a candidate on recently labelled traffic and promote it only if it wins.

The candidate is a fresh copy of the serving estimator (``sklearn.base.clone``: same
pipeline, same hyper-parameters) fitted on labelled rows the service stored. Both models
are scored on the same held-out share of those rows; the candidate is promoted when it beats
the serving model by more than ``min_improvement`` (accuracy for classifiers, MAE for
regressors), and when it holds its own on the model's reference evaluation rows
(``evaluation.parquet``, which recent labels, wrong or poisoned, cannot move). A promoted
candidate gets the next version, and the rows it was trained on
become its reference profile: after a real change in the world, the new normal.

``ModelRegistry`` keeps every version under ``<data_dir>/registry/<name>/<version>/`` with a
``CURRENT`` file naming the one to serve, so a restart serves what was promoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from inferwatch.modeldir import (
    SAFE_NAME,
    ModelBundle,
    build_bundle,
    contained,
    load_model_dir,
    model_input,
    reference_performance,
    save_model_dir,
)

Outcome = Literal["promoted", "rejected", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("promoted", "rejected", "failed")
TRIGGERS: tuple[str, ...] = ("alert", "manual")


@dataclass(frozen=True)
class RetrainPolicy:
    """When a candidate is good enough.

    ``min_labels``: labelled rows needed at all; ``holdout_share``: the share kept for the
    comparison; ``min_improvement``: how much better (accuracy points, or MAE units lower)
    the candidate must be; ``reference_tolerance``: how much it may lose on the model's
    reference evaluation rows (accuracy points, or a share of the reference target's standard
    deviation for a regressor; 1 or more turns the check off).
    """

    min_labels: int = 200
    holdout_share: float = 0.3
    min_improvement: float = 0.0
    reference_tolerance: float = 0.05
    seed: int = 0


@dataclass(frozen=True)
class RetrainResult:
    outcome: Outcome
    trigger: str
    model: str
    current_version: str
    candidate_version: str | None
    metric: str
    current_score: float | None
    candidate_score: float | None
    rows: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def next_version(version: str) -> str:
    """The version after ``version``: the last number goes up by one, else ``-r2`` is added.

    >>> next_version("1"), next_version("v1.9"), next_version("2024-05-01"), next_version("beta")
    ('2', 'v1.10', '2024-05-2', 'beta-r2')
    """
    match = re.search(r"(\d+)(?!.*\d)", version)
    if match is None:
        return f"{version}-r2"
    start, end = match.span(1)
    return f"{version[:start]}{int(match.group(1)) + 1}{version[end:]}"


def _score(task: str, actual: np.ndarray, predicted: np.ndarray) -> tuple[str, float]:
    performance = reference_performance(task, actual, predicted)  # type: ignore[arg-type]  # task is checked by ModelMetadata
    if task == "classification":
        return "accuracy", performance["accuracy"]
    return "mae", performance["mae"]


def _split(
    labels: pd.Series[Any], task: str, policy: RetrainPolicy
) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    stratify = None
    if task == "classification" and labels.value_counts().min() >= 2:
        stratify = labels.to_numpy()
    train, test = train_test_split(
        index, test_size=policy.holdout_share, random_state=policy.seed, stratify=stratify
    )
    return np.asarray(train), np.asarray(test)


def retrain(
    bundle: ModelBundle,
    features: pd.DataFrame,
    labels: pd.Series[Any],
    *,
    trigger: str = "manual",
    policy: RetrainPolicy | None = None,
) -> tuple[RetrainResult, ModelBundle | None]:
    """Fit a candidate on ``features``/``labels`` and compare it with ``bundle``'s model.

    Returns the result and, when promoted, the candidate's bundle (not yet saved).
    """
    from sklearn.base import clone

    policy = policy or RetrainPolicy()
    meta = bundle.metadata
    metric = "accuracy" if meta.task == "classification" else "mae"

    def result(outcome: Outcome, reason: str, **scores: Any) -> RetrainResult:
        return RetrainResult(
            outcome=outcome,
            trigger=trigger,
            model=meta.name,
            current_version=meta.version,
            candidate_version=scores.pop("candidate_version", None),
            metric=metric,
            current_score=scores.pop("current", None),
            candidate_score=scores.pop("candidate", None),
            rows=len(labels),
            reason=reason,
        )

    if bundle.model is None:
        return result("failed", "no local model to retrain (the service fronts an upstream)"), None
    if len(labels) < policy.min_labels:
        reason = f"{len(labels)} labelled rows; at least {policy.min_labels} are needed"
        return result("rejected", reason), None
    if meta.task == "classification":
        labels = labels.astype(str)
        if labels.nunique() < 2:
            return result("rejected", "the labelled rows hold a single class"), None
    else:
        labels = labels.astype(float)
    features = features[meta.feature_names].reset_index(drop=True)
    labels = labels.reset_index(drop=True)
    train, test = _split(labels, meta.task, policy)
    x_train, y_train = features.iloc[train], labels.iloc[train]
    x_test, y_test = features.iloc[test], labels.iloc[test].to_numpy()

    def predictions(model: Any, frame: pd.DataFrame) -> np.ndarray:
        out = np.asarray(model.predict(model_input(model, frame)))
        return (
            np.array([str(v) for v in out.tolist()], dtype=object) if metric == "accuracy" else out
        )

    try:
        candidate = clone(bundle.model)
        candidate.fit(model_input(bundle.model, x_train), y_train.to_numpy())
        _, current_score = _score(meta.task, y_test, predictions(bundle.model, x_test))
        _, candidate_score = _score(meta.task, y_test, predictions(candidate, x_test))
    except Exception as exc:  # a candidate that cannot be fitted is a failed run, not a crash
        return result("failed", f"fitting the candidate failed: {exc}"), None

    gain = (
        candidate_score - current_score if metric == "accuracy" else current_score - candidate_score
    )
    scores = {"current": current_score, "candidate": candidate_score}
    if gain <= policy.min_improvement:
        reason = f"candidate {metric} {candidate_score:.4f} vs serving {current_score:.4f}"
        return result("rejected", reason, **scores), None

    refusal = _reference_refusal(bundle, candidate, policy)
    if refusal is not None:
        return result("rejected", refusal, **scores), None

    version = next_version(meta.version)
    target = meta.target or "target"
    promoted = build_bundle(
        candidate,
        x_train.assign(**{target: y_train.to_numpy()}),
        name=meta.name,
        version=version,
        target=target,
        task=meta.task,
        evaluation=x_test.assign(**{target: y_test}),
        psi_threshold=_default_threshold(bundle),
    )
    promoted.metadata.thresholds.update(meta.thresholds)
    if bundle.evaluation is not None:  # the guard travels with every later version
        promoted = replace(promoted, evaluation=bundle.evaluation)
    reason = f"candidate {metric} {candidate_score:.4f} beats serving {current_score:.4f}"
    return result("promoted", reason, candidate_version=version, **scores), promoted


def _reference_refusal(bundle: ModelBundle, candidate: Any, policy: RetrainPolicy) -> str | None:
    """Why ``candidate`` may not replace ``bundle``'s model on the reference evaluation rows
    (``None``: it holds its own). Recent labels alone can be wrong or poisoned; the rows the
    model was evaluated on when it was made are the fixed ground it must not lose."""
    data = bundle.evaluation
    meta = bundle.metadata
    if policy.reference_tolerance >= 1.0:  # the operator accepts a new concept
        return None
    if data is None or meta.target is None or meta.target not in data.columns:
        return None
    features = data[meta.feature_names]
    actual = data[meta.target].to_numpy()
    if meta.task == "classification":
        actual = np.array([str(v) for v in actual.tolist()], dtype=object)
    scores = []
    models: tuple[Any, Any] = (bundle.model, candidate)
    for model in models:
        out = np.asarray(model.predict(model_input(model, features)))
        if meta.task == "classification":
            out = np.array([str(v) for v in out.tolist()], dtype=object)
        scores.append(_score(meta.task, actual, out)[1])
    current, new = scores
    metric = "accuracy" if meta.task == "classification" else "mae"
    loss = current - new if metric == "accuracy" else new - current
    # accuracy points; for a regressor, a share of the reference target's spread
    scale = 1.0 if metric == "accuracy" else float(np.std(actual.astype(float))) or 1.0
    allowed = policy.reference_tolerance * scale
    if loss > allowed:
        return (
            f"candidate {metric} on the reference evaluation data {new:.4f} vs serving "
            f"{current:.4f}: it would lose what the model knew"
        )
    return None


def _default_threshold(bundle: ModelBundle) -> float:
    return 0.2 if not bundle.metadata.thresholds else min(bundle.metadata.thresholds.values())


class ModelRegistry:
    """Model versions on disk: ``<root>/<name>/<version>/`` and ``<root>/<name>/CURRENT``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, name: str, version: str | None = None) -> Path:
        """The folder of ``name`` (or of one of its versions), never outside ``root``."""
        parts = (name,) if version is None else (name, version)
        for part in parts:
            if not re.fullmatch(SAFE_NAME, part):
                raise ValueError(f"{part!r} is not a safe model name or version")
        return contained(self.root, *parts)

    def current_dir(self, name: str) -> Path | None:
        pointer = self._dir(name) / "CURRENT"
        if not pointer.exists():
            return None
        path = self._dir(name, pointer.read_text(encoding="utf-8").strip())
        return path if (path / "metadata.json").exists() else None

    def versions(self, name: str) -> list[str]:
        folder = self._dir(name)
        if not folder.exists():
            return []
        return sorted(p.name for p in folder.iterdir() if (p / "metadata.json").exists())

    def promote(self, bundle: ModelBundle) -> Path:
        """Save ``bundle`` as a new version and make it the one to serve."""
        meta = bundle.metadata
        path = save_model_dir(self._dir(meta.name, meta.version), bundle)
        pointer = self._dir(meta.name) / "CURRENT"
        tmp = pointer.with_suffix(".tmp")
        tmp.write_text(meta.version, encoding="utf-8")
        tmp.replace(pointer)
        return path

    def load_current(self, name: str) -> ModelBundle | None:
        path = self.current_dir(name)
        return None if path is None else load_model_dir(path)


__all__ = [
    "OUTCOMES",
    "TRIGGERS",
    "ModelRegistry",
    "RetrainPolicy",
    "RetrainResult",
    "next_version",
    "retrain",
]
