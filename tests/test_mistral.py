"""Mistral accounts: Mistral's Files API and batch jobs behind OpenAI's shapes, driven with the
openai SDK through the router against FakeMistral."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from openai import (
    AsyncOpenAI,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    UnprocessableEntityError,
)

from aiohttp_files_router.fake import FakeMistral
from aiohttp_files_router.ids import RoutedId, decode_id, encode_id

from .common import Clock
from .conftest import RouterFactory, ServerFactory, chat_rows, error_of, jsonl
from .conftest import client as sdk_for
from .conftest import router_config as config
from .mistral_fixtures import KEY_A, KEY_B, MODEL, entry
from .spec import check

PHASE = 10.0


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def mistral(tmp_path: Path, clock: Clock) -> FakeMistral:
    return FakeMistral(
        {KEY_A: "a", KEY_B: "b"},
        storage=tmp_path / "mistral",
        phase_seconds=PHASE,
        cancel_seconds=5.0,
        clock=clock,
    )


@pytest.fixture
async def mistral_server(aiohttp_server: ServerFactory, mistral: FakeMistral) -> TestServer:
    return await aiohttp_server(mistral.app())


async def upload(sdk: AsyncOpenAI, model: str, rows: list[dict[str, Any]], **extra: Any) -> Any:
    return await sdk.files.create(
        file=("input.jsonl", io.BytesIO(jsonl(rows))),
        purpose="batch",
        extra_body={"model": model},
        **extra,
    )


async def create(sdk: AsyncOpenAI, file_id: str, **extra: Any) -> Any:
    return await sdk.batches.create(
        input_file_id=file_id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        **extra,
    )


async def rows_of(sdk: AsyncOpenAI, file_id: str | None) -> list[dict[str, Any]]:
    assert file_id is not None
    content = await sdk.files.content(file_id)
    return [json.loads(line) for line in content.text.splitlines() if line]


@pytest.mark.parametrize("v1", [True, False])
async def test_seed_flow(
    start_router: RouterFactory,
    mistral_server: TestServer,
    mistral: FakeMistral,
    clock: Clock,
    v1: bool,
) -> None:
    router = await start_router(config(entry(mistral_server, v1=v1)))
    rows = chat_rows(3)  # written for OpenAI: body.model gpt-4o, method and url on each line
    rows[1]["body"]["max_completion_tokens"] = 1
    rows[2]["body"]["seed"] = 7
    async with sdk_for(router) as sdk:
        f = await upload(
            sdk, "mistral-batch", rows, expires_after={"anchor": "created_at", "seconds": 5000}
        )
        check("OpenAIFile", f.model_dump(exclude_none=True))
        assert f.purpose == "batch" and f.filename == "input.jsonl" and f.bytes
        assert f.expires_at == f.created_at + 2 * 3600  # Mistral's expiry is in whole hours
        got = await sdk.files.retrieve(f.id)
        assert got.bytes == f.bytes
        # Mistral's lines: custom_id and body only, on the deployment's model.
        stored = await rows_of(sdk, f.id)
        assert [set(r) for r in stored] == [{"custom_id", "body"}] * 3
        assert {r["body"]["model"] for r in stored} == {MODEL}
        assert stored[1]["body"]["max_tokens"] == 1 and stored[2]["body"]["random_seed"] == 7

        batch = await create(sdk, f.id, metadata={"team": "search"})
        check("Batch", batch.model_dump(exclude_none=True))
        assert batch.status == "validating" and batch.input_file_id == f.id
        assert batch.metadata == {"team": "search"}
        sent = [r for r in mistral.requests if r.path == "/v1/batch/jobs"][-1]
        assert sent.json["model"] == MODEL and sent.json["timeout_hours"] == 24
        assert sent.key == KEY_A

        clock.now += PHASE
        running = await sdk.batches.retrieve(batch.id)
        assert running.status == "in_progress" and running.in_progress_at
        clock.now += PHASE
        done = await sdk.batches.retrieve(batch.id)
        check("Batch", done.model_dump(exclude_none=True))
        assert done.status == "completed", done
        assert done.request_counts is not None
        assert (done.request_counts.total, done.request_counts.completed) == (3, 3)
        assert done.completed_at and done.error_file_id is None
        out = await rows_of(sdk, done.output_file_id)
        assert sorted(r["custom_id"] for r in out) == ["req-0", "req-1", "req-2"]
        by_id = {r["custom_id"]: r for r in out}
        for row in out:
            assert row["id"] and row["error"] is None
            assert row["response"]["status_code"] == 200 and row["response"]["request_id"]
            body = row["response"]["body"]
            assert body["object"] == "chat.completion" and body["model"] == MODEL
        assert by_id["req-1"]["response"]["body"]["choices"][0]["finish_reason"] == "length"
        meta = await sdk.files.retrieve(done.output_file_id or "")
        assert meta.purpose == "batch_output" and meta.id == done.output_file_id
        listed = await sdk.batches.list(extra_query={"model": "mistral-batch"})
        check("ListBatchesResponse", listed.model_dump(exclude_none=True))
        assert [b.id for b in listed.data] == [batch.id]
        files = await sdk.files.list(extra_query={"model": "mistral-batch"})
        check("ListFilesResponse", files.model_dump(exclude_none=True))
        assert f.id in [x.id for x in files.data]
        assert (await sdk.files.delete(f.id)).deleted
        with pytest.raises(NotFoundError):
            await sdk.files.retrieve(f.id)


async def test_failures_go_to_the_error_file(
    start_router: RouterFactory, mistral_server: TestServer, clock: Clock
) -> None:
    router = await start_router(config(entry(mistral_server)))
    rows = chat_rows(4)
    # An OpenAI field Mistral's chat request does not take: that request fails.
    rows[2]["body"]["logit_bias"] = {"50256": -100}
    async with sdk_for(router) as sdk:
        f = await upload(sdk, "mistral-batch", rows)
        batch = await create(sdk, f.id)
        clock.now += 2 * PHASE
        done = await sdk.batches.retrieve(batch.id)
        assert done.status == "completed"
        assert done.request_counts is not None
        assert (done.request_counts.completed, done.request_counts.failed) == (3, 1)
        good = await rows_of(sdk, done.output_file_id)
        bad = await rows_of(sdk, done.error_file_id)
        assert sorted(r["custom_id"] for r in good) == ["req-0", "req-1", "req-3"]
        assert [r["custom_id"] for r in bad] == ["req-2"]
        response = bad[0]["response"]
        assert response["status_code"] >= 400
        assert "logit_bias" in error_of(response["body"])["message"]


async def test_cancel(
    start_router: RouterFactory, mistral_server: TestServer, clock: Clock
) -> None:
    router = await start_router(config(entry(mistral_server)))
    async with sdk_for(router) as sdk:
        f = await upload(sdk, "mistral-batch", chat_rows(2))
        batch = await create(sdk, f.id)
        cancelling = await sdk.batches.cancel(batch.id)
        check("Batch", cancelling.model_dump(exclude_none=True))
        assert cancelling.status == "cancelling"
        clock.now += 6
        cancelled = await sdk.batches.retrieve(batch.id)
        assert cancelled.status == "cancelled" and cancelled.cancelled_at
        with pytest.raises(BadRequestError) as err:
            await sdk.batches.cancel(batch.id)
        assert "cannot be cancelled" in error_of(err.value.response.json())["message"]


async def test_listing_walks_page_numbers_behind_our_cursors(
    start_router: RouterFactory, mistral_server: TestServer, mistral: FakeMistral, clock: Clock
) -> None:
    router = await start_router(config(entry(mistral_server)))
    async with sdk_for(router) as sdk:
        f = await upload(sdk, "mistral-batch", chat_rows(1))
        ids = []
        for _ in range(5):
            clock.now += 1
            ids.append((await create(sdk, f.id)).id)
        first = await sdk.batches.list(limit=2, extra_query={"model": "mistral-batch"})
        assert first.has_more and [b.id for b in first.data] == ids[::-1][:2]
        seen = [b.id async for b in first]
        assert seen == ids[::-1]
        pages = [r for r in mistral.requests if r.path == "/v1/batch/jobs" and r.method == "GET"]
        assert all("page" in r.query for r in pages)


async def test_accounts_see_only_their_own(
    start_router: RouterFactory, mistral_server: TestServer
) -> None:
    router = await start_router(
        config(entry(mistral_server), entry(mistral_server, name="mistral-b", key=KEY_B))
    )
    async with sdk_for(router) as sdk:
        f = await upload(sdk, "mistral-batch", chat_rows(1))
        b = await create(sdk, f.id)
        assert (await sdk.files.list(extra_query={"model": "mistral-b"})).data == []
        assert (await sdk.batches.list(extra_query={"model": "mistral-b"})).data == []
        file_id = decode_id(f.id, "file")
        batch_id = decode_id(b.id, "batch")
        assert isinstance(file_id, RoutedId) and isinstance(batch_id, RoutedId)
        with pytest.raises(NotFoundError) as err:
            await sdk.files.retrieve(encode_id("file", file_id.provider_id, "mistral-b"))
        assert "not found" in error_of(err.value.response.json())["message"]
        with pytest.raises(NotFoundError):
            await sdk.batches.retrieve(encode_id("batch", batch_id.provider_id, "mistral-b"))


async def test_errors_keep_mistral_s_fields(
    start_router: RouterFactory, mistral_server: TestServer
) -> None:
    router = await start_router(
        config(entry(mistral_server), entry(mistral_server, name="mistral-bad", key="wrong-key"))
    )
    async with sdk_for(router) as sdk:
        with pytest.raises(AuthenticationError) as err:
            await upload(sdk, "mistral-bad", chat_rows(1))
        response = err.value.response
        assert response.status_code == 401
        assert error_of(response.json())["type"] == "authentication_error"
        assert "wrong-key" not in response.text
        # Mistral keeps fine-tune, batch and ocr files only: its 422 passes on.
        with pytest.raises(UnprocessableEntityError) as bad:
            await sdk.files.create(
                file=("x.txt", io.BytesIO(b"hello")),
                purpose="user_data",
                extra_body={"model": "mistral-batch"},
            )
        err_body = error_of(bad.value.response.json())
        assert "body.purpose" in err_body["message"]
        assert err_body["type"] == "invalid_request_error"


async def test_fan_out_upload_reaches_two_mistral_workspaces(
    start_router: RouterFactory, mistral_server: TestServer, mistral: FakeMistral, clock: Clock
) -> None:
    router = await start_router(
        config(entry(mistral_server), entry(mistral_server, name="mistral-b", key=KEY_B, v1=False))
    )
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("both.jsonl", io.BytesIO(jsonl(chat_rows(2)))),
            purpose="batch",
            extra_body={"target_model_names": "mistral-batch, mistral-b"},
        )
        b = await create(sdk, f.id)
        clock.now += 2 * PHASE
        b = await sdk.batches.retrieve(b.id)
        assert b.status == "completed"
        rows = await rows_of(sdk, b.output_file_id)
        assert sorted(r["custom_id"] for r in rows) == ["req-0", "req-1"]
    for account in ("a", "b"):
        names = [x.filename for x in mistral.accounts[account].files.values()]
        assert "both.jsonl" in names


async def test_a_failed_job_names_its_errors(
    start_router: RouterFactory, mistral_server: TestServer, mistral: FakeMistral, clock: Clock
) -> None:
    router = await start_router(config(entry(mistral_server)))
    # A file Mistral holds that this router did not write: a line Mistral cannot run.
    stored = mistral.add_file("a", b'{"custom_id": "x", "method": "POST", "body": {}}\n')
    async with sdk_for(router) as sdk:
        batch = await create(sdk, encode_id("file", stored.id, "mistral-batch"))
        clock.now += 2 * PHASE
        failed = await sdk.batches.retrieve(batch.id)
        check("Batch", failed.model_dump(exclude_none=True))
        assert failed.status == "failed" and failed.failed_at
        assert failed.errors is not None and failed.errors.data
        assert "line 1" in (failed.errors.data[0].message or "")
        assert failed.output_file_id is None and failed.error_file_id is None


async def test_a_file_store_serves_the_upload_back(
    start_router: RouterFactory, mistral_server: TestServer, tmp_path: Path
) -> None:
    data = b"\n".join(json.dumps(r, indent=2).replace("\n", "").encode() for r in chat_rows(2))
    stored = entry(mistral_server, name="with-store")
    stored["litellm_params"]["file_store"] = f"file://{tmp_path / 'store'}"
    router = await start_router(config(entry(mistral_server), stored))
    async with sdk_for(router) as sdk:
        plain = await sdk.files.create(
            file=("a.jsonl", io.BytesIO(data)),
            purpose="batch",
            extra_body={"model": "mistral-batch"},
        )
        # Without a store, Mistral's rows are what there is (the documented exception).
        held = await rows_of(sdk, plain.id)
        assert [set(r) for r in held] == [{"custom_id", "body"}] * 2
        assert plain.bytes != len(data)

        f = await sdk.files.create(
            file=("b.jsonl", io.BytesIO(data)), purpose="batch", extra_body={"model": "with-store"}
        )
        assert f.bytes == len(data)
        assert (await sdk.files.retrieve(f.id)).bytes == len(data)
        assert (await sdk.files.content(f.id)).content == data
        listed = [x async for x in sdk.files.list(extra_query={"model": "with-store"})]
        assert {x.id: x.bytes for x in listed}[f.id] == len(data)
        # The batch runs on Mistral's rows all the same.
        batch = await create(sdk, f.id)
        assert batch.input_file_id == f.id
        assert (await sdk.files.delete(f.id)).deleted
    assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == []
