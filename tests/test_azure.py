"""Azure OpenAI accounts: both API styles, three auth styles, quirks hidden, rows rewritten."""

from __future__ import annotations

import io
import json
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI, BadRequestError, NotFoundError

from aiohttp_files_router.fake import FakeAzure, FakeOpenAI
from aiohttp_files_router.ids import RoutedId, decode_id

from .azure_fixtures import (
    AZ_KEY,
    CLIENT,
    DEPLOYMENT,
    STATIC_TOKEN,
    azure_entry,
    config,
    sdk_for,
    with_legacy_azure,
)
from .conftest import KEY_A, MASTER, RouterFactory, ServerFactory, chat_rows, error_of, jsonl
from .spec import check


@pytest.fixture
def azure(tmp_path: Path) -> FakeAzure:
    fake = FakeAzure(
        {AZ_KEY: "az"}, deployments=[DEPLOYMENT], clients={CLIENT: "az"}, storage=tmp_path / "azure"
    )
    fake.tokens[STATIC_TOKEN] = "az"
    return fake


@pytest.fixture
async def azure_server(aiohttp_server: ServerFactory, azure: FakeAzure) -> TestServer:
    return await aiohttp_server(azure.app())


@pytest.mark.parametrize("auth", ["key", "token", "client"])
@pytest.mark.parametrize("api_version", ["2024-10-21", "2025-04-01-preview", "v1", "preview"])
async def test_seed_flow_on_azure(
    start_router: RouterFactory,
    azure_server: TestServer,
    azure: FakeAzure,
    api_version: str,
    auth: str,
) -> None:
    router = await start_router(config(azure_entry(azure_server, api_version, auth)))
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("batch_data.jsonl", io.BytesIO(jsonl(chat_rows(3)))),
            purpose="batch",
            extra_body={"model": "gpt-4o-azure"},
        )
        assert f.status == "uploaded"  # Azure's "pending"
        check("OpenAIFile", f.model_dump(exclude_none=True))
        b = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        assert b.status == "validating" and isinstance(b.created_at, int)
        assert b.output_file_id is None and b.error_file_id is None  # Azure's ""
        b = await sdk.batches.retrieve(b.id)
        assert b.request_counts is not None and b.output_file_id is not None
        assert b.status == "completed" and b.request_counts.completed == 3
        check("Batch", b.model_dump(exclude_none=True))
        assert isinstance(b.completed_at, int) and b.error_file_id is None
        out = (await sdk.files.content(b.output_file_id)).text
        rows = [json.loads(x) for x in out.splitlines()]
        # Azure writes output rows out of input order; custom_id matches them up.
        assert sorted(r["custom_id"] for r in rows) == ["req-0", "req-1", "req-2"]
        assert rows[0]["response"]["body"]["model"] == DEPLOYMENT
        listed = await sdk.batches.list(extra_query={"model": "gpt-4o-azure"})
        assert [x.id for x in listed.data] == [b.id] and listed.data[0].status == "completed"
        files = [x.id async for x in sdk.files.list(extra_query={"model": "gpt-4o-azure"})]
        assert f.id in files and b.output_file_id in files
        assert (await sdk.files.retrieve(f.id)).status == "processed"
        assert (await sdk.files.delete(f.id)).deleted

    upload = next(r for r in azure.requests if r.method == "POST" and r.path.endswith("/files"))
    first_row = json.loads(upload.file_head.split(b"\n")[0])
    assert first_row["body"]["model"] == DEPLOYMENT  # the client sent "gpt-4o"
    served = [r for r in azure.requests if "/oauth2/" not in r.path]
    v1 = api_version in ("v1", "preview")
    assert all(r.path.startswith("/openai/v1/") == v1 for r in served)
    assert all(r.path.startswith("/openai/") for r in served)
    expected = {"v1": None, "preview": "preview"}.get(api_version, api_version)
    assert {r.query.get("api-version") for r in served} == {expected}
    assert {r.account for r in served} == {"az"}
    if auth == "key":
        assert {r.key for r in served} == {AZ_KEY}
    elif auth == "token":
        assert {r.key for r in served} == {STATIC_TOKEN}
    else:
        assert azure.token_requests == 1  # cached across all the calls
        assert all(r.key and r.key.startswith("fake-entra-") for r in served)


async def test_entra_token_is_refreshed_before_expiry(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    import asyncio

    azure = FakeAzure(
        {}, deployments=[DEPLOYMENT], clients={CLIENT: "az"}, token_seconds=2, storage=tmp_path
    )
    server = await aiohttp_server(azure.app())
    router = await start_router(config(azure_entry(server, auth="client")))
    async with sdk_for(router) as sdk:
        await sdk.files.list(extra_query={"model": "gpt-4o-azure"})
        await sdk.files.list(extra_query={"model": "gpt-4o-azure"})
        assert azure.token_requests == 1
        await asyncio.sleep(1.2)  # past half the token's life: refreshed early
        await sdk.files.list(extra_query={"model": "gpt-4o-azure"})
        assert azure.token_requests == 2


async def test_bad_client_secret_is_502_without_secrets(
    start_router: RouterFactory, azure_server: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    entry = azure_entry(azure_server, auth="client")
    entry["litellm_params"]["client_secret"] = "wrong-secret-value-123"
    router = await start_router(config(entry))
    async with aiohttp.ClientSession() as http:
        async with http.get(
            router.make_url("/v1/files?model=gpt-4o-azure"),
            headers={"Authorization": f"Bearer {MASTER}"},
        ) as resp:
            assert resp.status == 502
            text = await resp.text()
    assert "Entra ID token" in error_of(json.loads(text))["message"]
    assert "wrong-secret-value-123" not in text and "wrong-secret-value-123" not in caplog.text


async def test_azure_errors_and_expiry(
    start_router: RouterFactory, azure_server: TestServer, azure: FakeAzure
) -> None:
    router = await start_router(config(azure_entry(azure_server)))
    async with sdk_for(router) as sdk:
        with pytest.raises(NotFoundError) as info:
            await sdk.files.retrieve("file-nope", extra_query={"model": "gpt-4o-azure"})
        err = error_of(info.value.response.json())
        assert "file-nope" in err["message"] and AZ_KEY not in info.value.response.text
        f = await sdk.files.create(
            file=("a.jsonl", io.BytesIO(jsonl(chat_rows(1)))),
            purpose="batch",
            extra_body={"model": "gpt-4o-azure"},
            expires_after={"anchor": "created_at", "seconds": 1209600},
        )
        assert f.expires_at == f.created_at + 1209600
    form = azure.requests[-1].form
    assert form["expires_after.seconds"] == "1209600" and "expires_after[seconds]" not in form


async def test_env_fallbacks(
    start_router: RouterFactory,
    azure_server: TestServer,
    azure: FakeAzure,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_API_BASE", str(azure_server.make_url("")))
    monkeypatch.setenv("AZURE_API_VERSION", "2024-10-21")
    monkeypatch.setenv("AZURE_API_KEY", AZ_KEY)
    router = await start_router(
        config({"model_name": "az", "litellm_params": {"model": f"azure/{DEPLOYMENT}"}})
    )
    async with sdk_for(router) as sdk:
        assert (await sdk.files.list(extra_query={"model": "az"})).data == []
    assert azure.requests[-1].key == AZ_KEY


async def test_malformed_line_is_400_with_line_number_and_nothing_kept(
    start_router: RouterFactory, azure_server: TestServer, azure: FakeAzure
) -> None:
    router = await start_router(config(azure_entry(azure_server)))
    big = "x" * 600_000  # one line spans several chunks
    rows = (
        jsonl(chat_rows(2))
        + json.dumps(
            {
                "custom_id": "big",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "m", "messages": [{"role": "user", "content": big}]},
            }
        ).encode()
        + b"\n"
        + b'{"custom_id": "oops", "body": [1]}\n'
    )
    async with sdk_for(router) as sdk:
        with pytest.raises(BadRequestError) as info:
            await sdk.files.create(
                file=("bad.jsonl", io.BytesIO(rows)),
                purpose="batch",
                extra_body={"model": "gpt-4o-azure"},
            )
        err = error_of(info.value.response.json())
        assert "Line 4" in err["message"] and err["param"] == "file"
        assert azure.accounts["az"].files == {}
        with pytest.raises(BadRequestError) as info:
            await sdk.files.create(
                file=("bad.jsonl", io.BytesIO(jsonl(chat_rows(1)) + b"not json\n")),
                purpose="batch",
                extra_body={"model": "gpt-4o-azure"},
            )
        assert "Line 2" in info.value.message
        # Other purposes are stored as they are.
        f = await sdk.files.create(
            file=("notes.txt", io.BytesIO(b"not json\n")),
            purpose="user_data",
            extra_body={"model": "gpt-4o-azure"},
        )
        assert (await sdk.files.content(f.id)).content == b"not json\n"
        ok = await sdk.files.create(
            file=("ok.jsonl", io.BytesIO(rows.rsplit(b"\n", 2)[0])),
            purpose="batch",
            extra_body={"model": "gpt-4o-azure"},
        )
        stored = (await sdk.files.content(ok.id)).text.splitlines()
    assert len(stored) == 3 and json.loads(stored[2])["body"]["messages"][0]["content"] == big
    assert {json.loads(line)["body"]["model"] for line in stored} == {DEPLOYMENT}


async def test_rows_naming_no_deployment_fail_on_azure(
    start_router: RouterFactory, azure_server: TestServer
) -> None:
    router = await start_router(with_legacy_azure(config(azure_entry(azure_server)), azure_server))
    async with AsyncOpenAI(
        api_key=MASTER,
        base_url=str(router.make_url("/v1")),
        max_retries=0,
        default_headers={"custom-llm-provider": "azure"},
    ) as legacy:
        # The legacy account has no deployment to write into rows: Azure refuses them.
        f = await legacy.files.create(
            file=("a.jsonl", io.BytesIO(jsonl(chat_rows(1)))), purpose="batch"
        )
        b = await legacy.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        b = await legacy.batches.retrieve(b.id)
        assert b.status == "failed" and b.errors and b.errors.data
        assert b.errors.data[0].code == "model_not_found"


async def test_legacy_selector_for_every_operation(
    start_router: RouterFactory, azure_server: TestServer, azure: FakeAzure, tmp_path: Path
) -> None:
    router = await start_router(with_legacy_azure(config(), azure_server))
    async with AsyncOpenAI(
        api_key=MASTER,
        base_url=str(router.make_url("/v1")),
        max_retries=0,
        default_headers={"custom-llm-provider": "azure"},
    ) as sdk:
        f = await sdk.files.create(
            file=("a.jsonl", io.BytesIO(jsonl(chat_rows(2, DEPLOYMENT)))), purpose="batch"
        )
        assert f.id in azure.accounts["az"].files
        assert (await sdk.files.retrieve(f.id)).id == f.id
        assert [x.id async for x in sdk.files.list()] == [f.id]
        b = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        b = await sdk.batches.retrieve(b.id)
        assert b.status == "completed" and b.output_file_id is not None
        assert [x.id async for x in sdk.batches.list()] == [b.id]
        assert len((await sdk.files.content(b.output_file_id)).text.splitlines()) == 2
        assert (await sdk.files.delete(f.id)).deleted
    assert {r.key for r in azure.requests} == {AZ_KEY}


async def test_cancel_on_azure(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    now = [5_000_000.0]
    azure = FakeAzure(
        {AZ_KEY: "az"},
        deployments=[DEPLOYMENT],
        storage=tmp_path,
        phase_seconds=60,
        cancel_seconds=5,
        clock=lambda: now[0],
    )
    server = await aiohttp_server(azure.app())
    router = await start_router(config(azure_entry(server, "v1")))
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("a.jsonl", io.BytesIO(jsonl(chat_rows(2)))),
            purpose="batch",
            extra_body={"model": "gpt-4o-azure"},
        )
        now[0] += 1  # Azure has processed the file (its processing runs on the same clock)
        b = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        now[0] += 61
        assert (await sdk.batches.retrieve(b.id)).status == "in_progress"  # Azure's InProgress
        assert (await sdk.batches.cancel(b.id)).status == "cancelling"
        now[0] += 6
        done = await sdk.batches.retrieve(b.id)
        assert done.request_counts is not None
        assert done.status == "cancelled" and done.request_counts.completed == 1


async def test_mixed_openai_and_azure(
    start_router: RouterFactory,
    azure_server: TestServer,
    azure: FakeAzure,
    upstream: TestServer,
    fake: FakeOpenAI,
) -> None:
    openai_entry = {
        "model_name": "gpt-4o-openai",
        "litellm_params": {
            "model": "openai/gpt-4o",
            "api_key": KEY_A,
            "api_base": str(upstream.make_url("/v1")),
        },
    }
    router = await start_router(config(openai_entry, azure_entry(azure_server, "v1")))
    async with sdk_for(router) as sdk:
        fo = await sdk.files.create(
            file=("o.jsonl", io.BytesIO(jsonl(chat_rows(1)))),
            purpose="batch",
            extra_body={"model": "gpt-4o-openai"},
        )
        fa = await sdk.files.create(
            file=("a.jsonl", io.BytesIO(jsonl(chat_rows(1)))),
            purpose="batch",
            extra_body={"model": "gpt-4o-azure"},
        )
        for f, deployment in ((fo, "gpt-4o-openai"), (fa, "gpt-4o-azure")):
            b = await sdk.batches.create(
                input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            b = await sdk.batches.retrieve(b.id)
            assert b.output_file_id is not None
            for value in (b.id, b.input_file_id, b.output_file_id):
                decoded = decode_id(value, "batch" if value == b.id else "file")
                assert isinstance(decoded, RoutedId) and decoded.deployment == deployment
            assert (await sdk.files.content(b.output_file_id)).text
            assert (await sdk.files.retrieve(f.id)).id == f.id
        # The OpenAI account's raw file ID sent to the Azure account: Azure's error, no
        # silent call to the OpenAI account.
        raw = decode_id(fo.id, "file").provider_id
        before = len(fake.requests)
        with pytest.raises(NotFoundError) as info:
            await sdk.batches.create(
                input_file_id=raw,
                endpoint="/v1/chat/completions",
                completion_window="24h",
                extra_body={"model": "gpt-4o-azure"},
            )
        error_of(info.value.response.json())
        assert len(fake.requests) == before
        assert (await sdk.files.delete(fa.id)).deleted and (await sdk.files.delete(fo.id)).deleted
    assert {r.account for r in fake.requests} == {"a"}
    assert {r.account for r in azure.requests} == {"az"}
    assert not azure.accounts["az"].files.keys() & fake.accounts["a"].files.keys()
