"""The files half of the seed example, with the official openai SDK and two fake accounts."""

from __future__ import annotations

import asyncio
import io
import logging

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import APIStatusError, AsyncOpenAI, BadRequestError
from openai.types import FileObject

from aiohttp_files_router.fake import FakeOpenAI
from aiohttp_files_router.ids import RoutedId, decode_id

from .conftest import (
    KEY_A,
    KEY_B,
    MASTER,
    ONE_ROW,
    RouterFactory,
    ServerFactory,
    base_config,
    chat_rows,
    error_of,
    jsonl,
)


async def upload(
    sdk: AsyncOpenAI, model: str, data: bytes = ONE_ROW, name: str = "a.jsonl"
) -> FileObject:
    return await sdk.files.create(
        file=(name, io.BytesIO(data)), purpose="batch", extra_body={"model": model}
    )


async def test_seed_files_flow_routes_by_id(sdk: AsyncOpenAI, fake: FakeOpenAI) -> None:
    data = jsonl(chat_rows(3))
    created = await upload(sdk, "gpt-4o-litellm", data, "batch_data.jsonl")
    decoded = decode_id(created.id, "file")
    assert isinstance(decoded, RoutedId) and decoded.deployment == "gpt-4o-litellm"
    assert decoded.provider_id in fake.accounts["a"].files
    assert created.bytes == len(data) and created.filename == "batch_data.jsonl"
    assert created.purpose == "batch"

    retrieved = await sdk.files.retrieve(created.id)
    assert retrieved.id == created.id and retrieved.bytes == len(data)
    content = await sdk.files.content(created.id)
    assert content.content == data
    deleted = await sdk.files.delete(created.id)
    assert deleted.id == created.id and deleted.deleted is True
    assert decoded.provider_id not in fake.accounts["a"].files

    calls = [r for r in fake.requests if r.path.startswith("/v1/files")]
    # The content is asked for with a retrieve beside it: the file's name for the download.
    assert sorted((r.method, r.path.endswith("/content")) for r in calls[2:4]) == [
        ("GET", False),
        ("GET", True),
    ]
    assert [(r.method, r.key) for r in calls] == [
        ("POST", KEY_A),
        ("GET", KEY_A),
        ("GET", KEY_A),
        ("GET", KEY_A),
        ("DELETE", KEY_A),
    ]
    assert calls[0].form == {"purpose": "batch"}  # the routing field is not forwarded


async def test_each_account_gets_its_own_key(sdk: AsyncOpenAI, fake: FakeOpenAI) -> None:
    a = await upload(sdk, "gpt-4o-litellm")
    b = await upload(sdk, "gpt-4o-other")
    await sdk.files.retrieve(a.id)
    await sdk.files.retrieve(b.id)
    await sdk.files.content(b.id)
    assert len(fake.accounts["a"].files) == 1 and len(fake.accounts["b"].files) == 1
    for record in fake.requests:
        assert record.key in (KEY_A, KEY_B)
        assert record.key != MASTER
    assert [r.method for r in fake.requests_to("a")] == ["POST", "GET"]
    # retrieve; content, and a retrieve beside it for the download's filename
    assert [r.method for r in fake.requests_to("b")] == ["POST", "GET", "GET", "GET"]


async def test_bare_base_url_is_served_too(router: TestServer) -> None:
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("")), max_retries=0
    ) as bare:
        created = await upload(bare, "gpt-4o-litellm")
        assert (await bare.files.retrieve(created.id)).id == created.id


async def test_list_selectors_and_auto_pagination(
    sdk: AsyncOpenAI, router: TestServer, fake: FakeOpenAI
) -> None:
    ids_a = {(await upload(sdk, "gpt-4o-litellm", name=f"{i}.jsonl")).id for i in range(5)}
    id_b = (await upload(sdk, "gpt-4o-other")).id

    walked = [f.id async for f in sdk.files.list(limit=2, extra_query={"model": "gpt-4o-litellm"})]
    assert len(walked) == 5 and set(walked) == ids_a
    pages = [r for r in fake.requests_to("a") if r.method == "GET" and r.path == "/v1/files"]
    assert [r.query.get("limit") for r in pages] == ["2", "2", "2"]
    assert "after" not in pages[0].query and pages[1].query["after"].startswith("file-")
    assert "model" not in pages[0].query

    header_list = await sdk.files.list(extra_headers={"x-litellm-model": "gpt-4o-other"})
    assert [f.id for f in header_list.data] == [id_b]

    # openai SDK 1.x sent files.list(extra_body=...) as a JSON body on the GET.
    async with aiohttp.ClientSession() as http:
        async with http.get(
            router.make_url("/v1/files"),
            json={"model": "gpt-4o-other"},
            headers={"Authorization": f"Bearer {MASTER}"},
        ) as resp:
            assert resp.status == 200
            body = await resp.json()
    assert [f["id"] for f in body["data"]] == [id_b]
    assert body["first_id"] == id_b and body["last_id"] == id_b


async def test_list_order_and_purpose_are_forwarded(sdk: AsyncOpenAI, fake: FakeOpenAI) -> None:
    first = await upload(sdk, "gpt-4o-litellm", name="1.jsonl")
    second = await sdk.files.create(
        file=("2.txt", io.BytesIO(b"x")),
        purpose="user_data",
        extra_body={"model": "gpt-4o-litellm"},
    )
    asc = await sdk.files.list(order="asc", extra_query={"model": "gpt-4o-litellm"})
    assert [f.id for f in asc.data] == [first.id, second.id]
    only = await sdk.files.list(purpose="user_data", extra_query={"model": "gpt-4o-litellm"})
    assert [f.id for f in only.data] == [second.id]
    assert fake.requests[-1].query == {"purpose": "user_data"}


async def test_list_without_model_walks_every_account(sdk: AsyncOpenAI) -> None:
    # No model and no default_model: every account, one after another (issue 15).
    made = {(await upload(sdk, m)).id for m in ("gpt-4o-litellm", "gpt-4o-other", "gpt-4o-other")}
    assert {f.id async for f in sdk.files.list(limit=1)} == made


async def test_unknown_model_is_named(sdk: AsyncOpenAI) -> None:
    with pytest.raises(BadRequestError) as info:
        await upload(sdk, "no-such-model")
    err = error_of(info.value.response.json())
    assert "no-such-model" in err["message"] and err["code"] == "model_not_found"


async def test_raw_id_routed_by_model(
    sdk: AsyncOpenAI, router: TestServer, fake: FakeOpenAI
) -> None:
    created = await upload(sdk, "gpt-4o-other")
    raw = decode_id(created.id, "file").provider_id
    got = await sdk.files.retrieve(raw, extra_query={"model": "gpt-4o-other"})
    assert got.id == created.id  # answers come back encoded even for a raw request
    got = await sdk.files.retrieve(raw, extra_headers={"x-litellm-model": "gpt-4o-other"})
    assert got.bytes == created.bytes
    assert fake.requests[-1].key == KEY_B
    # openai SDK 1.x sent extra_body={"model": ...} as a JSON body, on a GET too.
    async with aiohttp.ClientSession() as http:
        async with http.get(
            router.make_url(f"/v1/files/{raw}"),
            json={"model": "gpt-4o-other"},
            headers={"Authorization": f"Bearer {MASTER}"},
        ) as resp:
            assert resp.status == 200 and (await resp.json())["id"] == created.id


@pytest.mark.parametrize("dead", ["refused", "silent"])
async def test_merged_listing_skips_an_unreachable_account(
    start_router: RouterFactory,
    upstream: TestServer,
    aiohttp_server: ServerFactory,
    unused_tcp_port: int,
    caplog: pytest.LogCaptureFixture,
    dead: str,
) -> None:
    """No model: an account that cannot be reached (refused, or silent past the read timeout)
    is left out, named in a header and a log line; the others are listed. Named, it fails."""

    async def never(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(30)
        return web.Response()

    silent = web.Application()
    silent.router.add_route("*", "/{tail:.*}", never)
    if dead == "refused":
        dead_base = f"http://127.0.0.1:{unused_tcp_port}/v1"
    else:
        dead_base = str((await aiohttp_server(silent)).make_url("/v1"))
    config = base_config(upstream, read_timeout=0.5)
    config["model_list"].insert(
        1,
        {
            "model_name": "gpt-4o-dead",
            "litellm_params": {"model": "openai/gpt-4o", "api_key": KEY_A, "api_base": dead_base},
        },
    )
    router = await start_router(config)
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        made = [(await upload(sdk, m)).id for m in ("gpt-4o-litellm", "gpt-4o-other")]
        caplog.clear()
        first = await sdk.files.with_raw_response.list(limit=1)
        assert "x-files-router-skipped" not in first.headers  # the first account answered
        page = first.parse()
        assert [f.id for f in page.data] == made[:1] and page.has_more
        second = await sdk.files.with_raw_response.list(limit=5, after=made[0])
        assert second.headers["x-files-router-skipped"] == "gpt-4o-dead"
        assert [f.id for f in second.parse().data] == made[1:]
        assert {f.id async for f in sdk.files.list(limit=1)} == set(made)
        batches = await sdk.batches.with_raw_response.list(limit=1)
        assert batches.headers["x-files-router-skipped"] == "gpt-4o-dead"
        with pytest.raises(APIStatusError) as named:
            await sdk.files.list(extra_query={"model": "gpt-4o-dead"})
        assert named.value.status_code == (502 if dead == "refused" else 504)
    lines = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert lines and all(r.levelno == logging.WARNING and not r.exc_info for r in lines)
    assert "gpt-4o-dead" in lines[0].getMessage() and "file listing" in lines[0].getMessage()
