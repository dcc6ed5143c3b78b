from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from inferwatch.core import QUALITY_CHECKS, FeatureSchema, FeatureSpec, SchemaError
from inferwatch.lifecycle.modeldir import read_schema, write_schema
from inferwatch.server.inputs import split_batch


@pytest.fixture
def schema() -> FeatureSchema:
    df = pd.DataFrame(
        {
            "x": [0.0, 5.0, 10.0, 2.5],
            "n": [1, 2, 3, 4],
            "color": ["red", "blue", "red", None],
        }
    )
    return FeatureSchema.infer(df)


def test_infer_kinds_ranges_and_categories(schema: FeatureSchema) -> None:
    x = schema["x"]
    assert x.kind == "numeric"
    assert x.min == pytest.approx(-0.5) and x.max == pytest.approx(10.5)  # 5% margin each side
    assert schema["n"].kind == "numeric"
    assert schema["color"] == FeatureSpec("color", "categorical", categories=("blue", "red"))


def test_infer_from_numpy_with_names_forced_categorical_and_excluded() -> None:
    arr = np.array([[1.0, 0.0, 7.0], [2.0, 1.0, 8.0]])
    s = FeatureSchema.infer(arr, names=["a", "b", "id"], categorical=["b"], exclude=["id"])
    assert s.names == ("a", "b")
    assert s["b"].categories == ("0.0", "1.0")


def test_json_round_trip_through_file(schema: FeatureSchema, tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    write_schema(path, schema)
    assert json.loads(path.read_text())["format_version"] == 1
    assert read_schema(path) == schema


def test_records_build_typed_columns(schema: FeatureSchema) -> None:
    batch = schema.columns_from_records(
        [{"x": 1, "n": 2.5, "color": "red", "extra": "ignored"}, {"x": None, "n": 3, "color": None}]
    )
    assert batch["x"].dtype == np.float64
    assert np.isnan(batch["x"][1])
    assert batch["color"].dtype == object
    assert batch["color"].tolist() == ["red", None]
    assert "extra" not in batch


def test_split_builds_same_batch_as_records(schema: FeatureSchema) -> None:
    split = split_batch(schema, ["color", "x", "n"], [["blue", 3.0, 1], ["red", 4.0, 2]])
    recs = schema.columns_from_records(
        [{"x": 3.0, "n": 1, "color": "blue"}, {"x": 4.0, "n": 2, "color": "red"}]
    )
    for name in schema.names:
        assert split[name].tolist() == recs[name].tolist()


@pytest.mark.parametrize(
    ("records", "field", "check"),
    [
        ([{"x": 1.0, "color": "red"}], "n", "missing"),
        ([{"x": "abc", "n": 1, "color": "red"}], "x", "wrong_type"),
        ([{"x": True, "n": 1, "color": "red"}], "x", "wrong_type"),
        ([{"x": [1.0], "n": 1, "color": "red"}], "x", "wrong_type"),
        ([{"x": 1.0, "n": 1, "color": {"a": 1}}], "color", "wrong_type"),
        ([["not", "a", "dict"]], "records[0]", "wrong_type"),
    ],
)
def test_unusable_records_raise_naming_the_field(
    schema: FeatureSchema, records: list[object], field: str, check: str
) -> None:
    with pytest.raises(SchemaError) as info:
        schema.columns_from_records(records)  # type: ignore[arg-type]  # deliberately bad input
    assert info.value.field == field
    assert info.value.check == check
    assert field in str(info.value)


@pytest.mark.parametrize(
    ("columns", "data", "field"),
    [
        (["x", "n"], [[1.0, 2.0]], "color"),
        (["x", "n", "color"], [[1.0, 2.0]], "data[0]"),
        (["x", "n", "color"], [[1.0, "zz", "red"]], "n"),
        (["x", "n", "color"], "nope", "data"),
    ],
)
def test_unusable_split_raises_naming_the_field(
    schema: FeatureSchema, columns: list[str], data: object, field: str
) -> None:
    with pytest.raises(SchemaError) as info:
        split_batch(schema, columns, data)  # type: ignore[arg-type]  # deliberately bad input
    assert info.value.field == field


def test_check_counts_every_issue_kind(schema: FeatureSchema) -> None:
    batch = schema.columns_from_records(
        [
            {"x": 1.0, "n": 2, "color": "red"},  # clean
            {"x": None, "n": 2, "color": "red"},  # missing x
            {"x": 1e9, "n": 2, "color": "green"},  # out of range + unknown category
            {
                "x": "inf",
                "n": 2,
                "color": 7,
            },  # coerced string -> non_finite + wrong_type; 7 coerced
            {"x": "2.5", "n": 2, "color": None},  # coerced number string + missing color
        ]
    )
    q = schema.check(batch)
    assert set(q.counts) == {(f, c) for f in schema.names for c in QUALITY_CHECKS}
    assert q.nonzero() == {
        ("x", "missing"): 1,
        ("x", "out_of_range"): 1,
        ("x", "non_finite"): 1,
        ("x", "wrong_type"): 2,
        ("color", "unknown_category"): 2,  # "green" and "7"
        ("color", "wrong_type"): 1,
        ("color", "missing"): 1,
    }
    assert q.row_mask.tolist() == [False, True, True, True, True]
    assert q.rows_with_issues == 4


def test_optional_column_absent_is_missing_not_error() -> None:
    s = FeatureSchema(
        (FeatureSpec("a", "numeric", 0, 1), FeatureSpec("b", "numeric", required=False))
    )
    batch = s.columns_from_records([{"a": 0.5}])
    assert s.check(batch).nonzero() == {("b", "missing"): 1}


NUMERIC = FeatureSchema((FeatureSpec("a", "numeric"), FeatureSpec("b", "numeric")))


def test_numeric_records_build_float_columns_with_nothing_coerced() -> None:
    batch = NUMERIC.columns_from_records([{"b": 2, "a": 1.5, "extra": "x"}, {"a": -3, "b": 0.25}])
    assert list(batch) == ["a", "b"]
    assert batch["a"].dtype == batch["b"].dtype == np.float64
    assert batch["a"].tolist() == [1.5, -3.0] and batch["b"].tolist() == [2.0, 0.25]
    assert batch.coerced_names == () and not any(m.any() for m in batch.coerced.values())


def test_numeric_records_of_other_values_keep_every_rule() -> None:
    """Text, null, absent, boolean or huge values in an all-numeric schema: converted and
    counted, or refused naming the field, exactly as column by column."""
    batch = NUMERIC.columns_from_records([{"a": "5.5", "b": None}, {"a": 1, "b": 2.0}])
    assert batch["a"].tolist() == [5.5, 1.0] and np.isnan(batch["b"][0])
    assert batch.coerced_names == ("a",) and batch.coerced["a"].tolist() == [True, False]
    for records, field, check in [
        ([{"a": 1.0, "b": 2.0}, {"a": 1.0}], "b", "missing"),
        ([{"a": 1.0, "b": True}], "b", "wrong_type"),
        ([{"a": 10**400, "b": 1.0}], "a", "non_finite"),
        ([{"a": 1.0, "b": 2.0}, [1.0, 2.0]], "records[1]", "wrong_type"),
    ]:
        with pytest.raises(SchemaError) as info:
            NUMERIC.columns_from_records(records)  # type: ignore[arg-type]  # bad on purpose
        assert (info.value.field, info.value.check) == (field, check)
