from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

from inferwatch.core import (
    EPS,
    BinnedFeature,
    DriftRule,
    DriftScorer,
    chi2_test,
    js_distance,
    ks_binned,
    ks_exact,
    psi,
    score_feature,
    share_shift,
    wasserstein_binned,
    wasserstein_exact,
)

SEEDS = [0, 1, 2, 3]


def _samples(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    shapes = [
        (rng.normal(0, 1, 500), rng.normal(0.3, 1.2, 300)),
        (rng.exponential(1, 400), rng.exponential(1.5, 700)),
        (rng.integers(0, 5, 300).astype(float), rng.integers(0, 7, 200).astype(float)),  # ties
        (rng.normal(0, 1, 50), rng.normal(0, 1, 3)),
    ]
    return shapes[seed]


@pytest.mark.parametrize("seed", SEEDS)
def test_ks_exact_matches_scipy(seed: int) -> None:
    a, b = _samples(seed)
    assert ks_exact(a, b) == pytest.approx(ks_2samp(a, b).statistic, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_wasserstein_exact_matches_scipy(seed: int) -> None:
    a, b = _samples(seed)
    assert wasserstein_exact(a, b) == pytest.approx(wasserstein_distance(a, b), rel=1e-10)


def _large_samples(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Samples big enough for ``ks_sorted`` to walk only some stretches between its pivots."""
    rng = np.random.default_rng(100 + seed)
    x = rng.normal(0, 1, 20_000)
    shapes = [
        (x, rng.normal(0.02, 1, 15_000)),  # a small shift: the gap peaks once, anywhere
        (x, x[rng.permutation(x.size)]),  # the same values: no gap at all
        (np.round(x, 1), np.round(rng.normal(0.05, 1, 12_345), 1)),  # ties across pivots
        (x, rng.normal(10, 1, 3_000)),  # apart: KS 1
        (x, np.concatenate([x[:5_000], rng.normal(0, 1e-9, 77)])),  # a sliver piled in one spot
        (rng.integers(0, 3, 9_000).astype(float), rng.integers(0, 3, 9_001).astype(float)),
        (x[:7], rng.normal(0, 1, 10_000)),
    ]
    return shapes[seed]


@pytest.mark.parametrize("seed", range(7))
def test_exact_statistics_of_large_samples_match_scipy(seed: int) -> None:
    a, b = _large_samples(seed)
    assert ks_exact(a, b) == pytest.approx(ks_2samp(a, b).statistic, abs=1e-12)
    assert ks_exact(b, a) == pytest.approx(ks_2samp(b, a).statistic, abs=1e-12)
    w = wasserstein_distance(a, b)
    assert wasserstein_exact(a, b) == pytest.approx(w, rel=1e-12, abs=1e-15)
    assert wasserstein_exact(b, a) == pytest.approx(w, rel=1e-12, abs=1e-15)


def _random_counts(seed: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(k))
    c = rng.multinomial(rng.integers(50, 5000), rng.dirichlet(np.ones(k)))
    return p, c


@pytest.mark.parametrize(("seed", "k"), [(0, 2), (1, 10), (2, 30), (3, 10)])
def test_psi_matches_direct_formula(seed: int, k: int) -> None:
    p, c = _random_counts(seed, k)
    c[0] = 0  # an empty bin: epsilon applies
    q = c / c.sum()
    pe, qe = np.clip(p, EPS, None), np.clip(q, EPS, None)
    expected = np.sum((qe - pe) * np.log(qe / pe))
    assert psi(p, c) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("seed", "k"), [(0, 2), (1, 10), (2, 30), (3, 5)])
def test_js_matches_scipy_base2(seed: int, k: int) -> None:
    p, c = _random_counts(seed, k)
    c[-1] = 0
    assert js_distance(p, c) == pytest.approx(jensenshannon(p, c, base=2), abs=1e-12)
    assert 0.0 <= js_distance(p, c) <= 1.0


@pytest.mark.parametrize(("seed", "k"), [(0, 2), (1, 10), (2, 30), (3, 5)])
def test_chi2_matches_scipy_contingency(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    ref = rng.integers(1, 500, k)
    cur = rng.integers(1, 500, k)
    stat, p = chi2_test(ref, cur)
    expected = chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert stat == pytest.approx(expected.statistic, rel=1e-10)
    assert p == pytest.approx(expected.pvalue, rel=1e-8, abs=1e-300)


def test_chi2_drops_bins_empty_in_both() -> None:
    assert chi2_test([10, 0, 20], [5, 0, 9]) == pytest.approx(chi2_test([10, 20], [5, 9]))


@pytest.mark.parametrize("seed", SEEDS)
def test_binned_ks_within_documented_bound_of_exact(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = rng.normal(0, 1, 5000)
    cur = rng.normal(0.2, 1.1, 2000) if seed % 2 else rng.standard_t(3, 2000)
    exact = ks_exact(ref, cur)
    errors = []
    for bins in (5, 20, 100, 500):
        f = BinnedFeature.numeric("x", ref, bins=bins, resolution=1)
        counts = np.bincount(f.fine_index(cur), minlength=f.n_fine)
        binned = ks_binned(f.fine_ratios, counts)
        bound = max(f.fine_ratios.max(), (counts / counts.sum()).max())
        assert binned <= exact + 1e-12
        assert exact - binned <= bound + 1e-12
        errors.append(exact - binned)
    assert errors[-1] <= 0.01
    assert errors[-1] <= errors[0]


def test_binned_wasserstein_close_to_exact_for_fine_bins() -> None:
    rng = np.random.default_rng(5)
    ref = rng.normal(0, 2, 20_000)
    cur = rng.normal(1.0, 2, 5000)
    f = BinnedFeature.numeric("x", ref, bins=10, resolution=10)
    counts = np.bincount(f.fine_index(cur), minlength=f.n_fine)
    binned = wasserstein_binned(f.fine_ratios, counts, f.centers, f.spread)
    exact = wasserstein_exact(ref, cur) / ref.std()
    assert binned == pytest.approx(exact, abs=0.05)


def test_rule_needs_rows_effect_and_significance() -> None:
    rule = DriftRule(psi_threshold=0.2, min_window_rows=200, share_threshold=0.1, alpha=1e-3)
    assert not rule.decide(psi=5.0, share=0.5, p_value=0.0, rows=199)
    assert rule.decide(psi=0.21, share=0.0, p_value=1e-6, rows=200)
    assert rule.decide(psi=0.05, share=0.11, p_value=1e-6, rows=200)
    assert not rule.decide(psi=0.21, share=0.0, p_value=1e-6, rows=200, threshold=0.3)
    assert not rule.decide(psi=0.5, share=0.3, p_value=0.01, rows=200)  # could be noise
    assert not rule.decide(psi=0.01, share=0.01, p_value=1e-100, rows=10**7)  # tiny effect


def test_share_shift_is_largest_bin_change() -> None:
    assert share_shift([0.5, 0.3, 0.2], [40, 45, 15]) == pytest.approx(0.15)


def test_score_feature_numeric_and_categorical() -> None:
    rng = np.random.default_rng(0)
    f = BinnedFeature.numeric("x", rng.normal(size=10_000))
    fs = score_feature(f, np.bincount(f.fine_index(rng.normal(1, 1, 3000)), minlength=f.n_fine))
    assert set(fs.scores) == {"psi", "js", "ks", "wasserstein"}
    assert fs.rows == 3000 and fs.counts.sum() == 3000 and fs.counts.size == 10
    assert fs.p_value < 1e-10 and fs.scores["psi"] > 0.5
    c = BinnedFeature.categorical("c", np.array(["a", "b"] * 50, dtype=object), ["a", "b"])
    cs = score_feature(c, [30, 70, 0])
    assert set(cs.scores) == {"psi", "js", "chi2"}
    assert cs.share == pytest.approx(0.2)
    assert score_feature(c, [0, 0, 0]).scores == {}


def test_scorer_matches_per_feature_scores() -> None:
    rng = np.random.default_rng(11)
    feats = [
        BinnedFeature.numeric("a", rng.normal(size=5000)),
        BinnedFeature.numeric("b", rng.poisson(2, 5000).astype(float), bins=5),
        BinnedFeature.categorical(
            "c", rng.choice(["x", "y", "z"], 5000).astype(object), ["x", "y", "z"]
        ),
        BinnedFeature.numeric("empty-window", rng.normal(size=100)),
    ]
    counts = [
        np.bincount(feats[0].fine_index(rng.normal(0.3, 1, 800)), minlength=feats[0].n_fine),
        np.bincount(
            feats[1].fine_index(rng.poisson(2.5, 800).astype(float)), minlength=feats[1].n_fine
        ),
        np.array([500, 100, 0, 7]),
        np.zeros(feats[3].n_fine, dtype=np.int64),
    ]
    fast = DriftScorer(feats).score(np.concatenate([*counts, [999]]))  # trailing slot ignored
    for f, c, got in zip(feats, counts, fast, strict=True):
        want = score_feature(f, c)
        assert got.rows == want.rows
        assert got.counts.tolist() == want.counts.tolist()
        assert got.scores.keys() == want.scores.keys()
        for key, value in want.scores.items():
            assert got.scores[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
        assert got.share == pytest.approx(want.share)
        assert got.p_value == pytest.approx(want.p_value, rel=1e-9, abs=1e-300)


def test_chi2_sf_matches_scipy() -> None:
    """The report's pure-Python chi-square p-value agrees with scipy's (the monitor's)."""
    from scipy.special import chdtrc

    from inferwatch.core.drift import chi2_sf

    for dof in (1, 2, 3, 9, 10, 49, 99):
        for stat in np.concatenate([np.linspace(0.01, 4 * dof + 60, 60), [500.0, 2000.0]]):
            expected = float(chdtrc(dof, stat))
            got = chi2_sf(dof, float(stat))
            assert got == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert chi2_sf(4, 0.0) == 1.0
