from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from inferwatch.core import BinnedFeature, FeatureSchema, ReferenceProfile, SchemaError
from inferwatch.lifecycle.modeldir import read_profile, write_profile


@pytest.mark.parametrize("bins", [4, 10, 25])
def test_numeric_bins_at_reference_quantiles(bins: int) -> None:
    x = np.random.default_rng(0).normal(size=10_000)
    f = BinnedFeature.numeric("x", x, bins=bins)
    assert f.n_bins == bins
    assert f.ratios == pytest.approx(np.full(bins, 1 / bins), abs=1e-3)
    assert f.fine_ratios.sum() == pytest.approx(1.0)
    assert f.labels[0].startswith("(-inf, ") and f.labels[-1].endswith(", +inf)")
    coarse_edges = f.edges[f.starts[1:] - 1]  # drift edges are fine edges
    for j, e in enumerate(coarse_edges, start=1):  # smallest value with F(value) >= j / bins
        assert np.mean(x <= e) >= j / bins > np.mean(x < e)


def test_every_value_lands_in_a_bin_and_missing_in_none() -> None:
    f = BinnedFeature.numeric("x", np.arange(100.0))
    idx = f.bin_index(np.array([-1e300, -np.inf, 50.0, np.inf, np.nan]))
    assert idx.tolist() == [0, 0, 5, 9, -1]


def test_discrete_data_dedupes_edges() -> None:
    x = np.array([0.0] * 700 + [1.0] * 300)
    f = BinnedFeature.numeric("flag", x)
    assert f.labels == ("(-inf, 0]", "(0, 1]", "(1, +inf)")
    assert f.ratios.tolist() == pytest.approx([0.7, 0.3, 0.0])


def test_constant_and_empty_features() -> None:
    assert BinnedFeature.numeric("k", np.full(50, 3.0)).labels == ("(-inf, 3]", "(3, +inf)")
    empty = BinnedFeature.numeric("e", np.array([np.nan, np.nan]))
    assert empty.labels == ("(-inf, +inf)",) and empty.n == 0


@pytest.mark.parametrize("seed", range(4))
def test_mean_and_std_are_numpys_to_the_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_cauchy(rng.integers(1, 5000)) * 10.0 ** rng.integers(-6, 6)
    x[rng.random(x.size) < 0.05] = np.inf
    f = BinnedFeature.numeric("x", x)
    finite = x[np.isfinite(x)]
    assert (f.mean, f.std) == (float(np.sort(finite).mean()), float(np.sort(finite).std()))


def test_edges_of_signed_zeros_are_np_uniques() -> None:
    """Rounded data holds both -0.0 and 0.0; which one an edge keeps (and its label shows)
    is np.unique's choice, as it always was."""
    x = np.round(np.random.default_rng(3).normal(0, 0.6, 1001))
    assert np.signbit(x[x == 0]).any() and not np.signbit(x[x == 0]).all()
    xs = np.sort(x)
    j = np.arange(1, 100)
    q = xs[(j * xs.size + 99) // 100 - 1]
    f = BinnedFeature.numeric("x", x)
    expected = np.unique(q)
    assert f.edges.tolist() == expected.tolist()
    assert np.signbit(f.edges).tolist() == np.signbit(expected).tolist()


def test_labels_unique_for_close_edges() -> None:
    x = 1000.0 + np.arange(1000) * 1e-6
    f = BinnedFeature.numeric("x", x)
    assert len(set(f.labels)) == f.n_bins


def test_categorical_shares_with_other() -> None:
    vals = np.array(["a", "a", "b", None, "zzz"], dtype=object)
    f = BinnedFeature.categorical("c", vals, ["a", "b"])
    assert f.labels == ("a", "b", "other")
    assert f.ratios.tolist() == pytest.approx([0.5, 0.25, 0.25])
    with pytest.raises(SchemaError):
        BinnedFeature.categorical("c", vals, ["other"])


def test_build_outputs_for_both_tasks_and_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x": rng.normal(size=500), "c": rng.choice(["u", "v"], 500)})
    schema = FeatureSchema.infer(df)
    clf = ReferenceProfile.build(
        schema, df, rng.choice([0, 1, 2], 500), "classification", classes=[0, 1, 2, 3]
    )
    assert clf.classes == ("0", "1", "2", "3")
    assert clf.output.labels == ("0", "1", "2", "3", "other")
    assert clf.output.ratios[3] == 0.0
    reg = ReferenceProfile.build(schema, df, rng.normal(size=500), "regression", bins=5)
    assert reg.output.kind == "numeric" and reg.output.n_bins == 5
    for prof in (clf, reg):
        path = tmp_path / "p.json"
        write_profile(path, prof)
        loaded = read_profile(path)
        assert loaded.to_dict() == prof.to_dict()
        probe = np.linspace(-3, 3, 50)
        assert (loaded.features[0].fine_index(probe) == prof.features[0].fine_index(probe)).all()


def test_unknown_format_version_rejected() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0]})
    d = ReferenceProfile.build(FeatureSchema.infer(df), df, [0.0, 1.0], "regression").to_dict()
    d["format_version"] = 99
    with pytest.raises(SchemaError) as info:
        ReferenceProfile.from_dict(d)
    assert info.value.field == "format_version"
