"""Helpers for tests that run the real server process: start it, collect its log, stop it (and
nginx, configured from docs/nginx.conf, in front of it)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

SCRIPT = Path(sys.executable).with_name("aiohttp-files-router")
MIB = 1024 * 1024
NGINX_SITE = Path(__file__).parent.parent / "docs" / "nginx.conf"


@dataclass
class Served:
    proc: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    @property
    def log(self) -> str:
        return "".join(self.lines)

    async def wait_for_line(self, text: str, count: int = 1, timeout: float = 30) -> None:
        async def seen() -> None:
            while sum(text in line for line in self.lines) < count:
                assert self.proc.returncode is None or self.reader is not None
                await asyncio.sleep(0.05)

        try:
            await asyncio.wait_for(seen(), timeout)
        except TimeoutError:
            raise AssertionError(f"never saw {text!r} x{count} in:\n{self.log}") from None

    async def stop(self, timeout: float = 60, signal_it: bool = True) -> int:
        if signal_it and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        if self.reader is not None:
            await asyncio.wait_for(self.reader, 10)
        return code


async def _collect(served: Served) -> None:
    assert served.proc.stdout is not None
    while line := await served.proc.stdout.readline():
        served.lines.append(line.decode(errors="replace"))


@asynccontextmanager
async def running(
    *args: str,
    env: dict[str, str] | None = None,
    ready: str | None = "Running on",
    count: int = 1,
) -> AsyncIterator[Served]:
    # The server's temporary files (the supervisor's metrics directory) go in a directory of
    # the test's own, removed after it, whether the server cleaned up (a SIGKILL prevents it).
    scratch = tempfile.mkdtemp(prefix="files-router-test-")
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "TMPDIR": scratch, **(env or {})},
    )
    served = Served(proc)
    served.reader = asyncio.create_task(_collect(served))
    try:
        if ready is not None:
            await served.wait_for_line(ready, count)
        yield served
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        served.reader.cancel()
        shutil.rmtree(scratch, ignore_errors=True)


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


class SizedPayload(aiohttp.payload.AsyncIterablePayload):
    """A generated body of known size, sent with Content-Length like the openai SDK."""

    def __init__(self, chunks: AsyncIterator[bytes], size: int):
        super().__init__(chunks)
        self._size = size


def upload_form(
    chunks: AsyncIterator[bytes], size: int, model: str = "gpt-4o-litellm"
) -> aiohttp.MultipartWriter:
    form = aiohttp.MultipartWriter("form-data")
    for name, value in (("purpose", "batch"), ("model", model)):
        form.append(value).set_content_disposition("form-data", name=name)
    part = form.append_payload(SizedPayload(chunks, size))
    part.set_content_disposition("form-data", name="file", filename="big.jsonl")
    return form


def block(i: int) -> bytes:
    """1 MiB of JSONL-ish bytes that differ per block, so a lost or repeated block shows."""
    line = (f'{{"n": {i:012d}}}' + " " * 44 + "\n").encode()  # 64 bytes
    return line * (MIB // len(line))


async def generated(
    size_mib: int, digest: Any, sent: list[int], pause: float = 0.0
) -> AsyncIterator[bytes]:
    for i in range(size_mib):
        chunk = block(i)
        digest.update(chunk)
        sent[0] += len(chunk)
        yield chunk
        if pause:
            await asyncio.sleep(pause)


def sha256() -> Any:
    return hashlib.sha256()


@asynccontextmanager
async def fake_upstream(tmp: Path, key: str, account: str = "a") -> AsyncIterator[str]:
    """The fake OpenAI account as its own process (big bodies stay out of the test's loop);
    yields its /v1 base URL."""
    from .common import free_port

    port = free_port()
    async with running(
        sys.executable,
        "-m",
        "aiohttp_files_router.fake",
        "--port",
        str(port),
        "--key",
        f"{key}={account}",
        "--storage",
        str(tmp / "upstream-store"),
    ) as served:
        yield f"http://127.0.0.1:{port}/v1"
        await served.stop()


def config_for(api_base: str, key: str, master: str, **files_router: Any) -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": "gpt-4o-litellm",
                "litellm_params": {"model": "openai/gpt-4o", "api_key": key, "api_base": api_base},
            }
        ],
        "general_settings": {"master_key": master},
        # The generated files are JSONL-shaped, not batch rows: the router's check is off.
        "files_router": {"validate_batch_files": False, **files_router},
    }


async def stored_digest(api_base: str, key: str) -> tuple[int, str]:
    """Size and sha256 of the one file the fake account holds."""
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{api_base}/files", headers=headers) as resp:
            (stored,) = (await resp.json())["data"]
        got = hashlib.sha256()
        async with http.get(f"{api_base}/files/{stored['id']}/content", headers=headers) as resp:
            async for chunk in resp.content.iter_chunked(MIB):
                got.update(chunk)
    return stored["bytes"], got.hexdigest()


@asynccontextmanager
async def serving(*args: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, list[str]]]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
            assert line, "server exited early:\n" + "".join(lines)
            lines.append(line)
            if "Running on" in line:
                break
        yield proc, lines
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


def nginx_config(prefix: Path, listen: int, router: int) -> Path:
    prefix.mkdir()
    for path in (prefix, prefix.parent):  # nginx's workers run as nobody
        path.chmod(0o755)
    site = NGINX_SITE.read_text()
    site = site.replace("server 127.0.0.1:4000;", f"server 127.0.0.1:{router};")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{listen};")
    assert f":{listen};" in site and f":{router};" in site
    (prefix / "site.conf").write_text(site)
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"""
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    include {prefix}/site.conf;
}}
"""
    )
    return conf
