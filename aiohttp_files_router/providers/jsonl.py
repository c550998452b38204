"""Streaming JSONL transforms: one line at a time, whatever the chunk boundaries.

Memory is bounded by the longest line (capped), never by the file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import msgspec

from ..errors import BadRequest
from ..jsoncodec import ENCODER as _json
from ..jsoncodec import RAW_OBJECT as _object
from ..jsonlimits import MAX_JSON_DEPTH, too_deep

__all__ = ["MAX_LINE_BYTES", "map_lines", "set_body_model"]

MAX_LINE_BYTES = 64 * 1024 * 1024
OUT_BLOCK = 256 * 1024

# A line function returns the new line, or None to leave the line out.
LineFn = Callable[[int, bytes], bytes | None]


async def map_lines(
    chunks: AsyncIterator[bytes], fn: LineFn, *, max_line: int = MAX_LINE_BYTES
) -> AsyncIterator[bytes]:
    """Apply ``fn(line_number, line)`` to every line (without its newline), streaming.

    Line numbers count every line of the input, kept or left out.
    """
    pending = bytearray()
    out = bytearray()
    number = 0
    async for chunk in chunks:
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", start)) != -1:
            number += 1
            mapped = _apply(fn, number, bytes(pending[start:end]))
            if mapped is not None:
                out += mapped
                out += b"\n"
            start = end + 1
        del pending[:start]
        if len(pending) > max_line:
            raise BadRequest(
                f"Line {number + 1} of the file is longer than {max_line} bytes.", param="file"
            )
        if len(out) >= OUT_BLOCK:
            yield bytes(out)
            out.clear()
    if pending and (mapped := _apply(fn, number + 1, bytes(pending))) is not None:
        out += mapped
    if out:
        yield bytes(out)


def _apply(fn: LineFn, number: int, line: bytes) -> bytes | None:
    if too_deep(line):
        raise _bad_line(number, f"nests deeper than {MAX_JSON_DEPTH} levels")
    return fn(number, line)


def _bad_line(number: int, what: str) -> BadRequest:
    return BadRequest(
        f"Line {number} of the batch file {what}.", param="file", code="invalid_batch_line"
    )


def set_body_model(model: str) -> LineFn:
    """A line function that points every batch row's ``body.model`` at ``model``."""
    value = msgspec.Raw(_json.encode(model))

    def fn(number: int, line: bytes) -> bytes:
        if not line.strip():
            return line
        try:
            row = _object.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise _bad_line(number, "is not a JSON object") from None
        raw_body = row.get("body")
        if raw_body is None:
            raise _bad_line(number, "has no 'body'")
        try:
            body = _object.decode(raw_body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise _bad_line(number, "has a 'body' that is not a JSON object") from None
        body["model"] = value
        row["body"] = msgspec.Raw(_json.encode(body))
        return _json.encode(row)

    return fn
