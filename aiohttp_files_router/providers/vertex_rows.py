"""OpenAI batch rows <-> Vertex AI batch prediction rows, one JSONL line at a time.

Upload: ``{"custom_id", "method", "url", "body": <chat completion request>}`` becomes
``{"request": <GenerateContentRequest>}``, the ``custom_id`` carried in ``request.labels``
(see vertex_labels): Vertex keeps nothing of an input row but its ``request``, and writes its
output lines in no promised order.
Download: ``{"request", "status", "response": <GenerateContentResponse>}`` becomes an OpenAI
batch output row with a ``chat.completion`` body, or an error row; its ``custom_id`` is read
from the echoed labels, never from the line's position.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from ..errors import BadRequest
from .vertex_labels import MAX_LABELS, custom_id_from_labels, custom_id_labels, label_problem

__all__ = [
    "FAILED",
    "SUCCEEDED",
    "chat_to_generate_content",
    "openai_to_vertex_line",
    "vertex_to_openai_line",
]

# The two views of a job's predictions: the rows that succeeded, the rows that failed.
SUCCEEDED = "succeeded"
FAILED = "failed"

CHAT_URL = "/v1/chat/completions"
_decode = msgspec.json.Decoder()
_encode = msgspec.json.Encoder()

_FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
_SCHEMA_DROP = frozenset({"additionalProperties", "$schema", "strict", "$id", "$defs"})


class RowError(ValueError):
    """A row that cannot be turned into a Vertex request (message says why)."""


def _parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise RowError("message content must be a string or a list of parts")
    parts: list[dict[str, Any]] = []
    for item in content:
        kind = item.get("type") if isinstance(item, dict) else None
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
            raise RowError(f"content part type {kind!r} is not supported on Vertex AI")
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
    """A chat completion request as a Vertex GenerateContentRequest."""
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
                raise RowError("only function tools are supported on Vertex AI")
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


def openai_to_vertex_line(number: int, line: bytes) -> bytes:
    if not line.strip():
        return line
    try:
        row = _decode.decode(line)
        if not isinstance(row, dict):
            raise RowError("the line is not a JSON object")
        custom_id = row.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            raise RowError("custom_id is missing")
        if row.get("url", CHAT_URL) != CHAT_URL:
            raise RowError(f"only {CHAT_URL} rows can run on Vertex AI")
        body = row.get("body")
        if not isinstance(body, dict):
            raise RowError("body must be an object")
        request = chat_to_generate_content(body)
        request["labels"] = _labels(body, custom_id)
    except msgspec.DecodeError:
        raise BadRequest(
            f"Line {number} of the batch file is not valid JSON.",
            param="file",
            code="invalid_batch_line",
        ) from None
    except (RowError, AttributeError, TypeError, KeyError) as err:
        reason = str(err) if isinstance(err, RowError) else "it is not a chat completion row"
        raise BadRequest(
            f"Line {number} of the batch file cannot run on Vertex AI: {reason}.",
            param="file",
            code="invalid_batch_line",
        ) from None
    return _encode.encode({"request": request})


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


def _unix(stamp: Any) -> int:
    if isinstance(stamp, str):
        try:
            return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
        except ValueError:
            pass
    return 0


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:24]


def _message(candidate: dict[str, Any], custom_id: str, index: int) -> tuple[dict[str, Any], str]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in (candidate.get("content") or {}).get("parts") or []:
        if "text" in part and not part.get("thought"):
            texts.append(part["text"])
        elif "functionCall" in part:
            call = part["functionCall"]
            calls.append(
                {
                    "id": f"call_{_digest(custom_id, str(index), str(len(calls)))}",
                    "type": "function",
                    "function": {
                        "name": call.get("name"),
                        "arguments": json.dumps(call.get("args") or {}),
                    },
                }
            )
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts else None,
        "refusal": None,
    }
    if calls:
        message["tool_calls"] = calls
    reason = "tool_calls" if calls else _FINISH.get(candidate.get("finishReason", "STOP"), "stop")
    return message, reason


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
) -> Callable[[int, bytes], bytes | None]:
    """A line function turning Vertex predictions into OpenAI batch output rows.

    ``view``: None keeps every row, SUCCEEDED or FAILED only those. A row whose custom_id
    cannot be found is named ``line-N`` (its line in predictions.jsonl) and reported to
    ``unmatched``.
    """

    def fn(number: int, line: bytes) -> bytes | None:
        if not line.strip():
            return None
        try:
            row = _decode.decode(line)
        except msgspec.DecodeError:
            row = None
        if not isinstance(row, dict):
            row = {"status": f"unreadable prediction on line {number}"}
        response = row.get("response")
        failed = bool(row.get("status")) or not isinstance(response, dict)
        if view == (SUCCEEDED if failed else FAILED):
            return None
        custom_id = _custom_id(row)
        if custom_id is None:
            custom_id = f"line-{number}"
            if unmatched is not None:
                unmatched(number)
        request_id = "req_" + _digest(custom_id, str(number))
        out_id = "batch_req_" + _digest(custom_id, "out", str(number))
        body: dict[str, Any]
        if failed or not isinstance(response, dict):
            body = {
                "error": {
                    "message": str(row.get("status") or "no response"),
                    "type": "vertex_ai_error",
                    "param": None,
                    "code": None,
                }
            }
            status_code = 400
        else:
            choices = []
            for index, candidate in enumerate(response.get("candidates") or []):
                message, reason = _message(candidate, custom_id, index)
                choices.append(
                    {
                        "index": candidate.get("index", index),
                        "message": message,
                        "logprobs": None,
                        "finish_reason": reason,
                    }
                )
            usage = response.get("usageMetadata") or {}
            prompt = int(usage.get("promptTokenCount", 0))
            completion = int(usage.get("candidatesTokenCount", 0))
            body = {
                "id": "chatcmpl-" + _digest(custom_id, str(number), "completion"),
                "object": "chat.completion",
                "created": _unix(row.get("processed_time")),
                "model": response.get("modelVersion") or model,
                "choices": choices,
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": int(usage.get("totalTokenCount", prompt + completion)),
                },
            }
            status_code = 200
        return _encode.encode(
            {
                "id": out_id,
                "custom_id": custom_id,
                "response": {"status_code": status_code, "request_id": request_id, "body": body},
                "error": None,
            }
        )

    return fn
