"""Drift measures: from bin counts (streaming windows) and exact sample versions (batch reports).

All binned measures compare the reference shares ``p`` (from the profile) with the window shares
``q = counts / counts.sum()``; see ``docs/drift.md`` for the formulas, bases and error bounds.

- ``psi``: population stability index, natural log; shares below ``EPS`` (1e-4) are raised to
  ``EPS`` first so an empty bin gives a large but finite term.
- ``js_distance``: Jensen-Shannon distance with log base 2, so it lies in [0, 1]; needs no
  epsilon (0 log 0 = 0).
- ``ks_binned``: largest gap between the two CDFs at the bin edges. Never above the exact KS
  statistic of the same samples, and below it by at most the largest share any single bin holds
  in either distribution.
- ``wasserstein_binned``: W1 between the two distributions placed at the reference bin centres,
  divided by the reference spread (std).
- ``chi2_test``: chi-square test of homogeneity of reference and window counts (statistic and
  p-value, no continuity correction); bins empty in both are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import chdtrc

from inferwatch.core.profile import BinnedFeature

EPS = 1e-4

FloatArray = npt.NDArray[np.float64]


def _shares(counts: npt.ArrayLike) -> FloatArray:
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    return c / total if total > 0 else np.zeros_like(c)


def psi(reference: npt.ArrayLike, counts: npt.ArrayLike, eps: float = EPS) -> float:
    """Population stability index of window ``counts`` against reference shares.

    >>> round(psi([0.5, 0.5], [50, 50]), 6)
    0.0
    >>> round(psi([0.5, 0.5], [90, 10]), 4)
    0.8789
    """
    p = np.maximum(np.asarray(reference, dtype=np.float64), eps)
    q = np.maximum(_shares(counts), eps)
    return float(np.sum((q - p) * np.log(q / p)))


def js_distance(reference: npt.ArrayLike, counts: npt.ArrayLike) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) of window ``counts`` against reference shares.

    >>> js_distance([1.0, 0.0], [0, 10])
    1.0
    """
    p = _shares(reference)
    q = _shares(counts)
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kp = np.where(p > 0, p * np.log2(p / m), 0.0).sum()
        kq = np.where(q > 0, q * np.log2(q / m), 0.0).sum()
    return float(np.sqrt(max((kp + kq) / 2, 0.0)))


def ks_binned(reference: npt.ArrayLike, counts: npt.ArrayLike) -> float:
    """KS statistic from binned CDFs (ordered bins).

    >>> ks_binned([0.25, 0.25, 0.25, 0.25], [0, 0, 50, 50])
    0.5
    """
    p = np.cumsum(_shares(reference))
    q = np.cumsum(_shares(counts))
    return float(np.max(np.abs(p - q))) if p.size else 0.0


def wasserstein_binned(
    reference: npt.ArrayLike, counts: npt.ArrayLike, centers: npt.ArrayLike, spread: float = 1.0
) -> float:
    """W1 distance between the shares placed at ``centers`` (sorted), divided by ``spread``.

    >>> wasserstein_binned([0.5, 0.5, 0.0], [0, 50, 50], [0.0, 1.0, 2.0])
    1.0
    """
    c = np.asarray(centers, dtype=np.float64)
    gap = np.abs(np.cumsum(_shares(reference) - _shares(counts)))[:-1]
    return float(np.sum(gap * np.diff(c)) / spread)


def chi2_test(reference_counts: npt.ArrayLike, counts: npt.ArrayLike) -> tuple[float, float]:
    """Chi-square test of homogeneity of two count vectors: ``(statistic, p_value)``.

    >>> stat, p = chi2_test([50, 50], [50, 50])
    >>> stat, p
    (0.0, 1.0)
    """
    r = np.asarray(reference_counts, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    keep = (r + c) > 0
    r, c = r[keep], c[keep]
    nr, nc = r.sum(), c.sum()
    if r.size < 2 or nr <= 0 or nc <= 0:
        return 0.0, 1.0
    col = r + c
    n = nr + nc
    er, ec = col * (nr / n), col * (nc / n)
    stat = float(np.sum((r - er) ** 2 / er) + np.sum((c - ec) ** 2 / ec))
    return stat, float(chdtrc(r.size - 1, stat))


def _sorted_finite(values: npt.ArrayLike) -> FloatArray:
    x = np.asarray(values, dtype=np.float64)
    return np.sort(x[np.isfinite(x)])


def exact_sorted(xs: FloatArray, ys: FloatArray) -> tuple[float, float]:
    """``(KS statistic, W1 distance)`` of two sorted finite samples in one merge.

    Both empirical CDFs are evaluated on the merged sample: KS is the largest gap at the end of
    each run of equal values, W1 the area between the CDFs.
    """
    n, m = xs.size, ys.size
    if n == 0 or m == 0:
        return 0.0, 0.0
    total = n + m
    pos_x = np.arange(n) + np.searchsorted(ys, xs, side="right")  # ties: y before x
    merged = np.empty(total, dtype=np.float64)
    merged[pos_x] = xs
    is_x = np.zeros(total, dtype=bool)
    is_x[pos_x] = True
    merged[~is_x] = ys
    gap = np.cumsum(is_x, dtype=np.float64)
    gap *= 1.0 / n + 1.0 / m
    gap -= np.arange(1, total + 1, dtype=np.float64) / m  # F_x - F_y at each merged point
    np.abs(gap, out=gap)
    run_end = np.empty(total, dtype=bool)
    np.not_equal(merged[1:], merged[:-1], out=run_end[:-1])
    run_end[-1] = True
    ks = float(gap[run_end].max())
    w = float(np.dot(gap[:-1], np.diff(merged)))
    return ks, w


def ks_exact(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Two-sample KS statistic (same value as ``scipy.stats.ks_2samp(a, b).statistic``);
    non-finite values are ignored.

    >>> ks_exact([1.0, 2.0, 3.0], [2.5, 3.5, 4.5])
    0.6666666666666667
    """
    return exact_sorted(_sorted_finite(a), _sorted_finite(b))[0]


def wasserstein_exact(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """W1 distance of two samples (same value as ``scipy.stats.wasserstein_distance(a, b)``);
    non-finite values are ignored.

    >>> wasserstein_exact([0.0, 1.0, 3.0], [5.0, 6.0, 8.0])
    5.0
    """
    return exact_sorted(_sorted_finite(a), _sorted_finite(b))[1]


def share_shift(reference: npt.ArrayLike, counts: npt.ArrayLike) -> float:
    """Largest change of any single bin's share (0.15 = some bin or category moved 15 points).

    >>> round(share_shift([0.4, 0.6], [55, 45]), 6)
    0.15
    """
    p = _shares(reference)
    q = _shares(counts)
    return float(np.max(np.abs(q - p))) if p.size else 0.0


@dataclass(frozen=True)
class DriftRule:
    """When a feature counts as drifted. All three must hold:

    1. enough data: the window holds at least ``min_window_rows`` values of the feature;
    2. a large effect: PSI above the threshold (``psi_threshold``, 0.2 by default, or the
       feature's own) *or* some bin's share moved by more than ``share_threshold`` (0.10);
    3. not noise: the chi-square homogeneity test of reference and window bin counts gives
       p < ``alpha`` (0.0001).

    The p-value never decides alone: with a large window every tiny difference is "significant"
    and a healthy model must stay quiet however much traffic it gets, so the effect sizes
    decide. The test only stops small windows (and features with many rare bins, whose PSI is
    inflated by sampling noise) from alarming on chance.

    >>> rule = DriftRule(psi_threshold=0.2, min_window_rows=200)
    >>> rule.decide(psi=0.5, share=0.2, p_value=1e-9, rows=100)   # too few rows
    False
    >>> rule.decide(psi=0.5, share=0.2, p_value=1e-9, rows=500)
    True
    >>> rule.decide(psi=0.05, share=0.02, p_value=1e-30, rows=10**6)   # significant but small
    False
    >>> rule.decide(psi=0.09, share=0.15, p_value=1e-12, rows=1000)   # a category swung 15 points
    True
    """

    psi_threshold: float = 0.2
    min_window_rows: int = 200
    share_threshold: float = 0.10
    alpha: float = 1e-4

    def decide(
        self, psi: float, share: float, p_value: float, rows: int, threshold: float | None = None
    ) -> bool:
        limit = self.psi_threshold if threshold is None else threshold
        large = psi > limit or share > self.share_threshold
        return rows >= self.min_window_rows and large and p_value < self.alpha


@dataclass(frozen=True)
class FeatureScores:
    """Drift measures of one feature's window counts against its reference profile.

    ``scores`` holds the exported methods (``psi``, ``js`` and, for numeric features ``ks`` and
    ``wasserstein``, for categorical ones ``chi2``); ``share`` and ``p_value`` feed the rule.
    """

    rows: int
    scores: dict[str, float]
    share: float
    p_value: float
    counts: npt.NDArray[np.int64]
    """Window counts per drift bin."""


def score_feature(feature: BinnedFeature, fine_counts: npt.ArrayLike) -> FeatureScores:
    """All binned drift measures of ``fine_counts`` (counts per fine bin of ``feature``)."""
    fine = np.asarray(fine_counts, dtype=np.int64)
    coarse = feature.coarse(fine)
    n = int(fine.sum())
    if n == 0:
        return FeatureScores(0, {}, 0.0, 1.0, coarse)
    scores = {"psi": psi(feature.ratios, coarse), "js": js_distance(feature.ratios, coarse)}
    stat, p_value = chi2_test(feature.ratios * feature.n, coarse)
    if feature.kind == "numeric":
        scores["ks"] = ks_binned(feature.fine_ratios, fine)
        scores["wasserstein"] = wasserstein_binned(
            feature.fine_ratios, fine, feature.centers, feature.spread
        )
    else:
        scores["chi2"] = stat
    return FeatureScores(n, scores, share_shift(feature.ratios, coarse), p_value, coarse)


__all__ = [
    "EPS",
    "DriftRule",
    "FeatureScores",
    "chi2_test",
    "exact_sorted",
    "js_distance",
    "ks_binned",
    "ks_exact",
    "psi",
    "score_feature",
    "share_shift",
    "wasserstein_binned",
    "wasserstein_exact",
]
