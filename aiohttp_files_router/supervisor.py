"""``--workers N``: N server processes on one port (SO_REUSEPORT) under a small supervisor.

The supervisor starts each worker as ``python -m aiohttp_files_router ... --worker
--supervisor-pid PID --ready-fd FD``; the worker writes to that pipe once it listens, and
drains and exits if the supervisor is gone (killed). On SIGTERM or SIGINT the supervisor
passes SIGTERM to every worker and waits for their drains. The workers share a
temporary PROMETHEUS_MULTIPROC_DIR, made here and removed at exit, so ``/metrics`` from any
of them reports all of them.

When a worker dies, what happens depends on whether it ever became ready, as in gunicorn:

- Before it was ready (the port is taken, the config no longer loads, it crashed while
  starting): starting it again would fail the same way, so the supervisor stops the other
  workers and exits with BOOT_FAILED, after one ERROR line naming the worker and its exit code.
- After it was ready: a new worker takes its place. At once if it had run for STABLE_AFTER
  seconds; otherwise after a delay that doubles with each quick death in a row (RESTART_DELAY
  up to MAX_RESTART_DELAY), so a worker that keeps crashing does not spin.
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

__all__ = [
    "BOOT_FAILED",
    "MAX_RESTART_DELAY",
    "RESTART_DELAY",
    "STABLE_AFTER",
    "Backoff",
    "supervise",
]

logger = logging.getLogger(__package__)

RESTART_DELAY = 1.0  # seconds before the first restart of a worker that died quickly
MAX_RESTART_DELAY = 30.0
STABLE_AFTER = 10.0  # seconds a worker must have served for its death to count as not quick
BOOT_FAILED = 3  # the supervisor's exit code when a worker died before it was ready (gunicorn's)
POLL = 0.2


class Backoff:
    """How long to wait before replacing a worker that died after it was ready."""

    def __init__(self) -> None:
        self.delay = 0.0

    def after_death(self, served: float) -> float:
        """The delay for a worker that died after serving ``served`` seconds."""
        if served >= STABLE_AFTER:
            self.delay = 0.0
        else:
            self.delay = min(MAX_RESTART_DELAY, max(RESTART_DELAY, self.delay * 2))
        return self.delay


class _Worker:
    """One worker slot: its process (None while a restart waits), and its ready pipe."""

    def __init__(self, command: list[str], env: dict[str, str]):
        self.command = command
        self.env = env
        self.backoff = Backoff()
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_pipe: int | None = None
        self.ready_at: float | None = None
        self.start_at = 0.0

    def start(self) -> None:
        read, write = os.pipe()
        os.set_blocking(read, False)
        try:
            self.proc = subprocess.Popen(
                [*self.command, "--ready-fd", str(write)], env=self.env, pass_fds=(write,)
            )
        except BaseException:
            os.close(read)
            raise
        finally:
            os.close(write)
        self.ready_pipe, self.ready_at = read, None
        logger.info("worker pid %d started", self.proc.pid)

    def check_ready(self, now: float) -> bool:
        """Whether the worker has said it listens (read from its pipe without blocking)."""
        if self.ready_at is None and self.ready_pipe is not None:
            try:
                said = os.read(self.ready_pipe, 1)
            except BlockingIOError:
                return False
            if said:
                self.ready_at = now
            self.close_pipe()  # said it, or closed it without a word (it died)
        return self.ready_at is not None

    def close_pipe(self) -> None:
        if self.ready_pipe is not None:
            os.close(self.ready_pipe)
            self.ready_pipe = None


def supervise(worker_args: Sequence[str], workers: int, stop_timeout: float) -> int:
    metrics_dir = tempfile.mkdtemp(prefix="files-router-metrics-")
    env = {**os.environ, MULTIPROC_ENV: metrics_dir}
    command = [
        *(sys.executable, "-m", "aiohttp_files_router", *worker_args),
        *("--worker", "--supervisor-pid", str(os.getpid())),
    ]
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    slots = [_Worker(command, env) for _ in range(workers)]
    try:
        logger.info(
            "supervisor (pid %d): %d workers, metrics in %s", os.getpid(), workers, metrics_dir
        )
        for slot in slots:
            slot.start()
        failed = False
        while not stopping and not failed:
            time.sleep(POLL)
            for slot in slots:
                if stopping:
                    break
                failed = _tend(slot, metrics_dir)
                if failed:
                    break
        code = _stop(slots, stop_timeout)
        return BOOT_FAILED if failed else code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for slot in slots:
            slot.close_pipe()
            if slot.proc is not None and slot.proc.poll() is None:
                slot.proc.kill()
                slot.proc.wait()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _tend(slot: _Worker, metrics_dir: str) -> bool:
    """Starts a slot's worker when its delay is over; notes a death. True: a worker failed
    to boot, and the server must stop."""
    now = time.monotonic()
    proc = slot.proc
    if proc is None:
        if now >= slot.start_at:
            slot.start()
        return False
    code = proc.poll()
    # Read after poll(): whatever a dead worker wrote is in the pipe by now.
    slot.check_ready(now)
    if code is None:
        return False
    multiprocess.mark_process_dead(proc.pid, metrics_dir)  # type: ignore[no-untyped-call]
    slot.close_pipe()
    slot.proc = None
    if slot.ready_at is None:
        logger.error(
            "worker pid %d failed to boot (exited with %d before it was ready): stopping the "
            "server, exit code %d",
            proc.pid,
            code,
            BOOT_FAILED,
        )
        return True
    served = now - slot.ready_at
    delay = slot.backoff.after_death(served)
    slot.start_at = now + delay
    logger.warning(
        "worker pid %d exited with %d after serving %.1fs: starting another%s",
        proc.pid,
        code,
        served,
        f" in {delay:g}s" if delay else "",
    )
    return False


def _stop(slots: list[_Worker], timeout: float) -> int:
    procs = [slot.proc for slot in slots if slot.proc is not None]
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
