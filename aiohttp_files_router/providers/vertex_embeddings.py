"""OpenAI ``/v1/embeddings`` batch rows <-> Vertex AI embedding batch prediction lines.

"Get batch text embeddings predictions"
(cloud.google.com/vertex-ai/generative-ai/docs/embeddings/batch-prediction-genai-embeddings):
an input line is ``{"content": "..."}``, an output line ``{"instance": {...}, "predictions":
[{"embeddings": {"statistics": {"token_count", "truncated"}, "values": [...]}}], "status"}``.
Only the instance is echoed, and only what the page shows of it (``content``); the output's
order is not promised. So the custom_ids travel beside the rows (``IDS``, one JSON line
``[key, custom_id]`` per row, in input order), the key a digest of the row's content; a
prediction takes the first custom_id not yet taken whose key its echoed content has.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec

from .chat_rows import embedding_text
from .genai_rows import RowError, result_lines
from .shapes import embedding_list
from .vertex_rows import (
    VERTEX_ERROR,
    failed_prediction,
    prediction_answer,
    unreadable_prediction,
)

__all__ = [
    "IDS",
    "MAX_ROWS",
    "content_key",
    "embedding_line",
    "embeddings_to_instance",
    "is_embedding_model",
]

# Beside an embedding upload's Vertex rows: the custom_ids, which no output line carries.
IDS = ".ids"
# "Each request can include up to 30,000 prompts" (the page above).
MAX_ROWS = 30_000


def is_embedding_model(model: str) -> bool:
    """text-embedding-005, text-multilingual-embedding-002, gemini-embedding-001, ... (Vertex's
    "Embedding models and versions")."""
    return "embedding" in model.rsplit("/", 1)[-1]


def content_key(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()[:32]


def embeddings_to_instance(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI embeddings body as a text embedding instance: one text a row."""
    text = embedding_text(body, "one Vertex embedding instance a row", "Vertex's embedding values")
    if body.get("dimensions") is not None:
        # outputDimensionality is a job parameter on Vertex, not an instance field.
        raise RowError("'dimensions' cannot be set per row in a Vertex embedding batch")
    return {"content": text}


class Matcher:
    """custom_ids by content key, in input order, each taken once."""

    def __init__(self) -> None:
        self.ids: dict[str, deque[str]] = {}

    def feed(self, line: bytes) -> None:
        if not line.strip():
            return
        key, custom_id = msgspec.json.decode(line, type=tuple[str, str])
        self.ids.setdefault(key, deque()).append(custom_id)

    def take(self, content: Any) -> str | None:
        if not isinstance(content, str):
            return None
        waiting = self.ids.get(content_key(content))
        return waiting.popleft() if waiting else None


def embedding_line(
    model: str,
    matcher: Matcher,
    view: str | None,
    output: str,
    unmatched: Callable[[int], None],
) -> Callable[[int, bytes], bytes | None]:
    """A line function turning embedding predictions into OpenAI batch output rows."""

    def take(row: dict[str, Any]) -> str | None:
        instance = row.get("instance")
        return matcher.take(instance.get("content") if isinstance(instance, dict) else None)

    def body(embeddings: dict[str, Any], row: dict[str, Any], custom_id: str, seed: str) -> Any:
        tokens = int((embeddings.get("statistics") or {}).get("token_count") or 0)
        return embedding_list(embeddings.get("values"), model, tokens)

    return result_lines(
        output,
        view,
        unmatched,
        unreadable=unreadable_prediction,
        answer=lambda row: prediction_answer(row, _embeddings(row)),
        custom_id=take,
        body=body,
        failure=lambda row: failed_prediction(row, "no prediction"),
        error_type=VERTEX_ERROR,
    )


def _embeddings(row: dict[str, Any]) -> Any:
    predictions = row.get("predictions")
    first = predictions[0] if isinstance(predictions, list) and predictions else None
    return first.get("embeddings") if isinstance(first, dict) else None
