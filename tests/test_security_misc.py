"""Smaller hardening: log lines, redirects, download headers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from aiohttp_files_router.errors import _LOG_ESCAPES, BadRequest, for_log
from aiohttp_files_router.providers.gcs import Bucket
from aiohttp_files_router.upstream import StaticAuth, Upstream

from .conftest import MASTER, RouterFactory, ServerFactory, base_config

AUTH = {"Authorization": f"Bearer {MASTER}"}


async def test_log_lines_escape_cr_and_lf(
    start_router: RouterFactory, caplog: pytest.LogCaptureFixture, unused_tcp_port: int
) -> None:
    config = {
        "model_list": [
            {
                "model_name": "down",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_key": "sk-x",
                    "api_base": f"http://127.0.0.1:{unused_tcp_port}/v1",
                },
            }
        ],
        "general_settings": {"master_key": MASTER},
    }
    router = await start_router(config)
    forged = "file-x%0D%0A2026-01-01 ERROR forged line%0Aagain"
    with caplog.at_level(logging.WARNING, logger="aiohttp_files_router"):
        async with (
            aiohttp.ClientSession(headers=AUTH) as http,
            http.get(router.make_url(f"/v1/files/{forged}?model=down")) as resp,
        ):
            assert resp.status == 502
    lines = [r.getMessage() for r in caplog.records if "file-x" in r.getMessage()]
    assert lines, caplog.records
    for line in lines:
        assert "\n" not in line and "\r" not in line
        assert "file-x\\r\\n2026-01-01 ERROR forged line\\nagain" in line


def test_for_log_escapes_every_line_break_control_and_backslash() -> None:
    # The fast path (printable, no backslash: returned as is) agrees with the full escape
    # on every character of the Basic Multilingual Plane and a few beyond.
    for code in (*range(0x10000), 0x1F600, 0xE0001, 0x10FFFF):
        char = chr(code)
        assert for_log(f"a{char}b") == f"a{char}b".translate(_LOG_ESCAPES), hex(code)
    assert for_log("x\r\ny\u2028z\\") == "x\\r\\ny\\x2028z\\\\"
    assert for_log(404) == "404"


def recorder() -> tuple[web.Application, list[str]]:
    hits: list[str] = []

    async def anything(request: web.Request) -> web.Response:
        hits.append(f"{request.method} {request.path}")
        return web.json_response({"object": "list", "data": [], "has_more": False})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    return app, hits


async def test_upstream_redirects_are_not_followed(
    aiohttp_server: ServerFactory, start_router: RouterFactory
) -> None:
    elsewhere_app, hits = recorder()
    elsewhere = await aiohttp_server(elsewhere_app)

    async def bounce(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(str(elsewhere.make_url(request.path_qs)))

    redirecting = web.Application()
    redirecting.router.add_route("*", "/{tail:.*}", bounce)
    upstream = await aiohttp_server(redirecting)
    router = await start_router(base_config(upstream))
    async with aiohttp.ClientSession(headers=AUTH) as http:
        for method, path in (
            ("GET", "/v1/files?model=gpt-4o-litellm"),
            ("GET", "/v1/files/file-abc?model=gpt-4o-litellm"),
            ("GET", "/v1/files/file-abc/content?model=gpt-4o-litellm"),
            ("DELETE", "/v1/files/file-abc?model=gpt-4o-litellm"),
            ("GET", "/v1/batches?model=gpt-4o-litellm"),
        ):
            async with http.request(method, router.make_url(path)) as resp:
                assert resp.status == 502, (path, resp.status)
                assert "Location" not in resp.headers
                assert "redirect" in (await resp.json())["error"]["message"]
    assert hits == []


async def test_gcs_upload_cancel_does_not_follow_a_redirect(
    aiohttp_server: ServerFactory,
) -> None:
    elsewhere_app, hits = recorder()
    elsewhere = await aiohttp_server(elsewhere_app)
    seen: list[str] = []

    async def start(request: web.Request) -> web.Response:
        seen.append("start")
        return web.Response(headers={"Location": str(gcs.make_url("/session"))})

    async def session(request: web.Request) -> web.Response:
        seen.append(request.method)
        raise web.HTTPTemporaryRedirect(str(elsewhere.make_url("/stolen")))

    app = web.Application()
    app.router.add_post("/upload/storage/v1/b/bkt/o", start)
    app.router.add_route("*", "/session", session)
    gcs = await aiohttp_server(app)

    async def failing() -> AsyncIterator[bytes]:
        yield b"{}\n"
        raise BadRequest("Line 2 of the batch file is not a JSON object.")

    base = str(gcs.make_url(""))
    upstream = Upstream(
        "acct",
        base,
        aiohttp.ClientTimeout(total=10),
        auth=StaticAuth({"Authorization": "Bearer t"}),
    )
    bucket = Bucket(upstream, base, "bkt", "")
    async with aiohttp.ClientSession() as http:
        with pytest.raises(BadRequest):
            await bucket.upload(http, "n", {}, "application/jsonl", failing())
    assert seen == ["start", "DELETE"]
    assert hits == []


async def test_downloads_are_attachments_never_sniffed(router: TestServer) -> None:
    async with aiohttp.ClientSession(headers=AUTH) as http:
        form = aiohttp.FormData()
        form.add_field("purpose", "user_data")
        form.add_field("file", b"<html><script>alert(1)</script>", filename="x.html")
        async with http.post(router.make_url("/v1/files?model=gpt-4o-litellm"), data=form) as r:
            file_id = (await r.json())["id"]
        async with http.get(router.make_url(f"/v1/files/{file_id}/content")) as resp:
            assert resp.status == 200
            assert await resp.read() == b"<html><script>alert(1)</script>"
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["Content-Disposition"].startswith("attachment")


async def test_google_token_grant_does_not_follow_a_redirect(
    aiohttp_server: ServerFactory, start_router: RouterFactory
) -> None:
    from .vertex_fixtures import service_account, vertex_entry

    elsewhere_app, hits = recorder()
    elsewhere = await aiohttp_server(elsewhere_app)

    async def bounce(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(str(elsewhere.make_url("/token")))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", bounce)
    token_server = await aiohttp_server(app)
    entry = vertex_entry(token_server, credentials=service_account(token_server))
    router = await start_router({"model_list": [entry], "general_settings": {"master_key": MASTER}})
    async with (
        aiohttp.ClientSession(headers=AUTH) as http,
        http.get(router.make_url("/v1/files?model=gemini-batch")) as resp,
    ):
        assert resp.status == 502, await resp.text()
    assert hits == []
