"""A small regression model directory and traffic for it, for the dashboard tests.

``write_regression_model_dir(path)`` fits a linear model on generated house prices and saves
it as a model directory (the way ``inferwatch init MODEL --reference DATA --target price``
would), so the service exports MAE/RMSE, the baseline and the prediction drift.
``house_rows(n, rng, shift)`` makes rows and their true prices; ``shift`` moves the houses
out of the range the model knows, and ``error`` adds to the true price (the model gets
worse).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FEATURES = ("rooms", "area", "age")


def houses(n: int, rng: np.random.Generator, *, shift: float = 0.0) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "rooms": rng.integers(1, 7, n).astype(float),
            "area": rng.uniform(30, 160, n) + shift,
            "age": rng.uniform(0, 80, n),
        }
    )
    noise = rng.normal(0, 20, n)
    frame["price"] = 25 * frame.rooms + 2.5 * frame.area - 0.8 * frame.age + noise
    return frame


def write_regression_model_dir(path: Path, *, name: str = "houses") -> Path:
    from sklearn.linear_model import Ridge

    from inferwatch.lifecycle.modeldir import build_bundle, save_model_dir

    reference = houses(400, np.random.default_rng(0))
    model = Ridge(alpha=1.0).fit(reference[list(FEATURES)], reference.price)
    bundle = build_bundle(model, reference, name=name, version="1", target="price")
    assert bundle.metadata.task == "regression"
    return save_model_dir(path, bundle)


def house_rows(
    n: int, rng: np.random.Generator, *, shift: float = 0.0, error: float = 0.0
) -> tuple[list[dict[str, Any]], list[float]]:
    """``n`` rows as JSON records and their true prices (``error`` added to each)."""
    frame = houses(n, rng, shift=shift)
    prices = (frame.pop("price") + error).tolist()
    return frame.to_dict(orient="records"), prices


__all__ = ["FEATURES", "house_rows", "houses", "write_regression_model_dir"]
