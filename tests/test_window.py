from __future__ import annotations

import numpy as np
import pytest

from inferwatch.core import CountWindow


def test_counts_sum_live_buckets_and_expire_by_timestamp() -> None:
    w = CountWindow(width=4, buckets=3, bucket_seconds=10.0)
    w.add(np.array([0, 1, 1]), timestamp=0.0)
    w.add(np.array([2]), timestamp=15.0)
    w.add(np.array([3, 3]), timestamp=25.0)
    assert w.counts(25.0).tolist() == [1, 2, 1, 2]
    assert w.counts(30.0).tolist() == [0, 0, 1, 2]  # bucket 0 left at t=30
    assert w.counts(45.0).tolist() == [0, 0, 0, 2]
    assert w.counts(50.0).tolist() == [0, 0, 0, 0]


def test_time_jump_longer_than_window_clears_everything() -> None:
    w = CountWindow(width=2, buckets=60, bucket_seconds=60.0)
    for t in range(0, 3600, 60):
        w.add(np.array([0, 1]), timestamp=float(t))
    assert w.counts(3599.0).tolist() == [60, 60]
    w.add(np.array([1]), timestamp=1e6)
    assert w.counts(1e6).tolist() == [0, 1]


def test_reused_slot_is_zeroed_and_late_data_dropped() -> None:
    w = CountWindow(width=1, buckets=2, bucket_seconds=1.0)
    w.add([0, 0], timestamp=0.5)
    w.add([0], timestamp=2.5)  # same ring slot as bucket 0: zeroed first
    assert w.counts(2.5).tolist() == [1]
    w.add([0], timestamp=0.1)  # older than the window: dropped
    assert w.counts(2.5).tolist() == [1]


def test_negative_indices_skipped_and_weights_counted() -> None:
    w = CountWindow(width=3, dtype=np.float64)
    w.add([0, -1, 2], timestamp=0.0, weights=[0.5, 9.0, 2.0])
    assert w.get(0.0).tolist() == [0.5, 0.0, 2.0]


def test_index_out_of_range_raises() -> None:
    w = CountWindow(width=2)
    with pytest.raises(IndexError):
        w.add([5], timestamp=0.0)


def test_reset_clears() -> None:
    w = CountWindow(width=2)
    w.update(1, timestamp=0.0)
    w.reset()
    assert w.counts(0.0).tolist() == [0, 0]


def test_matches_bincount_of_all_live_adds() -> None:
    rng = np.random.default_rng(3)
    w = CountWindow(width=7, buckets=5, bucket_seconds=2.0)
    history = []
    for t in np.sort(rng.uniform(0, 40, 200)):
        idx = rng.integers(0, 7, rng.integers(1, 20))
        w.add(idx, timestamp=float(t))
        history.append((t, idx))
    now = 40.0
    live = [idx for t, idx in history if np.floor(t / 2.0) > np.floor(now / 2.0) - 5]
    expected = np.bincount(np.concatenate(live), minlength=7)
    assert w.counts(now).tolist() == expected.tolist()
