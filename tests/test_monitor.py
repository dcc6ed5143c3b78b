from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from inferwatch.core import (
    QUALITY_CHECKS,
    FeatureSchema,
    FeatureSpec,
    Monitor,
    MonitorConfig,
    ReferenceProfile,
    SchemaError,
    score_feature,
)

N_REF = 20_000


def _frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": rng.normal(shift, 1.0, n),
            "b": rng.exponential(2.0, n),
            "c": rng.choice(["x", "y", "z"], n, p=[0.5, 0.3, 0.2]),
        }
    )


def _batch(schema: FeatureSchema, df: pd.DataFrame) -> dict[str, np.ndarray]:
    return schema.columns_from_frame(df)


@pytest.fixture
def setup() -> tuple[FeatureSchema, ReferenceProfile, np.random.Generator]:
    rng = np.random.default_rng(42)
    ref = _frame(rng, N_REF)
    schema = FeatureSchema.infer(ref)
    outputs = np.where(ref["a"] > 0, "pos", "neg")
    profile = ReferenceProfile.build(schema, ref, outputs, "classification")
    return schema, profile, rng


def test_healthy_traffic_is_quiet(
    setup: tuple[FeatureSchema, ReferenceProfile, np.random.Generator],
) -> None:
    schema, profile, rng = setup
    mon = Monitor(schema, profile, MonitorConfig(), model="m", model_version="1")
    for t in range(0, 600, 10):
        df = _frame(rng, 50)
        mon.observe(_batch(schema, df), np.where(df["a"] > 0, "pos", "neg"), None, float(t))
    snap = mon.snapshot(600.0)
    assert snap.window_rows == 3000
    assert not snap.drift_detected
    assert not snap.prediction.drift_detected
    assert all(f.scores["psi"] < 0.05 for f in snap.features)


def test_shifted_feature_drifts_and_others_do_not(
    setup: tuple[FeatureSchema, ReferenceProfile, np.random.Generator],
) -> None:
    schema, profile, rng = setup
    mon = Monitor(schema, profile)
    df = _frame(rng, 2000, shift=1.0)
    mon.observe(_batch(schema, df), np.where(df["a"] > 0, "pos", "neg"), None, 0.0)
    snap = mon.snapshot(1.0)
    detected = {f.name: f.drift_detected for f in snap.features}
    assert detected == {"a": True, "b": False, "c": False}
    assert snap.drift_detected
    assert snap.prediction.drift_detected  # more "pos" than in the reference
    a = snap.features[0]
    assert set(a.scores) == {"psi", "js", "ks", "wasserstein"}
    assert a.scores["wasserstein"] == pytest.approx(1.0, abs=0.1)
    assert set(snap.features[2].scores) == {"psi", "js", "chi2"}


def test_small_window_never_decides(
    setup: tuple[FeatureSchema, ReferenceProfile, np.random.Generator],
) -> None:
    schema, profile, rng = setup
    mon = Monitor(schema, profile, MonitorConfig(min_window_rows=200))
    df = _frame(rng, 150, shift=3.0)
    mon.observe(_batch(schema, df), np.full(150, "pos"), None, 0.0)
    snap = mon.snapshot(0.0)
    assert snap.features[0].scores["psi"] > 1.0
    assert not snap.drift_detected


def test_per_feature_threshold_override(
    setup: tuple[FeatureSchema, ReferenceProfile, np.random.Generator],
) -> None:
    schema, profile, rng = setup
    df = _frame(rng, 5000, shift=0.3)  # PSI about 0.09, no bin moves 10 points
    batch, preds = _batch(schema, df), np.full(5000, "pos")
    default, strict = (
        Monitor(schema, profile),
        Monitor(schema, profile, MonitorConfig(per_feature_thresholds={"a": 0.05})),
    )
    default.observe(batch, preds, None, 0.0)
    strict.observe(batch, preds, None, 0.0)
    assert not default.snapshot(0.0).features[0].drift_detected
    feat = strict.snapshot(0.0).features[0]
    assert feat.threshold == 0.05
    assert feat.drift_detected


def test_window_expires_and_totals_keep_growing(
    setup: tuple[FeatureSchema, ReferenceProfile, np.random.Generator],
) -> None:
    schema, profile, rng = setup
    cfg = MonitorConfig(window_buckets=5, bucket_seconds=60.0)
    mon = Monitor(schema, profile, cfg)
    df = _frame(rng, 300)
    preds = np.where(df["a"] > 0, "pos", "neg")
    mon.observe(_batch(schema, df), preds, None, 0.0)
    mon.observe(_batch(schema, df), preds, None, 400.0)
    snap = mon.snapshot(400.0)
    assert snap.window_rows == 300
    assert snap.totals.rows == 600
    assert sum(snap.totals.bin_observations["a"]) == 600
    assert snap.totals.predictions == {
        "neg": int((preds == "neg").sum()) * 2,
        "pos": int((preds == "pos").sum()) * 2,
    }
    assert sum(snap.features[0].window_counts) == 300


def test_totals_are_preinitialised(
    setup: tuple[FeatureSchema, ReferenceProfile, np.random.Generator],
) -> None:
    schema, profile, _ = setup
    snap = Monitor(schema, profile).snapshot(0.0)
    assert set(snap.totals.quality_issues) == {(f, c) for f in schema.names for c in QUALITY_CHECKS}
    assert snap.totals.predictions == {"neg": 0, "pos": 0}
    assert set(snap.totals.labeled) == {(a, p) for a in ("neg", "pos") for p in ("neg", "pos")}
    assert snap.performance.labels == 0 and snap.performance.accuracy is None
    assert snap.estimated_accuracy is None
    assert snap.features[0].bins == profile.features[0].labels


def test_quality_counted_cumulatively(
    setup: tuple[FeatureSchema, ReferenceProfile, np.random.Generator],
) -> None:
    schema, profile, _ = setup
    mon = Monitor(schema, profile)
    batch = schema.columns_from_records(
        [
            {"a": None, "b": 1.0, "c": "x"},
            {"a": 0.1, "b": 1e9, "c": "new"},
            {"a": 0.0, "b": 1, "c": 3},
        ]
    )
    q = mon.observe(batch, ["pos", "neg", "pos"], None, 0.0)
    assert q.rows_with_issues == 3
    mon.observe(batch, ["pos", "neg", "pos"], None, 1.0)
    totals = mon.snapshot(1.0).totals
    assert totals.quality_issues[("a", "missing")] == 2
    assert totals.quality_issues[("b", "out_of_range")] == 2
    assert totals.quality_issues[("c", "unknown_category")] == 4  # "new" and "3"
    assert totals.quality_issues[("c", "wrong_type")] == 2
    assert totals.rows_with_issues == 6


def test_performance_needs_min_labels(
    setup: tuple[FeatureSchema, ReferenceProfile, np.random.Generator],
) -> None:
    schema, profile, rng = setup
    mon = Monitor(schema, profile, MonitorConfig(min_labels=50))
    labels = rng.choice(["pos", "neg"], 80)
    preds = np.where(rng.random(80) < 0.75, labels, "neg")
    mon.record_outcomes(preds[:40], labels[:40], 10.0)
    assert mon.snapshot(10.0).performance.accuracy is None
    mon.record_outcomes(preds[40:], labels[40:], 20.0)
    perf = mon.snapshot(20.0).performance
    assert perf.labels == 80
    assert perf.accuracy == pytest.approx(float(np.mean(preds == labels)))
    labeled = mon.snapshot(20.0).totals.labeled
    assert labeled[("pos", "neg")] == int(np.sum((labels == "pos") & (preds == "neg")))


def test_estimated_accuracy_from_probabilities(
    setup: tuple[FeatureSchema, ReferenceProfile, np.random.Generator],
) -> None:
    schema, profile, rng = setup
    mon = Monitor(schema, profile)
    df = _frame(rng, 10)
    probs = rng.dirichlet([1, 1], size=10)
    mon.observe(_batch(schema, df), np.array(["pos"] * 10), probs, 0.0)
    assert mon.snapshot(0.0).estimated_accuracy == pytest.approx(probs.max(axis=1).mean())


def test_regression_monitor() -> None:
    rng = np.random.default_rng(7)
    ref = pd.DataFrame({"x": rng.normal(size=5000)})
    schema = FeatureSchema.infer(ref)
    profile = ReferenceProfile.build(schema, ref, 3 * ref["x"].to_numpy(), "regression")
    mon = Monitor(schema, profile, MonitorConfig(min_labels=10))
    x = rng.normal(size=500)
    mon.observe({"x": x}, 3 * x + 5.0, None, 0.0)
    mon.record_outcomes(3 * x[:100] + 5.0, 3 * x[:100], 0.0)
    snap = mon.snapshot(0.0)
    assert snap.task == "regression"
    assert snap.prediction.drift_detected
    assert snap.performance.mae == pytest.approx(5.0)
    assert snap.totals.predictions == {}
    assert snap.estimated_accuracy is None


def test_prediction_count_mismatch_names_field(
    setup: tuple[FeatureSchema, ReferenceProfile, np.random.Generator],
) -> None:
    schema, profile, rng = setup
    mon = Monitor(schema, profile)
    with pytest.raises(SchemaError) as info:
        mon.observe(_batch(schema, _frame(rng, 5)), ["pos"], None, 0.0)
    assert info.value.field == "predictions"


def test_small_and_large_batches_bin_identically(
    setup: tuple[FeatureSchema, ReferenceProfile, np.random.Generator],
) -> None:
    schema, profile, rng = setup
    df = _frame(rng, 400)
    df.loc[3, "a"] = np.nan
    df.loc[4, "b"] = np.inf
    preds = np.full(400, "pos")
    one, many = Monitor(schema, profile), Monitor(schema, profile)
    many.observe(_batch(schema, df), preds, None, 0.0)
    for i in range(0, 400, 4):
        part = df.iloc[i : i + 4]
        one.observe(_batch(schema, part), preds[:4], None, 0.0)
    assert one.snapshot(0.0).totals == many.snapshot(0.0).totals


def test_observe_and_snapshot_from_two_threads(
    setup: tuple[FeatureSchema, ReferenceProfile, np.random.Generator],
) -> None:
    schema, profile, rng = setup
    mon = Monitor(schema, profile)
    df = _frame(rng, 20)
    batch = _batch(schema, df)
    preds = np.full(20, "pos")

    def writer() -> None:
        for _ in range(200):
            mon.observe(batch, preds, None, 0.0)

    t = threading.Thread(target=writer)
    t.start()
    while t.is_alive():
        snap = mon.snapshot(0.0)
        assert snap.totals.rows % 20 == 0
    t.join()
    assert mon.snapshot(0.0).totals.rows == 4000


def _odd_records(profile: ReferenceProfile, rng: np.random.Generator, n: int) -> list[dict]:
    """Rows with every kind of value: on a bin edge, one ulp off it, +-inf, NaN, None, out of
    range, unknown and coerced categories, numeric strings."""
    a, b = profile.features[0], profile.features[1]
    edges_a, edges_b = a.edges[a.starts[1:] - 1], b.edges  # a: the drift-bin edges
    a_pool: list[object] = [
        *edges_a.tolist(),
        float(np.nextafter(edges_a[0], np.inf)),
        float(np.nextafter(edges_a[-1], -np.inf)),
        np.inf,
        -np.inf,
        None,
        1e9,
        -0.0,
        "2.5",
        *rng.normal(size=5).tolist(),
    ]
    b_pool: list[object] = [*edges_b[-3:].tolist(), float("nan"), 7, -1e6, *rng.exponential(2, 5)]
    c_pool: list[object] = ["x", "y", "z", "new", None, 3, "x", "y"]
    return [
        {
            "a": a_pool[rng.integers(len(a_pool))],
            "b": b_pool[rng.integers(len(b_pool))],
            "c": c_pool[rng.integers(len(c_pool))],
        }
        for _ in range(n)
    ]


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 64])
def test_every_batch_size_bins_and_counts_like_the_per_feature_reference(
    setup: tuple[FeatureSchema, ReferenceProfile, np.random.Generator], size: int
) -> None:
    schema, profile, rng = setup
    mon = Monitor(schema, profile)
    records = _odd_records(profile, rng, 192)
    preds = rng.choice(["pos", "neg", "other-class"], 192)
    probs = rng.dirichlet([1, 1], 192)
    probs[5] = [np.nan, 0.5]
    expected_fine = [np.zeros(f.n_fine, dtype=np.int64) for f in profile.features]
    expected_quality: dict[tuple[str, str], int] = {}
    issues = 0
    for start in range(0, 192, size):
        batch = schema.columns_from_records(records[start : start + size])
        part = slice(start, start + size)
        q = mon.observe(batch, preds[part], probs[part], 0.0)
        ref = schema.check(batch)
        assert dict(q.counts) == dict(ref.counts)
        assert q.row_mask.tolist() == ref.row_mask.tolist()
        for key, value in ref.counts.items():
            expected_quality[key] = expected_quality.get(key, 0) + value
        issues += ref.rows_with_issues
        for f, fine in zip(profile.features, expected_fine, strict=True):
            idx = f.fine_index(batch[f.name])
            fine += np.bincount(idx[idx >= 0], minlength=f.n_fine)
    snap = mon.snapshot(0.0)
    for f, fine, drift in zip(profile.features, expected_fine, snap.features, strict=True):
        assert snap.totals.bin_observations[f.name] == tuple(f.coarse(fine).tolist())
        assert drift.window_counts == tuple(f.coarse(fine).tolist())
        expected_scores = score_feature(f, fine).scores  # KS and W read the fine bins
        assert drift.scores == pytest.approx(expected_scores, rel=1e-12, abs=1e-15)
    assert dict(snap.totals.quality_issues) == expected_quality
    assert snap.totals.rows_with_issues == issues
    assert snap.totals.predictions == {
        "neg": int((preds == "neg").sum()),
        "pos": int((preds == "pos").sum()),
        "other": int((preds == "other-class").sum()),
    }
    top = np.delete(probs, 5, axis=0).max(axis=1)
    assert snap.estimated_accuracy == pytest.approx(top.mean(), rel=1e-12)


@pytest.mark.parametrize("size", [1, 3, 50])
def test_regression_outputs_bin_alike_at_every_batch_size(size: int) -> None:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"x": rng.normal(size=3000)})
    schema = FeatureSchema.infer(ref)
    profile = ReferenceProfile.build(schema, ref, 2 * ref["x"].to_numpy(), "regression")
    out = profile.output
    values = np.concatenate([out.edges[:10], [np.nan, np.inf, -np.inf], rng.normal(size=37)])
    mon = Monitor(schema, profile)
    for start in range(0, values.size, size):
        part = values[start : start + size]
        mon.observe({"x": part / 2}, part, None, 0.0)
    idx = out.fine_index(values)
    fine = np.bincount(idx[idx >= 0], minlength=out.n_fine)
    assert mon.snapshot(0.0).prediction.window_counts == tuple(out.coarse(fine).tolist())


def test_absent_optional_columns_count_as_missing_at_every_size() -> None:
    schema = FeatureSchema(
        (
            FeatureSpec("a", "numeric", 0.0, 1.0),
            FeatureSpec("b", "numeric", required=False),
            FeatureSpec("c", "categorical", categories=("u", "v"), required=False),
        )
    )
    ref = {"a": np.linspace(0, 1, 100), "b": np.linspace(0, 1, 100), "c": np.array(["u"] * 100)}
    profile = ReferenceProfile.build(schema, ref, np.array(["k"] * 100), "classification")
    for n in (1, 9):
        mon = Monitor(schema, profile)
        q = mon.observe({"a": np.full(n, 0.5)}, ["k"] * n, None, 0.0)
        assert q.nonzero() == {("b", "missing"): n, ("c", "missing"): n}
        assert q.rows_with_issues == n
        assert sum(mon.snapshot(0.0).totals.bin_observations["a"]) == n


def _same_bucket_runs(
    times: list[float], start: int, end: int, bucket: float
) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for i in range(start, end):
        if runs and times[i] // bucket == times[runs[-1][0]] // bucket and i == runs[-1][1]:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


def test_single_rows_across_buckets_match_one_batch_per_bucket(
    setup: tuple[FeatureSchema, ReferenceProfile, np.random.Generator],
) -> None:
    schema, profile, rng = setup
    cfg = MonitorConfig(window_buckets=3, bucket_seconds=10.0)
    rows, vectorised = Monitor(schema, profile, cfg), Monitor(schema, profile, cfg)
    df = _frame(rng, 12)
    times = [0.0, 5.0, 12.0, 1.0, 25.0, 31.0, 31.5, 3.0, 44.0, 45.0, 200.0, 201.0]
    probs = rng.dirichlet([1, 1], 12)
    seen = []
    for i, t in enumerate(times):
        batch, preds = _batch(schema, df.iloc[i : i + 1]), np.array(["pos"])
        rows.observe(batch, preds, probs[i : i + 1], t)
        if i % 3 == 2:  # the same three rows as one batch per bucket, as the feed pools them
            for lo, hi in _same_bucket_runs(times, i - 2, i + 1, 10.0):
                part = _batch(schema, df.iloc[lo:hi])
                vectorised.observe(part, np.array(["pos"] * (hi - lo)), probs[lo:hi], times[hi - 1])
        if i % 3 == 2:  # read in between: every observed row must be visible
            a, b = rows.snapshot(t), vectorised.snapshot(t)
            seen.append(a.window_rows)
            assert a.window_rows == b.window_rows
            assert [f.window_counts for f in a.features] == [f.window_counts for f in b.features]
            assert a.estimated_accuracy == pytest.approx(b.estimated_accuracy, rel=1e-12)
            assert a.totals == b.totals
    assert seen == [3, 3, 4, 2]  # old buckets expired, the late row at t=3 was dropped
    rows.reset()
    assert rows.snapshot(201.0).window_rows == 0
    assert rows.snapshot(201.0).totals.rows == 12


def _states_agree(a: Monitor, b: Monitor) -> None:
    sa, sb = a.state(), b.state()
    assert sa.keys() == sb.keys()
    for key in sa:
        if sa[key].dtype.kind == "f":  # the confidence sums: one row at a time or summed
            np.testing.assert_allclose(sa[key], sb[key], rtol=1e-12)
        else:
            np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)


@pytest.mark.parametrize("clean", [True, False])
def test_rows_logged_one_by_one_count_exactly_what_one_batch_counts(
    setup: tuple[FeatureSchema, ReferenceProfile, np.random.Generator], clean: bool
) -> None:
    # a row observed alone (Watcher.log in a request handler) takes a plain-Python path when
    # it is clean, the batch path otherwise; either way the monitor ends as one batch leaves it
    schema, profile, rng = setup
    if clean:
        records = _frame(rng, 300).to_dict("records")
        a = profile.features[0]
        records[0]["a"] = float(a.edges[0])  # on a bin edge: the bin below, as searchsorted
        records[1]["a"] = -0.0
    else:
        records = _odd_records(profile, rng, 300)
    preds = rng.choice(["pos", "neg", "other-class"], 300).astype(object)
    probs = rng.dirichlet([1, 1], 300)
    probs[7] = [np.nan, 0.5]
    single, batched = Monitor(schema, profile), Monitor(schema, profile)
    for i, record in enumerate(records):
        q = single.observe(
            schema.columns_from_records([record]), preds[i : i + 1], probs[i : i + 1], 5.0
        )
        assert dict(q.counts) == dict(schema.check(schema.columns_from_records([record])).counts)
    batched.observe(schema.columns_from_records(records), preds, probs, 5.0)
    _states_agree(single, batched)
    if clean:  # the plain-Python path did count them (it answers None to send a row on)
        row = schema.columns_from_records(records[2:3])
        assert Monitor(schema, profile)._observe_row(row, preds[2:3], probs[2:3], 5.0) is not None


def test_single_regression_rows_count_what_one_batch_counts() -> None:
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"x": rng.normal(size=3000), "k": rng.choice(["u", "v"], 3000)})
    schema = FeatureSchema.infer(ref)
    profile = ReferenceProfile.build(schema, ref, 2 * ref["x"].to_numpy(), "regression")
    x = np.concatenate([profile.output.edges[:5] / 2, rng.normal(size=60), [np.nan]])
    k = rng.choice(["u", "v", "w"], x.size).astype(object)
    out = np.concatenate([2 * x[:-1], [np.inf]])
    single, batched = Monitor(schema, profile), Monitor(schema, profile)
    for i in range(x.size):
        single.observe({"x": x[i : i + 1], "k": k[i : i + 1]}, out[i : i + 1], None, 1.0)
    batched.observe({"x": x, "k": k}, out, None, 1.0)
    _states_agree(single, batched)
