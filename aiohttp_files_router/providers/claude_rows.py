"""OpenAI chat rows <-> Anthropic's Messages API, pure: the Claude mapping that Bedrock (Claude
models on Bedrock) and Anthropic (Message Batches) share.

- ``chat_to_claude``: an OpenAI chat completion body -> Messages ``params`` (system prompt,
  alternating turns, images, tools and tool calls, stops, ``max_tokens``, which Anthropic
  requires, ``cache_control`` on parts, ``response_format`` json_schema as
  ``output_config.format``; empty text blocks and, on Claude 4.5 models, temperature with
  top_p refused); what differs between providers is a parameter;
- ``claude_completion``: a Messages answer -> an OpenAI ``chat.completion`` (text, tool calls,
  finish reason, usage with the cache tokens).

Either raises ``RowError`` saying why a row cannot be expressed; ``chat_rows.chat_row`` makes
that a 400 naming the line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .genai_rows import RowError, completion_id, content_parts, digest
from .shapes import chat_choice, completion_object

__all__ = [
    "CLAUDE_ANSWER",
    "CLAUDE_STOP",
    "DEFAULT_MAX_TOKENS",
    "AnswerShape",
    "cache_point",
    "chat_to_claude",
    "claude_completion",
    "data_url",
    "max_tokens",
    "merge_turns",
    "stops",
    "text_of",
    "usage",
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
    parts: list[dict[str, Any]] = []
    for kind, part in content_parts(content):
        if kind == "text":
            text = str(part.get("text", ""))
            if not text:
                # The Messages API refuses an empty text block ("text content blocks must be
                # non-empty"); the row would fail only after the batch ran.
                raise RowError("a text content part is empty; Claude refuses empty text blocks")
            parts.append({"type": "text", "text": text})
        elif kind == "image_url":
            url = str((part.get("image_url") or {}).get("url", ""))
            if fetches_urls and url.startswith("https://"):
                parts.append({"type": "image", "source": {"type": "url", "url": url}})
            else:
                media, data = data_url(url, provider)
                parts.append(
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": media, "data": data},
                    }
                )
        else:
            raise RowError(f"content parts of type {kind!r} cannot run on {provider}")
        if cache_point(part):
            parts[-1]["cache_control"] = {"type": "ephemeral"}
    return parts


def cache_point(part: Mapping[str, Any]) -> bool:
    """Whether an OpenAI content part ends a cached prefix (LiteLLM's ``cache_control`` on a
    part, Anthropic's prompt caching shape): Claude keeps it on the block; Bedrock's Nova gets
    a ``cachePoint`` after it (Nova user guide, "Prompt caching")."""
    return isinstance(part.get("cache_control"), dict)


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


# Claude models of the 4.5 generation refuse temperature and top_p together ("temperature and
# top_p cannot both be specified for this model", BerriAI/litellm 15070).
_ONE_SAMPLING_KNOB = re.compile(r"claude-(?:sonnet|haiku|opus)-4-5")


def _response_format(body: Mapping[str, Any], provider: str) -> dict[str, Any] | None:
    """The JSON schema a row's ``response_format`` asks for; None for plain text."""
    fmt = body.get("response_format")
    if fmt is None or (isinstance(fmt, dict) and fmt.get("type") == "text"):
        return None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        if isinstance(schema, dict):
            return schema
        raise RowError("response_format.json_schema.schema must be an object")
    kind = fmt.get("type") if isinstance(fmt, dict) else fmt
    raise RowError(
        f"response_format of type {kind!r} has no field in Claude's request on {provider} "
        "(only json_schema maps)"
    )


def chat_to_claude(
    body: Mapping[str, Any],
    provider: str,
    *,
    model: str = "",
    fetches_urls: bool = False,
    version: str | None = None,
) -> dict[str, Any]:
    """Messages ``params`` for an OpenAI chat body (without ``model``, which the caller sets
    or leaves out). ``model`` decides model-specific refusals; ``fetches_urls``: the provider
    fetches ``https://`` image URLs; ``version``: the ``anthropic_version`` the body carries
    (Bedrock's InvokeModel body has one, the Messages API takes it as a header)."""
    if (
        _ONE_SAMPLING_KNOB.search(model)
        and body.get("temperature") is not None
        and body.get("top_p") is not None
    ):
        raise RowError(f"{model} takes temperature or top_p, not both")
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for message in body.get("messages") or []:
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            if isinstance(content, list) and any(
                isinstance(p, dict) and cache_point(p) for p in content
            ):
                system += _claude_parts(content, provider, fetches_urls)
            else:
                system.append({"type": "text", "text": text_of(content)})
        elif role == "user":
            messages.append(
                {"role": "user", "content": _claude_parts(content, provider, fetches_urls)}
            )
        elif role == "assistant":
            parts = _claude_parts(content, provider, fetches_urls) if content else []
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
                            "content": text_of(content),
                        }
                    ],
                }
            )
        else:
            raise RowError(f"messages of role {role!r} cannot run on {provider}")
    out: dict[str, Any] = {"anthropic_version": version} if version else {}
    out["max_tokens"] = max_tokens(body)
    out["messages"] = merge_turns(messages)
    if any("cache_control" in block for block in system):
        out["system"] = system
    elif system:
        out["system"] = "\n\n".join(block["text"] for block in system)
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            out[name] = body[name]
    stop = stops(body)
    if stop:
        out["stop_sequences"] = stop
    schema = _response_format(body, provider)
    if schema is not None:
        # Structured outputs: the Messages API's output_config.format (the anthropic SDK's
        # OutputConfigParam), which Bedrock's InvokeModel takes for Claude too (AWS "Get
        # validated JSON results from models").
        out["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
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


@dataclass(frozen=True)
class AnswerShape:
    """Where a Messages-style answer keeps what a ``chat.completion`` says. Claude's answer
    (Anthropic "Messages") and Nova's (Nova user guide, "Response structure highlights") differ
    only in names, so one reading serves both."""

    # The answer's field naming why it stopped, and its values as OpenAI finish reasons.
    stop_field: str
    stops: Mapping[str, str]
    # The ``usage`` fields counting input, output, cache-read and cache-write tokens.
    usage_fields: tuple[str, str, str, str]
    # A content block's text, or a tool use's (id, name, input); None for any other block.
    block: Callable[[Mapping[str, Any]], str | tuple[Any, Any, Any] | None]

    def completion(
        self, out: Mapping[str, Any], content: Any, model: str, custom_id: str, seed: str
    ) -> dict[str, Any]:
        """An OpenAI ``chat.completion`` with one choice for an answer whose blocks are
        ``content``; its IDs derived from the row and the batch output it is in (``seed``,
        genai_rows.row_seed)."""
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for part in content or []:
            found = self.block(part)
            if isinstance(found, str):
                texts.append(found)
            elif found is not None:
                calls.append(_tool_call(*found, custom_id, seed, calls))
        counts = out.get("usage") or {}
        reason = self.stops.get(str(out.get(self.stop_field)), "stop")
        return completion_object(
            completion_id(custom_id, seed),
            0,
            model,
            [chat_choice(0, texts, calls, reason)],
            usage(*(counts.get(name) for name in self.usage_fields)),
        )


def _claude_block(part: Mapping[str, Any]) -> str | tuple[Any, Any, Any] | None:
    if part.get("type") == "text":
        return str(part.get("text", ""))
    if part.get("type") == "tool_use":
        return part.get("id"), part.get("name"), part.get("input")
    return None


def claude_completion(
    out: Mapping[str, Any], model: str, custom_id: str, seed: str
) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` for a Messages answer. Anthropic counts cache reads and
    writes apart from ``input_tokens``; OpenAI's ``prompt_tokens`` holds them all, the reads
    again in ``prompt_tokens_details.cached_tokens``."""
    return CLAUDE_ANSWER.completion(
        out, out.get("content"), out.get("model") or model, custom_id, seed
    )


def _tool_call(
    given_id: Any, name: Any, args: Any, custom_id: str, seed: str, calls: list[Any]
) -> dict[str, Any]:
    """An OpenAI tool call: the provider's own ID, or one derived from the row and its place
    among the answer's ``calls`` so far."""
    return {
        "id": str(given_id or f"call_{digest(custom_id, seed, str(len(calls)))}"),
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(args or {})},
    }


def usage(inputs: Any, outputs: Any, read: Any, write: Any) -> dict[str, Any]:
    """OpenAI's usage: the prompt counts every input token, cached or not.

    Claude's ``input_tokens`` (and Nova's ``inputTokens``) leave out the tokens read from and
    written to the cache (Anthropic "Prompt caching": "Tokens after the last cache
    breakpoint"); OpenAI's ``prompt_tokens_details`` states them: ``cached_tokens`` wherever
    the answer counts the cache at all, ``cache_write_tokens`` where it counts writes.
    """
    prompt = int(inputs or 0) + int(read or 0) + int(write or 0)
    completion_tokens = int(outputs or 0)
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
    }
    if read is not None or write is not None:
        details = {"cached_tokens": int(read or 0)}
        if write is not None:
            details["cache_write_tokens"] = int(write)
        out["prompt_tokens_details"] = details
    return out


CLAUDE_ANSWER = AnswerShape(
    "stop_reason",
    CLAUDE_STOP,
    ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"),
    _claude_block,
)
