"""Resumable GCS uploads against servers that keep fewer bytes than they were sent."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.typedefs import Handler
from openai import InternalServerError

from aiohttp_files_router.errors import UpstreamUnavailable
from aiohttp_files_router.fake import FakeVertex
from aiohttp_files_router.providers.gcs import RESUMABLE_CHUNK, Bucket
from aiohttp_files_router.upstream import Called, Upstream, UpstreamReply

from .conftest import RouterFactory, ServerFactory, chat_rows, error_of, jsonl
from .vertex_fixtures import BUCKET, EMAIL, PUBLIC, config, sdk_for, vertex_entry


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 65536):
        yield data[i : i + 65536]


def _server(
    answer: dict[str, str] | None,
    log: list[str],
    start_answer: web.Response | None = None,
) -> web.Application:
    """GCS-like: every PUT answers 308 with ``answer`` as headers (None: keep all, finish);
    the upload start answers ``start_answer`` when given (a misbehaving storage)."""

    async def start(request: web.Request) -> web.Response:
        log.append("POST")
        if start_answer is not None:
            return start_answer
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

    async def delete_object(request: web.Request) -> web.Response:
        log.append(f"DELETE object {request.match_info['name']}")
        return web.Response(status=204)

    app = web.Application(client_max_size=8 * 1024**2)
    app.router.add_post("/upload/storage/v1/b/b/o", start)
    app.router.add_put("/upload/storage/v1/b/b/o", put)
    app.router.add_delete("/upload/storage/v1/b/b/o", cancel)
    app.router.add_delete("/storage/v1/b/b/o/{name}", delete_object)
    return app


async def _upload(
    aiohttp_server: ServerFactory,
    answer: dict[str, str] | None,
    data: bytes,
    log: list[str] | None = None,
    start_answer: web.Response | None = None,
) -> tuple[UpstreamReply, list[str]]:
    log = [] if log is None else log
    server = await aiohttp_server(_server(answer, log, start_answer))
    base = str(server.make_url(""))
    # A storage whose answers carry a request ID in x-goog-request-id.
    called = Called("acct", upstream_id_headers=("x-goog-request-id",))
    bucket = Bucket(Upstream(called, base, aiohttp.ClientTimeout(total=10)), base, "b", "")
    async with aiohttp.ClientSession() as http:
        reply = await bucket.upload(http, "n", {}, "application/jsonl", _chunks(data))
    return reply, log


async def test_no_bytes_kept_gives_up_and_cancels(aiohttp_server: ServerFactory) -> None:
    log: list[str] = []
    with pytest.raises(UpstreamUnavailable) as info:
        await _upload(aiohttp_server, {}, b"x" * (RESUMABLE_CHUNK + 5), log)
    assert "keeps no bytes" in info.value.message
    assert log == ["POST", *[f"PUT bytes 0-{RESUMABLE_CHUNK - 1}/*"] * 3, "DELETE"]


@pytest.mark.parametrize("rng", ["bytes=0-99999999", "bytes=5-9", "bits=0-1"])
async def test_impossible_range_is_a_502(aiohttp_server: ServerFactory, rng: str) -> None:
    log: list[str] = []
    with pytest.raises(UpstreamUnavailable) as info:
        await _upload(aiohttp_server, {"Range": rng}, b"x" * (RESUMABLE_CHUNK + 5), log)
    assert info.value.status == 502 and "Range header" in info.value.message
    assert rng not in info.value.message  # the upstream's own text is not echoed
    assert log == ["POST", f"PUT bytes 0-{RESUMABLE_CHUNK - 1}/*", "DELETE"]


async def test_all_kept_sends_each_byte_once(aiohttp_server: ServerFactory) -> None:
    reply, log = await _upload(aiohttp_server, None, b"x" * 10)
    assert reply.ok and log == ["POST", "PUT bytes 0-9/10"]


@pytest.mark.parametrize(
    ("status", "location"),
    [(200, False), (201, True), (204, False)],
    ids=["200-no-location", "201-with-location", "204-no-location"],
)
async def test_upload_start_without_a_session_is_a_clear_502(
    aiohttp_server: ServerFactory, status: int, location: bool
) -> None:
    """GCS starts a resumable upload with 200 OK and the session URI in ``Location``
    (https://cloud.google.com/storage/docs/performing-resumable-uploads); any other 2xx
    start leaves nowhere to send the bytes."""
    headers = {"Location": "http://127.0.0.1:9/elsewhere", "x-goog-request-id": "up-7"}
    if not location:
        del headers["Location"]
    start = web.json_response({"kind": "storage#object"}, status=status, headers=headers)
    log: list[str] = []
    with pytest.raises(UpstreamUnavailable) as info:
        await _upload(aiohttp_server, None, b"x" * 10, log, start_answer=start)
    err = info.value
    assert err.status == 502 and err.code == "upstream_unavailable"
    assert f"HTTP {status}" in err.message and "Location" in err.message
    assert err.headers.get("x-upstream-request-id") == "up-7"  # relayed for support
    assert log == ["POST"]  # no byte sent anywhere


async def test_early_finish_removes_the_partial_object(aiohttp_server: ServerFactory) -> None:
    """A storage that answers 200 to a piece that is not the last has made an object of
    part of the file: it is deleted, and the upload is a 502."""
    log: list[str] = []
    with pytest.raises(UpstreamUnavailable) as info:
        await _upload(aiohttp_server, None, b"x" * (RESUMABLE_CHUNK + 5), log)
    assert "before every byte was sent" in info.value.message
    assert log == ["POST", f"PUT bytes 0-{RESUMABLE_CHUNK - 1}/*", "DELETE object n", "DELETE"]


async def test_router_answers_a_sessionless_start_with_a_502(
    aiohttp_server: ServerFactory, start_router: RouterFactory, tmp_path: Path
) -> None:
    """Through the router with the openai SDK: a Vertex account whose storage starts uploads
    with 200 and no ``Location`` gives the client an OpenAI-shaped 502 that says so."""
    vertex = FakeVertex({EMAIL: PUBLIC}, buckets=[BUCKET], storage=tmp_path / "gcs")
    starts: list[str] = []

    @web.middleware
    async def no_session(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "POST" and request.path.startswith("/upload/storage/v1/"):
            starts.append(request.path)
            return web.json_response({"kind": "storage#object"})
        return await handler(request)

    app = vertex.app()
    app.middlewares.append(no_session)
    server = await aiohttp_server(app)
    router = await start_router(config(vertex_entry(server)))
    async with sdk_for(router) as sdk:
        with pytest.raises(InternalServerError) as info:
            await sdk.files.create(
                file=("in.jsonl", io.BytesIO(jsonl(chat_rows(2)))),
                purpose="batch",
                extra_body={"model": "gemini-batch"},
            )
    assert info.value.status_code == 502
    err = error_of(info.value.response.json())
    assert err["type"] == "server_error" and err["code"] == "upstream_unavailable"
    assert "HTTP 200" in err["message"] and "Location" in err["message"]
    # The rows and the original each started one (at once); both stopped there.
    assert starts == [f"/upload/storage/v1/b/{BUCKET}/o"] * 2
    assert vertex.objects == {} and vertex.uploads == {}  # nothing stored, nothing open


async def test_cancelled_while_the_session_opens_leaves_no_session(
    aiohttp_server: ServerFactory,
) -> None:
    """An upload cancelled (a sibling upload failed, the client left) while GCS is opening
    its session still learns the session's URI and ends it."""
    log: list[str] = []
    opened = asyncio.Event()

    async def slow_start(request: web.Request) -> web.Response:
        log.append("POST")
        opened.set()
        await asyncio.sleep(0.3)  # the session exists; its URI is not answered yet
        return web.Response(headers={"Location": str(request.url.with_query(upload_id="u1"))})

    async def cancel(request: web.Request) -> web.Response:
        log.append("DELETE")
        return web.Response(status=499)

    app = web.Application()
    app.router.add_post("/upload/storage/v1/b/b/o", slow_start)
    app.router.add_delete("/upload/storage/v1/b/b/o", cancel)
    server = await aiohttp_server(app)
    base = str(server.make_url(""))
    bucket = Bucket(Upstream("acct", base, aiohttp.ClientTimeout(total=10)), base, "b", "")
    async with aiohttp.ClientSession() as http:
        task = asyncio.create_task(bucket.upload(http, "n", {}, "text/plain", _chunks(b"x")))
        await opened.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert log == ["POST", "DELETE"]
