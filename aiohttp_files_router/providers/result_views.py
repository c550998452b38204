"""The two views of a batch's result file.

Vertex (a job's ``predictions.jsonl``), Gemini (a batch's responses file) and Bedrock (a job's
``<input>.jsonl.out``) write one file holding both the rows that succeeded and the rows that
failed; OpenAI gives a batch two files. The batch's ``output_file_id`` and ``error_file_id``
are that one file's ID with ``#succeeded`` or ``#failed`` appended, and each serves only its
rows.

Reading a provider's result file: ``result_row`` decodes a line, ``output_rows`` answers the
OpenAI batch output rows made from it, ``lost_ids_warning`` reports rows that lost their
custom_id.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec

from ..errors import for_log
from ..jsoncodec import OBJECT as _object
from ..upstream import UPSTREAM_REQUEST_ID, ContentStream

__all__ = [
    "FAILED",
    "SUCCEEDED",
    "left_out",
    "lost_ids_warning",
    "output_rows",
    "result_file_ids",
    "result_row",
    "split_view",
]

logger = logging.getLogger(__package__)

SUCCEEDED = "succeeded"
FAILED = "failed"


def split_view(file_id: str, result_suffix: str = "") -> tuple[str, str | None]:
    """A file ID as (the stored file's ID, the view or None). Only the IDs of result files,
    those ending with ``result_suffix``, have views; any other ``#...`` is the ID's own."""
    base, sep, view = file_id.rpartition("#")
    if sep and view in (SUCCEEDED, FAILED) and base.endswith(result_suffix):
        return base, view
    return file_id, None


def result_file_ids(result_id: str, succeeded: int, failed: int) -> dict[str, str]:
    """A batch's ``output_file_id`` and ``error_file_id``: each only where the counts say
    its view holds rows."""
    ids = {}
    if succeeded:
        ids["output_file_id"] = f"{result_id}#{SUCCEEDED}"
    if failed:
        ids["error_file_id"] = f"{result_id}#{FAILED}"
    return ids


def left_out(view: str | None, failed: bool) -> bool:
    """Whether a row (failed or not) is outside ``view`` (None: the whole file)."""
    return view == (SUCCEEDED if failed else FAILED)


def result_row(line: bytes, unreadable: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    """A line of a provider's batch results as a JSON object: None for a blank line, and
    ``unreadable()`` (the provider's own shape of a failed row) for one that is not one."""
    if not line.strip():
        return None
    try:
        return _object.decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return unreadable()


def output_rows(stream: ContentStream, rows: AsyncIterator[bytes]) -> ContentStream:
    """``stream``'s answer with ``rows`` as its body: OpenAI batch output rows (JSONL) made
    from it while it streams, the upstream's request ID relayed."""
    relayed = stream.headers.get(UPSTREAM_REQUEST_ID)
    headers = {"Content-Type": "application/jsonl"}
    return ContentStream(
        stream.status, headers | ({UPSTREAM_REQUEST_ID: relayed} if relayed else {}), rows
    )


def lost_ids_warning(message: str, deployment: str, file_id: str) -> Callable[[int], None]:
    """A report of the rows of a result download whose custom_id is lost, which warns once
    per file (at the first); ``message`` takes the deployment, the line and the file."""
    reported = False

    def report(number: int) -> None:
        nonlocal reported
        if not reported:
            reported = True
            logger.warning(message, deployment, number, for_log(file_id))

    return report
