"""Real nginx, configured from docs/nginx.conf, in front of the real router process: 256 MiB
up and down through both, with the router's memory flat."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import aiohttp

from .common import free_port
from .conftest import KEY_A, MASTER
from .production import (
    MIB,
    SCRIPT,
    config_for,
    fake_upstream,
    generated,
    nginx_config,
    running,
    sha256,
    stored_digest,
    upload_form,
    write_config,
)

SIZE_MIB = 256
AUTH = {"Authorization": f"Bearer {MASTER}"}


def kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


async def test_256_mib_up_and_down_through_nginx_in_flat_memory(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    assert nginx, "nginx is not installed: apt-get install nginx-light (.ci/run does it)"
    prefix = tmp_path / "nginx"
    router_port, nginx_port = free_port(), free_port()
    conf = nginx_config(prefix, nginx_port, router_port)
    async with fake_upstream(tmp_path, KEY_A) as api_base:
        config = write_config(tmp_path / "config.yaml", config_for(api_base, KEY_A, MASTER))
        async with (
            running(
                str(SCRIPT),
                "--config",
                str(config),
                "--port",
                str(router_port),
                "--log-level",
                "WARNING",
            ) as router,
            running(
                nginx, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;", ready=None
            ) as proxy,
        ):
            base = f"http://127.0.0.1:{nginx_port}"
            async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=300), read_bufsize=4 * MIB
            ) as http:
                for _ in range(100):
                    try:
                        async with http.get(f"{base}/health/liveliness") as resp:
                            if resp.status == 200:
                                break
                    except aiohttp.ClientConnectionError:
                        pass
                    await asyncio.sleep(0.1)
                pid = router.proc.pid
                start = kib(pid, "VmRSS")
                digest = sha256()
                form = upload_form(generated(SIZE_MIB, digest, [0]), SIZE_MIB * MIB)
                async with http.post(f"{base}/v1/files", data=form, headers=AUTH) as resp:
                    body = await resp.json()
                    assert resp.status == 200, body
                    assert "X-Request-Id" in resp.headers
                down = sha256()
                got = 0
                async with http.get(f"{base}/v1/files/{body['id']}/content", headers=AUTH) as resp:
                    assert resp.status == 200
                    async for chunk in resp.content.iter_chunked(MIB):
                        down.update(chunk)
                        got += len(chunk)
                growth_mib = (kib(pid, "VmHWM") - start) / 1024
            assert got == SIZE_MIB * MIB and down.hexdigest() == digest.hexdigest()
            print(f"router memory growth {growth_mib:.1f} MiB")
            assert growth_mib < 64, f"router memory grew {growth_mib:.0f} MiB"
            assert await proxy.stop() == 0
            assert await router.stop() == 0
        assert await stored_digest(api_base, KEY_A) == (SIZE_MIB * MIB, digest.hexdigest())
