"""Deleting a stored file together with the objects kept beside it (the client's original
bytes, a companion of its rows), in an order a failed delete can be retried from."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from ..upstream import UpstreamReply
from .shapes import ok

__all__ = ["delete_with_companions"]


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
