"""SIGTERM to the real server in the middle of a large streamed upload: it drains, then exits 0."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import pytest

from .common import free_port
from .conftest import KEY_A, MASTER
from .production import (
    MIB,
    SCRIPT,
    config_for,
    fake_upstream,
    generated,
    running,
    sha256,
    stored_digest,
    upload_form,
    write_config,
)

AUTH = {"Authorization": f"Bearer {MASTER}"}
SIZE_MIB = 128


async def test_sigterm_mid_upload_finishes_it_intact_then_exits_0(tmp_path: Path) -> None:
    async with fake_upstream(tmp_path, KEY_A) as api_base:
        await drain_upload(tmp_path, api_base)


async def drain_upload(tmp_path: Path, api_base: str) -> None:
    config = write_config(tmp_path / "config.yaml", config_for(api_base, KEY_A, MASTER))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with running(str(SCRIPT), "--config", str(config), "--port", str(port)) as served:
        digest, sent = sha256(), [0]
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as probe,
        ):
            # A connection opened before the signal, as a load balancer's health checker keeps.
            async with probe.get(f"{base}/health/readiness") as resp:
                assert resp.status == 200

            async def upload() -> tuple[int, dict[str, str]]:
                form = upload_form(generated(SIZE_MIB, digest, sent, pause=0.01), SIZE_MIB * MIB)
                async with http.post(f"{base}/v1/files", data=form, headers=AUTH) as resp:
                    return resp.status, await resp.json()

            task = asyncio.create_task(upload())
            while sent[0] < SIZE_MIB * MIB // 4:
                assert not task.done(), task.result()
                await asyncio.sleep(0.01)
            served.proc.send_signal(signal.SIGTERM)
            await served.wait_for_line("shutting down: waiting")
            assert sent[0] < SIZE_MIB * MIB, "the upload ended before the signal: too fast"
            async with probe.get(f"{base}/health/readiness") as resp:
                assert resp.status == 503
                assert await resp.json() == {"status": "draining"}
            async with aiohttp.ClientSession() as fresh:
                with pytest.raises(aiohttp.ClientConnectorError):
                    await fresh.get(f"{base}/health/liveliness")
            status, body = await task
            assert status == 200, body
        assert await served.stop(signal_it=False) == 0, served.log
    assert "Traceback" not in served.log
    assert await stored_digest(api_base, KEY_A) == (SIZE_MIB * MIB, digest.hexdigest())
