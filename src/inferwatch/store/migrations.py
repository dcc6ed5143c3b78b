"""Versioned schema migrations, one list for every store engine.

Each step has a version, what it changes, and its statements for each engine (the engines
differ in types, not in tables). A store applies, in one transaction when it opens, every
step above the version it finds, and refuses a store whose version is newer than the last
step here. SQLite keeps the version in ``PRAGMA user_version``; PostgreSQL in the one-row
table ``inferwatch_schema`` (the migrating replica holds an advisory lock, so replicas that
start together migrate once).

Version 1 (one JSON record per prediction) predates this list: only old SQLite files have
it, and the SQLite store regroups their rows into batches while applying version 2.
"""

from __future__ import annotations

from dataclasses import dataclass

# A ``batches`` row holds the predictions written together: their ids (row order) and their
# features (and probabilities) as one columnar JSON blob. A ``predictions`` row is slim: id,
# its batch and row in it, prediction, confidence; the id is its only index (a batch finds its
# predictions through its id list), so inserting a row touches one b-tree. SQLite keeps
# ``prediction`` and ``label`` untyped (str or float); PostgreSQL keeps a text and a number
# column, one of them set.
_V2_SQLITE = """
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    model TEXT NOT NULL,
    model_version TEXT NOT NULL,
    rows INTEGER NOT NULL,
    ids TEXT NOT NULL,
    features BLOB NOT NULL,
    probabilities BLOB
);
CREATE INDEX IF NOT EXISTS batches_ts ON batches (ts);
CREATE TABLE IF NOT EXISTS predictions (
    id TEXT PRIMARY KEY,
    batch INTEGER NOT NULL,
    row INTEGER NOT NULL,
    prediction NOT NULL,
    confidence REAL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS labels (
    id TEXT PRIMARY KEY,
    label NOT NULL,
    ts REAL NOT NULL,
    received REAL NOT NULL,
    delay REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS labels_received ON labels (received);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
"""

_V2_POSTGRES = """
CREATE TABLE batches (
    id BIGSERIAL PRIMARY KEY,
    ts DOUBLE PRECISION NOT NULL,
    model TEXT NOT NULL,
    model_version TEXT NOT NULL,
    rows INTEGER NOT NULL,
    ids TEXT[] NOT NULL,
    features BYTEA NOT NULL,
    probabilities BYTEA
);
CREATE INDEX batches_ts ON batches (ts);
CREATE TABLE predictions (
    id TEXT PRIMARY KEY,
    batch BIGINT NOT NULL,
    pos INTEGER NOT NULL,
    prediction_text TEXT,
    prediction_num DOUBLE PRECISION,
    confidence DOUBLE PRECISION
);
CREATE TABLE labels (
    id TEXT PRIMARY KEY,
    label_text TEXT,
    label_num DOUBLE PRECISION,
    ts DOUBLE PRECISION NOT NULL,
    received DOUBLE PRECISION NOT NULL,
    delay DOUBLE PRECISION NOT NULL
);
CREATE INDEX labels_received ON labels (received);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
"""


# Labels known when their rows are scored (``/predict`` with ``labels``) are kept in place: a
# ``label`` on the prediction row, written in the row's own insert, and on the batch row the
# time they were received and how many there are. A partial index holds both for the batches
# that have such labels: counting labels received in a span reads only it (on the batch row
# they sit after the blobs, which SQLite would have to walk through to reach them). The
# ``labels`` table keeps the labels that come later (``/feedback``): each costs a row keyed by
# id and an index entry, which labels sent with their rows no longer pay.
_V3_SQLITE = """
ALTER TABLE predictions ADD COLUMN label;
ALTER TABLE batches ADD COLUMN received REAL;
ALTER TABLE batches ADD COLUMN labelled INTEGER NOT NULL DEFAULT 0;
CREATE INDEX batches_received ON batches (received, labelled) WHERE received IS NOT NULL;
"""

_V3_POSTGRES = """
ALTER TABLE predictions ADD COLUMN label_text TEXT, ADD COLUMN label_num DOUBLE PRECISION;
ALTER TABLE batches ADD COLUMN received DOUBLE PRECISION,
    ADD COLUMN labelled INTEGER NOT NULL DEFAULT 0;
CREATE INDEX batches_received ON batches (received, labelled) WHERE received IS NOT NULL;
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    summary: str
    sqlite: str
    postgres: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        2,
        "batches: one columnar blob per transaction and one slim row per prediction",
        _V2_SQLITE,
        _V2_POSTGRES,
    ),
    Migration(
        3,
        "labels sent with their rows kept in place, on the prediction and batch rows",
        _V3_SQLITE,
        _V3_POSTGRES,
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def pending(version: int) -> list[Migration]:
    """The steps a store at ``version`` still needs, oldest first."""
    return [m for m in MIGRATIONS if m.version > version]


def statements(script: str) -> list[str]:
    """The statements of ``script`` (none of ours has a ``;`` inside a literal)."""
    return [s.strip() for s in script.split(";") if s.strip()]


__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "pending", "statements"]
