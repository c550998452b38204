"""Fanout.close cancels the reader of the client's stream and waits for it; a cancellation of
the caller meanwhile (the client gone, a shutdown) must reach the caller, not be taken for the
reader's own and dropped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp_files_router.fanout import Fanout


async def test_close_keeps_the_callers_cancellation() -> None:
    unwinding = asyncio.Event()

    async def slow_to_stop() -> AsyncIterator[bytes]:
        yield b"first"
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            unwinding.set()
            await asyncio.sleep(0.2)  # a source that takes a while to let go (a socket read)
            raise
        yield b"never"

    fan = Fanout(slow_to_stop(), 1)
    (branch,) = fan.branches()
    fan.start()
    assert await branch.__anext__() == b"first"
    closing = asyncio.create_task(fan.close())
    await unwinding.wait()
    closing.cancel()  # the caller is cancelled while close waits for the reader
    done, _ = await asyncio.wait([closing], timeout=5)
    assert closing in done and closing.cancelled()
