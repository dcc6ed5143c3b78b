"""``LakeCursor``: how far a lake has been read, durable across restarts.

The cursor names every file read to its end (``done``) and the file being read with the
number of its rows already stored (``current``, ``row``). It is written atomically (a
temporary file, ``fsync``, ``os.replace``, then the directory's ``fsync``), and only after
the service answered that the rows before it are stored: a crash at any point re-reads at
most the one batch that was in flight, and with source ids the service refuses that batch
as duplicates (409) rather than scoring it twice.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class LakeCursor:
    path: Path
    source: str
    done: set[str] = field(default_factory=set)
    current: str | None = None
    row: int = 0

    @classmethod
    def load(cls, path: Path, source: str) -> LakeCursor:
        """The cursor saved at ``path`` (a fresh one when there is none)."""
        if not path.exists():
            return cls(path, source)
        data: dict[str, Any] = json.loads(path.read_text())
        if data.get("source") != source:
            raise ValueError(
                f"cursor {path} belongs to source {data.get('source')!r}, not {source!r}; "
                "give each source its own --cursor"
            )
        return cls(path, source, set(data["done"]), data.get("current"), int(data.get("row", 0)))

    def position(self, name: str) -> int:
        """Rows of ``name`` already stored."""
        return self.row if name == self.current else 0

    def advance(self, name: str, row: int, finished: bool) -> None:
        """``name`` is stored up to ``row`` (to its end when ``finished``); saved at once."""
        if finished:
            self.done.add(name)
            self.current, self.row = None, 0
        else:
            self.current, self.row = name, row
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "source": self.source,
            "done": sorted(self.done),
            "current": self.current,
            "row": self.row,
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as fh:
            json.dump(body, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


__all__ = ["LakeCursor"]
