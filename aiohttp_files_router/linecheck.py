"""A JSONL upload checked line by line while it streams on (batchcheck, tuningcheck)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Generic, TypeVar

import msgspec

from .errors import BadRequest
from .jsonlimits import MAX_JSON_DEPTH, too_deep

__all__ = ["MAX_LINE_BYTES", "LineChecker"]

MAX_LINE_BYTES = 64 * 1024 * 1024

Row = TypeVar("Row")


class LineChecker(Generic[Row]):
    """What the checks of a batch file and of a fine-tuning file share: the file's byte limit,
    the line's, blank lines skipped, the others counted against ``max_lines`` (the ``items``
    a file holds) and each a JSON object (``decoder``'s) no deeper than MAX_JSON_DEPTH.

    A subclass checks each such ``row`` and, in ``end``, the whole file; ``bad`` makes the 400
    naming a line.
    """

    def __init__(
        self,
        decoder: msgspec.json.Decoder[Row],
        bad: Callable[[int, str], BadRequest],
        max_bytes: int,
        max_lines: int | None,
        items: str,
    ) -> None:
        self.decoder = decoder
        self.bad = bad
        self.max_bytes = max_bytes
        self.max_lines = max_lines
        self.items = items
        self.lines = 0

    def row(self, number: int, row: Row) -> None:
        raise NotImplementedError

    def end(self) -> None:
        """The whole file has passed every line's check."""

    def line(self, number: int, line: bytes) -> None:
        if not line.strip():
            return  # blank lines carry no request; providers skip them
        self.lines += 1
        if self.max_lines is not None and self.lines > self.max_lines:
            raise self.bad(
                number, f"the file has more than {self.max_lines} {self.items} (the limit)."
            )
        if too_deep(line):
            raise self.bad(number, f"nests deeper than {MAX_JSON_DEPTH} levels.")
        try:
            row = self.decoder.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise self.bad(number, "is not a JSON object.") from None
        self.row(number, row)

    async def checked(self, chunks: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
        """``chunks`` unchanged, each passed on only once the whole lines in it are checked
        (numbered from 1; the last, if it has no newline, once ``chunks`` ends).

        A bad line stops the stream with a 400: the upstream upload is cut before it completes.
        """
        pending = bytearray()
        number = 0
        size = 0
        async for chunk in chunks:
            size += len(chunk)
            if size > self.max_bytes:
                raise self.bad(
                    number + 1, f"the file passes this account's limit of {self.max_bytes} bytes."
                )
            pending += chunk
            start = 0
            while (end := pending.find(b"\n", start)) != -1:
                number += 1
                self.line(number, bytes(pending[start:end]))
                start = end + 1
            del pending[:start]
            if len(pending) > MAX_LINE_BYTES:
                raise self.bad(number + 1, f"the line is longer than {MAX_LINE_BYTES} bytes.")
            yield chunk
        if pending:
            self.line(number + 1, bytes(pending))
        self.end()
