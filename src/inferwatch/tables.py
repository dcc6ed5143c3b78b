"""Reading CSV and Parquet tables as columns, without pandas.

``read_columns`` reads a file with pyarrow (``pyarrow.parquet`` or ``pyarrow.csv``, only the
columns asked for) and hands back a mapping the core takes as it is: numeric columns as numpy
arrays (no copy when they have no missing values; missing values become NaN) and every other
column as a pyarrow dictionary of strings, so distinct values and category codes are computed
in Arrow without one Python ``str`` per value. ``open_columns`` reads a Parquet file's columns
one at a time, when asked. The batch report (``inferwatch report``) reads its tables this way:
importing pandas alone costs more time and memory than the report itself.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# pandas' default missing-value markers (pyarrow's list lacks the last two)
_CSV_NULLS = [
    *("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND"),
    *("1.#QNAN", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null", "None", "<NA>"),
]


class TableError(ValueError):
    """A file that cannot be read as a table (missing, unknown suffix, unparseable)."""


def table_format(path: Path) -> str:
    """``parquet``, ``csv`` or ``tsv`` from the file name (a directory is a Parquet dataset)."""
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")) or path.is_dir():
        return "parquet"
    if name.endswith((".tsv", ".tsv.gz")):
        return "tsv"
    if name.endswith((".csv", ".csv.gz", ".txt")):
        return "csv"
    raise TableError(f"data file {path}: expected .csv, .tsv or .parquet")


def _read_arrow(path: Path, columns: Sequence[str] | None) -> Any:
    import pyarrow as pa

    kind = table_format(path)
    wanted = list(columns) if columns is not None else None
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            if path.is_dir():  # a dataset of several files
                return pq.read_table(path, columns=wanted)
            # string columns come as dictionaries (codes + distinct values: no string copies);
            # ParquetFile, not read_table, whose handling of pandas metadata imports pandas
            schema = pq.ParquetFile(path).schema_arrow
            strings = [f.name for f in schema if _stringy(f.type)]
            file = pq.ParquetFile(path, read_dictionary=strings)
            return file.read(columns=wanted, use_pandas_metadata=False)
        import pyarrow.csv as pcsv

        parse = pcsv.ParseOptions(delimiter="\t" if kind == "tsv" else ",")
        convert = pcsv.ConvertOptions(
            include_columns=wanted,
            auto_dict_encode=True,
            strings_can_be_null=True,  # an empty field is missing, as pandas reads it
            null_values=_CSV_NULLS,
        )
        return pcsv.read_csv(path, parse_options=parse, convert_options=convert)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise TableError(f"cannot read {path}: {exc}") from exc


def _numbers(column: Any) -> np.ndarray:
    """A pyarrow integer or float array as numpy, NaN for missing values. Read from the
    buffers: ``to_numpy`` would import pandas."""
    n, off = len(column), column.offset
    dtype = np.dtype(column.type.to_pandas_dtype())
    values = np.frombuffer(column.buffers()[1], dtype=dtype, count=off + n)[off:]
    if not column.null_count:
        return values
    bits = np.frombuffer(column.buffers()[0], dtype=np.uint8)
    valid = np.unpackbits(bits, bitorder="little", count=off + n)[off:].astype(bool)
    out = values.astype(np.float64)
    out[~valid] = np.nan
    return out


def arrow_column(column: Any) -> Any:
    """One pyarrow column as the core takes it: a numpy array for numbers (NaN for missing),
    else a pyarrow string array or dictionary of strings (booleans as ``True``/``False``, like
    pandas prints them)."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    t = column.type
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return _numbers(column)
    if pa.types.is_dictionary(t) and pa.types.is_string(t.value_type):
        return column
    if pa.types.is_boolean(t):
        import pyarrow.compute as pc  # here only: its kernels cost tens of MB of memory

        return pc.utf8_capitalize(column.cast(pa.string()))
    return column.cast(pa.string())


def _parquet_reader(path: Path, dictionaries: Sequence[str] | None = None) -> Any:
    """pyarrow's Parquet reader on the local file ``path`` (string columns ``dictionaries``
    read as dictionaries). ``pyarrow.parquet`` wraps this reader, but importing it loads
    every remote filesystem pyarrow has (S3, GCS, Azure, HDFS and their TLS library): 13 MB
    of resident memory that a local file never needs, a tenth of the report's whole-process
    peak. The wrapper is the fallback should the reader move."""
    import pyarrow as pa

    source = pa.OSFile(str(path))
    try:
        from pyarrow._parquet import ParquetReader

        reader = ParquetReader()
        reader.open(source, read_dictionary=dictionaries, pre_buffer=False)
    except (ImportError, AttributeError, TypeError):  # pragma: no cover - another pyarrow
        import pyarrow.parquet as pq

        return pq.ParquetFile(source, read_dictionary=dictionaries, pre_buffer=False).reader
    return reader


class ParquetColumns(Mapping[str, Any]):
    """The columns of one Parquet file, each read (and converted by ``arrow_column``) when it
    is asked for and not kept: a report going feature by feature holds one column of each
    table at a time, not both tables."""

    def __init__(self, path: Path, columns: Sequence[str] | None = None) -> None:
        import pyarrow as pa

        try:
            schema = _parquet_reader(path).schema_arrow
            self._file = _parquet_reader(path, [f.name for f in schema if _stringy(f.type)])
            self.num_rows = self._file.metadata.num_rows
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise TableError(f"cannot read {path}: {exc}") from exc
        self._path = path
        names = [n for n in schema.names if not n.startswith("__index_level_")]
        if columns is not None:
            missing = [c for c in columns if c not in names]
            if missing:
                raise TableError(f"{path}: no column {missing[0]!r}")
            names = list(columns)
        self._names = names
        self.numeric_names = frozenset(
            f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
        )
        """Columns of integer or floating type: numbers without reading them."""

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        import pyarrow as pa

        try:
            index = self._file.column_name_idx(name)
            table = self._file.read_all(column_indices=[index], use_threads=False)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise TableError(f"cannot read {self._path}: {exc}") from exc
        return arrow_column(table.column(0))

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names


def _stringy(t: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def lean_memory() -> None:
    """Tune the process's allocators for reading and scoring one column after another
    (``inferwatch report``):

    - pyarrow allocates with the C library's allocator: its default pool keeps freed pages for
      reuse, which raises the peak by tens of megabytes;
    - glibc serves column-sized arrays (up to 32 MB) from its heap and keeps up to 128 MB of
      freed heap, where by default each such array is a fresh ``mmap`` whose pages fault in
      one by one and are unmapped again on free: measured, a 100k-row report 23% faster at
      the same peak. Other C libraries are left as they are."""
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no C library symbols here, or not glibc's
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's <malloc.h>
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 128 << 20)


def open_columns(path: str | Path, columns: Sequence[str] | None = None) -> Mapping[str, Any]:
    """Like ``read_columns``, but a single Parquet file's columns are read one at a time
    when they are asked for (``ParquetColumns``): what the batch report uses."""
    p = Path(path)
    if not p.exists():
        raise TableError(f"data file {p} does not exist")
    if table_format(p) == "parquet" and not p.is_dir():
        return ParquetColumns(p, columns)
    return read_columns(p, columns)


def read_columns(path: str | Path, columns: Sequence[str] | None = None) -> dict[str, Any]:
    """The columns of a CSV (``.csv``, ``.csv.gz``, ``.tsv``) or Parquet (``.parquet``,
    ``.pq``) file, in file order (only ``columns`` when given).

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "t.csv").write_text("x,c\\n1.5,a\\n,b\\n")
    >>> cols = read_columns(d / "t.csv")
    >>> cols["x"].tolist(), cols["c"].to_pylist()
    ([1.5, nan], ['a', 'b'])
    """
    p = Path(path)
    if not p.exists():
        raise TableError(f"data file {p} does not exist")
    table = _read_arrow(p, columns)
    return {
        str(name): arrow_column(table.column(i))
        for i, name in enumerate(table.column_names)
        if not str(name).startswith("__index_level_")  # a pandas index written as a column
    }


__all__ = [
    "ParquetColumns",
    "TableError",
    "arrow_column",
    "lean_memory",
    "open_columns",
    "read_columns",
    "table_format",
]
