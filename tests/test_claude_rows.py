"""The Claude mapping Bedrock and Anthropic share (providers/claude_rows.py), as pure functions."""

from __future__ import annotations

import pytest

from aiohttp_files_router.providers.anthropic import anthropic_custom_id
from aiohttp_files_router.providers.claude_rows import chat_to_claude, claude_completion
from aiohttp_files_router.providers.genai_rows import RowError


def test_usage_counts_cache_reads_and_writes_as_openai_does() -> None:
    answer = {
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "refusal",
        "usage": {
            "input_tokens": 10,
            "cache_creation_input_tokens": 100,
            "cache_read_input_tokens": 1000,
            "output_tokens": 5,
        },
    }
    body = claude_completion(answer, "claude-x", "row-1", "batch-1")
    assert body["usage"] == {
        "prompt_tokens": 1110,
        "completion_tokens": 5,
        "total_tokens": 1115,
        "prompt_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 100},
    }
    assert body["choices"][0]["finish_reason"] == "content_filter"
    # Without cache counts (Bedrock's usual answer) usage stays as it was.
    plain = claude_completion(
        {"content": [], "usage": {"input_tokens": 3, "output_tokens": 4}}, "m", "r", "s"
    )
    assert plain["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}


def test_image_urls_only_where_the_provider_fetches_them() -> None:
    body = {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}],
            }
        ]
    }
    params = chat_to_claude(body, "Anthropic", fetches_urls=True)
    assert params["messages"][0]["content"][0]["source"] == {
        "type": "url",
        "url": "https://x.test/a.png",
    }
    with pytest.raises(RowError, match="Bedrock does not fetch URLs"):
        chat_to_claude(body, "Bedrock")


@pytest.mark.parametrize(
    ("custom_id", "sent", "mapped"),
    [
        ("req-1_A", "req-1_A", False),
        ("x" * 64, "x" * 64, False),
        ("x" * 65, "fr-line-7", True),
        ("a/b", "fr-line-7", True),
        ("fr-line-3", "fr-line-7", True),  # the mapped prefix is never a client's own
    ],
)
def test_anthropic_custom_ids(custom_id: str, sent: str, mapped: bool) -> None:
    assert anthropic_custom_id(custom_id, 7) == (sent, mapped)


def test_long_filenames_fit_a_store_quoted() -> None:
    from urllib.parse import quote

    from aiohttp_files_router.providers.anthropic import MAX_FILENAME, _short_name

    for name in ("a.jsonl", "✓" * 2000, "x" * 5000):
        short = _short_name(name)
        assert name.startswith(short) and short
        assert len(quote(short, safe="")) <= MAX_FILENAME
    assert _short_name("a.jsonl") == "a.jsonl"


@pytest.mark.parametrize(
    ("provider", "version", "fetches"),
    [("Bedrock", "bedrock-2023-05-31", False), ("Anthropic", None, True)],
)
def test_one_mapping_for_both_providers(provider: str, version: str | None, fetches: bool) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    body = {
        "messages": [
            {
                "role": "system",
                "content": [
                    {"type": "text", "text": "long context", "cache_control": {"type": "ephemeral"}}
                ],
            },
            {"role": "user", "content": "hi"},
        ],
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
    }
    params = chat_to_claude(
        body, provider, model="claude-sonnet-4-5", fetches_urls=fetches, version=version
    )
    assert params.get("anthropic_version") == version
    assert params["system"] == [
        {"type": "text", "text": "long context", "cache_control": {"type": "ephemeral"}}
    ]
    assert params["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    with pytest.raises(RowError, match="not both"):
        chat_to_claude(
            {**body, "temperature": 0.5, "top_p": 0.9}, provider, model="claude-sonnet-4-5"
        )
    # Older models take both.
    both = chat_to_claude({**body, "temperature": 0.5, "top_p": 0.9}, provider, model="claude-3")
    assert (both["temperature"], both["top_p"]) == (0.5, 0.9)
    empty = {"messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]}
    with pytest.raises(RowError, match="empty"):
        chat_to_claude(empty, provider)
    with pytest.raises(RowError, match=f"json_object.*{provider}"):
        chat_to_claude({**body, "response_format": {"type": "json_object"}}, provider)


def test_tool_calls_keep_the_provider_s_ids_or_derive_them_from_the_row() -> None:
    answer = {
        "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"q": 1}},
            {"type": "tool_use", "name": "g", "input": {}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 1, "output_tokens": 2},
    }
    one = claude_completion(answer, "m", "row", "out-1")
    two = claude_completion(answer, "m", "row", "out-2")
    calls = one["choices"][0]["message"]["tool_calls"]
    assert calls[0]["id"] == "toolu_1"
    assert calls[1]["id"].startswith("call_")
    assert calls[1]["id"] != two["choices"][0]["message"]["tool_calls"][1]["id"]
    assert calls[0]["function"] == {"name": "f", "arguments": '{"q": 1}'}
    assert one["choices"][0]["finish_reason"] == "tool_calls"
    assert one["id"] != two["id"]
