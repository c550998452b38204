"""A JSONL upload checked line by line while it streams on (batchcheck, tuningcheck)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable

from .errors import BadRequest

__all__ = ["MAX_LINE_BYTES", "checked_lines"]

MAX_LINE_BYTES = 64 * 1024 * 1024


async def checked_lines(
    chunks: AsyncIterator[bytes],
    max_bytes: int,
    line: Callable[[int, bytes], None],
    bad: Callable[[int, str], BadRequest],
) -> AsyncGenerator[bytes, None]:
    """``chunks`` unchanged, each passed on only once ``line`` has checked the whole lines in
    it (numbered from 1; the last, if it has no newline, once ``chunks`` ends).

    A file over ``max_bytes`` or a line over MAX_LINE_BYTES is ``bad`` at the line it reached.
    """
    pending = bytearray()
    number = 0
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise bad(number + 1, f"the file passes this account's limit of {max_bytes} bytes.")
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", start)) != -1:
            number += 1
            line(number, bytes(pending[start:end]))
            start = end + 1
        del pending[:start]
        if len(pending) > MAX_LINE_BYTES:
            raise bad(number + 1, f"the line is longer than {MAX_LINE_BYTES} bytes.")
        yield chunk
    if pending:
        line(number + 1, bytes(pending))
