"""Mounting into an existing aiohttp app: the host's routes and middlewares keep working."""

from __future__ import annotations

import io

import aiohttp
import pytest
from aiohttp import web
from aiohttp.typedefs import Handler
from openai import AsyncOpenAI

from aiohttp_files_router import STATE_KEY, parse_config, setup
from aiohttp_files_router.fake import FakeOpenAI

from .conftest import MASTER, ONE_ROW, ServerFactory, base_config, error_of

SEEN = web.AppKey("SEEN", list)


async def test_mounted_under_v1_beside_host_routes(
    aiohttp_server: ServerFactory, upstream: web.Application, fake: FakeOpenAI
) -> None:
    @web.middleware
    async def host_mw(request: web.Request, handler: Handler) -> web.StreamResponse:
        request.app[SEEN].append(request.path)
        response = await handler(request)
        response.headers["X-Host"] = "yes"
        return response

    async def host_files(request: web.Request) -> web.Response:
        return web.Response(text="the host's own /files")

    host = web.Application(middlewares=[host_mw])
    host[SEEN] = []
    host.router.add_get("/files", host_files)  # clashes with the router's bare path
    sub = setup(host, parse_config(base_config(upstream)), prefix="/v1")
    assert STATE_KEY in sub
    server = await aiohttp_server(host)

    async with aiohttp.ClientSession() as http:
        async with http.get(server.make_url("/files")) as resp:
            assert await resp.text() == "the host's own /files"
            assert resp.headers["X-Host"] == "yes"
        async with http.get(server.make_url("/v1/files?model=gpt-4o-litellm")) as resp:
            assert resp.status == 401  # the router's own auth applies under its prefix
            error_of(await resp.json())
            assert resp.headers["X-Host"] == "yes"
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(server.make_url("/v1")), max_retries=0
    ) as sdk:
        created = await sdk.files.create(
            file=("a.jsonl", io.BytesIO(ONE_ROW)),
            purpose="batch",
            extra_body={"model": "gpt-4o-litellm"},
        )
        assert (await sdk.files.content(created.id)).content == ONE_ROW
    assert "/files" in host[SEEN] and "/v1/files" in host[SEEN]


async def test_mounted_under_another_prefix(
    aiohttp_server: ServerFactory, upstream: web.Application
) -> None:
    host = web.Application()
    setup(host, parse_config(base_config(upstream)), prefix="/llm/openai/v1/")
    server = await aiohttp_server(host)
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(server.make_url("/llm/openai/v1")), max_retries=0
    ) as sdk:
        listed = await sdk.files.list(extra_query={"model": "gpt-4o-other"})
        assert listed.data == []


def test_setup_refuses_bad_prefix_and_config() -> None:
    with pytest.raises(ValueError, match="prefix"):
        setup(web.Application(), parse_config({}), prefix="v1")
    with pytest.raises(TypeError, match="RouterConfig"):
        setup(web.Application(), {"model_list": []}, prefix="/v1")  # type: ignore[arg-type]
