"""``--workers N``: N server processes on one port (SO_REUSEPORT) under a small supervisor.

The supervisor starts each worker as ``python -m aiohttp_files_router ... --worker``, starts
a new one when a worker dies, and on SIGTERM or SIGINT passes SIGTERM to every worker and
waits for their drains. The workers share a temporary PROMETHEUS_MULTIPROC_DIR, made here
and removed at exit, so ``/metrics`` from any of them reports all of them.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from types import FrameType

from prometheus_client import multiprocess

from .metrics import MULTIPROC_ENV

__all__ = ["supervise"]

logger = logging.getLogger(__package__)

RESTART_DELAY = 1.0  # seconds: a worker failing at start-up is not restarted in a tight loop


def supervise(worker_args: Sequence[str], workers: int, stop_timeout: float) -> int:
    metrics_dir = tempfile.mkdtemp(prefix="files-router-metrics-")
    env = {**os.environ, MULTIPROC_ENV: metrics_dir}
    command = [sys.executable, "-m", "aiohttp_files_router", *worker_args, "--worker"]
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        logger.info(
            "supervisor (pid %d): %d workers, metrics in %s", os.getpid(), workers, metrics_dir
        )
        for _ in range(workers):
            procs.append(_start(command, env))
        while not stopping:
            time.sleep(0.2)
            for i, proc in enumerate(procs):
                code = proc.poll()
                if code is None or stopping:
                    continue
                logger.warning("worker pid %d exited with %d: starting another", proc.pid, code)
                multiprocess.mark_process_dead(proc.pid, metrics_dir)  # type: ignore[no-untyped-call]
                time.sleep(RESTART_DELAY)
                if not stopping:
                    procs[i] = _start(command, env)
        return _stop(procs, stop_timeout)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(command, env=env)
    logger.info("worker pid %d started", proc.pid)
    return proc


def _stop(procs: list[subprocess.Popen[bytes]], timeout: float) -> int:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout + 5
    worst = 0
    for proc in procs:
        try:
            code = proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            logger.warning("worker pid %d did not stop in time: killing it", proc.pid)
            proc.kill()
            code = proc.wait()
        worst = worst or code
    return 0 if worst == 0 else 1
