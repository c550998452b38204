"""OpenAI chat rows <-> Anthropic's Messages API, pure: the Claude mapping that Bedrock (Claude
models on Bedrock) and Anthropic (Message Batches) share.

- ``chat_to_claude``: an OpenAI chat completion body -> Messages ``params`` (system prompt,
  alternating turns, images, tools, stops, ``max_tokens``, which Anthropic requires);
- ``claude_completion``: a Messages answer -> an OpenAI ``chat.completion`` (text, tool calls,
  finish reason, usage with the cache tokens).

Either raises ``RowError`` saying why a row cannot be expressed; ``chat_rows.chat_row`` makes
that a 400 naming the line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .genai_rows import RowError, digest

__all__ = [
    "CLAUDE_STOP",
    "DEFAULT_MAX_TOKENS",
    "chat_to_claude",
    "claude_completion",
    "completion",
    "data_url",
    "max_tokens",
    "merge_turns",
    "stops",
    "text_of",
]

# max_tokens is required by the Messages API; OpenAI rows may leave it out.
DEFAULT_MAX_TOKENS = 4096
# Messages API stop_reason -> OpenAI finish_reason.
CLAUDE_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "pause_turn": "stop",
    "refusal": "content_filter",
}


def data_url(url: str, provider: str) -> tuple[str, str]:
    """(media type, base64 data) of a ``data:`` URL."""
    head, sep, data = url.partition(",")
    if not url.startswith("data:") or not sep or ";base64" not in head:
        raise RowError(f"images must be base64 data: URLs ({provider} does not fetch URLs)")
    return head[len("data:") :].split(";", 1)[0], data


def text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        )
    raise RowError("message content must be a string or a list of parts")


def _claude_parts(content: Any, provider: str, fetches_urls: bool) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise RowError("message content must be a string or a list of parts")
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"type": "text", "text": str(part.get("text", ""))})
        elif kind == "image_url":
            url = str((part.get("image_url") or {}).get("url", ""))
            if fetches_urls and url.startswith("https://"):
                parts.append({"type": "image", "source": {"type": "url", "url": url}})
                continue
            media, data = data_url(url, provider)
            parts.append(
                {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
            )
        else:
            raise RowError(f"content parts of type {kind!r} cannot run on {provider}")
    return parts


def merge_turns(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive messages of one role joined (Claude and Nova want alternating turns)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if out and out[-1]["role"] == message["role"]:
            out[-1]["content"] = [*out[-1]["content"], *message["content"]]
        else:
            out.append({"role": message["role"], "content": list(message["content"])})
    return out


def stops(body: Mapping[str, Any]) -> list[str] | None:
    stop = body.get("stop")
    if stop is None:
        return None
    return [stop] if isinstance(stop, str) else [str(s) for s in stop]


def max_tokens(body: Mapping[str, Any]) -> int:
    value = body.get("max_completion_tokens", body.get("max_tokens"))
    return int(value) if value is not None else DEFAULT_MAX_TOKENS


def chat_to_claude(
    body: Mapping[str, Any], provider: str, *, fetches_urls: bool = False
) -> dict[str, Any]:
    """Messages ``params`` for an OpenAI chat body (without ``model``, which the caller
    sets or leaves out); ``fetches_urls``: the provider fetches ``https://`` image URLs."""
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for message in body.get("messages") or []:
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(text_of(message.get("content")))
        elif role == "user":
            messages.append(
                {
                    "role": "user",
                    "content": _claude_parts(message.get("content"), provider, fetches_urls),
                }
            )
        elif role == "assistant":
            parts = (
                _claude_parts(message.get("content"), provider, fetches_urls)
                if message.get("content")
                else []
            )
            for call in message.get("tool_calls") or []:
                fn = call.get("function") or {}
                parts.append(
                    {
                        "type": "tool_use",
                        "id": call.get("id"),
                        "name": fn.get("name"),
                        "input": json.loads(fn.get("arguments") or "{}"),
                    }
                )
            messages.append({"role": "assistant", "content": parts})
        elif role == "tool":
            messages.append(
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": message.get("tool_call_id"),
                            "content": text_of(message.get("content")),
                        }
                    ],
                }
            )
        else:
            raise RowError(f"messages of role {role!r} cannot run on {provider}")
    out: dict[str, Any] = {"max_tokens": max_tokens(body), "messages": merge_turns(messages)}
    if system:
        out["system"] = "\n\n".join(system)
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            out[name] = body[name]
    stop = stops(body)
    if stop:
        out["stop_sequences"] = stop
    choice = body.get("tool_choice")
    tools = body.get("tools")
    if tools and choice != "none":
        out["tools"] = [
            {
                "name": (t.get("function") or {}).get("name"),
                **(
                    {"description": t["function"]["description"]}
                    if (t.get("function") or {}).get("description")
                    else {}
                ),
                "input_schema": (t.get("function") or {}).get("parameters") or {"type": "object"},
            }
            for t in tools
        ]
        if choice == "auto":
            out["tool_choice"] = {"type": "auto"}
        elif choice == "required":
            out["tool_choice"] = {"type": "any"}
        elif isinstance(choice, dict):
            out["tool_choice"] = {
                "type": "tool",
                "name": (choice.get("function") or {}).get("name"),
            }
    return out


def claude_completion(
    out: Mapping[str, Any], model: str, custom_id: str, seed: str
) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` for a Messages answer. Anthropic counts cache reads and
    writes apart from ``input_tokens``; OpenAI's ``prompt_tokens`` holds them all, the reads
    again in ``prompt_tokens_details.cached_tokens``."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in out.get("content") or []:
        if part.get("type") == "text":
            texts.append(str(part.get("text", "")))
        elif part.get("type") == "tool_use":
            calls.append(
                {
                    "id": str(part.get("id") or f"call_{digest(custom_id, seed, str(len(calls)))}"),
                    "type": "function",
                    "function": {
                        "name": part.get("name"),
                        "arguments": json.dumps(part.get("input") or {}),
                    },
                }
            )
    usage = out.get("usage") or {}
    read = usage.get("cache_read_input_tokens")
    written = usage.get("cache_creation_input_tokens")
    prompt = int(usage.get("input_tokens", 0)) + int(read or 0) + int(written or 0)
    cached = int(read or 0) if read is not None or written is not None else None
    reason = CLAUDE_STOP.get(str(out.get("stop_reason")), "stop")
    return completion(
        texts,
        calls,
        reason,
        prompt,
        int(usage.get("output_tokens", 0)),
        out.get("model") or model,
        custom_id,
        seed,
        cached=cached,
    )


def completion(
    texts: list[str],
    calls: list[dict[str, Any]],
    reason: str,
    prompt: int,
    completion_tokens: int,
    model: str,
    custom_id: str,
    seed: str,
    *,
    cached: int | None = None,
) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` with one choice; its IDs derived from the row."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts else None,
        "refusal": None,
    }
    if calls:
        message["tool_calls"] = calls
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
    }
    if cached is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    return {
        "id": "chatcmpl-" + digest(custom_id, seed, "completion"),
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reason}],
        "usage": usage,
    }
