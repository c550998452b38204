"""Batch input files checked while they stream in: a 400 naming the line, not a failed batch.

Each line must be a JSON object with a string ``custom_id`` unique in the file, ``method``
``POST``, a ``url`` the account runs batches for (the same on every line) and a ``body``
object (with ``model`` where the provider needs it, the fields its endpoint requires, and no
``stream: true``). What an account accepts is declared by
its provider (``Provider.batch_rules``). Memory: the current line plus one 16-byte hash per
``custom_id``, and the line count is capped, so the set is bounded too.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import msgspec

from .errors import BadRequest
from .linecheck import LineChecker
from .providers.base import BatchRules

__all__ = ["check_batch_file"]


_row = msgspec.json.Decoder(dict[str, msgspec.Raw])
_value = msgspec.json.Decoder()


def _bad(number: int, what: str) -> BadRequest:
    return BadRequest(
        f"Line {number} of the batch file: {what}",
        param="file",
        code="invalid_batch_line",
    )


class _Checker(LineChecker[dict[str, msgspec.Raw]]):
    def __init__(self, rules: BatchRules):
        super().__init__(_row, _bad, rules.max_bytes, rules.max_lines, "requests")
        self.rules = rules
        self.seen: set[bytes] = set()
        self.url: str | None = None

    def row(self, number: int, row: dict[str, msgspec.Raw]) -> None:
        custom_id = _field(row, "custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            raise _bad(number, "'custom_id' must be a non-empty string.")
        digest = hashlib.blake2b(custom_id.encode(), digest_size=16).digest()
        if digest in self.seen:
            raise _bad(number, "'custom_id' repeats an earlier line's.")
        self.seen.add(digest)
        if _field(row, "method") != "POST":
            raise _bad(number, "'method' must be 'POST'.")
        url = _field(row, "url")
        if not isinstance(url, str) or url not in self.rules.endpoints:
            allowed = ", ".join(sorted(self.rules.endpoints)) or "none"
            raise _bad(number, f"'url' must be one of this account's batch endpoints: {allowed}.")
        if self.url is None:
            self.url = url
        elif url != self.url:
            raise _bad(number, f"'url' differs from line 1's '{self.url}'; one endpoint per file.")
        body = _field(row, "body")
        if not isinstance(body, dict):
            raise _bad(number, "'body' must be a JSON object.")
        if self.rules.needs_model and not isinstance(body.get("model"), str):
            raise _bad(number, "'body.model' must be a string.")
        if body.get("stream") is True:
            raise _bad(number, "'body.stream' must not be true: batch requests do not stream.")
        for name in self.rules.required.get(url, ()):
            if body.get(name) is None:
                raise _bad(number, f"'body.{name}' is required for {url}.")

    def end(self) -> None:
        if self.lines == 0:
            raise BadRequest(
                "The batch file has no requests.", param="file", code="invalid_batch_line"
            )


_MISSING = object()


def _field(row: dict[str, msgspec.Raw], name: str) -> object:
    raw = row.get(name)
    if raw is None:
        return _MISSING
    return _value.decode(raw)


def check_batch_file(chunks: AsyncIterator[bytes], rules: BatchRules) -> AsyncIterator[bytes]:
    """``chunks`` passed on as ``LineChecker.checked`` does, each line a batch request."""
    return _Checker(rules).checked(chunks)
