"""The keep-alive pool that carries the router's small upstream calls (smallcalls.py).

The upstream here is a raw asyncio server, so the test sees what went over the wire: how many
connections, which headers, and answers shaped as real servers send them (interim 103s,
bodies read to EOF, chunked and gzip-encoded, TLS).
"""

from __future__ import annotations

import asyncio
import gzip
import importlib.util
import json
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openai import AsyncOpenAI
from yarl import URL

from aiohttp_files_router.errors import UpstreamTimeout
from aiohttp_files_router.keys import STATE_KEY
from aiohttp_files_router.smallcalls import SmallCalls
from aiohttp_files_router.transport import Wire
from aiohttp_files_router.upstream import fetch_json

from .certs import self_signed
from .common import free_port
from .conftest import KEY_A, MASTER, RouterFactory, error_of
from .faults_fixtures import (
    FILE,
    MODEL,
    TIMEOUT,
    RawUpstream,
    Seen,
    openai_config,
    openai_sdk,
    reply,
)
from .production import SCRIPT, config_for, running, write_config


@pytest.fixture
async def raw() -> AsyncIterator[RawUpstream]:
    upstream = await RawUpstream().start()
    yield upstream
    await upstream.stop()


# -- through the router ----------------------------------------------------------------------
async def test_calls_share_one_kept_alive_connection_with_aiohttps_headers(
    raw: RawUpstream, start_router: RouterFactory
) -> None:
    router = await start_router(openai_config(raw.base))
    async with openai_sdk(router) as client:
        for _ in range(20):
            assert (await client.files.retrieve("file-abc", extra_query=MODEL)).bytes == 3
        assert (await client.batches.cancel("batch_abc", extra_query=MODEL)).status == "cancelling"
    # The reads shared one connection; the POST took a new one (never sent twice, so never
    # on one that may have gone stale).
    assert raw.connections == 2
    assert [s.connection for s in raw.seen] == [1] * 20 + [2]
    transport = router.app[STATE_KEY].registry.wire.transport
    assert transport is not None and transport.small is not None  # the pool carried them
    get, post = raw.seen[0], raw.seen[-1]
    assert get.target == "/v1/files/file-abc"
    assert get.headers["host"] == URL(raw.base).host_port_subcomponent
    assert get.headers["authorization"] == f"Bearer {KEY_A}"
    assert get.headers["accept"] == "*/*"
    assert get.headers["accept-encoding"].startswith("gzip, deflate")
    assert (
        get.headers["user-agent"].startswith("Python/3.")
        and "aiohttp/" in get.headers["user-agent"]
    )
    assert len(get.headers["x-client-request-id"]) == 32
    assert "content-length" not in get.headers
    # A POST with no body says so, as aiohttp's client does.
    assert (post.method, post.target) == ("POST", "/v1/batches/batch_abc/cancel")
    assert post.headers["content-length"] == "0" and post.body == b""


async def test_interim_answers_chunked_gzip_and_bodies_read_to_eof(
    start_router: RouterFactory,
) -> None:
    shapes = iter(["early-hints", "chunked-gzip", "until-eof", "chunked-gzip"])

    async def answer(seen: Seen) -> bytes:
        shape = next(shapes)
        body = json.dumps(FILE).encode()
        if shape == "early-hints":
            return b"HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n" + reply(FILE)
        if shape == "chunked-gzip":
            packed = gzip.compress(body)
            chunks = b"".join(
                f"{len(part):x}\r\n".encode() + part + b"\r\n"
                for part in (packed[:10], packed[10:])
            )
            return (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
                + chunks
                + b"0\r\n\r\n"
            )
        # No length, no chunks: the body ends with the connection (RFC 9112 6.3).
        return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + body

    upstream = await RawUpstream(answer).start()
    try:
        router = await start_router(openai_config(upstream.base))
        async with openai_sdk(router) as client:
            for _ in range(4):
                got = await client.files.retrieve("file-abc", extra_query=MODEL)
                assert got.filename == "a.jsonl" and got.bytes == 3
        # The answer read to EOF left its connection unusable: the call after it opened another.
        assert [s.connection for s in upstream.seen] == [1, 1, 1, 2]
    finally:
        await upstream.stop()


async def test_slow_refused_and_garbled_upstreams_are_504_and_502(
    start_router: RouterFactory,
) -> None:
    async def slow(seen: Seen) -> bytes:
        await asyncio.sleep(3)
        return reply(FILE)

    async def garbled(seen: Seen) -> bytes:
        return b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n{}"

    for answer, params, status in (
        (slow, {"timeout": 0.3}, 504),
        (garbled, {}, 502),
    ):
        upstream = await RawUpstream(answer).start()
        try:
            router = await start_router(openai_config(upstream.base, **params))
            async with aiohttp.ClientSession() as http:
                async with http.get(
                    router.make_url("/v1/files/file-abc"),
                    params=MODEL,
                    headers={"Authorization": f"Bearer {MASTER}"},
                ) as resp:
                    assert resp.status == status, await resp.text()
                    assert error_of(await resp.json())["type"] == "server_error"
        finally:
            await upstream.stop()
    # Nothing listens on a port just freed.
    upstream = await RawUpstream().start()
    base = upstream.base
    await upstream.stop()
    router = await start_router(openai_config(base))
    async with openai_sdk(router) as client:
        with pytest.raises(Exception) as raised:
            await client.files.retrieve("file-abc", extra_query=MODEL)
    assert getattr(raised.value, "status_code", None) == 502


async def test_ipv6_loopback_upstream(start_router: RouterFactory) -> None:
    try:
        upstream = await RawUpstream().start("::1")
    except OSError:
        pytest.skip("this machine has no ::1")
    try:
        router = await start_router(openai_config(upstream.base))
        async with openai_sdk(router) as client:
            assert (await client.files.retrieve("file-abc", extra_query=MODEL)).bytes == 3
        assert upstream.seen[0].headers["host"].startswith("[::1]:")
    finally:
        await upstream.stop()


async def test_tls_upstream_verified_against_the_systems_cas(
    tmp_path: Path, start_router: RouterFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    upstream = await RawUpstream(tls=server).start()
    try:
        # Not trusted: nobody's CA signed the certificate.
        router = await start_router(openai_config(upstream.base))
        async with openai_sdk(router) as client:
            with pytest.raises(Exception) as raised:
                await client.files.retrieve("file-abc", extra_query=MODEL)
        assert getattr(raised.value, "status_code", None) == 502
        # Trusted as OpenSSL finds CAs (SSL_CERT_FILE), as the session's own context does.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        router = await start_router(openai_config(upstream.base))
        async with openai_sdk(router) as client:
            assert (await client.files.retrieve("file-abc", extra_query=MODEL)).bytes == 3
        assert upstream.seen and upstream.seen[-1].headers["authorization"] == f"Bearer {KEY_A}"
    finally:
        await upstream.stop()


# -- the pool itself -------------------------------------------------------------------------
async def _json(calls: SmallCalls, url: URL) -> Any:
    answer = await calls.send("GET", url, {}, None, TIMEOUT)
    try:
        return json.loads(await answer.content.read())
    finally:
        answer.release()


async def test_limit_bounds_connections_and_a_cancelled_call_frees_its_slot() -> None:
    release = asyncio.Event()

    async def held(seen: Seen) -> bytes:
        if seen.target.endswith("/hold"):
            await release.wait()
        return reply(FILE)

    upstream = await RawUpstream(held).start()
    calls = SmallCalls(limit=2)
    try:
        url = URL(upstream.base + "/files/hold")
        tasks = [asyncio.create_task(_json(calls, url)) for _ in range(6)]
        await asyncio.sleep(0.3)
        assert upstream.open_now == 2 and len(upstream.seen) == 2
        release.set()
        assert [got["id"] for got in await asyncio.gather(*tasks)] == ["file-abc"] * 6
        assert upstream.most_open == 2
        # A call cancelled while it waits for its answer gives its slot back.
        release.clear()
        stuck = [asyncio.create_task(_json(calls, url)) for _ in range(2)]
        await asyncio.sleep(0.2)
        for task in stuck:
            task.cancel()
        await asyncio.gather(*stuck, return_exceptions=True)
        release.set()
        got = await asyncio.wait_for(_json(calls, URL(upstream.base + "/files/x")), 5)
        assert got["id"] == "file-abc"
    finally:
        await calls.close()
        await upstream.stop()


async def test_idle_connections_expire_and_close_closes_them() -> None:
    upstream = await RawUpstream().start()
    calls = SmallCalls(keepalive=0.2)
    try:
        url = URL(upstream.base + "/files/file-abc")
        await _json(calls, url)
        await _json(calls, url)
        assert upstream.connections == 1
        await asyncio.sleep(0.5)  # past keepalive: swept, and the upstream sees the close
        assert upstream.open_now == 0
        await _json(calls, url)
        assert upstream.connections == 2
        upstream.closed.clear()
        await calls.close()
        await asyncio.wait_for(upstream.closed.wait(), 5)
        assert upstream.open_now == 0
        with pytest.raises(aiohttp.ClientConnectionError):
            await calls.send("GET", url, {}, None, TIMEOUT)
    finally:
        await calls.close()
        await upstream.stop()


async def test_a_line_break_in_a_header_is_refused_before_anything_is_sent(
    raw: RawUpstream,
) -> None:
    calls = SmallCalls()
    try:
        for headers in ({"X-A": "1\r\nX-Injected: 1"}, {"X-A\nB": "1"}, {"X-A": "1\r"}):
            with pytest.raises(ValueError, match="line break"):
                await calls.send("GET", URL(raw.base + "/files/x"), headers, None, TIMEOUT)
        assert raw.connections == 0
        # The refused calls took no slot with them.
        assert (await _json(calls, URL(raw.base + "/files/x")))["id"] == "file-abc"
    finally:
        await calls.close()


def _mapped_files(pid: int) -> str | None:
    """The files a process mapped (its libraries), where /proc tells."""
    maps = Path(f"/proc/{pid}/maps")
    return maps.read_text() if maps.exists() else None


# -- the standalone server -------------------------------------------------------------------
async def test_standalone_server_calls_through_the_pool_on_its_event_loop(
    raw: RawUpstream, tmp_path: Path
) -> None:
    """``aiohttp-files-router`` runs on uvloop when it is installed (the test extra has it):
    the pool connects and reads there too (uvloop's ``create_connection`` takes fewer
    arguments than asyncio's)."""
    config = write_config(tmp_path / "config.yaml", config_for(raw.base, KEY_A, MASTER))
    port = free_port()
    async with running(str(SCRIPT), "--config", str(config), "--port", str(port)) as served:
        loaded = _mapped_files(served.proc.pid)
        if loaded is not None and importlib.util.find_spec("uvloop") is not None:
            assert "uvloop" in loaded
        base = f"http://127.0.0.1:{port}/v1"
        async with AsyncOpenAI(api_key=MASTER, base_url=base, max_retries=0) as client:
            for _ in range(3):
                assert (await client.files.retrieve("file-abc", extra_query=MODEL)).bytes == 3
            cancelled = await client.batches.cancel("batch_abc", extra_query=MODEL)
        assert cancelled.status == "cancelling"
        assert await served.stop() == 0
    # The reads on one kept-alive connection, the POST on a new one.
    assert raw.connections == 2 and len(raw.seen) == 4


async def test_a_total_timeout_bounds_the_whole_call() -> None:
    """A call given a total timeout (the accounts' own have none) ends in a 504 when the
    answer's body stalls, although each read is within the read timeout."""

    async def trickle(seen: Seen) -> bytes:
        return b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"

    upstream = await RawUpstream(trickle).start()
    async with aiohttp.ClientSession() as http:
        transport = Wire().attach(http)
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout):
            await fetch_json(
                transport,
                "GET",
                URL(upstream.base + "/files/x"),
                account="acct",
                secrets=(),
                headers={},
                timeout=aiohttp.ClientTimeout(total=0.5, sock_read=30),
            )
        assert time.monotonic() - started < 5
        await transport.close()
    await upstream.stop()


async def test_without_the_pool_the_same_calls_go_on_the_session(raw: RawUpstream) -> None:
    """When aiohttp's internals are not the ones the pool was written against (checked once at
    import: ``smallcalls.USABLE``), a router's transport has no pool and the session carries
    every call, under the same policy."""
    from aiohttp_files_router import smallcalls

    assert smallcalls.USABLE  # this aiohttp: the pool is used (CI also runs the newest one)
    async with aiohttp.ClientSession() as http:
        transport = Wire().attach(http, small=False)
        assert transport.small is None
        for method in ("GET", "POST"):
            reply = await fetch_json(
                transport,
                method,
                URL(raw.base + "/files/file-abc"),
                account="acct",
                secrets=(),
                headers={},
                timeout=TIMEOUT,
                data=b"{}" if method == "POST" else None,
            )
            assert reply.ok and json.loads(reply.body)["id"] == "file-abc"
        await transport.close()
    # The read on the session's pool, the POST on a new connection of its own.
    assert [s.method for s in raw.seen] == ["GET", "POST"]
    assert raw.connections == 2
