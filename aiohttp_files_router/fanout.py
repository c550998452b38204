"""One stream read once, handed to several consumers at once in bounded memory.

Each consumer gets its own queue of at most ``depth`` chunks; the reader waits for the slowest
(a full queue) before reading on, so memory stays at about depth x chunk size whatever the
file's size (the queues hold the same chunk objects). A consumer that stops early (its upload
failed) is dropped, never waited on. ``stop`` ends every consumer's stream with ``Stopped``
(another consumer failed: the rest must not finish storing a copy nobody will name).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["Fanout", "Stopped", "tee"]

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
            # Not ``await self._pump`` under suppress(CancelledError): that would also swallow
            # a cancellation of the caller (the client gone, a shutdown) arriving meanwhile,
            # and the caller would go on as if nothing happened. wait() raises only the
            # caller's own; the reader's ends with it.
            await asyncio.wait([self._pump])

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


R = TypeVar("R")
_undoing: set[asyncio.Task[None]] = set()


async def tee(
    source: AsyncIterator[bytes],
    consumers: Sequence[Callable[[AsyncIterator[bytes]], Coroutine[Any, Any, R]]],
    ok: Callable[[R], bool],
    undo: Callable[[int], Awaitable[None]],
) -> list[R] | R:
    """Feed ``source`` to every consumer at once (a ``Fanout``); all or nothing.

    Answers every consumer's result when each is ``ok``; otherwise the first result that is
    not (or raises the first exception), once the other consumers are stopped and ``undo``
    ran for every consumer (by its index): one stopped at its very end may have stored its
    part all the same. ``undo`` runs to its end even when the caller is cancelled meanwhile.
    """
    fan = Fanout(source, len(consumers))
    tasks: list[asyncio.Task[R]] = [
        asyncio.create_task(c(b)) for c, b in zip(consumers, fan.branches(), strict=True)
    ]
    fan.start()
    failed: asyncio.Task[R] | None = None
    try:
        pending: set[asyncio.Task[R]] = set(tasks)
        while pending and failed is None:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            failed = next(
                (t for t in done if t.exception() is not None or not ok(t.result())), None
            )
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await fan.close()
        whole = all(not t.cancelled() and t.exception() is None and ok(t.result()) for t in tasks)
        if not whole:
            cleanup = asyncio.create_task(_undo_all(undo, len(tasks)))
            _undoing.add(cleanup)
            cleanup.add_done_callback(_undoing.discard)
            await asyncio.shield(cleanup)
    if failed is not None:
        return failed.result()  # raises the consumer's exception, if it raised one
    return [t.result() for t in tasks]


async def _undo_all(undo: Callable[[int], Awaitable[None]], count: int) -> None:
    await asyncio.gather(*(undo(index) for index in range(count)))
