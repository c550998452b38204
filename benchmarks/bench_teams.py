"""What team ownership costs: an owned-ID call, and a filtered listing.

One process: the fake OpenAI upstream and the router on loopback, driven with aiohttp. Team A
uploads FILES files, team B one (listed after them, newest first). Prints:

- files.retrieve by ID: mean ms per call, for team A's key (ID owner checked) and the master
  key (no check), and the upstream calls each made (one: the check makes none);
- files.list for team B, walking every page with ``limit`` LIMIT and the default bound of
  ``list_scan_pages`` (10): requests, upstream pages read, ms per request; and the admin's
  one page of the same size for comparison.

    python benchmarks/bench_teams.py [--files 1000] [--limit 100] [--calls 500]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from aiohttp_files_router import create_app, parse_config
from aiohttp_files_router.fake import FakeOpenAI

UPSTREAM_KEY = "sk-bench-upstream"
MASTER, TEAM_A, TEAM_B = "sk-bench-master", "sk-bench-a", "sk-bench-b"
ROW = (
    b'{"custom_id": "r", "method": "POST", "url": "/v1/chat/completions", '
    b'"body": {"model": "gpt-4o", "messages": []}}\n'
)


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def main(files: int, limit: int, calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fake = FakeOpenAI({UPSTREAM_KEY: "bench"}, storage=Path(tmp))
        fake_runner, fake_url = await serve(fake.app())
        config = parse_config(
            {
                "model_list": [
                    {
                        "model_name": "m",
                        "litellm_params": {
                            "model": "openai/gpt-4o",
                            "api_key": UPSTREAM_KEY,
                            "api_base": f"{fake_url}/v1",
                        },
                    }
                ],
                "general_settings": {"master_key": MASTER},
                "files_router": {
                    "id_secret": "bench-secret",
                    "keys": [{"key": TEAM_A, "team": "a"}, {"key": TEAM_B, "team": "b"}],
                },
            }
        )
        runner, url = await serve(create_app(config))
        try:
            await bench(url, fake, files, limit, calls)
        finally:
            await runner.cleanup()
            await fake_runner.cleanup()


async def bench(url: str, fake: FakeOpenAI, files: int, limit: int, calls: int) -> None:
    async with aiohttp.ClientSession() as http:

        def auth(key: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {key}"}

        async def upload(key: str) -> str:
            form = aiohttp.FormData()
            form.add_field("purpose", "batch")
            form.add_field("model", "m")
            form.add_field("file", ROW, filename="rows.jsonl")
            async with http.post(f"{url}/files", data=form, headers=auth(key)) as resp:
                body: dict[str, Any] = await resp.json()
                return str(body["id"])

        await upload(TEAM_B)
        gate = asyncio.Semaphore(16)

        async def one() -> str:
            async with gate:
                return await upload(TEAM_A)

        ids = await asyncio.gather(*(one() for _ in range(files)))
        for key, name in ((TEAM_A, "team key (owner checked)"), (MASTER, "master key")):
            before = len(fake.requests)
            start = time.perf_counter()
            for _ in range(calls):
                async with http.get(f"{url}/files/{ids[0]}", headers=auth(key)) as resp:
                    assert resp.status == 200
                    await resp.read()
            ms = (time.perf_counter() - start) / calls * 1000
            per = (len(fake.requests) - before) / calls
            print(f"files.retrieve, {name}: {ms:.2f} ms per call, {per:.0f} upstream call each")

        before = len(fake.requests)
        requests, found, after = 0, 0, None
        start = time.perf_counter()
        while True:
            query = {"model": "m", "limit": str(limit)}
            if after:
                query["after"] = after
            async with http.get(f"{url}/files", params=query, headers=auth(TEAM_B)) as resp:
                page = await resp.json()
            requests += 1
            found += len(page["data"])
            if not page["has_more"]:
                break
            after = page["last_id"]
        took = time.perf_counter() - start
        pages = len(fake.requests) - before
        print(
            f"files.list, team B behind {files} of team A's (limit {limit}): {requests} requests, "
            f"{pages} upstream pages, {took / requests * 1000:.1f} ms per request, found {found}"
        )
        start = time.perf_counter()
        async with http.get(
            f"{url}/files", params={"model": "m", "limit": str(limit)}, headers=auth(MASTER)
        ) as resp:
            await resp.read()
        took = time.perf_counter() - start
        print(f"files.list, admin, one page of {limit}: {took * 1000:.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main(args.files, args.limit, args.calls))
