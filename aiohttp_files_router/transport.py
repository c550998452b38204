"""How the router's upstream calls reach the wire, chosen once when its session is set up.

``Transport`` holds the shared ``aiohttp.ClientSession`` (streams, forms), the ``smallcalls``
pool for calls whose body is held whole (when aiohttp's internals are the ones it was written
against: ``smallcalls.USABLE``), and a session that opens a new connection per request, for
requests that must not meet a stale pooled connection (a POST is never sent twice). Every
upstream call goes through ``upstream.py``, which applies the one answer policy whichever of
these carries it.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import aiohttp

from . import smallcalls

__all__ = ["STREAM_BUFFER", "Transport", "attach", "detach", "for_session"]

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


# The transport of each session the router set up (``RouterState.attach_http``). A session
# made elsewhere (a test's, a token fetch's) gets a plain one per call: no pool.
_BOUND: weakref.WeakKeyDictionary[aiohttp.ClientSession, Transport] = weakref.WeakKeyDictionary()


def attach(http: aiohttp.ClientSession, *, small: bool = True) -> Transport:
    transport = _BOUND[http] = Transport(
        http, smallcalls.SmallCalls() if small and smallcalls.USABLE else None, bound=True
    )
    return transport


def detach(http: aiohttp.ClientSession) -> Transport | None:
    return _BOUND.pop(http, None)


def for_session(http: aiohttp.ClientSession) -> Transport:
    found = _BOUND.get(http)
    return found if found is not None else Transport(http)
