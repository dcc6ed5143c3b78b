from __future__ import annotations

import numpy as np
import pytest

from inferwatch.core.binning import GridBinner
from inferwatch.core.profile import BinnedFeature


def _reference(kind: str, rng: np.random.Generator) -> np.ndarray:
    n = 5000
    if kind == "normal":
        return rng.normal(3.0, 2.0, n)
    if kind == "lognormal":  # edges crowd near zero, long right tail
        return rng.lognormal(0.0, 3.0, n)
    if kind == "integers":  # every edge is a value the data takes
        return rng.integers(0, 1_000_000, n).astype(float)
    if kind == "poisson":  # few distinct values, merged quantiles
        return rng.poisson(2.0, n).astype(float)
    if kind == "huge":  # integers plus one enormous value: this feature needs the binary search
        return np.concatenate([rng.integers(0, 100, n), [1e300]]).astype(float)
    if kind == "constant":  # one edge
        return np.full(n, 4.0)
    if kind == "tiny":  # edges a few ulps apart
        return 1.0 + rng.integers(0, 50, n) * np.finfo(float).eps
    raise ValueError(kind)


KINDS = ["normal", "lognormal", "integers", "poisson", "huge", "constant", "tiny"]


def _edges(kind: str, bins: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "huge":  # the top edge is the largest value: bins of (a, b] over all of it
        return np.unique(_reference(kind, rng))[-(bins * 10) :]
    return BinnedFeature.numeric("f", _reference(kind, rng), bins=bins).edges


def _probes(edges: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Values on every edge, one ulp either side, the specials, and random values around."""
    specials = [np.inf, -np.inf, np.nan, 0.0, -0.0, 1e308, -1e308, 5e-324]
    finite = edges[np.abs(edges) < 1e100]
    spread = float(finite.std()) if finite.size > 1 else 1.0
    centre = float(finite.mean()) if finite.size else 0.0
    return np.concatenate(
        [
            edges,
            np.nextafter(edges, np.inf),
            np.nextafter(edges, -np.inf),
            specials,
            rng.normal(centre, 2 * spread + 1e-300, 500),
        ]
    )


@pytest.mark.parametrize("bins", [1, 10, 50])
@pytest.mark.parametrize("kind", KINDS)
def test_grid_bins_equal_searchsorted(kind: str, bins: int) -> None:
    rng = np.random.default_rng(abs(hash((kind, bins))) % 2**32)
    edges = [_edges(k, bins, rng) for k in (kind, "normal", kind)]
    offsets = np.cumsum([0] + [e.size + 1 for e in edges])[:-1].tolist()
    binner = GridBinner(edges, offsets)
    assert 1 not in binner.fallback  # a normal feature always fits a grid
    if kind == "huge":
        assert binner.fallback == [0, 2]
    columns = [_probes(e, rng) for e in edges]
    rows = max(c.size for c in columns)
    x = np.column_stack([np.resize(rng.permutation(c), rows) for c in columns])
    got = binner.slots(x)
    for j, e in enumerate(edges):
        expected = np.searchsorted(e, x[:, j], side="left") + offsets[j]
        known = ~np.isnan(x[:, j])
        np.testing.assert_array_equal(got[known, j], expected[known])
        assert got[:, j].min() >= offsets[j] and got[:, j].max() <= offsets[j] + e.size


def test_spread_out_edges_use_the_grid_and_huge_ranges_fall_back() -> None:
    rng = np.random.default_rng(0)
    normal = BinnedFeature.numeric("a", rng.normal(size=5000)).edges
    huge = np.append(np.arange(100.0), 1e300)
    binner = GridBinner([normal, huge], [0, 200])
    assert binner.fallback == [1]
    assert binner.depth == 1
    x = np.array([[normal[3], huge[-1]], [np.nextafter(normal[3], 9.0), 1e301]])
    assert binner.slots(x).tolist() == [[3, 200 + huge.size - 1], [4, 200 + huge.size]]


def test_features_without_edges_have_one_bin() -> None:
    binner = GridBinner([np.empty(0), np.array([1.0])], [0, 1])
    x = np.array([[-np.inf, 1.0], [5.0, 2.0], [np.inf, -np.inf]])
    assert binner.slots(x).tolist() == [[0, 1], [0, 2], [0, 1]]
