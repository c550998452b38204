"""OpenAI batch rows <-> Vertex AI batch prediction rows, one JSONL line at a time.

The request and response mapping is genai_rows' (shared with Gemini); this is Vertex's
transport around it: the row shapes and the custom_id carried in labels.

Upload: ``{"custom_id", "method", "url", "body": <chat completion request>}`` becomes
``{"request": <GenerateContentRequest>}``, the ``custom_id`` carried in ``request.labels``
(see vertex_labels): Vertex keeps nothing of an input row but its ``request``, and writes its
output lines in no promised order.
Download: ``{"request", "status", "response": <GenerateContentResponse>}`` becomes an OpenAI
batch output row with a ``chat.completion`` body, or an error row; its ``custom_id`` is read
from the echoed labels, never from the line's position.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from ..jsoncodec import ANY as _decode
from ..jsoncodec import ENCODER as _encode
from .chat_rows import CHAT_URL, chat_row
from .genai_rows import (
    RowError,
    chat_completion,
    chat_to_generate_content,
    digest,
    error_body,
    row_seed,
)
from .isotime import unix_seconds
from .result_views import FAILED, SUCCEEDED, left_out
from .shapes import output_row
from .vertex_labels import MAX_LABELS, custom_id_from_labels, custom_id_labels, label_problem

__all__ = [
    "CHAT_URL",
    "FAILED",
    "SUCCEEDED",
    "openai_to_vertex_line",
    "vertex_to_openai_line",
]


def openai_to_vertex_line(
    number: int, line: bytes, embed: Callable[[str, dict[str, Any]], bytes] | None = None
) -> bytes:
    """``embed`` answers an embeddings row (a chat model refuses it, naming why)."""
    if not line.strip():
        return line

    def convert(custom_id: str, body: dict[str, Any]) -> bytes:
        request = {**chat_to_generate_content(body), "labels": _labels(body, custom_id)}
        return _encode.encode({"request": request})

    return chat_row(number, line, "Vertex AI", convert, embed)


def _labels(body: dict[str, Any], custom_id: str) -> dict[str, str]:
    """The row's own labels, kept, plus the ones carrying its custom_id."""
    own = body.get("labels")
    own = {} if own is None else own
    problem = label_problem(own)
    if problem:
        raise RowError(problem)
    carried = custom_id_labels(custom_id)
    if len(own) + len(carried) > MAX_LABELS:
        raise RowError(
            f"its custom_id ({len(custom_id)} characters) needs {len(carried)} Vertex labels and "
            f"body.labels has {len(own)}; Vertex allows {MAX_LABELS} labels on a request"
        )
    return {**own, **carried}


def _custom_id(row: dict[str, Any]) -> str | None:
    request = row.get("request")
    found = custom_id_from_labels(request.get("labels") if isinstance(request, dict) else None)
    if found is not None:
        return found
    top = row.get("custom_id")  # jobs made by tools that put it there
    return top if isinstance(top, str) and top else None


def vertex_to_openai_line(
    model: str,
    view: str | None = None,
    unmatched: Callable[[int], None] | None = None,
    output: str = "",
) -> Callable[[int, bytes], bytes | None]:
    """A line function turning Vertex predictions into OpenAI batch output rows; ``output``
    (the predictions object, one per job) makes their IDs unique to the batch.

    ``view``: None keeps every row, SUCCEEDED or FAILED only those. A row whose custom_id
    cannot be found is named ``line-N`` (its line in predictions.jsonl) and reported to
    ``unmatched``.
    """

    def fn(number: int, line: bytes) -> bytes | None:
        if not line.strip():
            return None
        try:
            row = _decode.decode(line)
        except msgspec.DecodeError:
            row = None
        if not isinstance(row, dict):
            row = {"status": f"unreadable prediction on line {number}"}
        response = row.get("response")
        failed = bool(row.get("status")) or not isinstance(response, dict)
        if left_out(view, failed):
            return None
        custom_id = _custom_id(row)
        if custom_id is None:
            custom_id = f"line-{number}"
            if unmatched is not None:
                unmatched(number)
        seed = row_seed(output, str(number))
        request_id = "req_" + digest(custom_id, seed)
        out_id = "batch_req_" + digest(custom_id, "out", seed)
        body: dict[str, Any]
        if failed or not isinstance(response, dict):
            body = error_body(str(row.get("status") or "no response"), "vertex_ai_error")
            status_code = 400
        else:
            body = chat_completion(
                response,
                model=model,
                created=unix_seconds(row.get("processed_time")) or 0,
                custom_id=custom_id,
                seed=seed,
            )
            status_code = 200
        return output_row(out_id, custom_id, status_code, request_id, body)

    return fn
