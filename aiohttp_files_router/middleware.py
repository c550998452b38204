"""The sub-application's one middleware: request ID and metrics, proxy keys, OpenAI errors.

One layer instead of three: aiohttp wraps each middleware in a call and a coroutine per
request. The request ID header is set here too, on every answer that passes through,
instead of in ``on_response_prepare`` (a signal sent on every response).
"""

from __future__ import annotations

import asyncio
import logging
import traceback

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp.web_protocol import RequestPayloadError

from .auth import bind_principal
from .context import REQUEST_ID_HEADER
from .errors import DownloadCut, RouterError, clip, error_response, for_log
from .handlers.health import PUBLIC_HANDLERS
from .keys import state_of
from .observe import CLIENT_CLOSED, begin_request, client_gone, end_request, too_long

__all__ = ["quiet_refused_bodies", "router_middleware"]

logger = logging.getLogger(__package__)

_TYPES = {401: "invalid_request_error", 403: "permission_error", 404: "invalid_request_error"}


@web.middleware
async def router_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Observes the request (observe.py), answers an oversized head, checks the proxy key,
    and turns every error below it into an OpenAI error answer, never a traceback.

    Health and metrics handlers check the master key themselves. The principal a key
    names is bound for the handler (auth.current_principal): each request runs in a task
    of its own, whose context ends with it, so nothing needs unbinding.
    """
    state = state_of(request)
    info = begin_request(request, state)
    response: web.StreamResponse | None = None
    try:
        answer: web.StreamResponse | None = too_long(request)
        if answer is None:
            try:
                if request.match_info.handler not in PUBLIC_HANDLERS:
                    if state.keys_only:
                        bind_principal(state.keyring.authenticate(request))
                    else:
                        bind_principal(await state.identify(request))
                answer = await handler(request)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                found = _error_answer(request, exc, info.request_id)
                if found is None:
                    raise
                answer = found
        if not answer.prepared:  # a streamed download set it before sending its headers
            answer.headers[REQUEST_ID_HEADER] = info.request_id
        if state.draining:
            answer.force_close()  # a kept-alive connection must not bring new work
        response = answer
        return answer
    finally:
        end_request(request, state, info, response)


def _error_answer(
    request: web.Request, exc: Exception, request_id: str
) -> web.StreamResponse | None:
    """The answer to an error a handler raised; None: let aiohttp handle it."""
    if isinstance(exc, RouterError):
        if exc.status >= 500 and client_gone(request):
            # The upstream call failed because the client's own body stopped: not the
            # account's fault, and nobody is left to answer.
            _log_gone(request)
            return web.Response(status=CLIENT_CLOSED)
        if exc.status >= 500:
            logger.warning(
                "%s %s -> %d: %s%s",
                for_log(request.method),
                for_log(request.path),
                exc.status,
                for_log(exc.message),
                f" ({for_log(exc.detail)})" if exc.detail else "",
            )
        return exc.response()
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            exc.headers[REQUEST_ID_HEADER] = request_id  # aiohttp sends it as it is
            return None
        status = exc.status
        message = (
            exc.reason if status != 404 else f"Unknown path: {request.method} {clip(request.path)}"
        )
        return error_response(status, message, _TYPES.get(status, "invalid_request_error"))
    if isinstance(exc, DownloadCut):
        return web.Response(status=502)  # logged where it happened; the connection is cut
    if isinstance(exc, ConnectionError):
        if client_gone(request):
            # Answered to nobody; returned rather than raised, so aiohttp logs no traceback.
            _log_gone(request)
            return web.Response(status=CLIENT_CLOSED)
        if request.writer.output_size:
            return None  # nothing more can be sent; aiohttp gives up on the connection
        # aiohttp's own answer to an unhandled error (it logs the traceback), made here so
        # that it carries the request ID.
        return request.protocol.handle_error(request, 500, exc)
    # One line, no traceback (frames can carry request data); the full one at DEBUG.
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    logger.error(
        "unexpected %s serving %s %s at %s:%d",
        type(exc).__name__,
        for_log(request.method),
        for_log(request.path),
        frame.filename.rsplit("/", 1)[-1],
        frame.lineno,
    )
    logger.debug("traceback of the unexpected error", exc_info=True)
    return error_response(
        500, "The router failed unexpectedly; the error is in its log.", "server_error"
    )


def _log_gone(request: web.Request) -> None:
    logger.info("%s %s: the client disconnected", for_log(request.method), for_log(request.path))


class _RefusedBodies(logging.Filter):
    """After answering, aiohttp reads what is left of a request body (its lingering close).
    A body it cannot decode (``Content-Encoding: gzip`` on bytes that are not gzip, which the
    router refused with a 415 before reading them) fails that read, and aiohttp logs an
    "Unhandled exception" with three chained tracebacks for what is the client's error,
    already answered: this makes it one INFO line."""

    def filter(self, record: logging.LogRecord) -> bool:
        err = record.exc_info[1] if record.exc_info else None
        if isinstance(err, RequestPayloadError) and record.levelno > logging.INFO:
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            record.msg = "the rest of a request body could not be read: %s"
            record.args = (for_log(" ".join(str(err).split())),)
            record.exc_info = record.exc_text = None
        return True


def quiet_refused_bodies() -> None:
    """Install the filter above on aiohttp's server logger (once)."""
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _RefusedBodies) for f in server.filters):
        server.addFilter(_RefusedBodies())
