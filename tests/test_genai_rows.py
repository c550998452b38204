"""The OpenAI <-> GenerateContent mapping Vertex AI and Gemini share, case by case."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aiohttp_files_router.providers.genai_rows import (
    RowError,
    chat_completion,
    chat_to_generate_content,
)

USER_HI = {"role": "user", "content": "hi"}

# (case, chat completion body, the GenerateContentRequest fields expected)
REQUESTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("text", {"messages": [USER_HI]}, {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
    (
        "text parts",
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}]},
        {"contents": [{"role": "user", "parts": [{"text": "a"}]}]},
    ),
    (
        "image url",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "gs://b/cat.png"}},
                        {"type": "image_url", "image_url": {"url": "https://x/dog.jpg"}},
                    ],
                }
            ]
        },
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {"fileData": {"mimeType": "image/png", "fileUri": "gs://b/cat.png"}},
                        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://x/dog.jpg"}},
                    ],
                }
            ]
        },
    ),
    (
        "base64 image",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/webp;base64,QUJD"}}
                    ],
                }
            ]
        },
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [{"inlineData": {"mimeType": "image/webp", "data": "QUJD"}}],
                }
            ]
        },
    ),
    (
        "system and developer",
        {
            "messages": [
                {"role": "system", "content": "Be terse."},
                {"role": "developer", "content": [{"type": "text", "text": "No emoji."}]},
                USER_HI,
            ]
        },
        {
            "systemInstruction": {"parts": [{"text": "Be terse."}, {"text": "No emoji."}]},
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        },
    ),
    (
        "tool call and result",
        {
            "messages": [
                USER_HI,
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "lookup", "arguments": '{"q": "x"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "found"},
            ]
        },
        {
            "contents": [
                {"role": "user", "parts": [{"text": "hi"}]},
                {
                    "role": "model",
                    "parts": [{"functionCall": {"name": "lookup", "args": {"q": "x"}}}],
                },
                {
                    "role": "user",
                    "parts": [
                        {"functionResponse": {"name": "lookup", "response": {"content": "found"}}}
                    ],
                },
            ]
        },
    ),
    (
        "tool definitions and choice",
        {
            "messages": [USER_HI],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "lookup",
                        "description": "Look up",
                        "parameters": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {"q": {"type": "string"}},
                        },
                    },
                }
            ],
            "tool_choice": {"type": "function", "function": {"name": "lookup"}},
        },
        {
            "tools": [
                {
                    "functionDeclarations": [
                        {
                            "name": "lookup",
                            "description": "Look up",
                            "parameters": {
                                "type": "object",
                                "properties": {"q": {"type": "string"}},
                            },
                        }
                    ]
                }
            ],
            "toolConfig": {
                "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["lookup"]}
            },
        },
    ),
    (
        "tool choice modes",
        {"messages": [USER_HI], "tool_choice": "required"},
        {"toolConfig": {"functionCallingConfig": {"mode": "ANY"}}},
    ),
    (
        "generation settings",
        {
            "messages": [USER_HI],
            "max_completion_tokens": 9,
            "max_tokens": 5,
            "temperature": 0.2,
            "top_p": 0.9,
            "n": 2,
            "seed": 7,
            "presence_penalty": 0.1,
            "frequency_penalty": 0.3,
            "stop": "END",
        },
        {
            "generationConfig": {
                "maxOutputTokens": 9,
                "temperature": 0.2,
                "topP": 0.9,
                "candidateCount": 2,
                "seed": 7,
                "presencePenalty": 0.1,
                "frequencyPenalty": 0.3,
                "stopSequences": ["END"],
            }
        },
    ),
    (
        "max_tokens alone, stop list",
        {"messages": [USER_HI], "max_tokens": 5, "stop": ["a", "b"]},
        {"generationConfig": {"maxOutputTokens": 5, "stopSequences": ["a", "b"]}},
    ),
    (
        "response_format json_schema",
        {
            "messages": [USER_HI],
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "x",
                    "strict": True,
                    "schema": {
                        "type": "object",
                        "$schema": "http://json-schema.org/draft-07/schema#",
                        "additionalProperties": False,
                        "properties": {"a": {"type": "string"}},
                    },
                },
            },
        },
        {
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseSchema": {"type": "object", "properties": {"a": {"type": "string"}}},
            }
        },
    ),
    (
        "response_format json_object",
        {"messages": [USER_HI], "response_format": {"type": "json_object"}},
        {"generationConfig": {"responseMimeType": "application/json"}},
    ),
    (
        "response_format text",
        {"messages": [USER_HI], "response_format": {"type": "text"}},
        {"generationConfig": None},
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"), [c[1:] for c in REQUESTS], ids=[c[0] for c in REQUESTS]
)
def test_requests(body: dict[str, Any], expected: dict[str, Any]) -> None:
    request = chat_to_generate_content(body)
    for key, value in expected.items():
        assert request.get(key) == value, key


BAD = [
    ("no messages", {"messages": []}, "non-empty"),
    ("unknown role", {"messages": [{"role": "critic", "content": "x"}]}, "role"),
    (
        "audio part",
        {"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
        "input_audio",
    ),
    (
        "bad arguments",
        {
            "messages": [
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{"}}],
                }
            ]
        },
        "JSON",
    ),
    ("web search tool", {"messages": [USER_HI], "tools": [{"type": "web_search"}]}, "function"),
    ("tool choice", {"messages": [USER_HI], "tool_choice": "sometimes"}, "tool_choice"),
]


@pytest.mark.parametrize(("body", "says"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_requests_that_cannot_map(body: dict[str, Any], says: str) -> None:
    with pytest.raises(RowError, match=says):
        chat_to_generate_content(body)


def _candidate(finish: str | None, *parts: dict[str, Any]) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}}
    if finish is not None:
        candidate["finishReason"] = finish
    return candidate


FINISHES = [
    ("STOP", "stop"),
    (None, "stop"),
    ("MAX_TOKENS", "length"),
    ("SAFETY", "content_filter"),
    ("RECITATION", "content_filter"),
    ("PROHIBITED_CONTENT", "content_filter"),
    ("OTHER", "stop"),
]


@pytest.mark.parametrize(("finish", "expected"), FINISHES)
def test_finish_reasons(finish: str | None, expected: str) -> None:
    body = chat_completion(
        {"candidates": [_candidate(finish, {"text": "x"})]},
        model="m",
        created=1,
        custom_id="r1",
        seed="1",
    )
    assert body["choices"][0]["finish_reason"] == expected


def test_response_text_thoughts_tool_calls_and_usage() -> None:
    response = {
        "modelVersion": "gemini-2.5-flash-001",
        "candidates": [
            _candidate(
                "STOP", {"text": "thinking", "thought": True}, {"text": "He"}, {"text": "llo"}
            ),
            _candidate("STOP", {"functionCall": {"name": "lookup", "args": {"q": "x"}}}),
        ],
        "usageMetadata": {
            "promptTokenCount": 4,
            "cachedContentTokenCount": 3,
            "candidatesTokenCount": 6,
            "thoughtsTokenCount": 2,
            "totalTokenCount": 12,
        },
    }
    body = chat_completion(response, model="m", created=5, custom_id="r1", seed="3")
    assert body["object"] == "chat.completion" and body["created"] == 5
    assert body["model"] == "gemini-2.5-flash-001"
    first, second = body["choices"]
    assert first["message"] == {"role": "assistant", "content": "Hello", "refusal": None}
    assert second["finish_reason"] == "tool_calls" and second["message"]["content"] is None
    (call,) = second["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "lookup"
    assert json.loads(call["function"]["arguments"]) == {"q": "x"}
    # Thoughts are billed output (OpenAI's reasoning tokens); the cached part is in the prompt.
    assert body["usage"] == {
        "prompt_tokens": 4,
        "completion_tokens": 8,
        "total_tokens": 12,
        "prompt_tokens_details": {"cached_tokens": 3},
        "completion_tokens_details": {"reasoning_tokens": 2},
    }
    # Stable IDs: the same row maps to the same IDs; another row to others.
    again = chat_completion(response, model="m", created=5, custom_id="r1", seed="3")
    other = chat_completion(response, model="m", created=5, custom_id="r2", seed="3")
    assert again["id"] == body["id"] != other["id"]


def test_usage_without_total_and_model_fallback() -> None:
    body = chat_completion(
        {"candidates": [], "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 3}},
        model="fallback",
        created=0,
        custom_id="r",
        seed="1",
    )
    assert body["usage"]["total_tokens"] == 5 and body["model"] == "fallback"
    assert body["choices"] == []
