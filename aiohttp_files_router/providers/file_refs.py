"""File references in batch rows that a provider would fetch with the account's own identity.

A Vertex row may name ``gs://`` objects (an ``image_url``, a ``fileData.fileUri``); Vertex
reads them as the account's service account, so a caller could make the router's account read
an object the caller itself cannot reach (a confused deputy). Such references are allowed only
inside the deployment's own namespace or under prefixes the operator lists in
``litellm_params.allowed_file_uris``. ``https://`` and ``data:`` URLs are fetched without the
account's identity and pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from ..errors import BadRequest
from ..jsoncodec import ANY as _decode
from ..jsonlimits import MAX_JSON_DEPTH, too_deep

__all__ = ["FileRefCheck"]


def _strings(node: Any) -> Iterator[str]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


class FileRefCheck:
    """Refuses rows that name an object of ``schemes`` outside ``allowed`` prefixes."""

    def __init__(self, schemes: Iterable[str], allowed: Iterable[str]):
        self.schemes = tuple(s.lower() for s in schemes)
        self.allowed = tuple(allowed)
        # Bytes that must appear in a line for it to hold such a reference: the scheme with
        # its colon, or a JSON escape that could spell it.
        self._markers = (*(s.split(":", 1)[0].encode() + b":" for s in self.schemes), b"\\u")

    def __call__(self, number: int, line: bytes) -> None:
        lowered = line.lower()
        if not any(marker in lowered for marker in self._markers):
            return  # the common case: nothing to decode twice
        if too_deep(line):
            raise _refused(number, f"nests deeper than {MAX_JSON_DEPTH} levels")
        try:
            row = _decode.decode(line)
        except msgspec.DecodeError:
            return  # the row mapping names the line's real problem
        for value in _strings(row):
            candidate = value.strip().lower()
            if candidate.startswith(self.schemes) and not value.strip().startswith(self.allowed):
                shown = value if len(value) <= 200 else value[:200] + "..."
                raise _refused(
                    number,
                    f"refers to {shown!r}, outside this deployment's storage; only objects "
                    "under its own namespace or litellm_params.allowed_file_uris may be named",
                )


def _refused(number: int, what: str) -> BadRequest:
    return BadRequest(
        f"Line {number} of the batch file {what}.", param="file", code="invalid_batch_line"
    )
