"""Bedrock's batch records for Amazon Nova and Titan Text Embeddings V2: OpenAI chat and
embeddings bodies as ``modelInput``, and their answers as OpenAI bodies.

Claude's mapping is shared with the Anthropic provider (``claude_rows``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ..chat_rows import embedding_text
from ..claude_rows import AnswerShape, data_url
from ..claude_rows import cache_point as _cache_point
from ..claude_rows import max_tokens as _max_tokens
from ..claude_rows import merge_turns as _merge
from ..claude_rows import stops as _stops
from ..claude_rows import text_of as _text_of
from ..genai_rows import RowError, content_parts
from ..shapes import embedding_list

_NOVA_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "content_filtered": "content_filter",
}


# Amazon Titan Text Embeddings V2, the embedding model AWS lists for batch inference.
TITAN_EMBED = "titan-embed"


def family_of(model: str) -> str:
    """The model family of a Bedrock model ID, inference profile ID or ARN."""
    name = model.rsplit("/", 1)[-1]
    name = re.sub(r"^(us|eu|apac|jp|au|ca|us-gov|global)\.", "", name)
    if name.startswith("anthropic.claude"):
        return "claude"
    if name.startswith("amazon.nova"):
        return "nova"
    if name.startswith("amazon.titan-embed-text-v2"):
        return TITAN_EMBED
    return name.split(".", 1)[0] if "." in name else name


# -- rows: OpenAI chat -> Claude Messages (claude_rows, shared with Anthropic) / Nova --------
# InvokeModel's Claude body names its version (AWS, "Anthropic Claude Messages API").
ANTHROPIC_VERSION = "bedrock-2023-05-31"


def _nova_parts(content: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for kind, part in content_parts(content):
        if kind == "text":
            parts.append({"text": str(part.get("text", ""))})
        elif kind == "image_url":
            # Nova's request schema takes an image as source.bytes (s3Location is video's),
            # and a batch job reaches no linked object outside its input folder: only data:
            # URLs become images.
            url = str((part.get("image_url") or {}).get("url", ""))
            if not url.startswith("data:"):
                raise RowError(
                    "Nova images must be base64 data: URLs (Nova takes image bytes; a batch "
                    "job fetches no s3:// or https:// image)"
                )
            media, data = data_url(url, "Bedrock")
            parts.append({"image": {"format": media.split("/")[-1], "source": {"bytes": data}}})
        else:
            raise RowError(f"content parts of type {kind!r} cannot run on Bedrock")
        if _cache_point(part):
            parts.append({"cachePoint": {"type": "default"}})
    return parts


def _nova_format(body: Mapping[str, Any]) -> bool:
    """Whether a row asks Nova for more than plain text."""
    fmt = body.get("response_format")
    return not (isinstance(fmt, dict) and fmt.get("type") == "text")


def chat_to_nova(body: Mapping[str, Any]) -> dict[str, Any]:
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for message in body.get("messages") or []:
        role = message.get("role")
        if role in ("system", "developer"):
            system.append({"text": _text_of(message.get("content"))})
            content = message.get("content")
            if isinstance(content, list) and any(
                isinstance(p, dict) and _cache_point(p) for p in content
            ):
                system.append({"cachePoint": {"type": "default"}})
        elif role == "user":
            messages.append({"role": role, "content": _nova_parts(message.get("content") or "")})
        elif role == "assistant":
            content = message.get("content")
            parts = _nova_parts(content) if content else []
            for call in message.get("tool_calls") or []:
                fn = call.get("function") or {}
                parts.append(
                    {
                        "toolUse": {
                            "toolUseId": call.get("id"),
                            "name": fn.get("name"),
                            "input": json.loads(fn.get("arguments") or "{}"),
                        }
                    }
                )
            if not parts:
                raise RowError("an assistant message has neither content nor tool_calls")
            messages.append({"role": role, "content": parts})
        elif role == "tool":
            # Nova's tool results: a user turn's toolResult blocks (Nova user guide, "Tool use").
            messages.append(
                {
                    "role": "user",
                    "content": [
                        {
                            "toolResult": {
                                "toolUseId": message.get("tool_call_id"),
                                "content": [{"text": _text_of(message.get("content"))}],
                            }
                        }
                    ],
                }
            )
        else:
            raise RowError(f"messages of role {role!r} cannot run on Amazon Nova batches")
    if body.get("response_format") is not None and _nova_format(body):
        raise RowError(
            "response_format has no field in Nova's InvokeModel request (AWS documents "
            "structured outputs for Nova only in the Converse API, which batch records do not "
            "use)"
        )
    out: dict[str, Any] = {"schemaVersion": "messages-v1", "messages": _merge(messages)}
    if system:
        out["system"] = system
    config: dict[str, Any] = {"maxTokens": _max_tokens(body)}
    if body.get("temperature") is not None:
        config["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        config["topP"] = body["top_p"]
    stops = _stops(body)
    if stops:
        config["stopSequences"] = stops
    out["inferenceConfig"] = config
    tools = body.get("tools")
    if tools and body.get("tool_choice") != "none":
        out["toolConfig"] = {
            "tools": [
                {
                    "toolSpec": {
                        "name": (t.get("function") or {}).get("name"),
                        "description": (t.get("function") or {}).get("description") or "",
                        "inputSchema": {
                            "json": (t.get("function") or {}).get("parameters")
                            or {"type": "object"}
                        },
                    }
                }
                for t in tools
            ]
        }
    return out


def embeddings_to_titan(body: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI embeddings body as Titan Text Embeddings V2's request (one text a record:
    ``inputText``, ``dimensions`` 256/512/1024, ``normalize``; Bedrock user guide,
    model-parameters-titan-embed-text)."""
    text = embedding_text(body, "Titan embeds one text per record", "Titan's embedding")
    out: dict[str, Any] = {"inputText": text, "normalize": True}
    dimensions = body.get("dimensions")
    if dimensions is not None:
        if dimensions not in (256, 512, 1024):
            raise RowError("Titan Text Embeddings V2 takes dimensions 256, 512 or 1024")
        out["dimensions"] = dimensions
    return out


def titan_embedding(
    out: Mapping[str, Any], model: str, custom_id: str, seed: str
) -> dict[str, Any]:
    """Titan's answer (``embedding``, ``inputTextTokenCount``) as an OpenAI embeddings body."""
    tokens = int(out.get("inputTextTokenCount") or 0)
    return embedding_list(out.get("embedding") or [], model, tokens)


# -- rows: Claude / Nova answers -> chat.completion ------------------------------------------
def _nova_block(part: Mapping[str, Any]) -> str | tuple[Any, Any, Any] | None:
    if "text" in part:
        return str(part["text"])
    if "toolUse" in part:
        use = part["toolUse"] or {}
        return use.get("toolUseId"), use.get("name"), use.get("input")
    return None


# Nova's answer (Nova user guide, "Response structure highlights"; the cache counts: "Prompt
# caching").
_NOVA_ANSWER = AnswerShape(
    "stopReason",
    _NOVA_STOP,
    ("inputTokens", "outputTokens", "cacheReadInputTokenCount", "cacheWriteInputTokenCount"),
    _nova_block,
)


def nova_completion(
    out: Mapping[str, Any], model: str, custom_id: str, seed: str
) -> dict[str, Any]:
    message = (out.get("output") or {}).get("message") or {}
    return _NOVA_ANSWER.completion(out, message.get("content"), model, custom_id, seed)
