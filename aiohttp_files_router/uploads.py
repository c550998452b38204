"""Reading a multipart upload without holding the file: small fields capped, file streamed.

Fields before the file part are read (each capped); the file part is then either streamed
straight on (the account and purpose are known) or spooled to a bounded temp file (a routing
field may still follow). Either way the file never sits whole in memory.

Everything a caller controls is bounded before any account is chosen: the number of parts,
each part's header section (no folded lines), field names, each field and all fields together.
A body with a ``Content-Encoding`` is refused: aiohttp would inflate it before any cap applies.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import IO

from aiohttp import BodyPartReader, MultipartReader, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict, CIMultiDictProxy

from .errors import BadRequest, PayloadTooLarge, UnsupportedMediaType, clip

__all__ = [
    "FORWARDED_FIELDS",
    "MAX_FIELDS",
    "PURPOSES",
    "Spool",
    "UploadReader",
    "forwarded_fields",
]

# The file's bytes are read and sent upstream a megabyte at a time: a quarter of the send
# calls (each a chunk of the upstream request) of 256 KiB chunks, and less CPU per GiB
# (benchmarks/README.md, "Uploads"). Memory holds a few chunks per upload.
CHUNK = 1024 * 1024
SPOOL_CHUNK = 1024 * 1024
PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
FORWARDED_FIELDS = ("purpose", "expires_after[anchor]", "expires_after[seconds]")
EXPIRY_SECONDS = (3600, 2592000)
# The API has file, purpose, expires_after[anchor|seconds] and the two routing fields; a few
# more are tolerated (and dropped) for clients that add their own, but not thousands.
MAX_FIELDS = 16
MAX_FIELD_NAME = 128
MAX_PART_HEADER_LINES = 16
MAX_PART_HEADER_BYTES = 8 * 1024
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def forwarded_fields(
    fields: dict[str, str],
    expiry_range: Callable[[str], tuple[int, int]] = lambda purpose: EXPIRY_SECONDS,
) -> list[tuple[str, str]]:
    """The fields the account receives, validated; routing fields are never forwarded.

    ``expiry_range(purpose)`` is the ``expires_after[seconds]`` range the account accepts.
    """
    purpose = fields.get("purpose")
    if not purpose:
        raise BadRequest("Missing required parameter: 'purpose'.", param="purpose")
    if purpose not in PURPOSES:
        raise BadRequest(
            f"Invalid value for 'purpose': '{clip(purpose)}'. "
            f"Expected one of: {', '.join(PURPOSES)}.",
            param="purpose",
        )
    anchor = fields.get("expires_after[anchor]")
    seconds = fields.get("expires_after[seconds]")
    if (anchor is None) != (seconds is None):
        raise BadRequest("expires_after needs both 'anchor' and 'seconds'.", param="expires_after")
    if anchor is not None and anchor != "created_at":
        raise BadRequest(
            "Invalid value for 'expires_after[anchor]': expected 'created_at'.",
            param="expires_after[anchor]",
        )
    if seconds is not None:
        low, high = expiry_range(purpose)
        if not seconds.isdigit() or not low <= int(seconds) <= high:
            raise BadRequest(
                f"Invalid value for 'expires_after[seconds]': expected an integer from {low} "
                f"to {high}.",
                param="expires_after[seconds]",
            )
    return [(name, fields[name]) for name in FORWARDED_FIELDS if name in fields]


class _BoundedMultipartReader(MultipartReader):
    """aiohttp's reader with our own, strict reading of each part's header section.

    aiohttp accepts obsolete folded lines and, before 3.14, header sections of any size.
    """

    async def _read_headers(self) -> CIMultiDictProxy[str]:
        headers: CIMultiDict[str] = CIMultiDict()
        size = 0
        while True:
            try:
                # Bounded by the stream's buffer limit even without our cap.
                line = await self._content.readline()
            except (HttpProcessingError, ValueError):
                line = b"x" * (MAX_PART_HEADER_BYTES + 1)
            size += len(line)
            if size > MAX_PART_HEADER_BYTES:
                raise BadRequest(
                    f"A multipart part's headers are longer than {MAX_PART_HEADER_BYTES} bytes.",
                    param="file",
                )
            line = line.rstrip(b"\r\n")
            if not line:
                return CIMultiDictProxy(headers)
            if line[0] in b" \t":
                raise BadRequest(
                    "A multipart part has a folded header line; send each header on one line.",
                    param="file",
                )
            if len(headers) >= MAX_PART_HEADER_LINES:
                raise BadRequest(
                    f"A multipart part has more than {MAX_PART_HEADER_LINES} headers.",
                    param="file",
                )
            name, sep, value = line.partition(b":")
            if not sep or not _TOKEN.fullmatch(name):
                raise BadRequest("A multipart part has a malformed header line.", param="file")
            try:
                headers.add(name.decode("ascii"), value.strip(b" \t").decode("utf-8"))
            except UnicodeDecodeError:
                raise BadRequest(
                    "A multipart part has a header that is not UTF-8.", param="file"
                ) from None


@dataclass
class Spool:
    """A file part parked on disk, deleted when closed."""

    file: IO[bytes]
    size: int

    async def chunks(self) -> AsyncIterator[bytes]:
        await asyncio.to_thread(self.file.seek, 0)
        while True:
            chunk = await asyncio.to_thread(self.file.read, SPOOL_CHUNK)
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        self.file.close()


@dataclass
class UploadReader:
    reader: MultipartReader
    max_field_bytes: int
    max_upload_bytes: int
    spool_dir: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    received: int = 0
    parts: int = 0
    field_bytes: int = 0

    @classmethod
    async def open(
        cls,
        request: web.Request,
        max_field_bytes: int,
        max_upload_bytes: int,
        spool_dir: str | None,
    ) -> UploadReader:
        if not request.content_type.startswith("multipart/"):
            raise BadRequest(
                "Expected a multipart/form-data body with a 'file' part.", param="file"
            )
        encoding = request.headers.get(hdrs.CONTENT_ENCODING, "identity").strip().lower()
        if encoding != "identity":
            # aiohttp would inflate it on the way in: a small body could become gigabytes.
            raise UnsupportedMediaType(
                f"Content-Encoding '{encoding}' is not accepted on uploads.",
                param="file",
            )
        if request.content_length is not None and request.content_length > max_upload_bytes:
            raise PayloadTooLarge(
                f"The upload is larger than this router's limit of {max_upload_bytes} bytes.",
                param="file",
            )
        try:
            reader = _BoundedMultipartReader(request.headers, request.content)
        except (ValueError, AssertionError, KeyError):
            raise BadRequest("Malformed multipart/form-data body.", param="file") from None
        return cls(reader, max_field_bytes, max_upload_bytes, spool_dir)

    async def _next(self) -> BodyPartReader | None:
        try:
            part = await self.reader.next()
        except (ValueError, AssertionError, KeyError, RuntimeError, HttpProcessingError):
            raise BadRequest("Malformed multipart/form-data body.", param="file") from None
        if part is None:
            return None
        if not isinstance(part, BodyPartReader):
            raise BadRequest("Nested multipart parts are not supported.", param="file")
        self.parts += 1
        if self.parts > MAX_FIELDS + 1:
            raise BadRequest(
                f"The form has more than {MAX_FIELDS} fields besides 'file'.", param="file"
            )
        return part

    async def fields_until_file(self) -> BodyPartReader | None:
        """Read small fields until the file part (returned) or the end (None)."""
        while True:
            part = await self._next()
            if part is None:
                return None
            if part.name == "file":
                if part.filename is None:
                    raise BadRequest(
                        "'file' must be a file upload, not a text field.", param="file"
                    )
                return part
            await self._read_field(part)

    async def trailing_fields(self) -> None:
        """Fields after the file part; a second file part is refused."""
        while True:
            part = await self._next()
            if part is None:
                return
            if part.name == "file":
                raise BadRequest("Only one 'file' part may be sent.", param="file")
            await self._read_field(part)

    async def _read_field(self, part: BodyPartReader) -> None:
        name = part.name or ""
        if not name or len(name) > MAX_FIELD_NAME:
            raise BadRequest(
                f"Every form field needs a name of 1 to {MAX_FIELD_NAME} characters.", param=None
            )
        # All small fields together stay within twice one field's cap.
        budget = 2 * self.max_field_bytes
        buf = bytearray()
        while chunk := await part.read_chunk(CHUNK):
            buf += chunk
            if len(buf) > self.max_field_bytes:
                raise BadRequest(
                    f"Form field '{name}' is longer than {self.max_field_bytes} bytes.", param=name
                )
            if self.field_bytes + len(buf) > budget:
                raise BadRequest(
                    f"The form fields are longer than {budget} bytes together.", param=name
                )
        self.field_bytes += len(buf)
        try:
            self.fields[name] = buf.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(f"Form field '{name}' is not UTF-8 text.", param=name) from None

    def _count(self, size: int) -> None:
        self.received += size
        if self.received > self.max_upload_bytes:
            raise PayloadTooLarge(
                f"The upload is larger than this router's limit of {self.max_upload_bytes} bytes.",
                param="file",
            )

    async def stream(self, part: BodyPartReader) -> AsyncIterator[bytes]:
        while chunk := await part.read_chunk(CHUNK):
            self._count(len(chunk))
            yield chunk

    async def spool(self, part: BodyPartReader) -> Spool:
        fd, path = tempfile.mkstemp(prefix="files-router-", dir=self.spool_dir)
        file = os.fdopen(fd, "w+b")
        os.unlink(path)  # gone from the directory now; the space is freed on close
        try:
            async for chunk in self.stream(part):
                await asyncio.to_thread(file.write, chunk)
        except BaseException:
            file.close()
            raise
        return Spool(file, self.received)
