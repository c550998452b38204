"""Upload/download throughput and retrieve rate: direct to the fake upstream vs through the router.

Both servers run as their own processes on loopback, started here; the figures come from
one run so they compare like with like on a shared machine. Prints:

- upload and download MiB/s of a SIZE file, direct and routed, over ROUNDS alternating pairs
  (median and best), and routed/direct;
- the router's peak RSS growth during the transfers (VmHWM from /proc);
- files.retrieve requests/s with CONCURRENCY clients, direct and routed.

    python benchmarks/bench_files.py [--size-mib 1024] [--requests 3000] [--concurrency 32]
                                     [--rounds 3] [--no-sendfile]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import yaml

KEY = "sk-bench-upstream"
MASTER = "sk-bench-master"
CHUNK = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def fake_and_router(
    fake_args: list[str],
    config: dict[str, Any],
    tmp: Path,
    router_port: int,
    fake_env: dict[str, str] | None = None,
) -> Iterator[int]:
    """Run ``python -m aiohttp_files_router.fake *fake_args`` and a router serving ``config``
    on ``router_port``, each a process of its own; yields the router's pid, then stops both."""
    (tmp / "config.yaml").write_text(yaml.safe_dump(config))
    quiet = subprocess.DEVNULL
    fake = subprocess.Popen(
        [sys.executable, "-m", "aiohttp_files_router.fake", *fake_args],
        stdout=quiet,
        stderr=quiet,
        env=fake_env,
    )
    router = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiohttp_files_router",
            "--config",
            str(tmp / "config.yaml"),
            "--port",
            str(router_port),
            "--log-level",
            "WARNING",
        ],
        stdout=quiet,
        stderr=quiet,
    )
    try:
        yield router.pid
    finally:
        stop_all([router, fake])


def stop_all(procs: list[subprocess.Popen[bytes]], seconds: float = 10) -> None:
    """SIGTERM each, then SIGKILL what has not exited after ``seconds`` (a router drains
    an upload a failed run left open for up to its shutdown_timeout)."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


async def wait_ready(base: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(f"{base}/files"):
                    return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    raise RuntimeError(f"{base} did not come up")


async def body(size: int) -> AsyncIterator[bytes]:
    block = os.urandom(CHUNK)
    sent = 0
    while sent < size:
        piece = block[: min(CHUNK, size - sent)]
        sent += len(piece)
        yield piece


class SizedPayload(aiohttp.payload.AsyncIterablePayload):
    """A generated body of known size: sent with Content-Length, as the openai SDK sends files."""

    def __init__(self, chunks: AsyncIterator[bytes], size: int):
        super().__init__(chunks)
        self._size = size


async def upload(
    http: aiohttp.ClientSession, base: str, key: str, size: int, extra: dict[str, str]
) -> tuple[float, str]:
    with aiohttp.MultipartWriter("form-data") as form:
        # Random bytes, not batch rows: "batch" would meet the router's batch-file check.
        for name, value in {"purpose": "user_data", **extra}.items():
            form.append(value).set_content_disposition("form-data", name=name)
        part = form.append_payload(SizedPayload(body(size), size))
        part.set_content_disposition("form-data", name="file", filename="big.jsonl")
        start = time.perf_counter()
        async with http.post(
            f"{base}/files", data=form, headers={"Authorization": f"Bearer {key}"}
        ) as resp:
            obj = await resp.json()
            assert resp.status == 200, obj
        return time.perf_counter() - start, obj["id"]


async def download(http: aiohttp.ClientSession, base: str, key: str, file_id: str) -> float:
    start = time.perf_counter()
    got = 0
    async with http.get(
        f"{base}/files/{file_id}/content", headers={"Authorization": f"Bearer {key}"}
    ) as resp:
        assert resp.status == 200
        async for chunk in resp.content.iter_any():
            got += len(chunk)
    assert got > 0
    return time.perf_counter() - start


async def retrieve_rate(base: str, key: str, file_id: str, total: int, concurrency: int) -> float:
    left = total
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                async with http.get(
                    f"{base}/files/{file_id}", headers={"Authorization": f"Bearer {key}"}
                ) as resp:
                    assert resp.status == 200
                    await resp.read()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return total / (time.perf_counter() - start)


def _summary(label: str, mib: float, direct: list[float], routed: list[float]) -> None:
    rate_d = sorted(mib / t for t in direct)
    rate_r = sorted(mib / t for t in routed)
    med_d, med_r = statistics.median(rate_d), statistics.median(rate_r)
    print(
        f"{label}: direct median {med_d:7.1f} MiB/s (best {rate_d[-1]:7.1f})   router median "
        f"{med_r:7.1f} MiB/s (best {rate_r[-1]:7.1f})   ratio of medians {med_r / med_d:.2f}, "
        f"of bests {rate_r[-1] / rate_d[-1]:.2f}"
    )


async def measure(args: argparse.Namespace, direct: str, routed: str, router_pid: int) -> None:
    size = args.size_mib * 1024 * 1024
    await wait_ready(direct)
    await wait_ready(routed)
    rss_start = rss_kib(router_pid, "VmRSS")
    print(
        f"file size: {args.size_mib} MiB, {args.rounds} rounds alternating direct and routed; "
        f"router RSS at start {rss_start / 1024:.1f} MiB"
    )
    up_d, up_r, down_d, down_r = [], [], [], []
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=None), read_bufsize=4 * CHUNK
    ) as http:
        for _ in range(args.rounds):
            seconds, direct_id = await upload(http, direct, KEY, size, {})
            up_d.append(seconds)
            seconds, routed_id = await upload(http, routed, MASTER, size, {"model": "bench"})
            up_r.append(seconds)
            down_d.append(await download(http, direct, KEY, direct_id))
            down_r.append(await download(http, routed, MASTER, routed_id))
            for base, key, file_id in ((direct, KEY, direct_id), (routed, MASTER, routed_id)):
                async with http.delete(
                    f"{base}/files/{file_id}", headers={"Authorization": f"Bearer {key}"}
                ) as resp:
                    assert resp.status == 200
    peak = rss_kib(router_pid, "VmHWM")
    _summary("upload  ", args.size_mib, up_d, up_r)
    _summary("download", args.size_mib, down_d, down_r)
    print(f"router peak RSS growth over the transfers: {(peak - rss_start) / 1024:.1f} MiB")
    async with aiohttp.ClientSession() as http:
        _, small_direct = await upload(http, direct, KEY, 1024, {})
        _, small_routed = await upload(http, routed, MASTER, 1024, {"model": "bench"})
    rates_d, rates_r = [], []
    for _ in range(args.rounds):
        rates_d.append(
            await retrieve_rate(direct, KEY, small_direct, args.requests, args.concurrency)
        )
        rates_r.append(
            await retrieve_rate(routed, MASTER, small_routed, args.requests, args.concurrency)
        )
    med_d, med_r = statistics.median(rates_d), statistics.median(rates_r)
    print(
        f"files.retrieve x{args.requests} at {args.concurrency} concurrent: direct median "
        f"{med_d:8.0f} req/s   router median {med_r:8.0f} req/s   ratio {med_r / med_d:.2f}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="direct/routed pairs; the machine is shared, so medians are reported",
    )
    p.add_argument(
        "--no-sendfile",
        action="store_true",
        help="make the fake copy downloads in userspace, as the router must",
    )
    args = p.parse_args()
    fake_env = {**os.environ, **({"AIOHTTP_NOSENDFILE": "1"} if args.no_sendfile else {})}
    with tempfile.TemporaryDirectory() as tmp:
        fake_port, router_port = free_port(), free_port()
        direct = f"http://127.0.0.1:{fake_port}/v1"
        config = {
            "model_list": [
                {
                    "model_name": "bench",
                    "litellm_params": {
                        "model": "openai/gpt-4o",
                        "api_key": KEY,
                        "api_base": direct,
                    },
                }
            ],
            "general_settings": {"master_key": MASTER},
        }
        fake = [
            "--port",
            str(fake_port),
            "--key",
            f"{KEY}=bench",
            "--storage",
            str(Path(tmp) / "store"),
        ]
        with fake_and_router(fake, config, Path(tmp), router_port, fake_env) as router_pid:
            asyncio.run(measure(args, direct, f"http://127.0.0.1:{router_port}/v1", router_pid))


if __name__ == "__main__":
    main()
