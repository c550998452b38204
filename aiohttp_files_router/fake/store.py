"""The fake's state: files on disk (so gigabyte tests stay flat in memory), objects in dicts."""

from __future__ import annotations

import itertools
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FakeAccount", "FileRecord", "new_id"]


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


@dataclass
class FileRecord:
    id: str
    filename: str
    purpose: str
    bytes: int
    created_at: int
    path: Path
    seq: int
    expires_at: int | None = None

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
        }
        if self.expires_at is not None:
            obj["expires_at"] = self.expires_at
        return obj


@dataclass
class FakeAccount:
    """One provider account: its own files, batches and fine-tuning jobs, reached with its
    own key."""

    name: str
    root: Path
    files: dict[str, FileRecord] = field(default_factory=dict)
    batches: dict[str, Any] = field(default_factory=dict)
    fine_tunes: dict[str, Any] = field(default_factory=dict)
    _seq: itertools.count[int] = field(default_factory=itertools.count)

    def next_seq(self) -> int:
        return next(self._seq)

    def new_file_path(self, file_id: str) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root / file_id

    def add_file(
        self, file_id: str, filename: str, purpose: str, size: int, expires_after: int | None
    ) -> FileRecord:
        now = int(time.time())
        record = FileRecord(
            id=file_id,
            filename=filename,
            purpose=purpose,
            bytes=size,
            created_at=now,
            path=self.root / file_id,
            seq=self.next_seq(),
            expires_at=now + expires_after if expires_after is not None else None,
        )
        self.files[file_id] = record
        return record


def make_root(storage: Path | None) -> tuple[Path, bool]:
    """The storage directory and whether the fake owns (and later removes) it."""
    if storage is not None:
        storage.mkdir(parents=True, exist_ok=True)
        return storage, False
    return Path(tempfile.mkdtemp(prefix="fake-upstream-")), True


def remove_root(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
