"""What the router records of every request: its ID, size limits on its head, metrics and
the in-flight count.

``middleware.router_middleware`` calls ``begin_request`` before authentication and
``end_request`` after the answer, so every answer (errors included) is counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from aiohttp import web

from .context import REQUEST_ID_HEADER, REQUEST_INFO_KEY, RequestInfo, begin, new_request_id
from .errors import error_response
from .metrics import BYTES, child, in_flight, request_children
from .state import RouterState

__all__ = [
    "MAX_HEADER_CHARS",
    "MAX_TARGET_CHARS",
    "begin_request",
    "client_gone",
    "end_request",
    "operation_of",
    "too_long",
]

# What our API legitimately carries: an ID we issue is a few hundred characters (a cloud
# resource name inside base64 stays under 2 KiB), a model name far less. The standalone
# server's parser accepts more than this (PARSER_LIMIT), so longer heads reach this
# middleware and get an OpenAI-shaped answer instead of aiohttp's plain-text 400.
MAX_TARGET_CHARS = 8 * 1024
MAX_HEADER_CHARS = 8 * 1024
PARSER_LIMIT = 64 * 1024
CLIENT_CLOSED = 499  # nginx's code for "the client closed the connection first"

_value_of = itemgetter(1)
_NOUNS = frozenset({"file", "files", "batch", "batches"})
_operations: dict[Callable[..., Any], str] = {}


def operation_of(handler: Callable[..., Any]) -> str:
    """``files.retrieve`` for ``handlers.files.retrieve_file``: a bounded metrics label."""
    name = _operations.get(handler)
    if name is None:
        module = getattr(handler, "__module__", "").rsplit(".", 1)[-1]
        words = [w for w in getattr(handler, "__name__", "").split("_") if w not in _NOUNS]
        name = f"{module}.{'_'.join(words) or 'call'}"
        _operations[handler] = name
    return name


def client_gone(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def too_long(request: web.Request) -> web.Response | None:
    if len(request.raw_path) > MAX_TARGET_CHARS:
        return error_response(
            414,
            f"The request path and query are longer than {MAX_TARGET_CHARS} characters.",
            code="uri_too_long",
        )
    raw = request.raw_headers
    # The longest value found in C first: most requests have nothing too long to name.
    if max(map(len, map(_value_of, raw)), default=0) <= MAX_HEADER_CHARS:
        return None
    for name, value in raw:
        if len(value) > MAX_HEADER_CHARS:
            header = name.decode("latin-1")[:100]
            return error_response(
                431,
                f"Header '{header}' is longer than {MAX_HEADER_CHARS} characters.",
                param=header,
                code="header_too_long",
            )
    return None


def begin_request(request: web.Request, state: RouterState) -> RequestInfo:
    info = begin(new_request_id(request.headers.get(REQUEST_ID_HEADER)))
    request[REQUEST_INFO_KEY] = info
    match = request.match_info
    resource = match.route.resource
    if resource is not None:
        info.route = resource.canonical
        info.operation = operation_of(match.handler)
    if not state.in_flight:
        state.idle.clear()
    state.in_flight += 1
    in_flight(1)
    return info


def end_request(
    request: web.Request,
    state: RouterState,
    info: RequestInfo,
    response: web.StreamResponse | None,
) -> None:
    """``response`` is None when an exception escaped the router (counted as a 500)."""
    state.in_flight -= 1
    if not state.in_flight:
        state.idle.set()
    in_flight(-1)
    if response is not None:
        status = response.status
    elif client_gone(request):
        info.client_gone = True
        status = CLIENT_CLOSED
    else:
        status = 500
    account = info.account or "-"
    count, seconds = request_children(request.method, info.route, info.model or "-", str(status))
    count.inc()
    seconds.observe(time.perf_counter() - info.started)
    received = request.content.total_bytes
    if received:
        child(BYTES, "upload", account).inc(received)
    sent = _body_bytes(response)
    if sent:
        child(BYTES, "download", account).inc(sent)


def _body_bytes(response: web.StreamResponse | None) -> int:
    if response is None:
        return 0
    if response.prepared:
        return response.body_length
    return response.content_length or 0
