"""Slow-header clients are the front proxy's job: docs/nginx.conf times them out."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from .common import free_port
from .conftest import MASTER
from .production import nginx_config, running


async def test_nginx_site_drops_a_slow_header_client(tmp_path: Path, router: TestServer) -> None:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    assert nginx, "nginx is not installed: apt-get install nginx-light (.ci/run does it)"
    port = free_port()
    conf = nginx_config(tmp_path / "nginx", port, router.port or 0)
    site = conf.parent / "site.conf"
    text = site.read_text()
    assert "client_header_timeout 10s;" in text
    site.write_text(text.replace("client_header_timeout 10s;", "client_header_timeout 1s;"))
    async with running(
        nginx, "-p", str(conf.parent), "-c", str(conf), "-g", "daemon off;", ready=None
    ) as proxy:
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {MASTER}"}) as http:
            for _ in range(100):
                try:
                    async with http.get(f"{base}/v1/files?model=gpt-4o-litellm") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            started = time.monotonic()
            writer.write(b"GET /v1/files HTTP/1.1\r\nHost: x\r\n")  # and never the end
            await writer.drain()
            # Meanwhile others are served.
            async with http.get(f"{base}/v1/files?model=gpt-4o-litellm") as resp:
                assert resp.status == 200
            rest = await asyncio.wait_for(reader.read(), 10)
            waited = time.monotonic() - started
            writer.close()
        assert await proxy.stop() == 0  # its workers hold the output pipe until it stops
        assert 0.5 < waited < 5, waited
        assert b"200 OK" not in rest
