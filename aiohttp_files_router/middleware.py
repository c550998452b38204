"""The sub-application's middlewares: OpenAI-shaped errors (outer), proxy keys (inner)."""

from __future__ import annotations

import asyncio
import logging
import traceback

from aiohttp import web
from aiohttp.typedefs import Handler

from .auth import bind_principal, unbind_principal
from .errors import DownloadCut, RouterError, clip, error_response, for_log
from .handlers.health import PUBLIC_HANDLERS
from .keys import state_of
from .observe import CLIENT_CLOSED, client_gone

__all__ = ["authenticate", "openai_errors"]

logger = logging.getLogger(__package__)

_TYPES = {401: "invalid_request_error", 403: "permission_error", 404: "invalid_request_error"}


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Checks the proxy key and binds its principal for the handler (auth.current_principal).

    Health and metrics handlers check the master key themselves. A missing or wrong key
    raises RouterError (401), which ``openai_errors`` answers.
    """
    if request.match_info.handler in PUBLIC_HANDLERS:
        return await handler(request)
    principal = state_of(request).keyring.authenticate(request)
    token = bind_principal(principal)
    try:
        return await handler(request)
    finally:
        unbind_principal(token)


@web.middleware
async def openai_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error below it as an OpenAI error answer; never a traceback to the client."""
    try:
        return await handler(request)
    except RouterError as err:
        if err.status >= 500 and client_gone(request):
            # The upstream call failed because the client's own body stopped: not the
            # account's fault, and nobody is left to answer.
            logger.info(
                "%s %s: the client disconnected", for_log(request.method), for_log(request.path)
            )
            return web.Response(status=CLIENT_CLOSED)
        if err.status >= 500:
            logger.warning(
                "%s %s -> %d: %s%s",
                for_log(request.method),
                for_log(request.path),
                err.status,
                for_log(err.message),
                f" ({for_log(err.detail)})" if err.detail else "",
            )
        return err.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        status = exc.status
        message = (
            exc.reason if status != 404 else f"Unknown path: {request.method} {clip(request.path)}"
        )
        return error_response(status, message, _TYPES.get(status, "invalid_request_error"))
    except DownloadCut:
        return web.Response(status=502)  # logged where it happened; the connection is cut
    except ConnectionError:
        if not client_gone(request):
            raise
        # Answered to nobody; returned rather than raised, so aiohttp logs no traceback.
        logger.info(
            "%s %s: the client disconnected", for_log(request.method), for_log(request.path)
        )
        return web.Response(status=CLIENT_CLOSED)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
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
