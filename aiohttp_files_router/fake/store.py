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

__all__ = ["FakeAccount", "FileRecord", "JobRun", "Workspace", "file_object", "new_id"]


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def file_object(
    file_id: str, size: int, created_at: int, filename: str, purpose: str
) -> dict[str, Any]:
    """The fields an OpenAI-style file object starts with (OpenAI's ``OpenAIFile``, which
    Mistral's ``FileSchema`` follows); each fake adds its provider's own after them."""
    return {
        "id": file_id,
        "object": "file",
        "bytes": size,
        "created_at": created_at,
        "filename": filename,
        "purpose": purpose,
    }


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
        obj = file_object(self.id, self.bytes, self.created_at, self.filename, self.purpose)
        obj["status"] = "processed"
        if self.expires_at is not None:
            obj["expires_at"] = self.expires_at
        return obj


@dataclass(kw_only=True)
class JobRun:
    """What a fake's batch or job keeps of its run on the fake's clock, beside when it was
    created: when a cancel was asked (``cancel_at``) and the state it was in then
    (``cancel_phase``), and once it ended, the state it ended in (``finished``) and when
    (``ended``). A provider's job whose API shows none of some of them leaves them None."""

    cancel_at: float | None = None
    cancel_phase: str | None = None
    finished: str | None = None
    ended: float | None = None


@dataclass
class Workspace:
    """What every fake's account has: its name, its own directory, and a sequence that
    orders what it makes (objects made in the same second)."""

    name: str
    root: Path
    _seq: itertools.count[int] = field(default_factory=itertools.count, init=False, repr=False)

    def next_seq(self) -> int:
        return next(self._seq)


@dataclass
class FakeAccount(Workspace):
    """One provider account: its own files, batches and fine-tuning jobs, reached with its
    own key."""

    files: dict[str, FileRecord] = field(default_factory=dict)
    batches: dict[str, Any] = field(default_factory=dict)
    fine_tunes: dict[str, Any] = field(default_factory=dict)

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
