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

from ..jsoncodec import ENCODER as _encode
from .chat_rows import CHAT_URL, chat_row
from .genai_rows import RowError, chat_completion, chat_to_generate_content, result_lines
from .isotime import unix_seconds
from .result_views import FAILED, SUCCEEDED
from .vertex_labels import MAX_LABELS, custom_id_from_labels, custom_id_labels, label_problem

__all__ = [
    "CHAT_URL",
    "FAILED",
    "SUCCEEDED",
    "VERTEX_ERROR",
    "failed_prediction",
    "openai_to_vertex_line",
    "prediction_answer",
    "unreadable_prediction",
    "vertex_to_openai_line",
]

# The OpenAI error type of a failed prediction's row.
VERTEX_ERROR = "vertex_ai_error"


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

    def body(response: dict[str, Any], row: dict[str, Any], custom_id: str, seed: str) -> Any:
        created = unix_seconds(row.get("processed_time")) or 0
        return chat_completion(
            response, model=model, created=created, custom_id=custom_id, seed=seed
        )

    return result_lines(
        output,
        view,
        unmatched,
        unreadable=unreadable_prediction,
        answer=lambda row: prediction_answer(row, row.get("response")),
        custom_id=_custom_id,
        body=body,
        failure=lambda row: failed_prediction(row, "no response"),
        error_type=VERTEX_ERROR,
    )


def unreadable_prediction(number: int) -> dict[str, Any]:
    """The failed prediction standing for a line that is no JSON object."""
    return {"status": f"unreadable prediction on line {number}"}


def prediction_answer(row: dict[str, Any], found: Any) -> dict[str, Any] | None:
    """A prediction's answer (``found`` in it); None where the prediction failed: its
    ``status`` says why, or it holds no answer."""
    return found if isinstance(found, dict) and not row.get("status") else None


def failed_prediction(row: dict[str, Any], missing: str) -> tuple[int, str]:
    """A failed prediction's status and message: its ``status`` (``missing`` where it has
    none)."""
    return 400, str(row.get("status") or missing)
