"""Resumable GCS uploads against servers that keep fewer bytes than they were sent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from aiohttp_files_router.errors import UpstreamUnavailable
from aiohttp_files_router.providers.gcs import RESUMABLE_CHUNK, Bucket
from aiohttp_files_router.upstream import Upstream, UpstreamReply

from .conftest import ServerFactory


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 65536):
        yield data[i : i + 65536]


def _server(answer: dict[str, str] | None, log: list[str]) -> web.Application:
    """GCS-like: every PUT answers 308 with ``answer`` as headers (None: keep all, finish)."""

    async def start(request: web.Request) -> web.Response:
        return web.Response(headers={"Location": str(request.url.with_query(upload_id="u1"))})

    async def put(request: web.Request) -> web.Response:
        await request.read()
        log.append(f"PUT {request.headers['Content-Range']}")
        if answer is None:
            return web.json_response({"name": "x", "size": "1"})
        return web.Response(status=308, headers=answer)

    async def cancel(request: web.Request) -> web.Response:
        log.append("DELETE")
        return web.Response(status=499)

    app = web.Application(client_max_size=8 * 1024**2)
    app.router.add_post("/upload/storage/v1/b/b/o", start)
    app.router.add_put("/upload/storage/v1/b/b/o", put)
    app.router.add_delete("/upload/storage/v1/b/b/o", cancel)
    return app


async def _upload(
    aiohttp_server: ServerFactory,
    answer: dict[str, str] | None,
    data: bytes,
    log: list[str] | None = None,
) -> tuple[UpstreamReply, list[str]]:
    log = [] if log is None else log
    server = await aiohttp_server(_server(answer, log))
    base = str(server.make_url(""))
    bucket = Bucket(Upstream("acct", base, aiohttp.ClientTimeout(total=10)), base, "b", "")
    async with aiohttp.ClientSession() as http:
        reply = await bucket.upload(http, "n", {}, "application/jsonl", _chunks(data))
    return reply, log


async def test_no_bytes_kept_gives_up_and_cancels(aiohttp_server: ServerFactory) -> None:
    log: list[str] = []
    with pytest.raises(UpstreamUnavailable) as info:
        await _upload(aiohttp_server, {}, b"x" * (RESUMABLE_CHUNK + 5), log)
    assert "keeps no bytes" in info.value.message
    assert log == [f"PUT bytes 0-{RESUMABLE_CHUNK - 1}/*"] * 3 + ["DELETE"]


@pytest.mark.parametrize("rng", ["bytes=0-99999999", "bytes=5-9", "bits=0-1"])
async def test_impossible_range_is_a_502(aiohttp_server: ServerFactory, rng: str) -> None:
    reply, log = await _upload(aiohttp_server, {"Range": rng}, b"x" * (RESUMABLE_CHUNK + 5))
    assert reply.status == 502 and log == [f"PUT bytes 0-{RESUMABLE_CHUNK - 1}/*", "DELETE"]


async def test_all_kept_sends_each_byte_once(aiohttp_server: ServerFactory) -> None:
    reply, log = await _upload(aiohttp_server, None, b"x" * 10)
    assert reply.ok and log == ["PUT bytes 0-9/10"]
