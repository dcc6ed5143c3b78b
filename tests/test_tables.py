"""Reading report tables with pyarrow alone: the same columns, and the same report, as pandas."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from inferwatch.core import drift_report
from inferwatch.tables import TableError, open_columns, read_columns


def _frame(seed: int, n: int = 3000, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    x[::97] = np.nan  # missing numbers
    c = rng.choice(["red", "green", "blue"], n).astype(object)
    c[::89] = None  # missing categories
    return pd.DataFrame(
        {
            "x": x,
            "k": rng.integers(0, 5, n),
            "c": c,
            "flag": rng.random(n) < 0.3,
        }
    )


@pytest.mark.parametrize("suffix", ["parquet", "csv", "tsv"])
def test_report_on_files_equals_report_on_pandas(tmp_path: Path, suffix: str) -> None:
    ref, cur = _frame(1), _frame(2, shift=1.0)
    paths = [tmp_path / f"ref.{suffix}", tmp_path / f"cur.{suffix}"]
    for frame, path in zip((ref, cur), paths, strict=True):
        if suffix == "parquet":
            frame.to_parquet(path)
        else:
            frame.to_csv(path, index=False, sep="\t" if suffix == "tsv" else ",")
    sep = "\t" if suffix == "tsv" else ","
    read = [pd.read_parquet(p) if suffix == "parquet" else pd.read_csv(p, sep=sep) for p in paths]
    expected = drift_report(*read).to_dict()
    assert drift_report(*(open_columns(p) for p in paths)).to_dict() == expected
    assert drift_report(*(read_columns(p) for p in paths)).to_dict() == expected
    assert expected["drifted_features"] == ["x"]
    flag = next(f for f in expected["features"] if f["name"] == "flag")
    assert flag["kind"] == "categorical" and set(flag["bins"]) >= {"True", "False"}


def test_columns_are_read_as_asked(tmp_path: Path) -> None:
    frame = _frame(3, n=50)
    frame.index = frame.index + 100  # written as a column by pandas: not a feature
    frame.to_parquet(tmp_path / "t.parquet")
    cols = open_columns(tmp_path / "t.parquet")
    assert list(cols) == ["x", "k", "c", "flag"]
    assert np.isnan(cols["x"][0]) and cols["k"].dtype.kind == "i"
    only = open_columns(tmp_path / "t.parquet", ["c"])
    assert list(only) == ["c"]
    with pytest.raises(TableError, match="'nope'"):
        open_columns(tmp_path / "t.parquet", ["nope"])
    with pytest.raises(TableError, match="does not exist"):
        open_columns(tmp_path / "missing.csv")
    (tmp_path / "t.xlsx").write_text("x")
    with pytest.raises(TableError, match=r"expected \.csv"):
        read_columns(tmp_path / "t.xlsx")


def _report_loading(files: list[Path], modules: tuple[str, ...]) -> tuple[str, list[str]]:
    """Run ``inferwatch report`` on ``files`` in a fresh interpreter: its output, and which of
    ``modules`` it loaded."""
    code = (
        "import sys\n"
        "from inferwatch.cli import app\n"
        "try:\n"
        f"    app(['report', *{[str(f) for f in files]!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('loaded:', ','.join(m for m in {modules!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    *out, last = done.stdout.strip().splitlines()
    return "\n".join(out), [m for m in last.removeprefix("loaded:").strip().split(",") if m]


def test_report_imports_neither_pandas_nor_scipy(tmp_path: Path) -> None:
    """What makes ``inferwatch report`` light: its process never loads pandas, scipy or
    scikit-learn (each costs more memory than the report of a 100k-row table)."""
    _frame(4).to_parquet(tmp_path / "ref.parquet")
    _frame(5, shift=1.0).to_csv(tmp_path / "cur.csv", index=False)
    files = [tmp_path / "ref.parquet", tmp_path / "cur.csv"]
    out, loaded = _report_loading(files, ("pandas", "scipy", "sklearn"))
    assert "drift in 1 of 4 features: x" in out
    assert loaded == []


def test_parquet_report_leaves_arrow_compute_and_remote_filesystems_unloaded(
    tmp_path: Path,
) -> None:
    """Of two Parquet files, string columns come as dictionaries whose categories and codes
    numpy finds: Arrow's compute kernels (tens of MB once loaded) stay out of the process, and
    so do pyarrow's remote filesystems (S3, GCS, ...: 13 MB) that local files never need."""
    _frame(4).drop(columns="flag").to_parquet(tmp_path / "ref.parquet")  # booleans: see
    _frame(5, shift=1.0).drop(columns="flag").to_parquet(tmp_path / "cur.parquet")  # tables.py
    files = [tmp_path / "ref.parquet", tmp_path / "cur.parquet"]
    out, loaded = _report_loading(files, ("pyarrow.compute", "pyarrow.fs", "pyarrow._s3fs"))
    assert "drift in 1 of 3 features: x" in out
    assert loaded == []
