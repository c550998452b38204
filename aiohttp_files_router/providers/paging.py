"""OpenAI ``after`` cursors over providers that page by token.

OpenAI pages by the last ID a client saw; Vertex, Gemini and Bedrock by an opaque token that
only the previous page hands out. So a listing walks the provider's pages from the start,
skips every item up to and including the cursor, and stops at the first page that brings it
past ``limit`` (one item more than asked says ``has_more``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ..jsoncodec import ENCODER
from ..upstream import UpstreamReply
from .shapes import list_page

__all__ = ["Listing", "Page", "list_after"]

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One provider page: its answer (a failed one ends the walk), this deployment's items
    on it in the provider's order, and the token of the next page (None: the last)."""

    reply: UpstreamReply
    items: Sequence[T] = ()
    token: str | None = None


@dataclass(frozen=True)
class Listing(Generic[T]):
    """What a walk found: the last page's answer (the failed one, if one failed), at most
    ``limit`` items past the cursor, and whether more follow."""

    reply: UpstreamReply
    data: list[T]
    has_more: bool

    def answer(self, data: list[dict[str, Any]]) -> UpstreamReply:
        """The OpenAI list page holding ``data`` (the items found, as OpenAI objects), with
        the last page's headers; or the failed page's own answer."""
        if not self.reply.ok:
            return self.reply
        return UpstreamReply(
            200, ENCODER.encode(list_page(data, self.has_more)), self.reply.headers
        )


async def list_after(
    fetch: Callable[[str | None], Awaitable[Page[T]]],
    *,
    after: str | None,
    limit: int,
    id_of: Callable[[T], str],
    keep: Callable[[T], bool] | None = None,
) -> Listing[T]:
    """Walks ``fetch(token)`` from the first page (token None) to the items after ``after``.

    ``id_of`` gives an item's ID as the client sees it (what ``after`` holds); ``keep``, if
    given, filters the items past the cursor (the cursor itself may be any item).
    """
    found = after is None
    out: list[T] = []
    token: str | None = None
    while True:
        page = await fetch(token)
        if not page.reply.ok:
            return Listing(page.reply, [], False)
        for item in page.items:
            if not found:
                found = id_of(item) == after
            elif keep is None or keep(item):
                out.append(item)
        token = page.token
        if len(out) > limit or not token:
            break
    return Listing(page.reply, out[:limit], len(out) > limit or bool(token))
