"""The model bodies a job checks and answers: Claude Messages, Titan Text Embeddings V2, Amazon
Nova (each from its Bedrock user guide page, named at its section)."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import secrets
from typing import Any

from .common import Job

# -- Claude Messages (Bedrock user guide, model-parameters-anthropic-claude-messages) --------
CLAUDE_FIELDS = {
    "anthropic_version", "anthropic_beta", "max_tokens", "system", "messages", "temperature",
    "top_p", "top_k", "stop_sequences", "tools", "tool_choice",
    # AWS "Get validated JSON results from models": InvokeModel with Claude takes a JSON
    # schema in output_config.format.
    "output_config",
}  # fmt: skip
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
# The shortest prefix prompt caching caches (Anthropic and Nova guides: 1,024 tokens).
CACHE_MIN_TOKENS = 1024


def _alternates(messages: list[Any]) -> str | None:
    roles = [m.get("role") for m in messages]
    if roles and roles[0] != "user":
        return "#/messages: the first message must use the user role"
    for a, b in itertools.pairwise(roles):
        if a == b:
            return "#/messages: roles must alternate between user and assistant"
    return None


def _check_claude(body: dict[str, Any], model_id: str = "") -> str | None:
    extra = sorted(set(body) - CLAUDE_FIELDS)
    if extra:
        return f"#: extraneous key [{extra[0]}] is not permitted"
    if body.get("anthropic_version") != "bedrock-2023-05-31":
        return "#/anthropic_version: expected bedrock-2023-05-31"
    tokens = body.get("max_tokens")
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1:
        return (
            "#: required key [max_tokens] not found"
            if tokens is None
            else "#/max_tokens: expected a positive integer"
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return (
            "#: required key [messages] not found"
            if messages is None
            else "#/messages: expected a non-empty array"
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"#/messages/{i}/role: expected user or assistant"
        content = message.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, list) or not content:
            return f"#/messages/{i}/content: expected a string or a non-empty array"
        for j, part in enumerate(content):
            where = f"#/messages/{i}/content/{j}"
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                if not isinstance(part.get("text"), str):
                    return f"{where}/text: expected a string"
                if not part["text"]:
                    # Anthropic's Messages API: "text content blocks must be non-empty".
                    return f"{where}: text content blocks must be non-empty"
            elif kind == "image":
                source = part.get("source")
                if (
                    not isinstance(source, dict)
                    or source.get("type") != "base64"
                    or source.get("media_type") not in IMAGE_TYPES
                    or not isinstance(source.get("data"), str)
                ):
                    return (
                        f"{where}/source: expected a base64 source with media_type one of "
                        + ", ".join(IMAGE_TYPES)
                    )
            elif kind not in ("tool_use", "tool_result"):
                return f"{where}/type: {kind} is not a valid enum value"
    problem = _alternates(messages)
    if problem:
        return problem
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        return "#/system: expected a string or an array"
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int | float) or not 0 <= value <= 1):
            return f"#/{name}: expected a number between 0 and 1"
    if (
        re.search(r"claude-(?:sonnet|haiku|opus)-4-5", model_id)
        and body.get("temperature") is not None
        and body.get("top_p") is not None
    ):
        # Claude 4.5 models (BerriAI/litellm 15070, Anthropic's models overview).
        return "temperature and top_p cannot both be specified for this model"
    fmt = (body.get("output_config") or {}).get("format") if "output_config" in body else None
    if "output_config" in body and (
        not isinstance(fmt, dict)
        or fmt.get("type") != "json_schema"
        or not isinstance(fmt.get("schema"), dict)
    ):
        return "#/output_config/format: expected {type: json_schema, schema: {...}}"
    stops = body.get("stop_sequences")
    if stops is not None and (
        not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)
    ):
        return "#/stop_sequences: expected an array of strings"
    tools = body.get("tools")
    if tools is not None and (
        not isinstance(tools, list)
        or not all(
            isinstance(t, dict)
            and isinstance(t.get("name"), str)
            and isinstance(t.get("input_schema"), dict)
            for t in tools
        )
    ):
        return "#/tools: each tool needs a name and an input_schema"
    choice = body.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool"):
            return "#/tool_choice/type: expected auto, any or tool"
        if choice["type"] == "tool" and not any(
            t.get("name") == choice.get("name") for t in tools or []
        ):
            return "#/tool_choice/name: no tool has this name"
    return None


# -- Amazon Titan Text Embeddings V2 (Bedrock user guide, model-parameters-titan-embed-text:
#    request inputText, dimensions 1024/512/256, normalize, embeddingTypes; response
#    embedding, inputTextTokenCount, embeddingsByType) -----------------------------------------
TITAN_FIELDS = {"inputText", "dimensions", "normalize", "embeddingTypes"}


def _titan_invoke(body: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    extra = sorted(set(body) - TITAN_FIELDS)
    if extra:
        return {}, f"Malformed input request: extraneous key [{extra[0]}] is not permitted"
    text = body.get("inputText")
    if not isinstance(text, str) or not text:
        return {}, "Malformed input request: required key [inputText] not found"
    dimensions = body.get("dimensions", 1024)
    if dimensions not in (256, 512, 1024):
        return {}, "Malformed input request: #/dimensions: 256, 512 or 1024"
    seed = hashlib.sha256(text.encode()).digest()
    vector = [round((seed[i % 32] - 127.5) / 127.5, 6) for i in range(dimensions)]
    if body.get("normalize", True):
        norm = sum(v * v for v in vector) ** 0.5 or 1.0
        vector = [round(v / norm, 6) for v in vector]
    tokens = len(text.split())
    return {
        "embedding": vector,
        "inputTextTokenCount": tokens,
        "embeddingsByType": {"float": vector},
    }, None


def _tools_refused(job: Job, model_input: Any) -> bool:
    """Whether a record with tools fails for the job's invocation type.

    AWS's batch inference guide (current revision): tool calling fails in jobs of the
    Converse type ("records that include toolConfig fail with a 400") and works in
    InvokeModel jobs. A job that does not say its type is taken as Converse for this (the
    least helpful reading: the guide names no default); Converse jobs are refused at create.
    """
    if job.request.get("modelInvocationType") == "InvokeModel":
        return False
    return isinstance(model_input, dict) and bool(
        model_input.get("tools") or model_input.get("toolConfig")
    )


def _claude_answer(
    body: dict[str, Any],
    model_id: str,
    words: list[str],
    input_tokens: int,
    cached: tuple[str, int] | None = None,
) -> dict[str, Any]:
    """The InvokeModel response body for Claude Messages."""
    choice = body.get("tool_choice") or {}
    content: list[dict[str, Any]]
    if choice.get("type") in ("any", "tool"):
        name = choice.get("name") or body["tools"][0]["name"]
        content = [
            {"type": "tool_use", "id": "toolu_" + secrets.token_hex(12), "name": name, "input": {}}
        ]
        stop, out = "tool_use", 8
    elif "output_config" in body:
        # A JSON text that follows the schema (its required properties, as strings).
        schema = body["output_config"]["format"]["schema"]
        text = json.dumps({k: " ".join(words[:2]) for k in schema.get("required") or []})
        content = [{"type": "text", "text": text}]
        stop, out = "end_turn", len(text.split())
    else:
        limit = body["max_tokens"]
        stop = "max_tokens" if len(words) > limit else "end_turn"
        kept = words[:limit]
        content = [{"type": "text", "text": " ".join(kept)}]
        out = len(kept)
    return {
        "id": "msg_bdrk_" + secrets.token_hex(12),
        "type": "message",
        "role": "assistant",
        "model": model_id.rsplit("/", 1)[-1],
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            # Anthropic "Prompt caching": input_tokens counts only what follows the last
            # cache breakpoint; the cached prefix is cache_creation_ or cache_read_input_tokens.
            "input_tokens": input_tokens - (cached[1] if cached else 0),
            "output_tokens": out,
            **(
                {
                    "cache_creation_input_tokens": cached[1] if cached[0] == "write" else 0,
                    "cache_read_input_tokens": cached[1] if cached[0] == "read" else 0,
                }
                if cached
                else {}
            ),
        },
    }


# -- Amazon Nova (Nova user guide, "Complete request schema" and Nova 2 "Request and response
#    schema"; "Using the Invoke API" for the response) -------------------------------------
NOVA_FIELDS = {"schemaVersion", "system", "messages", "inferenceConfig", "toolConfig"}
NOVA_CONFIG = {"maxTokens", "temperature", "topP", "topK", "stopSequences", "reasoningConfig"}
NOVA_IMAGE_FORMATS = ("jpeg", "png", "gif", "webp")


def _check_nova(body: dict[str, Any]) -> str | None:
    extra = sorted(set(body) - NOVA_FIELDS)
    if extra:
        return f"extraneous key [{extra[0]}] is not permitted"
    if "schemaVersion" in body and body["schemaVersion"] != "messages-v1":
        # The Nova 2 schema says every field not marked required is optional, and
        # schemaVersion is not marked; its only documented value is "messages-v1".
        return "schemaVersion must be messages-v1"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty array"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"messages[{i}].role must be user or assistant"
        content = message.get("content")
        if not isinstance(content, list) or not content:
            return f"messages[{i}].content must be a non-empty array"
        for j, part in enumerate(content):
            if not isinstance(part, dict) or not (
                {"text", "image", "video", "toolUse", "toolResult", "cachePoint"} & set(part)
            ):
                return (
                    f"messages[{i}].content[{j}] has no text, image, video, toolUse, toolResult "
                    "or cachePoint"
                )
            if "text" in part and not isinstance(part["text"], str):
                return f"messages[{i}].content[{j}].text must be a string"
            image = part.get("image")
            if image is not None and (
                not isinstance(image, dict)
                or image.get("format") not in NOVA_IMAGE_FORMATS
                or not isinstance((image.get("source") or {}).get("bytes"), str)
            ):
                return (
                    f"messages[{i}].content[{j}].image needs a format (jpeg, png, gif, webp) "
                    "and source.bytes (Base64)"
                )
    # "first turn must be user"; turns alternate as in the Converse API, whose request
    # schema Nova's Invoke body shares.
    problem = _alternates(messages)
    if problem:
        return problem.replace("#/", "")
    system = body.get("system")
    if system is not None and (
        not isinstance(system, list)
        or not all(
            isinstance(s, dict) and (isinstance(s.get("text"), str) or "cachePoint" in s)
            for s in system
        )
    ):
        return "system must be an array of {text} or {cachePoint} objects"
    config = body.get("inferenceConfig")
    if config is not None:
        if not isinstance(config, dict):
            return "inferenceConfig must be an object"
        extra = sorted(set(config) - NOVA_CONFIG)
        if extra:
            return f"extraneous key [inferenceConfig.{extra[0]}] is not permitted"
        tokens = config.get("maxTokens")
        if tokens is not None and (
            not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1
        ):
            return "inferenceConfig.maxTokens must be a positive integer"
    return None


def _nova_answer(
    body: dict[str, Any],
    words: list[str],
    input_tokens: int,
    cached: tuple[str, int] | None = None,
) -> dict[str, Any]:
    limit = (body.get("inferenceConfig") or {}).get("maxTokens") or len(words)
    kept = words[:limit]
    usage: dict[str, Any] = {
        "inputTokens": input_tokens,
        "outputTokens": len(kept),
        "totalTokens": input_tokens + len(kept),
    }
    if cached:
        # Nova's Invoke response names the cached prefix cacheReadInputTokenCount or
        # cacheWriteInputTokenCount (Nova user guide, "Prompt caching"); inputTokens is the
        # rest of the prompt.
        usage["inputTokens"] = input_tokens - cached[1]
        usage[
            "cacheReadInputTokenCount" if cached[0] == "read" else "cacheWriteInputTokenCount"
        ] = cached[1]
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": " ".join(kept)}]}},
        "stopReason": "max_tokens" if len(words) > limit else "end_turn",
        "usage": usage,
    }
