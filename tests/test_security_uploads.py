"""Upload parsing under attack: bounded in memory and time before any account is chosen."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from aiohttp_files_router.fake import FakeOpenAI

from .conftest import MASTER, error_of

AUTH = {"Authorization": f"Bearer {MASTER}"}
BOUNDARY = "xXbOuNdArYXx"
CTYPE = f"multipart/form-data; boundary={BOUNDARY}"


def _rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def many_fields(count: int, size: int = 100) -> bytes:
    part = '--{b}\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\n{v}\r\n'
    body = "".join(part.format(b=BOUNDARY, i=i, v="x" * size) for i in range(count))
    return (body + f"--{BOUNDARY}--\r\n").encode()


def tiny_parts(count: int) -> bytes:
    return f"--{BOUNDARY}\r\n\r\n\r\n".encode() * count + f"--{BOUNDARY}--\r\n".encode()


async def attack(
    router: TestServer, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any], int, list[float]]:
    """Send ``body``; meanwhile sample RSS and time ordinary requests from another client."""
    base = _rss()
    peak = base
    latencies: list[float] = []
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss())
            await asyncio.sleep(0.005)

    async def neighbour(http: aiohttp.ClientSession) -> None:
        while not done.is_set():
            start = time.monotonic()
            async with http.get(
                router.make_url("/v1/files?model=gpt-4o-litellm"), headers=AUTH
            ) as resp:
                assert resp.status == 200
            latencies.append(time.monotonic() - start)
            await asyncio.sleep(0.01)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 16 * 1024):
            yield body[i : i + 16 * 1024]
            await asyncio.sleep(0)

    async with aiohttp.ClientSession() as http, aiohttp.ClientSession() as other:
        tasks = [asyncio.create_task(sample()), asyncio.create_task(neighbour(other))]
        await asyncio.sleep(0.05)
        try:
            async with http.post(
                router.make_url("/v1/files"),
                data=chunks(),
                headers={**AUTH, "Content-Type": CTYPE, **headers},
            ) as resp:
                status, answer = resp.status, await resp.json()
            await asyncio.sleep(0.05)
        finally:
            done.set()
            await asyncio.gather(*tasks)
    return status, answer, peak - base, latencies


async def test_gzip_body_of_16000_fields_is_refused_without_inflating(
    router: TestServer, fake: FakeOpenAI
) -> None:
    raw = many_fields(16_000)
    body = gzip.compress(raw)
    status, answer, growth, latencies = await attack(router, body, {"Content-Encoding": "gzip"})
    assert status == 415, answer
    assert "Content-Encoding" in error_of(answer)["message"]
    assert growth < 32 * 1024 * 1024, growth
    assert latencies and max(latencies) < 1.0, latencies
    assert not any(r.method == "POST" for r in fake.requests)


async def test_16000_plain_fields_stop_at_the_field_cap(
    router: TestServer, fake: FakeOpenAI
) -> None:
    status, answer, growth, latencies = await attack(router, many_fields(16_000), {})
    assert status == 400, answer
    assert "more than 16 fields" in error_of(answer)["message"]
    assert growth < 32 * 1024 * 1024, growth
    assert latencies and max(latencies) < 1.0, latencies


async def test_300000_tiny_parts_do_not_block_other_requests(router: TestServer) -> None:
    started = time.monotonic()
    status, answer, growth, latencies = await attack(router, tiny_parts(300_000), {})
    assert status == 400, answer
    assert time.monotonic() - started < 10
    assert growth < 32 * 1024 * 1024, growth
    assert latencies and max(latencies) < 1.0, latencies
    # The same body compressed (45 KiB on the wire) is refused before it is inflated.
    status, answer, _, _ = await attack(
        router, gzip.compress(tiny_parts(300_000)), {"Content-Encoding": "gzip"}
    )
    assert status == 415, answer


async def post_raw(router: TestServer, body: bytes) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            router.make_url("/v1/files?model=gpt-4o-litellm"),
            data=body,
            headers={**AUTH, "Content-Type": CTYPE},
        ) as resp,
    ):
        return resp.status, await resp.json()


def one_part(headers: str, value: bytes = b"batch") -> bytes:
    return (
        f"--{BOUNDARY}\r\n{headers}\r\n\r\n".encode() + value + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


async def test_folded_and_oversized_part_headers_are_400(router: TestServer) -> None:
    folded = one_part('Content-Disposition: form-data;\r\n name="purpose"')
    status, answer = await post_raw(router, folded)
    assert status == 400 and "folded" in error_of(answer)["message"], answer

    big = one_part('Content-Disposition: form-data; name="purpose"\r\nX-Pad: ' + "a" * 20_000)
    status, answer = await post_raw(router, big)
    assert status == 400 and "headers are longer" in error_of(answer)["message"], answer

    huge = one_part('Content-Disposition: form-data; name="purpose"\r\nX-Pad: ' + "a" * 400_000)
    status, answer = await post_raw(router, huge)
    assert status == 400 and "headers are longer" in error_of(answer)["message"], answer

    many = one_part(
        'Content-Disposition: form-data; name="purpose"\r\n'
        + "\r\n".join(f"X-H{i}: v" for i in range(40))
    )
    status, answer = await post_raw(router, many)
    assert status == 400 and "more than 16 headers" in error_of(answer)["message"], answer

    broken = one_part('Content-Disposition: form-data; name="purpose"\r\nno colon here')
    status, answer = await post_raw(router, broken)
    assert status == 400 and "malformed header" in error_of(answer)["message"], answer


async def test_field_names_and_total_field_bytes_are_capped(router: TestServer) -> None:
    long_name = one_part(f'Content-Disposition: form-data; name="{"n" * 200}"')
    status, answer = await post_raw(router, long_name)
    assert status == 400 and "name of 1 to 128" in error_of(answer)["message"], answer

    # Each field under its own cap (64 KiB), three of them over the total (128 KiB).
    status, answer = await post_raw(router, many_fields(3, 60_000))
    assert status == 400 and "together" in error_of(answer)["message"], answer
