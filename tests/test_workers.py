"""--workers N under our supervisor, and the same app under gunicorn's aiohttp worker."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from aiohttp_files_router.supervisor import (
    BOOT_FAILED,
    MAX_RESTART_DELAY,
    RESTART_DELAY,
    STABLE_AFTER,
    Backoff,
)

from .common import free_port
from .conftest import MASTER, base_config
from .metrics import samples, value
from .production import SCRIPT, Served, running, write_config

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
        # In the test's own temporary directory (production.running): never left in /tmp.
        assert "/files-router-test-" in metrics_dir
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
        await served.wait_for_line(f"worker pid {pids[0]} exited with -9 after serving")
        await served.wait_for_line("Running on", 3)
        for _ in range(10):
            status, _ = await fresh_get(f"{base}/health/readiness")
            assert status == 200
        workers = [int(p) for p in re.findall(r"Running on .* \(pid (\d+)\)", served.log)][1:]
        assert await served.stop() == 0, served.log
    assert not any(alive(pid) for pid in workers)
    assert counter_files(metrics_dir) == -1
    assert "Traceback" not in served.log


def logged_at(log: str, text: str, nth: int = 0) -> tuple[datetime, str]:
    """The time stamp (the standalone server's text format) and the line of the nth line
    holding ``text``."""
    line = [x for x in log.splitlines() if text in x][nth]
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f"), line


def started_pids(log: str) -> list[int]:
    return [int(p) for p in re.findall(r"worker pid (\d+) started", log)]


def serving_pids(log: str) -> list[int]:
    """The workers that said they listen, in order."""
    return [int(p) for p in re.findall(r"Running on .* \(pid (\d+)\)", log)]


@asynccontextmanager
async def two_workers(tmp_path: Path, upstream: TestServer) -> AsyncIterator[tuple[Served, Path]]:
    """``--workers 2`` serving, once both listen; with the config file's path."""
    config = write_config(tmp_path / "config.yaml", base_config(upstream))
    args = (str(SCRIPT), "--config", str(config), "--port", str(free_port()), "--workers", "2")
    async with running(*args, count=2) as served:
        yield served, config


async def test_a_worker_that_cannot_boot_stops_the_server(
    tmp_path: Path, upstream: TestServer
) -> None:
    """The port is taken by a program without SO_REUSEPORT: no worker can listen, and
    starting them again would fail the same way, so the supervisor exits at once."""
    config = write_config(tmp_path / "config.yaml", base_config(upstream))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = (str(SCRIPT), "--config", str(config), "--port", str(port), "--workers", "2")
        async with running(*args, ready=None) as served:
            assert await served.stop(timeout=30, signal_it=False) == BOOT_FAILED, served.log
    log = served.log
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in log
    (failed,) = [x for x in log.splitlines() if "failed to boot" in x]
    assert re.search(
        r"ERROR .*worker pid \d+ failed to boot \(exited with 1 before it was ready\): "
        r"stopping the server, exit code 3$",
        failed,
    ), failed
    assert "starting another" not in log and "Running on" not in log
    assert len(started_pids(log)) == 2 and not any(alive(pid) for pid in started_pids(log))
    (metrics_dir,) = re.findall(r"metrics in (\S+)", log)
    assert counter_files(metrics_dir) == -1
    assert "Traceback" not in log


async def test_a_worker_dying_quickly_is_restarted_later_each_time_until_one_fails_to_boot(
    tmp_path: Path, upstream: TestServer
) -> None:
    async with two_workers(tmp_path, upstream) as (served, config):
        first, second = serving_pids(served.log)
        # One slot's worker dies twice in a row soon after it started serving: the second
        # replacement waits twice as long as the first.
        victim = first
        for death, delay in enumerate((RESTART_DELAY, 2 * RESTART_DELAY)):
            os.kill(victim, signal.SIGKILL)
            exited = f"worker pid {victim} exited with -9 after serving"
            await served.wait_for_line(exited)
            await served.wait_for_line("Running on", 3 + death)
            died, line = logged_at(served.log, exited)
            assert line.endswith(f"starting another in {delay:g}s"), line
            restarted, _ = logged_at(served.log, "started", 2 + death)
            assert (restarted - died).total_seconds() >= delay - 0.05, served.log
            victim = serving_pids(served.log)[-1]
        base = re.findall(r"Running on (http://\S+)", served.log)[-1]
        assert (await fresh_get(f"{base}/health/readiness"))[0] == 200
        # The config breaks under the running server; the next replacement cannot load it,
        # fails to boot, and the supervisor stops the worker still serving.
        config.write_text("model_list: [unclosed\n")
        os.kill(second, signal.SIGKILL)
        assert await served.stop(timeout=30, signal_it=False) == BOOT_FAILED, served.log
    log = served.log
    assert f"worker pid {second} exited with -9 after serving" in log
    (failed,) = [x for x in log.splitlines() if "failed to boot" in x]
    assert "(exited with 2 before it was ready)" in failed, failed
    assert started_pids(log)[-1] == int(re.findall(r"worker pid (\d+) failed", log)[0])
    assert not any(alive(pid) for pid in started_pids(log))
    assert "Traceback" not in log


async def test_workers_drain_and_exit_when_the_supervisor_is_killed(
    tmp_path: Path, upstream: TestServer
) -> None:
    async with two_workers(tmp_path, upstream) as (served, _):
        workers = serving_pids(served.log)
        served.proc.kill()  # SIGKILL: the supervisor can pass nothing on
        await served.wait_for_line(
            f"the supervisor (pid {served.proc.pid}) is gone: stopping", 2, timeout=15
        )
        for _ in range(100):
            if not any(alive(pid) for pid in workers):
                break
            await asyncio.sleep(0.1)
        assert not any(alive(pid) for pid in workers), served.log
    assert "Traceback" not in served.log


def test_backoff_doubles_while_a_worker_keeps_dying_quickly_and_resets_once_it_stays_up() -> None:
    backoff = Backoff()
    quick = STABLE_AFTER / 2
    delays = [backoff.after_death(quick) for _ in range(8)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert (delays[0], max(delays)) == (RESTART_DELAY, MAX_RESTART_DELAY)
    assert backoff.after_death(STABLE_AFTER) == 0.0  # it had stayed up: replaced at once
    assert backoff.after_death(quick) == RESTART_DELAY


@pytest.mark.parametrize("access_logfile", [True, False], ids=["access-logfile", "no-access-log"])
async def test_gunicorn_runs_the_app_factory(
    tmp_path: Path, upstream: TestServer, access_logfile: bool
) -> None:
    settings = base_config(upstream)
    unset = {"model": "openai/gpt-4o", "api_key": "os.environ/FILES_ROUTER_TEST_UNSET_KEY"}
    settings["model_list"].append({"model_name": "no-key", "litellm_params": unset})
    config = write_config(tmp_path / "config.yaml", settings)
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
    # The router's own warnings in gunicorn's error log, in its format (once per worker).
    unusable = r"\] \[WARNING\] account no-key .*FILES_ROUTER_TEST_UNSET_KEY is not set"
    assert len(re.findall(unusable, served.log)) == 2, served.log
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


async def test_one_process_on_a_taken_port_says_so_in_one_line(
    tmp_path: Path, upstream: TestServer
) -> None:
    config = write_config(tmp_path / "config.yaml", base_config(upstream))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            str(SCRIPT),
            "--config",
            str(config),
            "--port",
            str(port),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1 and out == b""
    assert err == f"aiohttp-files-router: cannot listen on 127.0.0.1:{port}: ".encode() + (
        b"Address already in use\n"
    )
