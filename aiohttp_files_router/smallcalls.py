"""Keep-alive connections for the upstream calls whose request body is held whole.

Most calls to an account are small: a JSON object asked for, a job created or cancelled.
``aiohttp.ClientSession.request`` spends most of its time per call on what these calls do not
use (request and response objects built for streaming, cookies, proxies, tracing, the
connector's bookkeeping): several times what this pool spends (benchmarks/README.md,
"files.retrieve"). This pool writes the request itself and reads the answer
with aiohttp's own client protocol (``ResponseHandler``): the same HTTP parser, content
decoding, read timeout and errors as the session, so ``upstream.py`` treats the answers alike.

Streamed uploads and downloads stay on the session.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import socket
import ssl
import sys
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import aiohappyeyeballs
import aiohttp
from aiohttp import hdrs
from aiohttp.client_proto import ResponseHandler
from aiohttp.compression_utils import HAS_BROTLI, HAS_ZSTD
from aiohttp.streams import StreamReader
from multidict import CIMultiDictProxy
from yarl import URL

__all__ = ["USABLE", "SmallAnswer", "SmallCalls"]

# What aiohttp's own client sends when a call does not say (ClientRequest's auto headers).
USER_AGENT = f"Python/{sys.version_info[0]}.{sys.version_info[1]} aiohttp/{aiohttp.__version__}"
ACCEPT_ENCODING = ", ".join(
    ["gzip", "deflate"] + (["br"] if HAS_BROTLI else []) + (["zstd"] if HAS_ZSTD else [])
)


def _usable() -> bool:
    """Whether aiohttp's client protocol is the one this pool was written against: checked
    once at import; when it is not, every call goes on the session (``transport.py``)."""
    try:
        params = inspect.signature(ResponseHandler.set_response_params).parameters
    except (TypeError, ValueError):
        return False
    wanted = {"skip_payload", "read_until_eof", "read_timeout", "read_bufsize"}
    methods = ("read", "start_timeout", "is_connected", "close", "set_response_params")
    return (
        wanted <= set(params)
        and all(callable(getattr(ResponseHandler, m, None)) for m in methods)
        and isinstance(getattr(ResponseHandler, "should_close", None), property)
    )


USABLE = _usable()
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_READ_BUFSIZE = 2**16
_ORIGIN = tuple[str, str, int]  # scheme, host, port


def _tls_context() -> ssl.SSLContext:
    # As aiohttp's verified default: the system's CAs, HTTP/1.1 offered by ALPN.
    context = ssl.create_default_context()
    context.set_alpn_protocols(("http/1.1",))
    return context


# aiohttp's writer refuses these in a header name or value (http_writer._safe_header): a line
# break starts a header (or a request) of its own, NUL and the other controls are read
# differently by different servers. A tab is a value's own whitespace.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(slots=True)
class SmallAnswer:
    """An answer's status and headers; ``content`` is its (decoded) body, still to read.

    Shaped as the parts of ``aiohttp.ClientResponse`` that ``upstream.py`` reads. ``release``
    gives the connection back (or closes it when it cannot carry another request).
    """

    status: int
    headers: CIMultiDictProxy[str]
    content: StreamReader
    _calls: SmallCalls
    _origin: _ORIGIN
    _conn: ResponseHandler | None

    @property
    def content_length(self) -> int | None:
        value = self.headers.get(hdrs.CONTENT_LENGTH)
        return int(value) if value is not None and value.isdigit() else None

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._calls._release(self._origin, conn)


class SmallCalls:
    """Connections kept alive per origin; at most ``limit`` calls on the wire at once."""

    def __init__(self, *, limit: int = 100, keepalive: float = 15.0) -> None:
        self._limit = limit
        self._keepalive = keepalive
        self._idle: dict[_ORIGIN, deque[tuple[float, ResponseHandler]]] = {}
        self._busy: set[ResponseHandler] = set()
        self._slots: asyncio.Semaphore | None = None
        self._tls: ssl.SSLContext | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False

    async def send(
        self,
        method: str,
        url: URL,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: aiohttp.ClientTimeout,
        *,
        fresh: bool = False,
    ) -> SmallAnswer:
        """Send one request and read its answer's head; the caller reads and releases it.

        ``fresh``: on a new connection, not a kept-alive one (the repeat of a request a stale
        connection lost). Errors are the session's: OSError and TimeoutError while
        connecting, aiohttp's client errors after.
        """
        if self._closed:
            raise aiohttp.ClientConnectionError("the router is shutting down")
        scheme = url.scheme
        host = url.raw_host or ""
        origin = (scheme, host, url.port or (443 if scheme == "https" else 80))
        request = _request_head(method, url, headers, body)
        slots = self._slots
        if slots is None:
            slots = self._slots = asyncio.Semaphore(self._limit)
        connect = timeout.connect or timeout.sock_connect
        if slots.locked():  # a slot is waited for only as long as a connection may take
            async with asyncio.timeout(connect):
                await slots.acquire()
        else:
            await slots.acquire()
        try:
            conn = None if fresh else self._reuse(origin)
            if conn is None:
                async with asyncio.timeout(connect):
                    conn = await self._open(origin)
        except BaseException:
            slots.release()
            raise
        self._busy.add(conn)
        try:
            conn.set_response_params(
                skip_payload=method == "HEAD",
                read_until_eof=True,
                read_timeout=timeout.sock_read,
                read_bufsize=_READ_BUFSIZE,
            )
            transport = conn.transport
            if transport is None:
                raise aiohttp.ServerDisconnectedError()
            transport.write(request if body is None else request + body)
            conn.start_timeout()
            while True:
                message, payload = await conn.read()
                # Interim answers (103 Early Hints) come before the real one.
                if not 100 <= message.code < 200 or message.code == 101:
                    break
        except BaseException:
            self._drop(conn)
            raise
        return SmallAnswer(message.code, message.headers, payload, self, origin, conn)

    def _reuse(self, origin: _ORIGIN) -> ResponseHandler | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        oldest_kept = time.monotonic() - self._keepalive
        while idle:
            since, conn = idle.pop()  # the most recently used: the least likely to be stale
            if since >= oldest_kept and conn.is_connected():
                return conn
            conn.close()
        return None

    async def _open(self, origin: _ORIGIN) -> ResponseHandler:
        loop = asyncio.get_running_loop()
        scheme, host, port = origin
        tls: ssl.SSLContext | None = None
        if scheme == "https":
            tls = self._tls
            if tls is None:
                # Loading the CA files is disk I/O: in a thread, not on the event loop. Built
                # on first use, so SSL_CERT_FILE set after import still counts.
                tls = self._tls = await loop.run_in_executor(None, _tls_context)
        # As aiohttp connects: every address tried, the next after 250 ms (RFC 8305).
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        sock = await aiohappyeyeballs.start_connection(infos, happy_eyeballs_delay=0.25)
        try:
            _, conn = await loop.create_connection(
                lambda: ResponseHandler(loop),
                sock=sock,
                ssl=tls,
                # As aiohttp: a fully qualified name's trailing dot is no part of the name a
                # certificate is checked against (the Host header drops it too).
                server_hostname=host.rstrip(".") if tls else None,
            )
        except BaseException:
            sock.close()
            raise
        return conn

    def _release(self, origin: _ORIGIN, conn: ResponseHandler) -> None:
        self._busy.discard(conn)
        assert self._slots is not None
        self._slots.release()
        if self._closed or conn.should_close or not conn.is_connected():
            conn.close()
            return
        idle = self._idle.setdefault(origin, deque())
        idle.append((time.monotonic(), conn))
        if len(idle) > self._limit:
            idle.popleft()[1].close()
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().call_later(self._keepalive, self._sweep)

    def _drop(self, conn: ResponseHandler) -> None:
        # A call that failed or was cancelled leaves its connection in an unknown state.
        self._busy.discard(conn)
        assert self._slots is not None
        self._slots.release()
        conn.close()

    def _sweep(self) -> None:
        """Close connections idle longer than ``keepalive`` (upstreams drop them anyway)."""
        self._sweeper = None
        oldest_kept = time.monotonic() - self._keepalive
        for idle in self._idle.values():
            while idle and (idle[0][0] < oldest_kept or not idle[0][1].is_connected()):
                idle.popleft()[1].close()
        if any(self._idle.values()):
            self._sweeper = asyncio.get_running_loop().call_later(self._keepalive, self._sweep)

    async def close(self) -> None:
        """Close every connection; calls still on the wire end with a connection error."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for idle in self._idle.values():
            for _, conn in idle:
                conn.close()
        self._idle.clear()
        for conn in list(self._busy):
            conn.close()
        self._busy.clear()


def _request_head(method: str, url: URL, headers: Mapping[str, str], body: bytes | None) -> bytes:
    lines = [f"{method} {url.raw_path_qs} HTTP/1.1"]
    given: set[str] = set()
    for name, value in headers.items():
        if _FORBIDDEN.search(name) or _FORBIDDEN.search(value):
            raise ValueError(
                f"A control character (a line break, NUL...) in the upstream request's "
                f"header {name!r}."
            )
        low = name.lower()
        if low == "content-length":
            # The length is the body's; a caller's other one would make two, and a server
            # that reads the other would take the rest of the body for a request.
            if value != str(len(body or b"")):
                raise ValueError("A Content-Length that is not the body's own length.")
            continue
        if low == "transfer-encoding":
            raise ValueError("A Transfer-Encoding on a request whose body is held whole.")
        lines.append(f"{name}: {value}")
        given.add(low)
    if "host" not in given:
        lines.append(f"Host: {url.host_port_subcomponent}")
    if "accept" not in given:
        lines.append("Accept: */*")
    if "accept-encoding" not in given:
        lines.append(f"Accept-Encoding: {ACCEPT_ENCODING}")
    if "user-agent" not in given:
        lines.append(f"User-Agent: {USER_AGENT}")
    if body is not None:
        if "content-type" not in given:
            lines.append("Content-Type: application/octet-stream")
        lines.append(f"Content-Length: {len(body)}")
    elif method in _BODY_METHODS:
        lines.append("Content-Length: 0")
    lines.append("\r\n")
    return "\r\n".join(lines).encode()
