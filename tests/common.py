"""What every test file may share: one clock, one port helper, one way to serve an app to a
synchronous client (no test file imports another's)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web


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


class ThreadedApp:
    """An aiohttp app served from its own thread and loop, for clients that block (boto3,
    google-genai, google-auth)."""

    def __init__(self, app: web.Application, ssl_context: ssl.SSLContext | None = None):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runner = web.AppRunner(app, access_log=None)

        async def start() -> int:
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=ssl_context)
            await site.start()
            return int(self.runner.addresses[0][1])

        port = asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        self.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"

    def stop(self) -> None:
        async def stop() -> None:
            await self.runner.cleanup()
            await asyncio.sleep(0.1)  # let closing (TLS) transports finish

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@contextmanager
def serve_in_thread(app: web.Application) -> Iterator[str]:
    """A ``ThreadedApp`` for the length of a ``with``: its URL."""
    server = ThreadedApp(app)
    try:
        yield server.url
    finally:
        server.stop()
