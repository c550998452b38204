"""Upstreams that rate-limit, drop idle connections and redirect, as real ones do."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from openai import InternalServerError

from .conftest import MASTER, RouterFactory, base_config, error_of
from .faults_fixtures import BATCH, FILE, MODEL, openai_config, openai_sdk


# -- rate limits ---------------------------------------------------------------------------
@pytest.mark.parametrize("status", [429, 503])
async def test_rate_limit_headers_reach_the_sdk_which_obeys_them(
    status: int, start_router: RouterFactory, aiohttp_server: Any
) -> None:
    seen: list[float] = []

    async def retrieve(request: web.Request) -> web.Response:
        seen.append(time.monotonic())
        if len(seen) <= 2:
            body = {"error": {"message": "Slow down", "type": "requests", "param": None}}
            body["error"]["code"] = "rate_limit_exceeded"
            return web.json_response(
                body,
                status=status,
                headers={
                    "retry-after": "1",
                    "retry-after-ms": "1200",
                    "x-ratelimit-limit-requests": "60",
                    "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": "1.2s",
                    "x-request-id": f"req_{len(seen)}",
                },
            )
        return web.json_response(FILE, headers={"x-request-id": "req_ok"})

    app = web.Application()
    app.router.add_get("/v1/files/{file_id}", retrieve)
    upstream = await aiohttp_server(app)
    router = await start_router(base_config(upstream))

    async with (
        aiohttp.ClientSession() as http,
        http.get(
            router.make_url("/v1/files/file-abc"),
            params=MODEL,
            headers={"Authorization": f"Bearer {MASTER}"},
        ) as resp,
    ):
        assert resp.status == status
        assert resp.headers["retry-after"] == "1"
        assert resp.headers["retry-after-ms"] == "1200"
        assert resp.headers["x-ratelimit-remaining-requests"] == "0"
        assert resp.headers["x-ratelimit-reset-requests"] == "1.2s"
        assert resp.headers["x-upstream-request-id"] == "req_1"
        assert error_of(await resp.json())["code"] == "rate_limit_exceeded"

    async with openai_sdk(router, max_retries=2) as sdk:
        got = await sdk.files.with_raw_response.retrieve("file-abc", extra_query=MODEL)
    assert got.parse().id.startswith("file-") and got.parse().id != "file-abc"  # encoded
    assert got.headers["x-upstream-request-id"] == "req_ok"
    assert len(seen) == 3
    # The SDK waited what retry-after-ms said (its own backoff would be under 1 s).
    assert seen[2] - seen[1] >= 1.15


# -- stale pooled connections ----------------------------------------------------------------
class DroppingUpstream:
    """An upstream behind a load balancer that closes idle keep-alive connections unannounced.

    Each connection serves one request; the next request on it finds the socket closed, as
    when the balancer's close and the request cross on the wire (the race a router's pool
    meets after an idle spell). ``cut_uploads`` closes a connection in the middle of the
    first upload instead.
    """

    def __init__(self, *, cut_uploads: bool = False):
        self.cut_uploads = cut_uploads
        self.answered: list[tuple[str, str]] = []
        self.client_request_ids: list[str | None] = []
        self.dropped: list[tuple[str, str]] = []
        self.uploads = 0
        self.server: asyncio.Server | None = None

    @property
    def base(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served = 0
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                method, target, _ = head.split("\r\n", 1)[0].split(" ", 2)
                path = target.split("?", 1)[0]
                if served:
                    self.dropped.append((method, path))
                    return
                headers = dict(
                    line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line
                )
                lowered = {k.lower(): v for k, v in headers.items()}
                if self.cut_uploads and method == "POST" and path == "/v1/files":
                    self.uploads += 1
                    await reader.read(1024)  # some of the file, then the line goes dead
                    writer.transport.abort()
                    return
                await reader.readexactly(int(lowered.get("content-length", "0")))
                body = self._answer(method, path)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
                self.answered.append((method, path))
                self.client_request_ids.append(lowered.get("x-client-request-id"))
                served += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @staticmethod
    def _answer(method: str, path: str) -> bytes:
        if path == "/v1/files":
            return json.dumps({"object": "list", "data": [FILE], "has_more": False}).encode()
        if path.startswith("/v1/files/"):
            if method == "DELETE":
                return json.dumps({"id": "file-abc", "object": "file", "deleted": True}).encode()
            return json.dumps(FILE).encode()
        return json.dumps(BATCH).encode()

    async def __aenter__(self) -> DroppingUpstream:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def dropping() -> AsyncIterator[DroppingUpstream]:
    async with DroppingUpstream() as upstream:
        yield upstream


async def test_idle_connections_dropped_between_calls_are_no_502(
    dropping: DroppingUpstream, start_router: RouterFactory
) -> None:
    router = await start_router(openai_config(dropping.base))
    async with openai_sdk(router) as sdk:
        assert (await sdk.files.retrieve("file-abc", extra_query=MODEL)).filename == "a.jsonl"
        assert len((await sdk.files.list(extra_query=MODEL)).data) == 1
        assert (await sdk.files.delete("file-abc", extra_query=MODEL)).deleted is True
        batch = await sdk.batches.create(
            input_file_id="file-abc",
            endpoint="/v1/chat/completions",
            completion_window="24h",
            extra_body=MODEL,
        )
        assert batch.id.startswith("batch_") and batch.id != "batch_abc"
        await sdk.batches.cancel("batch_abc", extra_query=MODEL)
    # Each read or delete after the first met a dead kept-alive connection (the one its
    # predecessor's repeat was answered on) and was sent again on a new one. A POST is never
    # sent twice, so it never goes on a kept-alive connection: it met none.
    assert dropped_methods(dropping) == ["GET", "DELETE"]
    assert [m for m, _ in dropping.answered] == ["GET", "GET", "DELETE", "POST", "POST"]
    # A repeat on a fresh connection is still traced: it names the caller's request upstream.
    assert all(dropping.client_request_ids), dropping.client_request_ids


def dropped_methods(upstream: DroppingUpstream) -> list[str]:
    return [method for method, _ in upstream.dropped]


async def test_the_repeat_takes_a_fresh_connection_not_another_stale_one(
    dropping: DroppingUpstream, start_router: RouterFactory
) -> None:
    router = await start_router(openai_config(dropping.base))
    async with openai_sdk(router) as sdk:
        # Three calls at once leave three pooled connections, all of them dead by now.
        await asyncio.gather(*(sdk.files.retrieve("file-abc", extra_query=MODEL) for _ in range(3)))
        assert len(dropping.answered) == 3
        assert (await sdk.files.delete("file-abc", extra_query=MODEL)).deleted is True
    # One dead connection met, then a fresh one: one repeat (the default) was enough.
    assert dropped_methods(dropping) == ["DELETE"]


@pytest.mark.parametrize("setting", ["num_retries", "max_retries"])
async def test_retries_setting_zero_turns_repeats_off(
    setting: str, dropping: DroppingUpstream, start_router: RouterFactory
) -> None:
    router = await start_router(openai_config(dropping.base, **{setting: 0}))
    async with openai_sdk(router) as sdk:
        await sdk.files.retrieve("file-abc", extra_query=MODEL)
        with pytest.raises(InternalServerError) as caught:
            await sdk.files.delete("file-abc", extra_query=MODEL)
    assert caught.value.status_code == 502
    assert dropped_methods(dropping) == ["DELETE"]


async def test_an_upload_under_way_is_never_replayed(start_router: RouterFactory) -> None:
    async with DroppingUpstream(cut_uploads=True) as upstream:
        router = await start_router(openai_config(upstream.base, num_retries=3))
        async with openai_sdk(router) as sdk:
            with pytest.raises(InternalServerError) as caught:
                await sdk.files.create(
                    file=("big.jsonl", b"{}\n" * 200_000), purpose="user_data", extra_body=MODEL
                )
        assert caught.value.status_code == 502
        assert upstream.uploads == 1


# -- redirects -----------------------------------------------------------------------------
async def test_redirects_to_another_host_carry_no_credentials(
    start_router: RouterFactory, aiohttp_server: Any
) -> None:
    elsewhere: list[dict[str, str]] = []

    async def record(request: web.Request) -> web.Response:
        elsewhere.append(dict(request.headers))
        return web.json_response(FILE)

    other = web.Application()
    other.router.add_route("*", "/{tail:.*}", record)
    other_server = await aiohttp_server(other)
    # Another host: the same loopback reached by name.
    target = f"http://localhost:{other_server.port}/v1/files/file-abc"

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(target + ("/content" if "content" in request.path else ""))

    app = web.Application()
    app.router.add_get("/v1/files/{file_id}", redirect)
    app.router.add_get("/v1/files/{file_id}/content", redirect)
    upstream = await aiohttp_server(app)
    router = await start_router(base_config(upstream))
    async with openai_sdk(router) as sdk:
        with pytest.raises(InternalServerError) as caught:
            await sdk.files.retrieve("file-abc", extra_query=MODEL)
        assert "redirect" in error_of(caught.value.response.json())["message"]
        with pytest.raises(InternalServerError) as caught:
            await sdk.files.content("file-abc", extra_query=MODEL)
        assert caught.value.status_code == 502
    assert elsewhere == []


async def test_the_google_token_grant_is_not_redirected_either(
    start_router: RouterFactory, aiohttp_server: Any
) -> None:
    from .vertex_fixtures import config, service_account, vertex_entry

    elsewhere: list[str] = []

    async def record(request: web.Request) -> web.Response:
        elsewhere.append(await request.text())
        return web.json_response({"access_token": "t", "expires_in": 3600})

    other = web.Application()
    other.router.add_post("/token", record)
    other_server = await aiohttp_server(other)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(f"http://localhost:{other_server.port}/token")

    app = web.Application()
    app.router.add_post("/token", redirect)
    token_server = await aiohttp_server(app)
    entry = vertex_entry(token_server, service_account(token_server))
    router = await start_router(config(entry))
    async with openai_sdk(router) as sdk:
        with pytest.raises(InternalServerError) as caught:
            await sdk.files.list(extra_query={"model": "gemini-batch"})
    assert caught.value.status_code == 502
    assert "Google access token" in error_of(caught.value.response.json())["message"]
    assert elsewhere == []  # the signed grant never reached the other host
