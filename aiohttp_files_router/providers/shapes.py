"""OpenAI objects that adapters of non-OpenAI providers build from their provider's answers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgspec

from ..jsoncodec import ENCODER as _json
from ..upstream import UpstreamReply

__all__ = [
    "ENDED_AT",
    "batch_errors",
    "batch_object",
    "batch_times",
    "chat_choice",
    "completion_object",
    "embedding_list",
    "error_row",
    "list_page",
    "ok",
    "ok_from",
    "output_row",
]

T = TypeVar("T")

# The batch field that dates each final status.
ENDED_AT = {
    "completed": "completed_at",
    "failed": "failed_at",
    "cancelled": "cancelled_at",
    "expired": "expired_at",
}


def list_page(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """A list page as OpenAI answers it (``first_id``/``last_id`` null when empty)."""
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


def batch_object(
    batch_id: str,
    endpoint: str,
    model: Any,
    input_file_id: str,
    status: str,
    created_at: int,
    request_counts: dict[str, int],
    metadata: Any,
) -> dict[str, Any]:
    """A Batch object's fields every adapter fills, in OpenAI's order; no result files yet
    (``output_file_id``, ``error_file_id`` are set in place) and no times but ``created_at``.
    ``request_counts`` is kept, not copied."""
    return {
        "id": batch_id,
        "object": "batch",
        "endpoint": endpoint,
        "model": model,
        "input_file_id": input_file_id,
        "completion_window": "24h",
        "status": status,
        "output_file_id": None,
        "error_file_id": None,
        "created_at": created_at,
        "request_counts": request_counts,
        "metadata": metadata,
    }


def batch_times(
    obj: dict[str, Any],
    batch: Mapping[str, Any],
    fields: Mapping[str, str],
    read: Callable[[Any], int | None],
) -> dict[str, Any]:
    """``obj`` (a Batch object) with the times its provider's ``batch`` gives, each made a
    unix time by ``read``; a time the provider left out (empty) stays out. ``fields`` names
    the provider's field of each: ``in_progress_at``, ``expires_at``, ``cancelling_at``;
    ``ended``, the time of a final status (in the field that dates it, ``ENDED_AT``);
    ``updated``, a last change, which dates ``cancelling_at`` while the batch is cancelling."""
    status = obj["status"]
    for name, field in fields.items():
        if name == "ended":
            name = ENDED_AT.get(status, "")
        elif name == "updated":
            name = "cancelling_at" if status == "cancelling" else ""
        value = batch.get(field)
        if name and value:
            obj[name] = read(value)
    return obj


def embedding_list(values: Any, model: str, tokens: int) -> dict[str, Any]:
    """An embeddings answer for one text (a batch row's body)."""
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": values}],
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def chat_choice(
    index: int, texts: list[str], calls: list[dict[str, Any]], reason: str
) -> dict[str, Any]:
    """A ``chat.completion`` choice: the assistant's texts joined (null when it wrote none),
    its tool calls where it made any."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts else None,
        "refusal": None,
    }
    if calls:
        message["tool_calls"] = calls
    return {"index": index, "message": message, "logprobs": None, "finish_reason": reason}


def completion_object(
    completion_id: str, created: int, model: Any, choices: list[dict[str, Any]], usage: Any
) -> dict[str, Any]:
    """A ``chat.completion`` (a batch row's body)."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": usage,
    }


def batch_errors(code: str, message: str) -> dict[str, Any]:
    """A batch's ``errors`` holding the one job-level error a provider reports."""
    return {
        "object": "list",
        "data": [{"code": code, "message": message, "param": None, "line": None}],
    }


def ok(obj: Any, source: UpstreamReply) -> UpstreamReply:
    """An OpenAI-shaped answer made from ``source``, relaying its headers."""
    return UpstreamReply(200, _json.encode(obj), source.headers)


def ok_from(fetched: tuple[UpstreamReply, T], convert: Callable[[T], Any]) -> UpstreamReply:
    """A provider's answer and the object read from it: the answer itself when it is an
    error, else ``convert(object)`` answered as ``ok`` does."""
    reply, obj = fetched
    return ok(convert(obj), reply) if reply.ok else reply


# One batch output row a line of a results file: a Struct encodes it without building dicts.
class _RowResponse(msgspec.Struct):
    status_code: int
    request_id: str
    body: Any


class _RowError(msgspec.Struct):
    code: str
    message: str


class _OutputRow(msgspec.Struct):
    id: str
    custom_id: str
    response: _RowResponse | None
    error: _RowError | None = None


def output_row(out_id: str, custom_id: str, status_code: int, request_id: str, body: Any) -> bytes:
    """A line of a batch's output file (``{"id", "custom_id", "response": {"status_code",
    "request_id", "body"}, "error": null}``), as OpenAI writes one for a request that got an
    answer."""
    return _json.encode(_OutputRow(out_id, custom_id, _RowResponse(status_code, request_id, body)))


def error_row(out_id: str, custom_id: str, code: str, message: str) -> bytes:
    """A line of a batch's output file for a request that got no answer (``{"id",
    "custom_id", "response": null, "error": {"code", "message"}}``), as OpenAI writes one for
    a request its batch cancelled or left to expire."""
    return _json.encode(_OutputRow(out_id, custom_id, None, _RowError(code, message)))
