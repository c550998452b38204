"""A fan-out upload (``target_model_names`` naming two deployments) next to a single upload.

One fake upstream process serves two accounts (the two deployments); a router process runs
in front. Each mode gets a fresh router so its peak RSS (VmHWM from /proc) is its own.
Prints the median upload time of ROUNDS uploads of SIZE MiB and the router's peak RSS.

    python benchmarks/bench_fanout.py [--size-mib 256] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
from bench_files import fake_and_router, free_port, rss_kib, upload, wait_ready

KEYS = ("sk-bench-one", "sk-bench-two")
MASTER = "sk-bench-master"


def config(direct: str) -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": "bench",
                "litellm_params": {"model": "openai/gpt-4o", "api_key": key, "api_base": direct},
                "model_info": {"id": f"bench-{n}"},
            }
            for n, key in enumerate(KEYS, 1)
        ],
        "general_settings": {"master_key": MASTER},
        # Random bytes are no batch file; the upload path measured is the same either way.
        "files_router": {"validate_batch_files": False},
    }


async def run(direct: str, base: str, size: int, rounds: int, extra: dict[str, str]) -> list[float]:
    await wait_ready(direct)
    await wait_ready(base)
    times = []
    async with aiohttp.ClientSession() as http:
        for _ in range(rounds):
            seconds, _ = await upload(http, base, MASTER, size, extra)
            times.append(seconds)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size-mib", type=int, default=256)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    size = args.size_mib * 1024 * 1024
    modes = {
        "single upload (model=bench-1)": {"model": "bench-1"},
        "fan-out to 2 (target_model_names=bench)": {"target_model_names": "bench"},
    }
    print(f"{args.size_mib} MiB, {args.rounds} rounds, medians")
    for label, extra in modes.items():
        with tempfile.TemporaryDirectory() as tmp:
            fake_port, router_port = free_port(), free_port()
            direct = f"http://127.0.0.1:{fake_port}/v1"
            fake = ["--port", str(fake_port), "--storage", str(Path(tmp) / "store")]
            for n, key in enumerate(KEYS, 1):
                fake += ["--key", f"{key}=acct{n}"]
            with fake_and_router(fake, config(direct), Path(tmp), router_port) as pid:
                base = f"http://127.0.0.1:{router_port}/v1"
                times = asyncio.run(run(direct, base, size, args.rounds, extra))
                peak = rss_kib(pid, "VmHWM")
            median = statistics.median(times)
            print(
                f"{label:42} {median:6.2f} s  {args.size_mib / median:7.1f} MiB/s  "
                f"router peak RSS {peak / 1024:6.1f} MiB"
            )


if __name__ == "__main__":
    main()
