"""Output row IDs (``id``, ``response.request_id``, the completion's ``id`` and tool call IDs)
are unique per batch and row, and the same on every download of one output: on every
provider the demo serves, those whose rows the router builds (Vertex AI, Gemini, Bedrock)
above all."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

from aiohttp_files_router.demo import DEMO_KEY, MODELS, demo_app

from .conftest import ServerFactory, chat_rows, jsonl


@pytest.fixture
async def demo(aiohttp_server: ServerFactory) -> TestServer:
    return await aiohttp_server(demo_app(phase_seconds=0.0))


def ids_of(text: str) -> list[tuple[str, ...]]:
    out = []
    for line in text.splitlines():
        row = json.loads(line)
        body = row["response"]["body"]
        calls = [c["id"] for c in body["choices"][0]["message"].get("tool_calls") or []]
        out.append((row["custom_id"], row["id"], row["response"]["request_id"], body["id"], *calls))
    return sorted(out)


async def finished(sdk: AsyncOpenAI, batch_id: str) -> Any:
    for _ in range(100):
        b = await sdk.batches.retrieve(batch_id)
        if b.status in ("completed", "failed", "expired", "cancelled"):
            return b
        await asyncio.sleep(0.05)
    raise AssertionError(f"batch {batch_id} did not end")


@pytest.mark.parametrize("model", MODELS)
async def test_row_ids_differ_between_batches_and_hold_between_downloads(
    demo: TestServer, model: str
) -> None:
    rows = chat_rows(2)
    rows[1]["body"]["tools"] = [
        {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    ]
    rows[1]["body"]["tool_choice"] = "required"
    async with AsyncOpenAI(
        api_key=DEMO_KEY, base_url=str(demo.make_url("/v1")), max_retries=0
    ) as sdk:
        f = await sdk.files.create(
            file=("in.jsonl", io.BytesIO(jsonl(rows))),
            purpose="batch",
            extra_body={"model": model},
        )
        outputs = []
        for _ in range(2):  # one input file, two batches
            b = await sdk.batches.create(
                input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            b = await finished(sdk, b.id)
            assert b.status == "completed" and b.output_file_id, b
            first = ids_of((await sdk.files.content(b.output_file_id)).text)
            again = ids_of((await sdk.files.content(b.output_file_id)).text)
            assert first == again  # stable across downloads
            outputs.append(first)
    one, two = outputs
    assert [r[0] for r in one] == [r[0] for r in two] == ["req-0", "req-1"]
    ids_one = {i for r in one for i in r[1:]}
    ids_two = {i for r in two for i in r[1:]}
    assert len(ids_one) == sum(len(r) - 1 for r in one)  # distinct within the batch
    assert not ids_one & ids_two, (one, two)  # and between the two batches
