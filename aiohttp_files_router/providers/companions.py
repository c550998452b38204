"""A stored file kept with objects beside it (the client's original bytes, a companion of
its rows): written together, all or none, and deleted together, in an order a failed delete
can be retried from. For adapters that keep an upload in storage of their own (a bucket)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any

from ..fanout import tee
from ..upstream import UpstreamReply
from .base import FileUpload
from .jsonl import LineFn, map_lines
from .shapes import ok

__all__ = ["Part", "delete_with_companions", "store_with_companions"]

# One object of an upload: its name, its content type, and the map of its lines (None: the
# client's bytes as they are).
Part = tuple[str, str, LineFn | None]
Store = Callable[[AsyncIterator[bytes]], Coroutine[Any, Any, UpstreamReply]]


async def store_with_companions(
    upload: FileUpload,
    parts: Sequence[Part],
    put: Callable[[str, str, AsyncIterator[bytes]], Awaitable[UpstreamReply]],
    remove: Callable[[str], Awaitable[None]],
) -> list[UpstreamReply] | UpstreamReply:
    """``upload`` streamed once into every part at once with ``put(name, content_type,
    chunks)``; all or none (``fanout.tee``: ``remove`` takes back what a part stored when
    another failed). Answers every part's answer, in order, or the first refusal."""

    def part(name: str, content_type: str, lines: LineFn | None) -> Store:
        async def store(chunks: AsyncIterator[bytes]) -> UpstreamReply:
            body = chunks if lines is None else map_lines(chunks, lines)
            return await put(name, content_type, upload.guard(body))

        return store

    async def undo(index: int) -> None:
        await remove(parts[index][0])

    return await tee(upload.chunks, [part(*p) for p in parts], lambda r: r.ok, undo)


async def delete_with_companions(
    file_id: str,
    name: str,
    beside: Iterable[str],
    delete: Callable[[str], Awaitable[UpstreamReply]],
) -> UpstreamReply:
    """Delete the objects ``beside`` ``name`` (one already gone is fine), then ``name``; answer
    OpenAI's deleted File object for ``file_id``. The companions go first, so that a failure
    leaves ``name``, and a retry finds the rest."""
    for other in beside:
        gone = await delete(other)
        if not gone.ok and gone.status != 404:
            return gone
    reply = await delete(name)
    if not reply.ok:
        return reply
    return ok({"id": file_id, "object": "file", "deleted": True}, reply)
