"""Store URLs: which engine and where, and how to print one without its password.

``sqlite:///relative/path`` and ``sqlite:////absolute/path`` (SQLAlchemy's spelling) name a
SQLite file; ``postgresql://user@host:port/db`` (or ``postgres://``, or any libpq URL with
query options such as ``?sslmode=require``) a PostgreSQL database. The password comes from a
file (``INFERWATCH_STORE_PASSWORD_FILE``) or libpq's own environment (``PGPASSWORD``,
``PGPASSFILE``); one written into the URL works too but is never printed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from inferwatch.store.base import StoreError

if TYPE_CHECKING:
    from inferwatch.store.base import PredictionStore

_SCHEMES = ("sqlite", "postgresql", "postgres")
_USERINFO_PASSWORD = re.compile(r"^([a-z]+://[^:/@?#]*):[^@/?#]*@", re.IGNORECASE)
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``.

    >>> redact("postgresql://app:s3cret@db:5432/inferwatch?password=x&sslmode=require")
    'postgresql://app:***@db:5432/inferwatch?password=***&sslmode=require'
    """
    return _QUERY_PASSWORD.sub(r"\1***", _USERINFO_PASSWORD.sub(r"\1:***@", url))


def scheme(url: str) -> str:
    """The engine a store URL names: ``sqlite`` or ``postgresql``."""
    head = url.split(":", 1)[0].lower() if "://" in url else ""
    if head not in _SCHEMES:
        raise StoreError(f"store URL {redact(url)!r}: use sqlite:///path or postgresql://...")
    return "sqlite" if head == "sqlite" else "postgresql"


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///`` URL.

    >>> sqlite_path("sqlite:///data/p.sqlite3"), sqlite_path("sqlite:////var/p.sqlite3")
    (PosixPath('data/p.sqlite3'), PosixPath('/var/p.sqlite3'))
    """
    if not url.lower().startswith("sqlite:///") or len(url) <= len("sqlite:///"):
        raise StoreError(f"store URL {url!r}: a SQLite URL is sqlite:///path")
    return Path(url[len("sqlite:///") :])


def sqlite_url(path: Path) -> str:
    """The URL of the SQLite file ``path``."""
    return f"sqlite:///{path}"


def open_store(url: str, *, password_file: Path | None = None) -> PredictionStore:
    """Open (creating or migrating) the store ``url`` names."""
    if scheme(url) == "sqlite":
        from inferwatch.store.sqlite import SQLiteStore

        return SQLiteStore(sqlite_path(url))
    try:
        from inferwatch.store.postgres import PostgresStore
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise StoreError(
            "a PostgreSQL store needs psycopg: pip install 'inferwatch[postgres]'"
        ) from exc
    password = None
    if password_file is not None:
        password = password_file.read_text(encoding="utf-8").strip() or None
    return PostgresStore(url, password=password)


__all__ = ["open_store", "redact", "scheme", "sqlite_path", "sqlite_url"]
