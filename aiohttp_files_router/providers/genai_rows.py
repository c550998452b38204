"""OpenAI chat completions <-> GenerateContentRequest / GenerateContentResponse, as data.

The mapping the Vertex AI and Gemini providers share: pure functions, no transport. How a
provider carries a row's ``custom_id`` (Vertex: request labels; Gemini: the row's ``key``) and
how its batch rows are wrapped stay in the provider's own module; the frame that reads either's
result file into OpenAI output rows (``result_lines``) is shared, told by the provider what a
row holds.

Requests: messages (system/developer -> ``systemInstruction``; user, assistant, tool ->
``contents`` with text, image (URL or base64) parts, function calls and responses), generation
settings, ``response_format``, tools and ``tool_choice``. Responses: candidates -> choices
(text, tool calls, finish reasons), ``usageMetadata`` -> usage.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from ..jsoncodec import ANY as _decode
from .result_views import left_out
from .shapes import chat_choice, completion_object, output_row

__all__ = [
    "FINISH_REASONS",
    "RowError",
    "chat_completion",
    "chat_to_generate_content",
    "completion_id",
    "content_parts",
    "digest",
    "error_body",
    "result_lines",
    "row_seed",
    "usage_of",
]

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
# JSON Schema keywords the GenerateContent schema (an OpenAPI subset) does not take.
_SCHEMA_DROP = frozenset({"additionalProperties", "$schema", "strict", "$id", "$defs"})


class RowError(ValueError):
    """A chat completion request that cannot be expressed as GenerateContent (says why)."""


def content_parts(content: Any) -> list[tuple[Any, Any]]:
    """An OpenAI message's content as ``(type, part)`` pairs, a string being one text part
    (RowError for anything but a string or a list)."""
    if isinstance(content, str):
        return [("text", {"type": "text", "text": content})]
    if not isinstance(content, list):
        raise RowError("message content must be a string or a list of parts")
    return [(item.get("type") if isinstance(item, dict) else None, item) for item in content]


def _parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    parts: list[dict[str, Any]] = []
    for kind, item in content_parts(content):
        if kind == "text":
            parts.append({"text": item.get("text", "")})
        elif kind == "image_url":
            url = item.get("image_url", {})
            url = url.get("url") if isinstance(url, dict) else url
            if not isinstance(url, str):
                raise RowError("image_url needs a url")
            if url.startswith("data:"):
                header, _, data = url.partition(",")
                mime = header[5:].split(";", 1)[0] or "application/octet-stream"
                parts.append({"inlineData": {"mimeType": mime, "data": data}})
            else:
                mime = "image/png" if url.lower().endswith(".png") else "image/jpeg"
                parts.append({"fileData": {"mimeType": mime, "fileUri": url}})
        else:
            raise RowError(f"content part type {kind!r} is not supported")
    return parts


def _schema(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _schema(v) for k, v in node.items() if k not in _SCHEMA_DROP}
    if isinstance(node, list):
        return [_schema(v) for v in node]
    return node


def _tool_choice(choice: Any) -> dict[str, Any]:
    if choice in ("auto", "none", "required"):
        return {
            "functionCallingConfig": {
                "mode": {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice]
            }
        }
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return {
            "functionCallingConfig": {
                "mode": "ANY",
                "allowedFunctionNames": [choice["function"]["name"]],
            }
        }
    raise RowError("tool_choice must be auto, none, required or a function")


def chat_to_generate_content(body: dict[str, Any]) -> dict[str, Any]:
    """A chat completion request body as a GenerateContentRequest (RowError if it cannot be)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RowError("body.messages must be a non-empty list")
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}
    for message in messages:
        if not isinstance(message, dict):
            raise RowError("each message must be an object")
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_parts(message.get("content")))
        elif role == "user":
            contents.append({"role": "user", "parts": _parts(message.get("content"))})
        elif role == "assistant":
            parts = _parts(message.get("content"))
            for call in message.get("tool_calls") or []:
                fn = call.get("function", {})
                call_names[call.get("id", "")] = fn.get("name", "")
                try:
                    args = json.loads(fn.get("arguments") or "{}")
                except ValueError:
                    raise RowError("tool call arguments must be JSON") from None
                parts.append({"functionCall": {"name": fn.get("name"), "args": args}})
            contents.append({"role": "model", "parts": parts})
        elif role == "tool":
            name = call_names.get(message.get("tool_call_id", ""), message.get("name", ""))
            contents.append(
                {
                    "role": "user",
                    "parts": [
                        {
                            "functionResponse": {
                                "name": name,
                                "response": {"content": message.get("content")},
                            }
                        }
                    ],
                }
            )
        else:
            raise RowError(f"message role {role!r} is not supported")
    request: dict[str, Any] = {"contents": contents}
    if system:
        request["systemInstruction"] = {"parts": system}
    config: dict[str, Any] = {}
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    for key, value in (
        ("maxOutputTokens", max_tokens),
        ("temperature", body.get("temperature")),
        ("topP", body.get("top_p")),
        ("candidateCount", body.get("n")),
        ("seed", body.get("seed")),
        ("presencePenalty", body.get("presence_penalty")),
        ("frequencyPenalty", body.get("frequency_penalty")),
    ):
        if value is not None:
            config[key] = value
    stop = body.get("stop")
    if stop is not None:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    fmt = body.get("response_format")
    if isinstance(fmt, dict):
        if fmt.get("type") == "json_schema":
            config["responseMimeType"] = "application/json"
            schema = (fmt.get("json_schema") or {}).get("schema")
            if schema is not None:
                config["responseSchema"] = _schema(schema)
        elif fmt.get("type") == "json_object":
            config["responseMimeType"] = "application/json"
    if config:
        request["generationConfig"] = config
    tools = body.get("tools")
    if tools:
        declarations = []
        for tool in tools:
            fn = tool.get("function") if isinstance(tool, dict) else None
            if tool.get("type") != "function" or not isinstance(fn, dict):
                raise RowError("only function tools are supported")
            declaration = {"name": fn.get("name")}
            if fn.get("description"):
                declaration["description"] = fn["description"]
            if fn.get("parameters"):
                declaration["parameters"] = _schema(fn["parameters"])
            declarations.append(declaration)
        request["tools"] = [{"functionDeclarations": declarations}]
    if body.get("tool_choice") is not None:
        request["toolConfig"] = _tool_choice(body["tool_choice"])
    return request


def digest(*parts: str) -> str:
    """A stable short hash: IDs derived from a row stay the same on every download."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:24]


def row_seed(output: str, row: str) -> str:
    """What the IDs of an output row derive from: the batch's output object (one per batch,
    whatever view of it is read) and the row's place in it. Two batches of one input file,
    even on two accounts, never share an ID; two downloads of one output always do."""
    return f"{row}\x00{output}"


def completion_id(custom_id: str, seed: str) -> str:
    """The ``chat.completion`` ID of an output row (``seed``: ``row_seed``)."""
    return "chatcmpl-" + digest(custom_id, seed, "completion")


def _choice(candidate: dict[str, Any], custom_id: str, index: int, seed: str) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in (candidate.get("content") or {}).get("parts") or []:
        if "text" in part and not part.get("thought"):
            texts.append(part["text"])
        elif "functionCall" in part:
            call = part["functionCall"]
            calls.append(
                {
                    "id": f"call_{digest(custom_id, seed, str(index), str(len(calls)))}",
                    "type": "function",
                    "function": {
                        "name": call.get("name"),
                        "arguments": json.dumps(call.get("args") or {}),
                    },
                }
            )
    reason = (
        "tool_calls" if calls else FINISH_REASONS.get(candidate.get("finishReason", "STOP"), "stop")
    )
    return chat_choice(candidate.get("index", index), texts, calls, reason)


def chat_completion(
    response: dict[str, Any], *, model: str, created: int, custom_id: str, seed: str
) -> dict[str, Any]:
    """A GenerateContentResponse as a ``chat.completion`` body.

    ``seed`` (with ``custom_id``) makes the derived IDs unique and stable per output row: it
    names the row and the batch output it is in (``row_seed``).
    """
    return completion_object(
        completion_id(custom_id, seed),
        created,
        response.get("modelVersion") or model,
        [
            _choice(candidate, custom_id, index, seed)
            for index, candidate in enumerate(response.get("candidates") or [])
        ],
        usage_of(response.get("usageMetadata") or {}),
    )


def usage_of(meta: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI's usage from a ``usageMetadata`` (UsageMetadata, ai.google.dev/api/generate-content).

    Thoughts are billed output: ``completion_tokens`` counts them and
    ``completion_tokens_details.reasoning_tokens`` states them. ``promptTokenCount`` already
    includes the cached part (``cachedContentTokenCount``, OpenAI's ``cached_tokens``), and
    tool-use prompt tokens are prompt; so prompt + completion is Google's total.
    """
    prompt = int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount") or 0)
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    completion = int(meta.get("candidatesTokenCount") or 0) + thoughts
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if "cachedContentTokenCount" in meta:
        usage["prompt_tokens_details"] = {"cached_tokens": int(meta["cachedContentTokenCount"])}
    if "thoughtsTokenCount" in meta:
        usage["completion_tokens_details"] = {"reasoning_tokens": thoughts}
    return usage


def error_body(message: str, error_type: str) -> dict[str, Any]:
    """An OpenAI error body for a batch row that has no response."""
    return {"error": {"message": message, "type": error_type, "param": None, "code": None}}


def result_lines(
    output: str,
    view: str | None,
    unmatched: Callable[[int], None] | None,
    *,
    unreadable: Callable[[int], dict[str, Any]],
    answer: Callable[[dict[str, Any]], dict[str, Any] | None],
    custom_id: Callable[[dict[str, Any]], str | None],
    body: Callable[[dict[str, Any], dict[str, Any], str, str], Any],
    failure: Callable[[dict[str, Any]], tuple[int, str]],
    error_type: str,
) -> Callable[[int, bytes], bytes | None]:
    """A line function turning a Google batch's result lines into OpenAI batch output rows.

    Gemini's responses file and Vertex's predictions differ only in what a row holds, which
    the caller says: ``unreadable`` is the row standing for line N when it is no JSON object,
    ``answer`` a row's answer (None: the row failed), ``custom_id`` the one it carries,
    ``body`` the 200 body of an answer (given the answer, the row, its custom_id and seed)
    and ``failure`` the status and message of a failed row (its body an OpenAI error of
    ``error_type``). ``view`` keeps only its rows; a row without a custom_id is named
    ``line-N`` and reported to ``unmatched``; ``output`` (the result file, one per batch)
    makes the row IDs unique to the batch (``row_seed``).
    """

    def fn(number: int, line: bytes) -> bytes | None:
        if not line.strip():
            return None
        try:
            row = _decode.decode(line)
        except msgspec.DecodeError:
            row = None
        if not isinstance(row, dict):
            row = unreadable(number)
        found = answer(row)
        if left_out(view, found is None):
            return None
        named = custom_id(row)
        if named is None:
            named = f"line-{number}"
            if unmatched is not None:
                unmatched(number)
        seed = row_seed(output, str(number))
        if found is None:
            status_code, message = failure(row)
            content = error_body(message, error_type)
        else:
            status_code, content = 200, body(found, row, named, seed)
        return output_row(
            "batch_req_" + digest(named, "out", seed),
            named,
            status_code,
            "req_" + digest(named, seed),
            content,
        )

    return fn
