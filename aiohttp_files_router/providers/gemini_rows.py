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

import msgspec

from ..jsoncodec import ANY as _decode_any
from ..jsoncodec import ENCODER as _json
from .chat_rows import EMBEDDINGS_URL, chat_row, embedding_text
from .genai_rows import (
    RowError,
    chat_completion,
    chat_to_generate_content,
    digest,
    error_body,
    row_seed,
)
from .result_views import left_out
from .shapes import embedding_list, output_row

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

    def fn(number: int, line: bytes) -> bytes | None:
        if not line.strip():
            return None
        try:
            row = _decode_any.decode(line)
        except msgspec.DecodeError:
            row = None
        if not isinstance(row, dict):
            row = {"error": {"code": 13, "message": f"unreadable response on line {number}"}}
        response = row.get("response")
        failed = not isinstance(response, dict)
        if left_out(view, failed):
            return None
        key = row.get("key")
        custom_id = key if isinstance(key, str) and key else f"line-{number}"
        if custom_id != key:
            unmatched(number)
        seed = row_seed(output, str(number))
        body: dict[str, Any]
        if isinstance(response, dict) and embedding_model:
            status_code = 200
            body = embedding_body(response, model)
        elif isinstance(response, dict):
            status_code = 200
            body = chat_completion(
                response,
                model=model,
                created=created,
                custom_id=custom_id,
                seed=seed,
            )
        else:
            found = row.get("error")
            error: dict[str, Any] = found if isinstance(found, dict) else {}
            code = error.get("code")
            status_code = RPC_STATUS.get(code, 500) if isinstance(code, int) else 500
            body = error_body(str(error.get("message") or "no response"), "gemini_error")
        return output_row(
            "batch_req_" + digest(custom_id, "out", seed),
            custom_id,
            status_code,
            "req_" + digest(custom_id, seed),
            body,
        )

    return fn
