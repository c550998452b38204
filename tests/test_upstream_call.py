"""One upstream-call object per account: every adapter and the GCS client map errors alike.

Undecodable JSON from any call is a 502, a timeout anywhere (the token endpoint included) a
504, as for every other account (upstream.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from aiohttp_files_router.errors import UpstreamUnavailable
from aiohttp_files_router.ids import encode_id
from aiohttp_files_router.upstream import StaticAuth, Upstream

from .conftest import MASTER, RouterFactory, ServerFactory, error_of
from .vertex_fixtures import config, vertex_entry

JOBS = "/v1/projects/fake-project/locations/us-central1/batchPredictionJobs"


def _google(behaviour: dict[str, Any]) -> web.Application:
    """A Vertex AI + GCS look-alike answering what ``behaviour`` says, and a token endpoint."""

    async def token(request: web.Request) -> web.Response:
        await asyncio.sleep(behaviour.get("token_delay", 0))
        return web.json_response({"access_token": "tok-abc-123", "expires_in": 3600})

    async def job(request: web.Request) -> web.Response:
        return web.Response(body=behaviour["job"], content_type="application/json")

    async def jobs(request: web.Request) -> web.Response:
        return web.Response(body=behaviour["jobs"], content_type="application/json")

    async def gcs_object(request: web.Request) -> web.Response:
        await asyncio.sleep(behaviour.get("gcs_delay", 0))
        return web.json_response({"name": request.match_info["name"], "size": "1"})

    app = web.Application()
    app.router.add_post("/token", token)
    app.router.add_get(JOBS + "/{job}", job)
    app.router.add_get(JOBS, jobs)
    app.router.add_get("/storage/v1/b/{bucket}/o/{name}", gcs_object)
    return app


async def _get(router: TestServer, path: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        async with http.get(
            router.make_url(path), headers={"Authorization": f"Bearer {MASTER}"}
        ) as resp:
            return resp.status, await resp.json()


async def _router(
    aiohttp_server: ServerFactory, start_router: RouterFactory, behaviour: dict[str, Any]
) -> TestServer:
    server = await aiohttp_server(_google(behaviour))
    entry = vertex_entry(server)
    entry["litellm_params"]["timeout"] = 0.5
    cfg = config(entry)
    cfg["files_router"] = {"connect_timeout": 1}
    return await start_router(cfg)


@pytest.mark.parametrize(
    "body", [b"not json{", b"[1, 2]", b'"a string"'], ids=["garbage", "list", "string"]
)
async def test_undecodable_vertex_job_answers_are_502(
    aiohttp_server: ServerFactory, start_router: RouterFactory, body: bytes
) -> None:
    router = await _router(aiohttp_server, start_router, {"job": body, "jobs": body})
    batch = encode_id("batch", "123", "gemini-batch")
    for path in (f"/v1/batches/{batch}", "/v1/batches?model=gemini-batch"):
        status, answer = await _get(router, path)
        assert status == 502, (path, answer)
        assert "malformed JSON" in error_of(answer)["message"]


async def test_gcs_timeouts_are_504(
    aiohttp_server: ServerFactory, start_router: RouterFactory
) -> None:
    router = await _router(aiohttp_server, start_router, {"gcs_delay": 3})
    file_id = "gs://fake-bucket/team-a/files-router/gemini-batch/x"
    encoded = encode_id("file", file_id, "gemini-batch")
    status, answer = await _get(router, f"/v1/files/{encoded}")
    assert status == 504, answer
    assert error_of(answer)["code"] == "upstream_timeout"


async def test_token_endpoint_timeouts_are_504(
    aiohttp_server: ServerFactory, start_router: RouterFactory
) -> None:
    router = await _router(aiohttp_server, start_router, {"token_delay": 3})
    status, answer = await _get(router, "/v1/files?model=gemini-batch")
    assert status == 504, answer
    assert "Google access token" in error_of(answer)["message"]


async def test_upstream_decode_and_scrub(aiohttp_server: ServerFactory) -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response(
            {"error": {"message": f"bad key {request.headers['api-key']}"}}, status=401
        )

    app = web.Application()
    app.router.add_get("/x/{name}", echo)
    server = await aiohttp_server(app)
    upstream = Upstream(
        "acct",
        str(server.make_url("/x")),
        aiohttp.ClientTimeout(total=5),
        auth=StaticAuth({"api-key": "secret-key-1"}, ("secret-key-1",)),
    )
    assert str(upstream.url("a/../b?c")).endswith("/x/a%2F..%2Fb%3Fc")
    # A dot segment alone would climb out of /x once a server resolves it: sent encoded.
    assert str(upstream.url("..", "content")).endswith("/x/%2E%2E/content")
    assert str(upstream.url("file-a_b.c~d")).endswith("/x/file-a_b.c~d")
    async with aiohttp.ClientSession() as http:
        reply = await upstream.json(http, "GET", upstream.url("name"))
    assert reply.status == 401 and b"secret-key-1" not in reply.body and b"***" in reply.body
    with pytest.raises(UpstreamUnavailable, match="malformed JSON"):
        upstream.decode(msgspec.json.Decoder(dict[str, Any]), b"[")
