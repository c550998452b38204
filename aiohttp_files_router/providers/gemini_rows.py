"""OpenAI batch rows <-> Gemini API batch rows, one JSONL line at a time.

The request and response mapping is genai_rows' (shared with Vertex AI); this is Gemini's
transport around it and its embeddings.

Upload: ``{"custom_id", "method", "url", "body"}`` becomes ``{"key": <custom_id>, "request":
<GenerateContentRequest>}`` (or an EmbedContentRequest for an embedding model).
Download: ``{"key", "response"}`` or ``{"key", "error": <google.rpc.Status>}`` becomes an
OpenAI batch output row; its ``custom_id`` is the key, never the line's position.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..jsoncodec import ENCODER as _json
from .chat_rows import EMBEDDINGS_URL, chat_row, embedding_text
from .genai_rows import RowError, chat_completion, chat_to_generate_content, result_lines
from .shapes import embedding_list

__all__ = [
    "embedding_body",
    "embeddings_to_gemini",
    "gemini_to_openai_line",
    "openai_to_gemini_line",
]

# google.rpc.Code -> HTTP status (google/rpc/code.proto), for failed rows.
RPC_STATUS = {
    1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429,
    9: 400, 10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401,
}  # fmt: skip


def embeddings_to_gemini(body: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI embeddings body as an EmbedContentRequest (ai.google.dev/api/embeddings): one
    text a row, ``dimensions`` as ``outputDimensionality``."""
    text = embedding_text(body, "one EmbedContentRequest a row", "Gemini's embedding values")
    request: dict[str, Any] = {"content": {"parts": [{"text": text}]}}
    dimensions = body.get("dimensions")
    if dimensions is not None:
        if not isinstance(dimensions, int) or dimensions < 1:
            raise RowError("'dimensions' must be a positive integer")
        request["outputDimensionality"] = dimensions
    return request


def embedding_body(response: Mapping[str, Any], model: str) -> dict[str, Any]:
    """An EmbedContentResponse as an OpenAI embeddings body (Gemini reports no token count
    for it: usage is 0)."""
    values = (response.get("embedding") or {}).get("values") or []
    tokens = int((response.get("usageMetadata") or {}).get("promptTokenCount") or 0)
    return embedding_list(values, model, tokens)


def openai_to_gemini_line(
    number: int,
    line: bytes,
    model: str,
    embedding_model: bool,
    check: Callable[[Mapping[str, Any]], None],
) -> bytes:
    """``check`` vets a GenerateContentRequest's file references (raising RowError)."""
    if not line.strip():
        return line

    def convert(custom_id: str, body: dict[str, Any]) -> bytes:
        if embedding_model:
            raise RowError(f"{model} is an embedding model: rows must be {EMBEDDINGS_URL}")
        request = chat_to_generate_content(body)
        check(request)
        return _json.encode({"key": custom_id, "request": request})

    def embed(custom_id: str, body: dict[str, Any]) -> bytes:
        if not embedding_model:
            raise RowError(
                f"{model} generates text; embedding batches need an embedding model "
                "such as gemini-embedding-001"
            )
        return _json.encode({"key": custom_id, "request": embeddings_to_gemini(body)})

    return chat_row(number, line, "Gemini", convert, embed)


def gemini_to_openai_line(
    model: str,
    embedding_model: bool,
    view: str | None,
    created: int,
    output: str,
    unmatched: Callable[[int], None],
) -> Callable[[int, bytes], bytes | None]:
    """A line function turning a responses file's rows into OpenAI batch output rows;
    ``output`` (the responses file, one per batch) makes their IDs unique to the batch. A row
    without a key is named ``line-N`` and reported to ``unmatched``."""

    def answer(row: dict[str, Any]) -> dict[str, Any] | None:
        response = row.get("response")
        return response if isinstance(response, dict) else None

    def key(row: dict[str, Any]) -> str | None:
        found = row.get("key")
        return found if isinstance(found, str) and found else None

    def body(response: dict[str, Any], row: dict[str, Any], custom_id: str, seed: str) -> Any:
        if embedding_model:
            return embedding_body(response, model)
        return chat_completion(
            response, model=model, created=created, custom_id=custom_id, seed=seed
        )

    def failure(row: dict[str, Any]) -> tuple[int, str]:
        found = row.get("error")
        error: dict[str, Any] = found if isinstance(found, dict) else {}
        code = error.get("code")
        status_code = RPC_STATUS.get(code, 500) if isinstance(code, int) else 500
        return status_code, str(error.get("message") or "no response")

    return result_lines(
        output,
        view,
        unmatched,
        unreadable=lambda number: {
            "error": {"code": 13, "message": f"unreadable response on line {number}"}
        },
        answer=answer,
        custom_id=key,
        body=body,
        failure=failure,
        error_type="gemini_error",
    )
