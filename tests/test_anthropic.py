"""Anthropic accounts: files in the deployment's file store, batches as Message Batches, OpenAI
shapes outside; driven with the openai SDK through the router against FakeAnthropic."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from openai import (
    AsyncOpenAI,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
)

from aiohttp_files_router.fake import FakeAnthropic, FakeVertex
from aiohttp_files_router.ids import RoutedId, decode_id, encode_id

from .anthropic_fixtures import KEY_A, KEY_B, MODEL, entry
from .common import Clock
from .conftest import RouterFactory, ServerFactory, chat_rows, error_of, jsonl
from .conftest import client as sdk_for
from .conftest import router_config as config
from .s3_fixtures import KEY_ID as S3_KEY_ID
from .s3_fixtures import REGION as S3_REGION
from .s3_fixtures import SECRET as S3_SECRET
from .s3_fixtures import moto_url, s3_bucket
from .spec import check
from .vertex_fixtures import BUCKET as GCS_BUCKET
from .vertex_fixtures import EMAIL as GCS_EMAIL
from .vertex_fixtures import PUBLIC as GCS_PUBLIC
from .vertex_fixtures import service_account

__all__ = ["moto_url"]  # the moto S3 server fixture, from s3_fixtures

PHASE = 10.0

AWKWARD = [
    "a/b?c=d&e#f",
    "x" * 200,
    "ünïcødé-✓-日本",
    "fr-line-1",
    "plain_id-0",
    "plain_id-1",
]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def anthropic(tmp_path: Path, clock: Clock) -> FakeAnthropic:
    return FakeAnthropic(
        {KEY_A: "a", KEY_B: "b"},
        storage=tmp_path / "anthropic",
        phase_seconds=PHASE,
        cancel_seconds=5.0,
        clock=clock,
    )


@pytest.fixture
async def anthropic_server(aiohttp_server: ServerFactory, anthropic: FakeAnthropic) -> TestServer:
    return await aiohttp_server(anthropic.app())


def awkward_rows() -> list[dict[str, Any]]:
    rows = chat_rows(len(AWKWARD))
    for row, custom_id in zip(rows, AWKWARD, strict=True):
        row["custom_id"] = custom_id
    rows[0]["body"]["messages"].insert(0, {"role": "system", "content": "Be terse."})
    rows[0]["body"].update(temperature=0.2, stop=["END"], max_tokens=50)
    rows[1]["body"]["max_completion_tokens"] = 1
    return rows


async def upload(sdk: AsyncOpenAI, model: str, rows: list[dict[str, Any]]) -> Any:
    return await sdk.files.create(
        file=("my batch (1).jsonl", io.BytesIO(jsonl(rows))),
        purpose="batch",
        extra_body={"model": model},
    )


async def rows_of(sdk: AsyncOpenAI, file_id: str | None) -> list[dict[str, Any]]:
    assert file_id is not None
    content = await sdk.files.content(file_id)
    return [json.loads(line) for line in content.text.splitlines() if line]


@pytest.mark.parametrize("v1", [False, True])
async def test_seed_flow(
    start_router: RouterFactory,
    anthropic_server: TestServer,
    anthropic: FakeAnthropic,
    clock: Clock,
    tmp_path: Path,
    v1: bool,
) -> None:
    router = await start_router(config(entry(anthropic_server, tmp_path / "store", v1=v1)))
    async with sdk_for(router) as sdk:
        f = await upload(sdk, "claude-batch", awkward_rows())
        check("OpenAIFile", f.model_dump(exclude_none=True))
        assert f.purpose == "batch" and f.filename == "my batch (1).jsonl"
        got = await sdk.files.retrieve(f.id)
        assert got.bytes == f.bytes and got.filename == f.filename
        listed = await sdk.files.list(extra_query={"model": "claude-batch"})
        check("ListFilesResponse", listed.model_dump(exclude_none=True))
        assert [x.id for x in listed.data] == [f.id]
        # What was uploaded comes back; Anthropic gets its requests (checked below).
        assert await rows_of(sdk, f.id) == awkward_rows()

        batch = await sdk.batches.create(
            input_file_id=f.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata={"team": "search", "note": "ünïcødé"},
        )
        check("Batch", batch.model_dump(exclude_none=True))
        assert batch.status == "in_progress" and batch.input_file_id == f.id
        assert batch.metadata == {"team": "search", "note": "ünïcødé"}
        assert batch.output_file_id is None
        provider_batch = decode_id(batch.id, "batch")
        assert isinstance(provider_batch, RoutedId)
        early = encode_id("file", provider_batch.provider_id + ".results#succeeded", "claude-batch")
        with pytest.raises(NotFoundError):
            await sdk.files.retrieve(early)  # no results before the batch has ended
        with pytest.raises(NotFoundError):
            await sdk.files.content(early)
        sent = [r for r in anthropic.requests if r.method == "POST"][-1]
        assert sent.headers["anthropic-version"] == "2023-06-01"
        assert sent.key == KEY_A and sent.chunked
        requests = sent.json["requests"]
        assert len(requests) == len(AWKWARD)
        assert all(set(r) == {"custom_id", "params"} for r in requests)
        assert {r["params"]["model"] for r in requests} == {MODEL}
        assert requests[0]["params"]["system"] == "Be terse."
        assert requests[0]["params"]["stop_sequences"] == ["END"]
        assert requests[4]["custom_id"] == "plain_id-0"  # kept where Anthropic allows it

        clock.now += PHASE + 1
        done = await sdk.batches.retrieve(batch.id)
        check("Batch", done.model_dump(exclude_none=True))
        assert done.status == "completed", done
        assert done.metadata == {"team": "search", "note": "ünïcødé"}
        assert done.request_counts is not None
        assert (done.request_counts.total, done.request_counts.completed) == (len(AWKWARD),) * 2
        assert done.completed_at == int(clock.now - 1)
        assert done.error_file_id is None
        out = await rows_of(sdk, done.output_file_id)
        assert sorted(r["custom_id"] for r in out) == sorted(AWKWARD)
        by_id = {r["custom_id"]: r for r in out}
        for row in out:
            assert row["response"]["status_code"] == 200 and row["error"] is None
            body = row["response"]["body"]
            assert body["object"] == "chat.completion" and body["model"] == MODEL
            assert body["usage"]["total_tokens"] == (
                body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
            )
            assert "cached_tokens" in body["usage"]["prompt_tokens_details"]
        assert by_id["x" * 200]["response"]["body"]["choices"][0]["finish_reason"] == "length"
        assert by_id["plain_id-0"]["response"]["body"]["choices"][0]["finish_reason"] == "stop"
        meta = await sdk.files.retrieve(done.output_file_id or "")
        assert meta.purpose == "batch_output"
        batches = await sdk.batches.list(extra_query={"model": "claude-batch"})
        check("ListBatchesResponse", batches.model_dump(exclude_none=True))
        assert [b.id for b in batches.data] == [batch.id]
        assert (await sdk.files.delete(f.id)).deleted
        with pytest.raises(NotFoundError):
            await sdk.files.retrieve(f.id)


async def test_failures_go_to_the_error_file(
    start_router: RouterFactory, anthropic_server: TestServer, clock: Clock, tmp_path: Path
) -> None:
    router = await start_router(config(entry(anthropic_server, tmp_path / "store")))
    rows = chat_rows(4)
    # OpenAI allows temperature up to 2, the Messages API up to 1: an errored result.
    rows[2]["body"]["temperature"] = 1.7
    async with sdk_for(router) as sdk:
        f = await upload(sdk, "claude-batch", rows)
        batch = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        clock.now += PHASE + 1
        done = await sdk.batches.retrieve(batch.id)
        assert done.status == "completed"
        assert done.request_counts is not None and done.request_counts.failed == 1
        good = await rows_of(sdk, done.output_file_id)
        bad = await rows_of(sdk, done.error_file_id)
        assert sorted(r["custom_id"] for r in good) == ["req-0", "req-1", "req-3"]
        assert [r["custom_id"] for r in bad] == ["req-2"]
        assert bad[0]["response"]["status_code"] == 400
        error = bad[0]["response"]["body"]["error"]
        assert error["type"] == "invalid_request_error" and "temperature" in error["message"]


async def test_cancel_and_cancelled_rows(
    start_router: RouterFactory, anthropic_server: TestServer, clock: Clock, tmp_path: Path
) -> None:
    router = await start_router(config(entry(anthropic_server, tmp_path / "store")))
    async with sdk_for(router) as sdk:
        f = await upload(sdk, "claude-batch", chat_rows(4))
        batch = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        cancelling = await sdk.batches.cancel(batch.id)
        assert cancelling.status == "cancelling" and cancelling.cancelling_at
        clock.now += 6
        done = await sdk.batches.retrieve(batch.id)
        assert done.status == "cancelled" and done.cancelled_at
        assert done.request_counts is not None
        assert done.request_counts.completed + done.request_counts.failed == 4
        bad = await rows_of(sdk, done.error_file_id)
        assert bad and all(r["error"]["code"] == "batch_cancelled" for r in bad)
        assert all(r["response"] is None for r in bad)
        with pytest.raises(BadRequestError):
            await sdk.batches.cancel(batch.id)  # ended: Anthropic refuses, passed on


async def test_listing_pages_behind_our_cursors(
    start_router: RouterFactory, anthropic_server: TestServer, clock: Clock, tmp_path: Path
) -> None:
    router = await start_router(config(entry(anthropic_server, tmp_path / "store")))
    async with sdk_for(router) as sdk:
        f = await upload(sdk, "claude-batch", chat_rows(1))
        ids = []
        for _ in range(5):
            clock.now += 1
            b = await sdk.batches.create(
                input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            ids.append(b.id)
        seen: list[str] = []
        page = await sdk.batches.list(limit=2, extra_query={"model": "claude-batch"})
        async for b in page:
            seen.append(b.id)
        assert seen == ids[::-1]  # newest first, as Anthropic and OpenAI list
        first = await sdk.batches.list(limit=2, extra_query={"model": "claude-batch"})
        assert first.has_more and [b.id for b in first.data] == ids[::-1][:2]


async def test_deployments_see_only_their_own(
    start_router: RouterFactory, anthropic_server: TestServer, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    router = await start_router(
        config(
            entry(anthropic_server, store),
            # Same key and store, another deployment: its own namespace.
            entry(anthropic_server, store, name="claude-other"),
            entry(anthropic_server, store, name="claude-b", key=KEY_B),
        )
    )
    async with sdk_for(router) as sdk:
        f = await upload(sdk, "claude-batch", chat_rows(2))
        b = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        for other in ("claude-other", "claude-b"):
            files = await sdk.files.list(extra_query={"model": other})
            assert files.data == []
            batches = await sdk.batches.list(extra_query={"model": other})
            assert batches.data == []
        # The same provider IDs on another deployment's route: its namespace holds neither
        # the file nor the batch's record (the same key could reach the batch): 404s.
        batch_id = decode_id(b.id, "batch")
        file_id = decode_id(f.id, "file")
        assert isinstance(batch_id, RoutedId) and isinstance(file_id, RoutedId)
        for other in ("claude-other", "claude-b"):
            with pytest.raises(NotFoundError):
                await sdk.batches.retrieve(encode_id("batch", batch_id.provider_id, other))
            with pytest.raises(NotFoundError):
                await sdk.batches.cancel(encode_id("batch", batch_id.provider_id, other))
            with pytest.raises(NotFoundError):
                await sdk.files.retrieve(encode_id("file", file_id.provider_id, other))
            with pytest.raises(NotFoundError):
                await sdk.files.content(encode_id("file", file_id.provider_id + "x", other))
        assert (await sdk.batches.retrieve(b.id)).id == b.id


async def test_bad_rows_refused_at_upload_and_errors_pass_on(
    start_router: RouterFactory,
    anthropic_server: TestServer,
    anthropic: FakeAnthropic,
    tmp_path: Path,
) -> None:
    router = await start_router(config(entry(anthropic_server, tmp_path / "store")))
    async with sdk_for(router) as sdk:
        rows = chat_rows(2)
        rows[1]["body"]["messages"] = [{"role": "wizard", "content": "x"}]
        with pytest.raises(BadRequestError) as err:
            await upload(sdk, "claude-batch", rows)
        body = err.value.response.json()
        assert "Line 2" in error_of(body)["message"]
        rows = chat_rows(1)
        rows[0]["url"] = "/v1/embeddings"
        with pytest.raises(BadRequestError):
            await upload(sdk, "claude-batch", rows)
        f = await upload(sdk, "claude-batch", chat_rows(1))
        anthropic.fail_next.append(429)
        with pytest.raises(RateLimitError) as limited:
            await sdk.batches.create(
                input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
        response = limited.value.response
        assert response.headers["retry-after"] == "1"
        assert response.headers.get("x-upstream-request-id", "").startswith("req_")
        err_body = error_of(response.json())
        assert err_body["type"] == "rate_limit_error"
        assert KEY_A not in response.text
        with pytest.raises(NotFoundError):
            await sdk.batches.retrieve("msgbatch_notours", extra_query={"model": "claude-batch"})


async def test_fan_out_upload_reaches_two_anthropic_accounts(
    start_router: RouterFactory, anthropic_server: TestServer, clock: Clock, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    router = await start_router(
        config(
            entry(anthropic_server, store, name="claude-a"),
            entry(anthropic_server, store, name="claude-b", key=KEY_B),
        )
    )
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("both.jsonl", io.BytesIO(jsonl(chat_rows(2)))),
            purpose="batch",
            extra_body={"target_model_names": "claude-a, claude-b"},
        )
        b = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        clock.now += PHASE + 1
        b = await sdk.batches.retrieve(b.id)
        assert b.status == "completed"
        rows = await rows_of(sdk, b.output_file_id)
        assert sorted(r["custom_id"] for r in rows) == ["req-0", "req-1"]
    for route in ("claude-a", "claude-b"):
        assert list((store / "files-router" / route / "files").iterdir())


async def test_a_batch_whose_record_cannot_be_stored_is_cancelled(
    start_router: RouterFactory,
    anthropic_server: TestServer,
    anthropic: FakeAnthropic,
    tmp_path: Path,
) -> None:
    store = tmp_path / "store"
    router = await start_router(config(entry(anthropic_server, store)))
    async with sdk_for(router) as sdk:
        f = await upload(sdk, "claude-batch", chat_rows(2))
        # A file where the records' directory goes: the store cannot write the record.
        (store / "files-router" / "claude-batch" / "batches").write_text("in the way")
        with pytest.raises(InternalServerError) as err:
            await sdk.batches.create(
                input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
        assert err.value.status_code == 502
    (batch,) = anthropic.accounts["a"].batches.values()
    assert batch.cancel_at is not None
    cancels = [r for r in anthropic.requests if r.path.endswith("/cancel")]
    assert len(cancels) == 1


async def test_more_requests_than_a_message_batch_takes_is_a_400_at_upload(
    start_router: RouterFactory, anthropic_server: TestServer, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    router = await start_router(config(entry(anthropic_server, store)))
    line = (
        b'{"custom_id":"r%d","method":"POST","url":"/v1/chat/completions","body":{"messages":[]}}\n'
    )
    data = b"".join(line % i for i in range(100_001))
    async with sdk_for(router) as sdk:
        with pytest.raises(BadRequestError) as err:
            await sdk.files.create(
                file=("big.jsonl", io.BytesIO(data)),
                purpose="batch",
                extra_body={"model": "claude-batch"},
            )
        message = error_of(err.value.response.json())["message"]
        assert "Line 100001" in message and "100000" in message
        assert (await sdk.files.list(extra_query={"model": "claude-batch"})).data == []
    assert [p for p in store.rglob("*") if p.is_file()] == []  # nothing half-stored


async def test_seed_flow_with_a_gs_file_store(
    start_router: RouterFactory,
    anthropic_server: TestServer,
    aiohttp_server: ServerFactory,
    clock: Clock,
    tmp_path: Path,
) -> None:
    gcs = FakeVertex({GCS_EMAIL: GCS_PUBLIC}, buckets=[GCS_BUCKET], storage=tmp_path / "gcs")
    gcs_server = await aiohttp_server(gcs.app())
    params: dict[str, Any] = {
        "file_store": f"gs://{GCS_BUCKET}/claude",
        "vertex_credentials": service_account(gcs_server),
        "gcs_api_base": str(gcs_server.make_url("")),
    }
    router = await start_router(config(entry(anthropic_server, tmp_path / "unused", **params)))
    async with sdk_for(router) as sdk:
        f = await upload(sdk, "claude-batch", awkward_rows())
        batch = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        clock.now += PHASE + 1
        done = await sdk.batches.retrieve(batch.id)
        assert done.status == "completed" and done.input_file_id == f.id
        out = await rows_of(sdk, done.output_file_id)
        assert sorted(r["custom_id"] for r in out) == sorted(AWKWARD)
        files = await sdk.files.list(extra_query={"model": "claude-batch"})
        assert [x.id for x in files.data] == [f.id]
    assert not (tmp_path / "unused").exists()


async def test_seed_flow_with_an_s3_file_store(
    start_router: RouterFactory,
    anthropic_server: TestServer,
    clock: Clock,
    tmp_path: Path,
    moto_url: str,
) -> None:
    bucket = await s3_bucket(moto_url)
    params: dict[str, Any] = {
        "file_store": f"s3://{bucket}/claude",
        "aws_access_key_id": S3_KEY_ID,
        "aws_secret_access_key": S3_SECRET,
        "aws_region_name": S3_REGION,
        "s3_endpoint_url": moto_url,
    }
    router = await start_router(config(entry(anthropic_server, tmp_path / "unused", **params)))
    async with sdk_for(router) as sdk:
        f = await upload(sdk, "claude-batch", awkward_rows())
        batch = await sdk.batches.create(
            input_file_id=f.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata={"note": "ünïcødé ✓"},
        )
        clock.now += PHASE + 1
        done = await sdk.batches.retrieve(batch.id)
        assert done.status == "completed" and done.input_file_id == f.id
        assert done.metadata == {"note": "ünïcødé ✓"}
        out = await rows_of(sdk, done.output_file_id)
        assert sorted(r["custom_id"] for r in out) == sorted(AWKWARD)
        listed = await sdk.batches.list(extra_query={"model": "claude-batch"})
        assert [b.id for b in listed.data] == [batch.id]
        files = await sdk.files.list(extra_query={"model": "claude-batch"})
        assert [x.id for x in files.data] == [f.id]
        assert (await sdk.files.delete(f.id)).deleted
    assert not (tmp_path / "unused").exists()


async def test_expired_requests_are_error_rows(
    start_router: RouterFactory,
    anthropic_server: TestServer,
    anthropic: FakeAnthropic,
    clock: Clock,
    tmp_path: Path,
) -> None:
    anthropic.expire_seconds = PHASE / 2  # the batch runs out of time before it is done
    router = await start_router(config(entry(anthropic_server, tmp_path / "store")))
    async with sdk_for(router) as sdk:
        f = await upload(sdk, "claude-batch", chat_rows(3))
        batch = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        clock.now += PHASE + 1
        done = await sdk.batches.retrieve(batch.id)
        check("Batch", done.model_dump(exclude_none=True))
        assert done.status == "expired" and done.expired_at
        assert done.request_counts is not None and done.request_counts.failed == 3
        assert done.output_file_id is None
        bad = await rows_of(sdk, done.error_file_id)
        assert sorted(r["custom_id"] for r in bad) == ["req-0", "req-1", "req-2"]
        assert {r["error"]["code"] for r in bad} == {"batch_expired"}
