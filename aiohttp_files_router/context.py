"""What the router knows about the request being served: its ID, account and upstream call.

One ``RequestInfo`` per request, made by the observing middleware. The upstream calls
(``upstream.py``) fill it in, each with the deployment it called, through a context variable
(per task, so it works on every code path without passing it along); the access logger reads
it from the request afterwards, and a logging filter stamps every log line with its request
ID and the upstream's. Nothing here knows the router's domain (accounts, providers).
"""

from __future__ import annotations

import logging
import re
import time
from contextvars import ContextVar
from dataclasses import dataclass
from random import getrandbits
from typing import Final

from aiohttp import web

__all__ = [
    "REQUEST_ID_HEADER",
    "REQUEST_INFO_KEY",
    "Called",
    "RequestIdFilter",
    "RequestInfo",
    "current_info",
    "new_request_id",
    "stamp_request_id",
]

REQUEST_ID_HEADER: Final = "X-Request-Id"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


@dataclass(frozen=True, slots=True)
class Called:
    """The deployment an upstream call goes to, as logs, metrics and the access line name it,
    and the headers its provider documents for request IDs (declared in the provider's
    module): ``client_id_header`` carries ours to it, ``upstream_id_headers`` hold its own."""

    route: str  # the deployment's name in IDs (its model_info.id, or the model_name)
    model: str | None = None  # its model_name
    client_id_header: str | None = None
    upstream_id_headers: tuple[str, ...] = ()


@dataclass(slots=True, eq=False)
class RequestInfo:
    request_id: str
    started: float  # time.perf_counter() when the router saw the request
    operation: str = "-"  # e.g. files.retrieve
    route: str = "unmatched"  # the route template, never a raw ID
    # The deployment of the last upstream call, recorded where the call is made.
    model: str | None = None  # its model_name
    account: str | None = None  # its route (what IDs carry)
    upstream_status: int | None = None
    upstream_seconds: float = 0.0  # summed over the upstream calls, until their headers
    upstream_request_id: str | None = None
    client_gone: bool = False


REQUEST_INFO_KEY: Final = web.RequestKey("aiohttp_files_router.request_info", RequestInfo)
_current: ContextVar[RequestInfo | None] = ContextVar(
    "aiohttp_files_router.request_info", default=None
)


def new_request_id(incoming: str | None) -> str:
    """The client's ``x-request-id`` when sane, otherwise a fresh one."""
    if incoming is not None and _SANE_ID.fullmatch(incoming):
        return incoming
    # 128 random bits, as unique as a uuid4. Not from os.urandom: a system call per request
    # for a value that is no secret (a client may send any ID it likes). The random module
    # reseeds in a forked child, so workers do not repeat each other.
    return f"{getrandbits(128):032x}"


def begin(request_id: str) -> RequestInfo:
    info = RequestInfo(request_id, time.perf_counter())
    _current.set(info)
    return info


def current_info() -> RequestInfo | None:
    return _current.get()


def stamp_request_id(response: web.StreamResponse) -> None:
    """Put the request's ID on an answer a handler sends itself, before its headers leave
    (the middleware sets it on every other answer)."""
    info = _current.get()
    if info is not None:
        response.headers[REQUEST_ID_HEADER] = info.request_id


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` and ``upstream_request_id`` to every record ("-" outside a request).

    Put it on the log handlers (the standalone server does) and use ``%(request_id)s``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if hasattr(record, "request_id"):  # set by the access logger, which knows best
            return True
        info = _current.get()
        if info is None:
            record.request_id = "-"
            record.upstream_request_id = "-"
        else:
            record.request_id = info.request_id
            record.upstream_request_id = info.upstream_request_id or "-"
        return True
