"""Undoing what was begun for an upstream call (an upload session, an object stored beside
it) when that call fails, so that nothing half-made stays behind."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..upstream import UpstreamReply

__all__ = ["undone_unless_ok"]


async def undone_unless_ok(
    reply: Awaitable[UpstreamReply], undo: Callable[[], Awaitable[None]]
) -> UpstreamReply:
    """``reply`` awaited, with ``undo`` run when it raises or answers an error: what was
    begun for that call (an upload session, an object stored beside it) must not stay."""
    try:
        answer = await reply
    except BaseException:
        await undo()
        raise
    if not answer.ok:
        await undo()
    return answer
