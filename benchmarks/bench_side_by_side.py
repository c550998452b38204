"""Router CPU per ``files.retrieve`` and per GiB uploaded of several versions of the router,
side by side.

One fake upstream; one router per source tree given (a checkout of this repository, e.g. a
``git worktree`` of an older commit), each started with ``PYTHONPATH`` at its tree, the access
log on at INFO. Rounds alternate between the routers, so they share the machine's load alike;
the figure to read is each router's median beside the others', not its absolute value.

    python benchmarks/bench_side_by_side.py TREE [TREE ...] [--rounds 8] [--requests 2000]
        [--concurrency 32] [--upload-mib 256]

``--upload-mib 0`` skips the uploads.

``PYTHON=TREE`` runs that tree's router with another interpreter (a venv with uvloop, say):
``/path/venv/bin/python=/path/tree``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from bench_files import KEY, MASTER, free_port, retrieve_rate, stop_all, upload, wait_ready
from bench_production import bench_config, cpu_seconds

Router = tuple[str, "subprocess.Popen[bytes]", str]  # tree spec, process, base URL


@contextmanager
def processes(trees: list[str], tmp: Path) -> Iterator[tuple[str, list[Router]]]:
    """The fake upstream and one router per tree, stopped on the way out."""
    fake_port = free_port()
    direct = f"http://127.0.0.1:{fake_port}/v1"
    (tmp / "config.yaml").write_text(yaml.safe_dump(bench_config(direct)))
    quiet = subprocess.DEVNULL
    here = str(Path(__file__).parent.parent)
    fake_args = ["--port", str(fake_port), "--key", f"{KEY}=bench", "--storage", str(tmp / "s")]
    fake = subprocess.Popen(
        [sys.executable, "-m", "aiohttp_files_router.fake", *fake_args],
        stdout=quiet,
        stderr=quiet,
        env={**os.environ, "PYTHONPATH": here},
    )
    routers: list[Router] = []
    try:
        for spec in trees:
            python, _, tree = spec.rpartition("=")
            port = free_port()
            router_args = ["--config", str(tmp / "config.yaml"), "--port", str(port)]
            router_args += ["--log-level", "INFO"]
            proc = subprocess.Popen(
                [python or sys.executable, "-m", "aiohttp_files_router", *router_args],
                stdout=quiet,
                stderr=quiet,
                cwd=tree,
                env={**os.environ, "PYTHONPATH": tree},
            )
            routers.append((spec, proc, f"http://127.0.0.1:{port}/v1"))
        yield direct, routers
    finally:
        stop_all([proc for _, proc, _ in routers] + [fake])


async def measure(args: argparse.Namespace, direct: str, routers: list[Router]) -> None:
    await wait_ready(direct)
    ids = []
    for _, _, base in routers:
        await wait_ready(base)
        async with aiohttp.ClientSession() as http:
            _, file_id = await upload(
                http, base, MASTER, 1024, {"model": "bench", "purpose": "user_data"}
            )
        ids.append(file_id)
        await retrieve_rate(base, MASTER, file_id, 500, args.concurrency)  # warm up
    per_request: dict[str, list[float]] = {spec: [] for spec, _, _ in routers}
    for _ in range(args.rounds):
        for (spec, proc, base), file_id in zip(routers, ids, strict=True):
            before = cpu_seconds(proc.pid)
            await retrieve_rate(base, MASTER, file_id, args.requests, args.concurrency)
            spent = cpu_seconds(proc.pid) - before
            per_request[spec].append(spent / args.requests * 1e6)
    report(per_request, "files.retrieve", "us", ".0f")
    if not args.upload_mib:
        return
    size = args.upload_mib * 1024 * 1024
    per_gib: dict[str, list[float]] = {spec: [] for spec, _, _ in routers}
    for _ in range(args.rounds):
        for spec, proc, base in routers:
            async with aiohttp.ClientSession() as http:
                before = cpu_seconds(proc.pid)
                await upload(http, base, MASTER, size, {"model": "bench"})
                spent = cpu_seconds(proc.pid) - before
            per_gib[spec].append(spent / (size / 2**30))
    report(per_gib, "GiB uploaded", "s", ".2f")


def report(figures: dict[str, list[float]], per: str, unit: str, fmt: str) -> None:
    """Each tree's median, and after the first tree the median of its per-round ratios to
    the first tree's same round (rounds alternate, so a pair shares the machine's load)."""
    first = next(iter(figures.values()))
    for i, (spec, rounds) in enumerate(figures.items()):
        paired = ""
        if i:
            ratio = statistics.median(x / y for x, y in zip(rounds, first, strict=True) if y)
            paired = f", {ratio - 1:+.1%} against the first tree, paired by round"
        print(
            f"{spec}: router CPU per {per} median {statistics.median(rounds):{fmt}} {unit}"
            f"{paired} (rounds {', '.join(f'{x:{fmt}}' for x in rounds)})"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("trees", nargs="+", metavar="TREE")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--upload-mib", type=int, default=256)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp, processes(args.trees, Path(tmp)) as (direct, rs):
        asyncio.run(measure(args, direct, rs))


if __name__ == "__main__":
    main()
