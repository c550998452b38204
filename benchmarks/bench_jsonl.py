"""Batch JSONL uploads that the router rewrites line by line (Azure's body.model).

Uploads SIZE MiB of OpenAI batch rows to a fake Azure resource directly (no rewrite) and
through the router (every row's body.model set to the deployment), in one run, and prints
both throughputs and the router's peak RSS growth. The fake and the router run as their own
processes on loopback.

    python benchmarks/bench_jsonl.py [--size-mib 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from bench_files import fake_and_router, free_port, rss_kib

KEY = "azure-bench-key"
MASTER = "sk-bench-master"
DEPLOYMENT = "bench-deployment"


def rows_block(start: int, count: int) -> bytes:
    return b"".join(
        json.dumps(
            {
                "custom_id": f"r{i}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {
                    "model": "gpt-4o",
                    "max_tokens": 64,
                    "messages": [
                        {"role": "system", "content": "You are terse."},
                        {"role": "user", "content": f"Summarise item {i}: " + "lorem " * 40},
                    ],
                },
            }
        ).encode()
        + b"\n"
        for i in range(start, start + count)
    )


async def body(size: int) -> AsyncIterator[bytes]:
    # Built once and repeated: the client must not be what limits the measurement.
    block = rows_block(0, 2000)
    sent = 0
    while sent < size:
        sent += len(block)
        yield block


async def wait_ready(url: str, headers: dict[str, str]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(url, headers=headers):
                    return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


async def upload(
    url: str, headers: dict[str, str], size: int, fields: dict[str, str]
) -> tuple[float, dict[str, object]]:
    """A multipart upload of SIZE bytes of batch rows; (seconds, the File object)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as http:
        with aiohttp.MultipartWriter("form-data") as form:
            for name, value in {**fields, "purpose": "batch"}.items():
                form.append(value).set_content_disposition("form-data", name=name)
            part = form.append_payload(aiohttp.payload.AsyncIterablePayload(body(size)))
            part.set_content_disposition("form-data", name="file", filename="rows.jsonl")
            start = time.perf_counter()
            async with http.post(url, data=form, headers=headers) as resp:
                answer = await resp.json()
                assert resp.status == 200, answer
            return time.perf_counter() - start, answer


async def measure(size_mib: int, azure: str, routed: str, router_pid: int) -> None:
    direct_headers = {"api-key": KEY}
    routed_headers = {"Authorization": f"Bearer {MASTER}"}
    await wait_ready(f"{azure}/openai/files?api-version=2024-10-21", direct_headers)
    await wait_ready(f"{routed}/files?model=azure-bench", routed_headers)
    size = size_mib * 1024 * 1024
    rss_start = rss_kib(router_pid, "VmRSS")
    direct, _ = await upload(
        f"{azure}/openai/files?api-version=2024-10-21", direct_headers, size, {}
    )
    through, _ = await upload(f"{routed}/files", routed_headers, size, {"model": "azure-bench"})
    peak = rss_kib(router_pid, "VmHWM")
    print(
        f"{size_mib} MiB batch JSONL: direct {size_mib / direct:7.1f} MiB/s   "
        f"router (body.model rewrite) {size_mib / through:7.1f} MiB/s   "
        f"ratio {direct / through:.2f}"
    )
    print(
        f"router peak RSS growth: {(peak - rss_start) / 1024:.1f} MiB "
        f"(start {rss_start / 1024:.1f} MiB)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size-mib", type=int, default=100)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fake_port, router_port = free_port(), free_port()
        azure = f"http://127.0.0.1:{fake_port}"
        config = {
            "model_list": [
                {
                    "model_name": "azure-bench",
                    "litellm_params": {
                        "model": f"azure/{DEPLOYMENT}",
                        "api_key": KEY,
                        "api_base": azure,
                        "api_version": "2024-10-21",
                    },
                }
            ],
            "general_settings": {"master_key": MASTER},
        }
        fake = [
            "--flavour",
            "azure",
            "--port",
            str(fake_port),
            "--key",
            f"{KEY}=bench",
            "--deployment",
            DEPLOYMENT,
            "--storage",
            str(Path(tmp) / "store"),
        ]
        with fake_and_router(fake, config, Path(tmp), router_port) as router_pid:
            asyncio.run(
                measure(args.size_mib, azure, f"http://127.0.0.1:{router_port}/v1", router_pid)
            )


if __name__ == "__main__":
    main()
