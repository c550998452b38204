"""Upstream calls made together: one after another while each succeeds (``in_turn``), or with
what was begun for a call undone when it fails (``undone_unless_ok``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..upstream import UpstreamReply

__all__ = ["in_turn", "undone_unless_ok"]


async def in_turn(
    reply: UpstreamReply, *calls: Callable[[], Awaitable[UpstreamReply]]
) -> UpstreamReply:
    """``reply`` (a first call's answer), then each of ``calls`` in turn while every answer is
    a success: the first error answer (no later call is made), else the last answer."""
    for call in calls:
        if not reply.ok:
            break
        reply = await call()
    return reply


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
