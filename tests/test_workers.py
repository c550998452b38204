"""--workers N under our supervisor, and the same app under gunicorn's aiohttp worker."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from .conftest import MASTER, base_config
from .production import SCRIPT, running, write_config
from .test_cli import free_port
from .test_observability import samples, value

AUTH = {"Authorization": f"Bearer {MASTER}"}
GUNICORN = Path(sys.executable).with_name("gunicorn")


async def fresh_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """One request on a new connection, so SO_REUSEPORT may hand it to any worker."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        async with http.get(url, headers=headers) as resp:
            return resp.status, await resp.text()


def counter_files(metrics_dir: str) -> int:
    """How many processes wrote counters to the shared directory; -1 once it is gone."""
    path = Path(metrics_dir)
    return len(list(path.glob("counter_*.db"))) if path.exists() else -1


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()


async def test_workers_share_a_port_and_metrics_restart_and_stop_on_sigterm(
    tmp_path: Path, upstream: TestServer
) -> None:
    config = write_config(tmp_path / "config.yaml", base_config(upstream))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = (str(SCRIPT), "--config", str(config), "--port", str(port), "--workers", "2")
    async with running(*args, count=2) as served:
        pids = [int(p) for p in re.findall(r"Running on .* \(pid (\d+)\)", served.log)]
        assert len(set(pids)) == 2 and served.proc.pid not in pids
        (metrics_dir,) = re.findall(r"metrics in (\S+)", served.log)
        for _ in range(30):
            status, _ = await fresh_get(f"{base}/v1/files?model=gpt-4o-litellm", AUTH)
            assert status == 200
        assert counter_files(metrics_dir) == 2, "one worker served all"
        for _ in range(6):  # whichever worker answers, it reports both
            status, text = await fresh_get(f"{base}/metrics", AUTH)
            assert status == 200
            found = samples(text)
            assert value(found, "files_router_requests_total", route="/v1/files") == 30

        os.kill(pids[0], signal.SIGKILL)
        await served.wait_for_line(f"worker pid {pids[0]} exited with -9: starting another")
        await served.wait_for_line("Running on", 3)
        for _ in range(10):
            status, _ = await fresh_get(f"{base}/health/readiness")
            assert status == 200
        workers = [int(p) for p in re.findall(r"Running on .* \(pid (\d+)\)", served.log)][1:]
        assert await served.stop() == 0, served.log
    assert not any(alive(pid) for pid in workers)
    assert counter_files(metrics_dir) == -1
    assert "Traceback" not in served.log


@pytest.mark.parametrize("access_logfile", [True, False], ids=["access-logfile", "no-access-log"])
async def test_gunicorn_runs_the_app_factory(
    tmp_path: Path, upstream: TestServer, access_logfile: bool
) -> None:
    config = write_config(tmp_path / "config.yaml", base_config(upstream))
    port = free_port()
    async with running(
        str(GUNICORN),
        "aiohttp_files_router.serve:app_factory",
        "--worker-class",
        "aiohttp.GunicornWebWorker",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--graceful-timeout",
        "70",
        *(["--access-logfile", "-"] if access_logfile else []),
        env={"FILES_ROUTER_CONFIG": str(config)},
        ready="Booting worker",
        count=2,
    ) as served:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                status, body = await fresh_get(f"{base}/health/liveliness")
                break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
        assert (status, body) == (200, '{"status":"ok"}')
        async with aiohttp.ClientSession() as http:
            async with http.get(
                f"{base}/v1/files?model=gpt-4o-litellm",
                headers={**AUTH, "X-Request-Id": "via-gunicorn"},
            ) as resp:
                assert resp.status == 200
                assert resp.headers["X-Request-Id"] == "via-gunicorn"
                assert (await resp.json())["object"] == "list"
        # The router's own access line, in gunicorn's access log when gunicorn keeps one.
        line = (
            r"^via-gunicorn GET /v1/files 200 in=0 out=\d+ [\d.]+ms model=gpt-4o-litellm "
            r"account=gpt-4o-litellm upstream=200 [\d.]+ms upstream_id=\S+$"
        )
        if access_logfile:
            await served.wait_for_line("via-gunicorn GET /v1/files 200")
            assert re.search(line, served.log, re.MULTILINE), served.log
        assert await served.stop() == 0, served.log
    if not access_logfile:
        assert "via-gunicorn" not in served.log and "/health/" not in served.log, served.log
    assert "Traceback" not in served.log


async def test_demo_refuses_several_workers() -> None:
    proc = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        "--demo",
        "--workers",
        "2",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2 and b"--demo runs one process" in err
