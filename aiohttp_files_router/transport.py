"""How the router's upstream calls reach the wire, chosen once when its session is set up.

``Transport`` holds the shared ``aiohttp.ClientSession`` (streams, forms), the ``smallcalls``
pool for calls whose body is held whole (when aiohttp's internals are the ones it was written
against: ``smallcalls.USABLE``), and a session that opens a new connection per request, for
requests that must not meet a stale pooled connection (a POST is never sent twice). Every
upstream call goes through ``upstream.py``, which applies the one answer policy whichever of
these carries it. The router's accounts reach theirs through a ``Wire`` they all hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp

from . import smallcalls

__all__ = ["STREAM_BUFFER", "Transport", "Wire", "plain"]

# Reading ahead in megabytes keeps a streamed body moving without pausing the socket often.
STREAM_BUFFER = 4 * 1024 * 1024


@dataclass(eq=False)
class Transport:
    session: aiohttp.ClientSession
    small: smallcalls.SmallCalls | None = None
    _fresh: aiohttp.ClientSession | None = field(default=None, repr=False)
    bound: bool = False  # the router's own (closed with it) or made for one call

    def fresh(self) -> aiohttp.ClientSession:
        """A session whose every request opens a new connection, made on first use."""
        if self._fresh is None:
            http = self.session
            self._fresh = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True),
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=http.auto_decompress,
                read_bufsize=STREAM_BUFFER,
                timeout=http.timeout,
            )
        return self._fresh

    async def done(self) -> None:
        """The end of one call on an unbound transport: what it opened for itself closes."""
        if not self.bound:
            await self.close_fresh()

    async def close_fresh(self) -> None:
        fresh, self._fresh = self._fresh, None
        if fresh is not None:
            await fresh.close()

    async def close(self) -> None:
        if self.small is not None:
            await self.small.close()
        await self.close_fresh()


@dataclass(eq=False)
class Wire:
    """Where one router's accounts find their transport: made with the accounts, filled once
    when the router's client session is set up (``RouterState.attach_http``), emptied at
    cleanup. Every ``Upstream`` of the router holds it; nothing is looked up per call."""

    transport: Transport | None = None

    def attach(self, http: aiohttp.ClientSession, *, small: bool = True) -> Transport:
        self.transport = Transport(
            http, smallcalls.SmallCalls() if small and smallcalls.USABLE else None, bound=True
        )
        return self.transport

    def detach(self) -> Transport | None:
        transport, self.transport = self.transport, None
        return transport


def plain(http: aiohttp.ClientSession) -> Transport:
    """A transport for one call on a session no router set up (a test's, a token fetch's):
    no pool; what it opens for itself is closed when the call ends."""
    return Transport(http)
