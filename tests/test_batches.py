"""The whole seed example with batches: every ID routed and rewritten both ways."""

from __future__ import annotations

import io
import json
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI, BadRequestError, ConflictError, NotFoundError

from aiohttp_files_router.fake import FakeOpenAI
from aiohttp_files_router.ids import RoutedId, decode_id, encode_id

from .conftest import (
    KEY_A,
    KEY_B,
    MASTER,
    RouterFactory,
    ServerFactory,
    base_config,
    chat_rows,
    error_of,
    jsonl,
)


def route(value: str | None, kind: str) -> RoutedId:
    assert value is not None
    decoded = decode_id(value, kind)  # type: ignore[arg-type]
    assert isinstance(decoded, RoutedId), value
    return decoded


async def test_seed_example_end_to_end(sdk: AsyncOpenAI, fake: FakeOpenAI) -> None:
    f = await sdk.files.create(
        file=("batch_data.jsonl", io.BytesIO(jsonl(chat_rows(3)))),
        purpose="batch",
        extra_body={"model": "gpt-4o-litellm"},
    )
    b = await sdk.batches.create(
        input_file_id=f.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"job": "nightly"},
        output_expires_after={"anchor": "created_at", "seconds": 7200},
    )
    assert b.status == "validating" and b.metadata == {"job": "nightly"}
    assert route(b.id, "batch").deployment == "gpt-4o-litellm"
    assert b.input_file_id == f.id  # the answer carries the client's own (encoded) file ID
    created = fake.requests[-1]
    assert created.json["input_file_id"] == route(f.id, "file").provider_id
    assert "model" not in created.json and created.key == KEY_A
    assert created.json["output_expires_after"] == {"anchor": "created_at", "seconds": 7200}

    b = await sdk.batches.retrieve(b.id)
    assert b.status == "completed" and b.request_counts.completed == 3
    assert route(b.output_file_id, "file").deployment == "gpt-4o-litellm"
    assert b.error_file_id is None
    out = (await sdk.files.content(b.output_file_id)).text
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["custom_id"] for r in rows] == ["req-0", "req-1", "req-2"]
    assert all(r["response"]["body"]["object"] == "chat.completion" for r in rows)

    page = await sdk.batches.list(extra_query={"model": "gpt-4o-litellm"})
    assert [x.id for x in page.data] == [b.id]
    assert page.data[0].output_file_id == b.output_file_id
    assert {r.key for r in fake.requests} == {KEY_A}


async def test_batch_runs_where_its_file_lives(sdk: AsyncOpenAI, fake: FakeOpenAI) -> None:
    f = await sdk.files.create(
        file=("in.jsonl", io.BytesIO(jsonl(chat_rows(1)))),
        purpose="batch",
        extra_body={"model": "gpt-4o-other"},
    )
    # The encoded file ID wins over a model parameter naming another account.
    b = await sdk.batches.create(
        input_file_id=f.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"model": "gpt-4o-litellm"},
    )
    assert route(b.id, "batch").deployment == "gpt-4o-other"
    assert len(fake.accounts["b"].batches) == 1 and not fake.accounts["a"].batches
    assert fake.requests[-1].key == KEY_B


async def test_raw_input_file_id_with_model(sdk: AsyncOpenAI, fake: FakeOpenAI) -> None:
    f = await sdk.files.create(
        file=("in.jsonl", io.BytesIO(jsonl(chat_rows(2)))),
        purpose="batch",
        extra_body={"model": "gpt-4o-other"},
    )
    raw = route(f.id, "file").provider_id
    b = await sdk.batches.create(
        input_file_id=raw,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"model": "gpt-4o-other"},
    )
    assert route(b.id, "batch").deployment == "gpt-4o-other"
    raw_batch = route(b.id, "batch").provider_id
    got = await sdk.batches.retrieve(raw_batch, extra_headers={"x-litellm-model": "gpt-4o-other"})
    assert got.id == b.id and got.status == "completed"
    with pytest.raises(BadRequestError) as info:  # a raw ID alone cannot be routed
        await sdk.batches.create(
            input_file_id=raw, endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert error_of(info.value.response.json())["param"] == "model"


async def test_cancel_goes_cancelling_then_cancelled_with_partial_output(
    aiohttp_server: ServerFactory, start_router: RouterFactory, tmp_path: Path
) -> None:
    now = [1_000_000.0]
    fake = FakeOpenAI(
        {KEY_A: "a", KEY_B: "b"},
        storage=tmp_path,
        phase_seconds=60,
        cancel_seconds=5,
        clock=lambda: now[0],
    )
    upstream = await aiohttp_server(fake.app())
    router = await start_router(base_config(upstream))
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        f = await sdk.files.create(
            file=("in.jsonl", io.BytesIO(jsonl(chat_rows(4)))),
            purpose="batch",
            extra_body={"model": "gpt-4o-litellm"},
        )
        b = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        now[0] += 70
        assert (await sdk.batches.retrieve(b.id)).status == "in_progress"
        cancelled = await sdk.batches.cancel(b.id)
        assert cancelled.status == "cancelling" and cancelled.id == b.id
        now[0] += 10
        done = await sdk.batches.retrieve(b.id)
        assert done.status == "cancelled" and done.request_counts.completed == 2
        assert done.cancelled_at is not None and done.cancelling_at is not None
        partial = (await sdk.files.content(done.output_file_id)).text.splitlines()
        assert len(partial) == 2
        with pytest.raises(ConflictError):
            await sdk.batches.cancel(b.id)
    assert {r.key for r in fake.requests} == {KEY_A}


async def test_list_pagination_walks_every_page(sdk: AsyncOpenAI, fake: FakeOpenAI) -> None:
    f = await sdk.files.create(
        file=("in.jsonl", io.BytesIO(jsonl(chat_rows(1)))),
        purpose="batch",
        extra_body={"model": "gpt-4o-other"},
    )
    made = set()
    for _ in range(5):
        made.add(
            (
                await sdk.batches.create(
                    input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
                )
            ).id
        )
    walked = [b.id async for b in sdk.batches.list(limit=2, extra_query={"model": "gpt-4o-other"})]
    assert len(walked) == 5 and set(walked) == made
    lists = [r for r in fake.requests if r.path == "/v1/batches" and r.method == "GET"]
    assert len(lists) == 3 and all(r.key == KEY_B for r in lists)
    assert lists[1].query["after"] == route(walked[1], "batch").provider_id


async def test_bad_batch_requests_get_openai_errors(
    sdk: AsyncOpenAI, router: TestServer, fake: FakeOpenAI
) -> None:
    f = await sdk.files.create(
        file=("in.jsonl", io.BytesIO(jsonl(chat_rows(1)))),
        purpose="batch",
        extra_body={"model": "gpt-4o-litellm"},
    )
    with pytest.raises(NotFoundError):
        await sdk.batches.retrieve("batch_doesnotexist", extra_query={"model": "gpt-4o-litellm"})
    with pytest.raises(NotFoundError) as info:
        await sdk.batches.retrieve(encode_id("batch", "batch_x", "no-such-model"))
    assert error_of(info.value.response.json())["param"] == "batch_id"
    with pytest.raises(NotFoundError):
        await sdk.batches.cancel("batch_" + "QUFB" * 6)  # no route, no model
    with pytest.raises(NotFoundError):  # a file ID is not a batch ID
        await sdk.batches.retrieve(f.id.replace("file-", "batch_", 1))
    with pytest.raises(BadRequestError) as info:
        await sdk.batches.list(limit=101, extra_query={"model": "gpt-4o-litellm"})
    assert error_of(info.value.response.json())["param"] == "limit"
    seen = len(fake.requests)
    async with aiohttp.ClientSession() as http:
        for missing in ("input_file_id", "endpoint", "completion_window"):
            body = {
                "input_file_id": f.id,
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
            }
            del body[missing]
            async with http.post(
                router.make_url("/v1/batches"),
                json=body,
                headers={"Authorization": f"Bearer {MASTER}"},
            ) as resp:
                assert resp.status == 400
                assert error_of(await resp.json())["param"] == missing
        async with http.post(
            router.make_url("/v1/batches"), json=[1], headers={"Authorization": f"Bearer {MASTER}"}
        ) as resp:
            assert resp.status == 400
            error_of(await resp.json())
    assert len(fake.requests) == seen
    # Upstream validation errors pass through as they are.
    with pytest.raises(BadRequestError) as info:
        await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="48h"
        )  # type: ignore[arg-type]
    assert error_of(info.value.response.json())["param"] == "completion_window"


async def test_invalid_input_file_fails_the_batch(
    start_router: RouterFactory, upstream: TestServer
) -> None:
    # With the router's own check off, the fake's verdict (as OpenAI's) reaches the client.
    router = await start_router(base_config(upstream, validate_batch_files=False))
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        await _fails_the_batch(sdk)


async def _fails_the_batch(sdk: AsyncOpenAI) -> None:
    rows = chat_rows(2)
    rows[1]["custom_id"] = rows[0]["custom_id"]
    rows[0]["url"] = "/v1/embeddings"
    f = await sdk.files.create(
        file=("in.jsonl", io.BytesIO(jsonl(rows) + b"not json\n")),
        purpose="batch",
        extra_body={"model": "gpt-4o-litellm"},
    )
    b = await sdk.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    b = await sdk.batches.retrieve(b.id)
    assert b.status == "failed" and b.errors is not None
    codes = {(e.code, e.line) for e in b.errors.data or []}
    assert codes == {("mismatched_url", 1), ("duplicate_custom_id", 2), ("invalid_json_line", 3)}
    assert b.output_file_id is None


async def test_embeddings_batch(sdk: AsyncOpenAI) -> None:
    rows = [
        {
            "custom_id": f"e{i}",
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {"model": "text-embedding-3-small", "input": f"text {i}"},
        }
        for i in range(2)
    ]
    f = await sdk.files.create(
        file=("e.jsonl", io.BytesIO(jsonl(rows))),
        purpose="batch",
        extra_body={"model": "gpt-4o-litellm"},
    )
    b = await sdk.batches.create(
        input_file_id=f.id, endpoint="/v1/embeddings", completion_window="24h"
    )
    b = await sdk.batches.retrieve(b.id)
    assert b.status == "completed" and b.output_file_id
    out = [json.loads(x) for x in (await sdk.files.content(b.output_file_id)).text.splitlines()]
    assert [r["custom_id"] for r in out] == ["e0", "e1"]
    assert all(len(r["response"]["body"]["data"][0]["embedding"]) == 8 for r in out)
    output = await sdk.files.retrieve(b.output_file_id)
    assert output.expires_at is None and output.purpose == "batch_output"
