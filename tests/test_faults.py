"""Hostile clients and a misbehaving upstream against the real server process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

from .common import free_port
from .conftest import KEY_A, MASTER, ServerFactory, error_of
from .production import (
    MIB,
    SCRIPT,
    config_for,
    fake_upstream,
    generated,
    running,
    sha256,
    upload_form,
    write_config,
)

AUTH = {"Authorization": f"Bearer {MASTER}"}


def cutting_upstream() -> web.Application:
    """An upstream that promises 10 MiB of content, sends 1 MiB and drops the connection."""

    async def content(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        resp.content_length = 10 * MIB
        await resp.prepare(request)
        await resp.write(b"x" * MIB)
        assert request.transport is not None
        request.transport.abort()
        return resp

    app = web.Application()
    app.router.add_get("/v1/files/{file_id}/content", content)
    return app


async def test_disconnects_cuts_and_oversized_heads(
    tmp_path: Path, aiohttp_server: ServerFactory
) -> None:
    cutter = await aiohttp_server(cutting_upstream())
    async with fake_upstream(tmp_path, KEY_A) as api_base:
        config = config_for(api_base, KEY_A, MASTER)
        config["model_list"].append(
            {
                "model_name": "cutter",
                "litellm_params": {
                    "model": "openai/x",
                    "api_key": "sk-cutter",
                    "api_base": str(cutter.make_url("/v1")),
                },
            }
        )
        path = write_config(tmp_path / "config.yaml", config)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        async with running(str(SCRIPT), "--config", str(path), "--port", str(port)) as served:
            async with aiohttp.ClientSession() as http:
                # 1. A client that goes away in the middle of its upload.
                half = asyncio.Event()

                async def stalls() -> AsyncIterator[bytes]:
                    async for chunk in generated(16, sha256(), [0]):
                        yield chunk
                    half.set()
                    await asyncio.sleep(3600)

                async def upload() -> None:
                    form = upload_form(stalls(), 64 * MIB)
                    async with aiohttp.ClientSession() as own:
                        await own.post(f"{base}/v1/files", data=form, headers=AUTH)

                task = asyncio.create_task(upload())
                await asyncio.wait_for(half.wait(), 30)
                await asyncio.sleep(0.2)
                task.cancel()
                await served.wait_for_line("the client disconnected", 1)

                # 2. A client that goes away in the middle of a download.
                form = upload_form(generated(48, sha256(), [0]), 48 * MIB)
                async with http.post(f"{base}/v1/files", data=form, headers=AUTH) as resp:
                    assert resp.status == 200
                    file_id = (await resp.json())["id"]
                async with aiohttp.ClientSession() as own:
                    resp = await own.get(f"{base}/v1/files/{file_id}/content", headers=AUTH)
                    assert resp.status == 200
                    await resp.content.readexactly(MIB)
                    resp.close()
                await served.wait_for_line("the client disconnected", 2)

                # 3. An upstream that cuts a download: the client sees a cut connection.
                warnings_before = served.log.count(" WARNING ")
                try:
                    async with http.get(
                        f"{base}/v1/files/file-abc/content?model=cutter", headers=AUTH
                    ) as resp:
                        assert resp.status == 200
                        await resp.read()
                    raise AssertionError("the cut download looked complete")
                except aiohttp.ClientPayloadError:
                    pass
                await served.wait_for_line("download of file-abc from cutter cut")
                await asyncio.sleep(0.5)
                assert served.log.count(" WARNING ") == warnings_before + 1, served.log

                # 4. Oversized request heads get OpenAI-shaped 4xx answers.
                for url, headers in (
                    (f"{base}/v1/files?model={'m' * 10_000}", AUTH),
                    (f"{base}/v1/files", {**AUTH, "x-litellm-model": "m" * 10_000}),
                    (f"{base}/v1/files/file-{'a' * 8192}", AUTH),
                    (f"{base}/v1/files/file-{'a' * 8192}/content", AUTH),
                ):
                    async with http.get(url, headers=headers) as resp:
                        assert 400 <= resp.status < 500, (url[:80], resp.status)
                        assert resp.content_type == "application/json"
                        err = error_of(await resp.json())
                        assert len(err["message"]) < 300
                # Values under the limits are quoted clipped to about 200 characters.
                for url, headers in (
                    (f"{base}/v1/files?model={'m' * 5000}", AUTH),
                    (f"{base}/v1/files", {**AUTH, "x-litellm-model": "m" * 5000}),
                    (f"{base}/v1/files/file-{'a' * 4000}", AUTH),
                ):
                    async with http.get(url, headers=headers) as resp:
                        assert resp.status in (400, 404), resp.status
                        message = error_of(await resp.json())["message"]
                        assert 200 <= message.count("m") + message.count("a") <= 215, message
            assert await served.stop() == 0
    log = served.log
    assert "Traceback" not in log, log
    assert log.count(" WARNING ") == 1, log
    (reached,) = [line for line in log.splitlines() if "could not be reached" in line]
    assert "download of file-abc from cutter cut" in reached
    posts = [line for line in log.splitlines() if " POST /v1/files " in line]
    assert [p.split(" POST /v1/files ")[1][:3] for p in posts] == ["499", "200"], posts
    cut = [line for line in log.splitlines() if "access" in line and "model=cutter" in line]
    assert len(cut) == 1 and "/content 502 " in cut[0], cut
