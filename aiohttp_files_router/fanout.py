"""One stream read once, handed to several consumers at once in bounded memory.

Each consumer gets its own queue of at most ``depth`` chunks; the reader waits for the slowest
(a full queue) before reading on, so memory stays at about depth x chunk size whatever the
file's size (the queues hold the same chunk objects). A consumer that stops early (its upload
failed) is dropped, never waited on. ``stop`` ends every consumer's stream with ``Stopped``
(another consumer failed: the rest must not finish storing a copy nobody will name).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

__all__ = ["Fanout", "Stopped"]

_END = object()


class Stopped(Exception):
    """The stream was stopped before its end, on purpose (``Fanout.stop``)."""


@dataclass
class _Branch:
    queue: asyncio.Queue[object]
    open: bool = True


@dataclass
class Fanout:
    source: AsyncIterator[bytes]
    count: int
    depth: int = 4
    _branches: list[_Branch] = field(default_factory=list, init=False)
    _pump: asyncio.Task[None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._branches = [_Branch(asyncio.Queue(self.depth)) for _ in range(self.count)]

    def branches(self) -> list[AsyncIterator[bytes]]:
        return [self._read(b) for b in self._branches]

    def start(self) -> None:
        self._pump = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump

    async def stop(self) -> None:
        """Read no more; each consumer still reading gets ``Stopped`` instead of the rest."""
        await self.close()
        for branch in self._branches:
            if branch.open:
                while not branch.queue.empty():
                    branch.queue.get_nowait()
                branch.queue.put_nowait(Stopped("the upload was stopped"))

    async def _put(self, item: object) -> None:
        for branch in self._branches:
            if branch.open:
                await branch.queue.put(item)

    async def _run(self) -> None:
        try:
            async for chunk in self.source:
                if not any(b.open for b in self._branches):
                    return
                await self._put(chunk)
        except Exception as err:  # handed to every consumer, which raises it as its own
            await self._put(err)
            return
        await self._put(_END)

    async def _read(self, branch: _Branch) -> AsyncIterator[bytes]:
        try:
            while True:
                item = await branch.queue.get()
                if item is _END:
                    return
                if isinstance(item, Exception):
                    raise item
                assert isinstance(item, bytes)
                yield item
        finally:
            branch.open = False
            # Unblock a reader waiting on this full queue: it skips closed branches after.
            while not branch.queue.empty():
                branch.queue.get_nowait()
