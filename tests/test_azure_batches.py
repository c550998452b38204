"""Azure batches as the service behaves: a batch right after its upload, and Azure's refusals.

The openai SDK talks to the router; the router talks to ``FakeAzure`` with its own knobs
(``processing_seconds``, ``token_limit``), built from Microsoft's documentation.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path
from typing import Any, Literal

import aiohttp
import pytest
from aiohttp import web
from openai import APIStatusError, AsyncOpenAI, BadRequestError

from aiohttp_files_router import create_app, parse_config
from aiohttp_files_router.fake import FakeAzure
from aiohttp_files_router.fake.azure import TokenLimitMode
from aiohttp_files_router.ids import decode_id

from .azure_fixtures import (
    AZ_KEY,
    CLIENT,
    DEPLOYMENT,
    azure_entry,
    config,
    sdk_for,
    with_legacy_azure,
)
from .conftest import MASTER, RouterFactory, ServerFactory, chat_rows, error_of, jsonl
from .spec import check

MODEL = {"model": "gpt-4o-azure"}


def fake_azure(tmp_path: Path, **knobs: Any) -> FakeAzure:
    return FakeAzure(
        {AZ_KEY: "az"},
        deployments=[DEPLOYMENT],
        clients={CLIENT: "az"},
        storage=tmp_path / "azure",
        **knobs,
    )


def rows_with_one_failure(n: int) -> bytes:
    """``n`` good chat rows and one Azure accepts but whose request fails (no messages)."""
    bad = {
        "custom_id": "req-bad",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o", "prompt": "no messages"},
    }
    return jsonl([*chat_rows(n), bad])


def create_then_file_get(azure: FakeAzure, provider_file_id: str) -> bool:
    """Whether the router looked at the file before it created the batch."""
    paths = [(r.method, r.path) for r in azure.requests]
    create = next(i for i, (m, p) in enumerate(paths) if m == "POST" and p.endswith("/batches"))
    return any(m == "GET" and p.endswith(f"/files/{provider_file_id}") for m, p in paths[:create])


@pytest.mark.parametrize(
    ("api_version", "auth"),
    [("2024-10-21", "key"), ("2025-04-01-preview", "key"), ("v1", "client")],
)
async def test_upload_then_batch_at_once(
    start_router: RouterFactory,
    aiohttp_server: ServerFactory,
    tmp_path: Path,
    api_version: str,
    auth: str,
) -> None:
    azure = fake_azure(tmp_path, processing_seconds=0.6)
    server = await aiohttp_server(azure.app())
    router = await start_router(config(azure_entry(server, api_version, auth)))
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("batch.jsonl", io.BytesIO(rows_with_one_failure(3))),
            purpose="batch",
            extra_body=MODEL,
        )
        assert f.status == "uploaded"  # Azure's "pending"
        check("OpenAIFile", f.model_dump(exclude_none=True))
        started = time.monotonic()
        b = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        assert time.monotonic() - started < 5
        # Azure answers endpoint null and null counts here.
        assert b.status == "validating" and b.endpoint == "/v1/chat/completions"
        assert b.request_counts is not None and b.request_counts.total == 0
        check("Batch", b.model_dump(exclude_none=True))
        assert b.input_file_id == f.id
        b = await sdk.batches.retrieve(b.id)
        assert b.status == "completed" and b.endpoint == "/v1/chat/completions"
        check("Batch", b.model_dump(exclude_none=True))
        assert b.request_counts is not None
        assert (b.request_counts.total, b.request_counts.completed) == (4, 3)
        assert b.request_counts.failed == 1
        assert b.output_file_id and b.error_file_id
        out = [json.loads(x) for x in (await sdk.files.content(b.output_file_id)).text.splitlines()]
        err = [json.loads(x) for x in (await sdk.files.content(b.error_file_id)).text.splitlines()]
        # Azure writes rows out of input order: custom_id is what matches them.
        assert sorted(r["custom_id"] for r in out) == ["req-0", "req-1", "req-2"]
        assert all(r["response"]["body"]["model"] == DEPLOYMENT for r in out)
        assert [r["custom_id"] for r in err] == ["req-bad"]
        assert err[0]["response"]["status_code"] == 400
    provider_id = decode_id(f.id, "file").provider_id
    assert create_then_file_get(azure, provider_id)
    if auth == "client":
        assert azure.token_requests == 1


async def test_clean_batch_has_no_error_file(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    azure = fake_azure(tmp_path)
    server = await aiohttp_server(azure.app())
    router = await start_router(config(azure_entry(server, "v1")))
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("b.jsonl", io.BytesIO(jsonl(chat_rows(2)))), purpose="batch", extra_body=MODEL
        )
        b = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        b = await sdk.batches.retrieve(b.id)
        assert b.status == "completed" and b.output_file_id and b.error_file_id is None
        listed = await sdk.batches.list(extra_query=MODEL)
        assert listed.data[0].error_file_id is None and listed.data[0].output_file_id
    # Azure did attach an (empty) error file: the router hid it, without reading it.
    (batch,) = azure.accounts["az"].batches.values()
    assert batch.error_file_id is not None
    assert azure.accounts["az"].files[batch.error_file_id].bytes == 0
    assert not any(r.path.endswith(f"/files/{batch.error_file_id}/content") for r in azure.requests)


async def test_file_that_fails_processing_is_400_at_once(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    azure = fake_azure(tmp_path, processing_seconds=0.2)
    server = await aiohttp_server(azure.app())
    # A legacy account sends rows as they are, so Azure sees the malformed line (the router's
    # own check, which would refuse it at upload, is off).
    cfg = with_legacy_azure(config(), server)
    cfg["files_router"] = {"file_ready_timeout": 30, "validate_batch_files": False}
    router = await start_router(cfg)
    async with AsyncOpenAI(
        api_key=MASTER,
        base_url=str(router.make_url("/v1")),
        max_retries=0,
        default_headers={"custom-llm-provider": "azure"},
    ) as sdk:
        f = await sdk.files.create(
            file=("bad.jsonl", io.BytesIO(jsonl(chat_rows(1, DEPLOYMENT)) + b"not json\n")),
            purpose="batch",
        )
        started = time.monotonic()
        with pytest.raises(BadRequestError) as info:
            await sdk.batches.create(
                input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
        assert time.monotonic() - started < 5
    err = error_of(info.value.response.json())
    assert f.id in err["message"] and "line 2" in err["message"]
    assert err["param"] == "input_file_id"
    assert not any(r.method == "POST" and r.path.endswith("/batches") for r in azure.requests)


async def test_still_processing_after_file_ready_timeout_is_504(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    azure = fake_azure(tmp_path, processing_seconds=60)
    server = await aiohttp_server(azure.app())
    cfg = config(azure_entry(server))
    cfg["files_router"] = {"file_ready_timeout": 0.6}
    router = await start_router(cfg)
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("b.jsonl", io.BytesIO(jsonl(chat_rows(1)))), purpose="batch", extra_body=MODEL
        )
        started = time.monotonic()
        with pytest.raises(APIStatusError) as info:
            await sdk.batches.create(
                input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
        waited = time.monotonic() - started
    assert info.value.status_code == 504 and 0.6 <= waited < 5
    err = error_of(info.value.response.json())
    assert "still being processed" in err["message"] and f.id in err["message"]
    assert err["type"] == "server_error" and err["param"] == "input_file_id"
    polls = [r for r in azure.requests if r.method == "GET" and "/files/" in r.path]
    assert 2 <= len(polls) <= 6  # backed off, not hammered
    assert not any(r.method == "POST" and r.path.endswith("/batches") for r in azure.requests)


@pytest.mark.parametrize("api_version", ["2024-10-21", "v1"])
async def test_token_limit_failure_keeps_its_code(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path, api_version: str
) -> None:
    mode: TokenLimitMode = "fail"
    azure = fake_azure(tmp_path, token_limit={DEPLOYMENT: mode})
    server = await aiohttp_server(azure.app())
    router = await start_router(config(azure_entry(server, api_version)))
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("b.jsonl", io.BytesIO(jsonl(chat_rows(2)))), purpose="batch", extra_body=MODEL
        )
        b = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        b = await sdk.batches.retrieve(b.id)
        assert b.status == "failed" and b.errors and b.errors.data
        assert b.errors.data[0].code == "token_limit_exceeded"
        assert b.output_file_id is None and b.error_file_id is None  # Azure's empty files
        assert b.request_counts is not None and b.request_counts.failed == 0
        check("Batch", b.model_dump(exclude_none=True))


async def test_token_limit_fail_fast_keeps_its_code(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    mode: TokenLimitMode = "fail_fast"
    azure = fake_azure(tmp_path, token_limit={DEPLOYMENT: mode})
    server = await aiohttp_server(azure.app())
    router = await start_router(config(azure_entry(server, "v1", "client")))
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("b.jsonl", io.BytesIO(jsonl(chat_rows(2)))), purpose="batch", extra_body=MODEL
        )
        with pytest.raises(BadRequestError) as info:
            await sdk.batches.create(
                input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
    assert info.value.code == "token_limit_exceeded"
    err = error_of(info.value.response.json())
    assert err["code"] == "token_limit_exceeded" and "enqueued tokens" in err["message"]
    check("ErrorResponse", info.value.response.json())


@pytest.mark.parametrize("api_version", ["2025-04-01-preview", "v1"])
async def test_batch_file_expiry_outside_the_reference_is_refused_before_upload(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path, api_version: str
) -> None:
    azure = fake_azure(tmp_path)
    server = await aiohttp_server(azure.app())
    router = await start_router(config(azure_entry(server, api_version)))
    async with sdk_for(router) as sdk:
        with pytest.raises(BadRequestError) as info:
            await sdk.files.create(
                file=("b.jsonl", io.BytesIO(jsonl(chat_rows(1)))),
                purpose="batch",
                extra_body=MODEL,
                expires_after={"anchor": "created_at", "seconds": 2592001},
            )
    err = error_of(info.value.response.json())
    assert "3600 to 2592000" in err["message"] and err["param"] == "expires_after[seconds]"
    assert not any(r.method == "POST" for r in azure.requests)  # nothing uploaded
    assert azure.accounts["az"].files == {}


async def test_three_day_expiry_is_azures_verdict(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    # Azure's current reference takes 3600 to 2592000 s; its batch guide says 14 to 30 days.
    # The router leaves the verdict to Azure: the fake's v1 API takes 3 days, its dated API
    # (the least helpful reading) refuses them, and that 400 is Azure's own.
    azure = fake_azure(tmp_path)
    server = await aiohttp_server(azure.app())
    router = await start_router(
        config(
            azure_entry(server, "v1", name="v1-model"),
            azure_entry(server, "2025-04-01-preview", name="dated-model"),
        )
    )
    three_days = {"anchor": "created_at", "seconds": 259200}
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("b.jsonl", io.BytesIO(jsonl(chat_rows(1)))),
            purpose="batch",
            extra_body={"model": "v1-model"},
            expires_after=three_days,  # type: ignore[arg-type]
        )
        assert f.expires_at == f.created_at + 259200
        with pytest.raises(BadRequestError) as info:
            await sdk.files.create(
                file=("b.jsonl", io.BytesIO(jsonl(chat_rows(1)))),
                purpose="batch",
                extra_body={"model": "dated-model"},
                expires_after=three_days,  # type: ignore[arg-type]
            )
    assert "1209600 to 2592000" in info.value.message  # Azure's own message
    posts = [r for r in azure.requests if r.method == "POST"]
    assert len(posts) == 2


async def test_refusal_after_the_file_reads_processed_is_waited_on(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    azure = fake_azure(tmp_path, processing_seconds=0.2)

    def lagging() -> float:
        # The batch service sees the file's processing one look later than files.retrieve.
        creates = [r for r in azure.requests if r.method == "POST" and r.path.endswith("/batches")]
        if len(creates) == 1 and azure.requests[-1] is creates[0]:
            return float("-inf")
        return time.monotonic()

    azure.processing_clock = lagging
    server = await aiohttp_server(azure.app())
    router = await start_router(config(azure_entry(server, "v1")))
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("b.jsonl", io.BytesIO(jsonl(chat_rows(1)))), purpose="batch", extra_body=MODEL
        )
        b = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        assert (await sdk.batches.retrieve(b.id)).status == "completed"
    creates = [r for r in azure.requests if r.method == "POST" and r.path.endswith("/batches")]
    assert len(creates) == 2  # the first was refused as pending, the second ran


async def test_validating_batch_without_endpoint_gets_its_rows_endpoint(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    azure = fake_azure(tmp_path, phase_seconds=60)  # stays validating
    server = await aiohttp_server(azure.app())
    router = await start_router(config(azure_entry(server, "2024-10-21")))
    responses_row = {
        "custom_id": "r-0",
        "method": "POST",
        "url": "/v1/responses",
        "body": {"model": "gpt-4o", "input": "hello"},
    }
    async with sdk_for(router) as sdk:
        made = {}
        cases: list[tuple[Literal["/v1/chat/completions", "/v1/responses"], bytes]] = [
            ("/v1/chat/completions", jsonl(chat_rows(2))),
            ("/v1/responses", jsonl([responses_row])),
        ]
        for endpoint, rows in cases:
            f = await sdk.files.create(
                file=("b.jsonl", io.BytesIO(rows)), purpose="batch", extra_body=MODEL
            )
            b = await sdk.batches.create(
                input_file_id=f.id,
                endpoint=endpoint,
                completion_window="24h",
            )
            assert b.endpoint == endpoint
            made[b.id] = endpoint
        for batch_id, endpoint in made.items():
            raw = await sdk.batches.with_raw_response.retrieve(batch_id)
            body = raw.http_response.json()
            assert body["status"] == "validating" and body["endpoint"] == endpoint
            check("Batch", {k: v for k, v in body.items() if v is not None})
        listed = await sdk.batches.list(extra_query=MODEL)
        assert {b.id: b.endpoint for b in listed.data} == made
    # Azure itself left the endpoint out of those answers.
    reads = [r for r in azure.requests if r.path.endswith("/content")]
    assert reads and all(r.query.get("api-version") == "2024-10-21" for r in reads)


@pytest.mark.parametrize("cancels", [True, False])
async def test_client_that_hangs_up_while_the_file_processes_gets_no_batch(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path, cancels: bool
) -> None:
    """``cancels``: aiohttp cancels the handler when the client leaves (the test server's
    setting), or lets it run on (web.run_app's default)."""
    azure = fake_azure(tmp_path, processing_seconds=2)
    server = await aiohttp_server(azure.app())
    cfg = config(azure_entry(server, "v1"))
    cfg["files_router"] = {"file_ready_timeout": 30}
    if cancels:
        router = await start_router(cfg)
        base = str(router.make_url(""))
    else:
        runner = web.AppRunner(create_app(parse_config(cfg), route_prefixes=("", "/v1")))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with AsyncOpenAI(api_key=MASTER, base_url=base + "/v1", max_retries=0) as sdk:
            f = await sdk.files.create(
                file=("b.jsonl", io.BytesIO(jsonl(chat_rows(1)))),
                purpose="batch",
                extra_body=MODEL,
            )
        async with aiohttp.ClientSession() as http:
            with pytest.raises(TimeoutError):
                await http.post(
                    base + "/v1/batches",
                    json={
                        "input_file_id": f.id,
                        "endpoint": "/v1/chat/completions",
                        "completion_window": "24h",
                    },
                    headers={"Authorization": f"Bearer {MASTER}"},
                    timeout=aiohttp.ClientTimeout(total=0.5),
                )
        await asyncio.sleep(5)  # past the file's processing: a router still waiting would create
    finally:
        if not cancels:
            await runner.cleanup()
    assert not any(r.method == "POST" and r.path.endswith("/batches") for r in azure.requests)
    polls = [r for r in azure.requests if r.method == "GET" and "/files/" in r.path]
    assert 1 <= len(polls) <= 4
