"""What every test file may share: one clock and one port helper (no test file imports
another's)."""

from __future__ import annotations

import socket


class Clock:
    """A fake's clock (``fake.clock = clock``) that a test moves by setting ``now``."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def free_port() -> int:
    """A loopback port nobody listens on (for servers started as subprocesses)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
