"""What the router costs in CPU, read from /proc, with the access log on at INFO.

- the access log line alone: aiohttp's default AccessLogger vs ours (text and json), per call;
- router CPU per ``files.retrieve``: the router's utime+stime over a run of requests, divided
  by the requests (targets: at most 140 microseconds);
- router CPU per GiB uploaded vs the fake upstream's own CPU per GiB receiving the same upload
  directly (target: at most 1.3 times);
- the same with ``--workers 2`` (the workers' CPU summed).

Each figure is the median of ROUNDS; direct and routed runs alternate within a round.

    python benchmarks/bench_production.py [--rounds 5] [--requests 3000] [--size-mib 512]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp.test_utils import make_mocked_request
from aiohttp.web_log import AccessLogger as AiohttpAccessLogger

sys.path.insert(0, str(Path(__file__).parent))
from bench_files import KEY, MASTER, free_port, retrieve_rate, stop_all, upload, wait_ready

from aiohttp_files_router.accesslog import AccessLogger
from aiohttp_files_router.context import REQUEST_INFO_KEY, RequestInfo

TICK = os.sysconf("SC_CLK_TCK")
GIB = 1024**3


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()]


def bench_access_log(calls: int) -> None:
    request = make_mocked_request(
        "GET", "/v1/files/file-abc", headers={"User-Agent": "bench", "Referer": "-"}
    )
    info = RequestInfo("0123456789abcdef0123456789abcdef", time.perf_counter())
    info.route, info.model, info.account = "/v1/files/{file_id}", "bench", "bench"
    info.upstream_status, info.upstream_seconds, info.upstream_request_id = 200, 0.001, "req_x"
    request[REQUEST_INFO_KEY] = info

    class Resp:  # what the loggers read of a response
        status = 200
        body_length = 312
        headers: dict[str, str] = {}

    response = Resp()
    results = {}
    for name, make in (
        ("aiohttp default", lambda lg: AiohttpAccessLogger(lg, AiohttpAccessLogger.LOG_FORMAT)),
        ("ours, text", lambda lg: AccessLogger(lg, "text")),
        ("ours, json", lambda lg: AccessLogger(lg, "json")),
    ):
        logger = logging.getLogger(f"bench.access.{name}")
        logger.propagate = False
        logger.handlers = [logging.StreamHandler(io.StringIO())]
        logger.setLevel(logging.INFO)
        access = make(logger)
        rounds = []
        for _ in range(5):
            start = time.process_time()
            for _ in range(calls):
                access.log(request, response, 0.0012)  # type: ignore[arg-type]
            rounds.append((time.process_time() - start) / calls * 1e6)
        results[name] = statistics.median(rounds)
    base = results["aiohttp default"]
    for name, us in results.items():
        print(f"access log line, {name:15}: {us:5.2f} us/call ({us / base:.2f} of aiohttp's)")


def bench_config(direct: str) -> dict[str, Any]:
    """One OpenAI account, ``bench``, at the fake's ``direct`` base URL; the master key."""
    return {
        "model_list": [
            {
                "model_name": "bench",
                "litellm_params": {"model": "openai/gpt-4o", "api_key": KEY, "api_base": direct},
            }
        ],
        "general_settings": {"master_key": MASTER},
    }


@contextmanager
def processes(tmp: Path, workers: int) -> Iterator[tuple[str, str, int, int]]:
    fake_port, router_port = free_port(), free_port()
    direct = f"http://127.0.0.1:{fake_port}/v1"
    (tmp / "config.yaml").write_text(yaml.safe_dump(bench_config(direct)))
    quiet = subprocess.DEVNULL
    fake = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiohttp_files_router.fake",
            "--port",
            str(fake_port),
            "--key",
            f"{KEY}=bench",
            "--storage",
            str(tmp / "store"),
        ],
        stdout=quiet,
        stderr=quiet,
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
            "INFO",
            "--workers",
            str(workers),
        ],
        stdout=quiet,
        stderr=quiet,
    )
    try:
        yield direct, f"http://127.0.0.1:{router_port}/v1", fake.pid, router.pid
    finally:
        stop_all([router, fake])


def router_cpu(pid: int, workers: int) -> float:
    if workers == 1:
        return cpu_seconds(pid)
    return sum(cpu_seconds(p) for p in children(pid))


async def measure(args: argparse.Namespace, workers: int) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        processes(Path(tmp), workers) as (
            direct,
            routed,
            fake_pid,
            router_pid,
        ),
    ):
        await wait_ready(direct)
        await wait_ready(routed)
        await asyncio.sleep(1)
        async with aiohttp.ClientSession() as http:
            _, file_id = await upload(
                http, routed, MASTER, 1024, {"model": "bench", "purpose": "user_data"}
            )
        per_req, rates = [], []
        for _ in range(args.rounds):
            before = router_cpu(router_pid, workers)
            rate = await retrieve_rate(routed, MASTER, file_id, args.requests, args.concurrency)
            per_req.append((router_cpu(router_pid, workers) - before) / args.requests * 1e6)
            rates.append(rate)
        print(
            f"--workers {workers}: router CPU per files.retrieve median "
            f"{statistics.median(per_req):6.1f} us "
            f"(rounds {', '.join(f'{x:.0f}' for x in per_req)})"
            f"; {statistics.median(rates):6.0f} req/s at {args.concurrency} concurrent"
        )
        size = args.size_mib * 1024 * 1024
        ratios, routed_gib, direct_gib = [], [], []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as http:
            for _ in range(args.rounds):
                before = cpu_seconds(fake_pid)
                _, did = await upload(http, direct, KEY, size, {"purpose": "user_data"})
                fake_cost = (cpu_seconds(fake_pid) - before) / (size / GIB)
                before = router_cpu(router_pid, workers)
                _, rid = await upload(
                    http, routed, MASTER, size, {"model": "bench", "purpose": "user_data"}
                )
                router_cost = (router_cpu(router_pid, workers) - before) / (size / GIB)
                direct_gib.append(fake_cost)
                routed_gib.append(router_cost)
                ratios.append(router_cost / fake_cost)
                for base, key, fid in ((direct, KEY, did), (routed, MASTER, rid)):
                    async with http.delete(
                        f"{base}/files/{fid}", headers={"Authorization": f"Bearer {key}"}
                    ) as resp:
                        assert resp.status == 200
        print(
            f"--workers {workers}: upload of {args.size_mib} MiB: upstream CPU per GiB received "
            f"directly median {statistics.median(direct_gib):.2f} s; router CPU per GiB median "
            f"{statistics.median(routed_gib):.2f} s; ratio median "
            f"{statistics.median(ratios):.2f} (rounds {', '.join(f'{x:.2f}' for x in ratios)})"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--size-mib", type=int, default=512)
    p.add_argument("--access-log-calls", type=int, default=20000)
    args = p.parse_args()
    bench_access_log(args.access_log_calls)
    for workers in (1, 2):
        asyncio.run(measure(args, workers))


if __name__ == "__main__":
    main()
