"""Example models that ship with inferwatch: ``inferwatch train --example iris|cancer``.

Both use data bundled with scikit-learn (nothing is downloaded) and train deterministically.

- ``iris``: 4 numeric features, 3 classes, a scaled logistic regression.
- ``cancer``: the breast-cancer data (30 numeric features, malignant/benign) plus two
  categorical columns: ``tumor_size_band`` (``mean_radius`` cut into small/medium/large) and
  ``clinic`` (which of four clinics sent the sample), trained as a ``Pipeline`` of a
  ``ColumnTransformer`` (scaling, one-hot encoding) and a logistic regression.

``load_example_frame`` gives the full example data so the traffic simulator can replay
realistic rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from inferwatch.lifecycle.modeldir import ModelBundle, build_bundle, save_model_dir

EXAMPLES: tuple[str, ...] = ("iris", "cancer")
TARGETS: dict[str, str] = {"iris": "species", "cancer": "diagnosis"}
SEED = 0
CLINICS: tuple[str, ...] = ("north", "south", "east", "west")
CLINIC_SHARES: tuple[float, ...] = (0.4, 0.3, 0.2, 0.1)
SIZE_BANDS: tuple[str, ...] = ("small", "medium", "large")
SIZE_BAND_EDGES: tuple[float, ...] = (12.0, 16.0)
"""``mean_radius`` cut points of ``tumor_size_band`` (millimetres)."""

_IRIS_COLUMNS = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def _check_name(name: str) -> None:
    if name not in EXAMPLES:
        raise ValueError(f"unknown example {name!r}; choose one of {', '.join(EXAMPLES)}")


def size_band(mean_radius: np.ndarray) -> np.ndarray:
    """``tumor_size_band`` of each ``mean_radius``.

    >>> size_band(np.array([10.0, 14.0, 20.0])).tolist()
    ['small', 'medium', 'large']
    """
    idx = np.searchsorted(np.asarray(SIZE_BAND_EDGES), mean_radius, side="right")
    return np.asarray(SIZE_BANDS, dtype=object)[idx]


def load_example_frame(name: str) -> tuple[pd.DataFrame, pd.Series[str]]:
    """The features and the target (as class-name strings) of the example ``name``."""
    _check_name(name)
    from sklearn.datasets import load_breast_cancer, load_iris

    if name == "iris":
        iris = load_iris(as_frame=True)
        features = iris.data.set_axis(list(_IRIS_COLUMNS), axis=1)
        labels = np.asarray(iris.target_names, dtype=object)[iris.target.to_numpy()]
        return features, pd.Series(labels, name=TARGETS[name], dtype=object)

    cancer = load_breast_cancer(as_frame=True)
    features = cancer.data.rename(columns=lambda c: str(c).replace(" ", "_"))
    rng = np.random.default_rng(SEED)
    features["tumor_size_band"] = size_band(features["mean_radius"].to_numpy())
    features["clinic"] = rng.choice(
        np.asarray(CLINICS, dtype=object), len(features), p=CLINIC_SHARES
    )
    labels = np.asarray(cancer.target_names, dtype=object)[cancer.target.to_numpy()]
    return features, pd.Series(labels, name=TARGETS[name], dtype=object)


def _estimator(name: str, features: pd.DataFrame) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if name == "iris":
        return Pipeline(
            [("scale", StandardScaler()), ("classify", LogisticRegression(max_iter=1000))]
        )
    categorical = ["tumor_size_band", "clinic"]
    numeric = [c for c in features.columns if c not in categorical]
    encode = ColumnTransformer(
        [
            ("numeric", StandardScaler(), numeric),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
        ]
    )
    return Pipeline([("encode", encode), ("classify", LogisticRegression(max_iter=5000))])


def train_example(name: str, *, version: str = "1", test_size: float = 0.3) -> ModelBundle:
    """Train the example ``name`` on a stratified split and describe it as a ``ModelBundle``:
    the profile comes from the training rows, the reference performance from the held-out
    rows."""
    from sklearn.model_selection import train_test_split

    features, target = load_example_frame(name)
    target_name = TARGETS[name]
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=test_size, random_state=SEED, stratify=target
    )
    model = _estimator(name, features)
    model.fit(x_train, y_train)
    return build_bundle(
        model,
        x_train.assign(**{target_name: y_train}),
        name=name,
        version=version,
        target=target_name,
        task="classification",
        evaluation=x_test.assign(**{target_name: y_test}),
    )


def write_example(name: str, out: str | Path, *, version: str = "1") -> ModelBundle:
    """Train the example ``name`` and save it as a model directory at ``out``."""
    bundle = train_example(name, version=version)
    save_model_dir(out, bundle)
    return bundle


__all__ = [
    "CLINICS",
    "EXAMPLES",
    "TARGETS",
    "load_example_frame",
    "size_band",
    "train_example",
    "write_example",
]
