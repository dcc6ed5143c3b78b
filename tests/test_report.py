from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp, wasserstein_distance
from typer.testing import CliRunner

from inferwatch.cli import app
from inferwatch.core import FeatureSchema, SchemaError, drift_report


def _tables(seed: int, shift: float = 0.0, swing: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame(
        {
            "x": rng.normal(0, 2, 4000),
            "k": rng.poisson(3, 4000).astype(float),
            "c": rng.choice(["a", "b", "c"], 4000, p=[0.5, 0.3, 0.2]),
        }
    )
    p = np.array([0.5 + swing, 0.3 - swing / 2, 0.2 - swing / 2])
    cur = pd.DataFrame(
        {
            "x": rng.normal(shift * 2, 2, 3000),
            "k": rng.poisson(3, 3000).astype(float),
            "c": rng.choice(["a", "b", "c"], 3000, p=p),
        }
    )
    return ref, cur


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_scores_match_scipy(seed: int) -> None:
    ref, cur = _tables(seed, shift=0.2)
    cur.loc[5, "x"] = np.nan  # missing values are left out, as scipy would need them dropped
    report = drift_report(ref, cur)
    x = report.features[0]
    a, b = ref["x"].to_numpy(), cur["x"].dropna().to_numpy()
    assert x.scores["ks"] == pytest.approx(ks_2samp(a, b).statistic, abs=1e-12)
    assert x.scores["wasserstein"] == pytest.approx(wasserstein_distance(a, b) / a.std(), rel=1e-9)
    assert x.current_rows == 2999
    k = report.features[1]  # discrete data: ties everywhere
    ka, kb = ref["k"].to_numpy(), cur["k"].to_numpy()
    assert k.scores["ks"] == pytest.approx(ks_2samp(ka, kb).statistic, abs=1e-12)


def test_shift_and_swing_detected_and_healthy_quiet() -> None:
    healthy = drift_report(*_tables(3))
    assert not healthy.drift_detected
    shifted = drift_report(*_tables(4, shift=0.5))
    assert shifted.drifted == ("x",)
    swung = drift_report(*_tables(5, swing=0.15))
    assert swung.drifted == ("c",)
    c = swung.features[2]
    assert set(c.scores) == {"psi", "js", "chi2"}
    assert c.bins == ("a", "b", "c", "other")
    assert sum(c.current_ratios) == pytest.approx(1.0)


def test_too_few_rows_never_drift() -> None:
    ref, cur = _tables(6, shift=3.0)
    report = drift_report(ref, cur.head(100))
    assert report.features[0].scores["psi"] > 1.0
    assert not report.drift_detected


def test_thresholds_and_json() -> None:
    ref, cur = _tables(7, shift=0.5)
    report = drift_report(ref, cur, per_feature_thresholds={"x": 10.0}, share_threshold=0.5)
    assert not report.drift_detected
    data = json.loads(report.to_json())
    assert data["features"][0]["threshold"] == 10.0
    assert data["rule"]["share_threshold"] == 0.5
    assert data["drift_detected"] is False


def test_missing_column_names_it() -> None:
    ref, cur = _tables(8)
    with pytest.raises(SchemaError) as info:
        drift_report(ref, cur.drop(columns=["k"]))
    assert info.value.field == "k"


def test_table_lists_every_feature_and_verdict() -> None:
    ref, cur = _tables(9, shift=0.5)
    text = drift_report(ref, cur, schema=FeatureSchema.infer(ref, exclude=["k"])).to_table()
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["feature", "kind", "rows"]
    assert lines[2].startswith("x") and lines[2].endswith("DRIFT")
    assert lines[3].startswith("c") and lines[3].endswith("ok")
    assert "drift in 1 of 2 features: x" in text


def test_cli_report_formats_and_exit_codes(tmp_path: Path) -> None:
    ref, cur = _tables(10, shift=0.5)
    ref.to_csv(tmp_path / "ref.csv", index=False)
    cur.to_parquet(tmp_path / "cur.parquet")
    runner = CliRunner()
    args = ["report", str(tmp_path / "ref.csv"), str(tmp_path / "cur.parquet")]
    out = runner.invoke(app, [*args, "--format", "json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["drifted_features"] == ["x"]
    assert runner.invoke(app, [*args, "--fail-on-drift"]).exit_code == 1
    quiet = runner.invoke(app, [*args, "--fail-on-drift", "--psi-threshold", "5", "--bins", "4"])
    assert "drift in" in quiet.output or "no drift" in quiet.output
    bad = runner.invoke(app, ["report", str(tmp_path / "nope.csv"), str(tmp_path / "cur.parquet")])
    assert bad.exit_code == 2


def test_string_and_object_columns_give_the_same_report() -> None:
    ref, cur = _tables(11, shift=0.3, swing=0.1)
    cur.loc[[3, 8], "c"] = [None, "unseen"]  # a missing and an unknown category
    as_objects = [t.astype({"c": object}) for t in (ref, cur)]
    as_strings = [t.astype({"c": "string"}) for t in (ref, cur)]
    a = drift_report(*as_objects)
    b = drift_report(*as_strings)
    assert a.to_dict() == b.to_dict()
    c = b.features[2]
    assert c.current_rows == 2999  # the missing value is left out
    assert c.current_ratios[-1] == pytest.approx(1 / 2999)  # "unseen" counts as other


def test_cli_report_exclude_both_forms_target_and_unknown_names(tmp_path: Path) -> None:
    ref, cur = _tables(12, shift=0.5)
    # a label column whose mix moved: reported as drift unless it is named the target
    ref["label"] = np.where(ref.x > 0, "yes", "no")
    cur["label"] = np.where(cur.x > 0, "yes", "no")
    ref["id"], cur["id"] = np.arange(len(ref)), np.arange(len(cur)) + 10_000
    ref.to_csv(tmp_path / "ref.csv", index=False)
    cur.to_csv(tmp_path / "cur.csv", index=False)
    runner = CliRunner()
    args = ["report", str(tmp_path / "ref.csv"), str(tmp_path / "cur.csv"), "--format", "json"]

    def features(*extra: str) -> list[str]:
        out = runner.invoke(app, [*args, *extra])
        assert out.exit_code == 0, out.output
        return sorted(f["name"] for f in json.loads(out.output)["features"])

    assert "label" in features() and "id" in features()
    comma = features("--exclude", "id,k", "--target", "label")
    repeated = features("--exclude", "id", "--exclude", "k", "--target", "label")
    assert comma == repeated == ["c", "x"]
    bad = runner.invoke(app, [*args, "--exclude", "id,nope", "--target", "lable"])
    assert bad.exit_code == 2
    assert "'nope'" in bad.output and "'lable'" in bad.output and "'id'" not in bad.output


def test_parquet_files_give_the_in_memory_report_and_forced_categoricals_hold(
    tmp_path: Path,
) -> None:
    """The report of two Parquet files read lazily (numeric columns typed by the file, not
    read to infer the schema) equals the report of the same tables in memory; a numeric
    column named categorical is still treated as one."""
    from inferwatch.tables import open_columns

    ref, cur = _tables(5, shift=0.4, swing=0.1)
    ref.to_parquet(tmp_path / "ref.parquet")
    cur.to_parquet(tmp_path / "cur.parquet")
    files = (open_columns(tmp_path / "ref.parquet"), open_columns(tmp_path / "cur.parquet"))
    assert drift_report(*files).to_dict() == drift_report(ref, cur).to_dict()
    forced = drift_report(*files, categorical=["k"])
    k = next(f for f in forced.features if f.name == "k")
    assert k.kind == "categorical"
    assert k == next(f for f in drift_report(ref, cur, categorical=["k"]).features if f.name == "k")
