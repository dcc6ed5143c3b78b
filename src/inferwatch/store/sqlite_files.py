"""Files of ``SQLiteStore``: creating the file privately, naming why it cannot be opened,
and the size of a file that may be gone."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from inferwatch.store.protocol import StoreError


def open_error(path: Path, exc: BaseException) -> StoreError:
    """What keeps the store at ``path`` from opening, said in one line."""
    text = str(exc).lower()
    if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "full" in text:
        why = "the disk is full"
    elif isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        why = f"no permission to write there ({exc.strerror})"
    elif "readonly" in text or "read-only" in text:
        why = "the file or its directory is read-only"
    elif isinstance(exc, OSError) or "unable to open" in text or "i/o error" in text:
        why = f"cannot create or write the file ({exc})"
    else:
        return StoreError(f"{path}: not a usable prediction store ({exc})")
    return StoreError(f"{path}: cannot open the prediction store: {why}")


def create_private(path: Path) -> None:
    """Create ``path`` (and its directory) readable by its owner only, unless it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


__all__ = ["create_private", "open_error", "size_of"]
