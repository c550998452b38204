"""One exception hierarchy for everything the router refuses, rendered as OpenAI error JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from aiohttp import web

from .jsoncodec import ENCODER as _encoder

__all__ = [
    "AccountUnavailable",
    "BadRequest",
    "DownloadCut",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "RouterError",
    "Unauthorized",
    "UnsupportedMediaType",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "clip",
    "error_body",
    "error_response",
    "for_log",
]


CLIP_CHARS = 200


def clip(value: str, limit: int = CLIP_CHARS) -> str:
    """A client's value as an error message quotes it: at most ``limit`` characters."""
    return value if len(value) <= limit else value[:limit] + "..."


class RouterError(Exception):
    """An error the router answers itself; carries its HTTP meaning.

    A subclass names that meaning in its header, each part inherited where not given:
    ``class NotFound(RouterError, status=404, code="not_found")``.
    """

    status = 400
    type = "invalid_request_error"
    default_code: str | None = None

    def __init_subclass__(
        cls,
        *,
        status: int | None = None,
        type: str | None = None,
        code: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if type is not None:
            cls.type = type
        if code is not None:
            cls.default_code = code

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        detail: str | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.detail = detail  # for the log only, never the client
        # Upstream headers the answer relays (its request ID) when an upstream answered.
        self.headers: dict[str, str] = dict(headers or {})

    def response(self) -> web.Response:
        resp = error_response(self.status, self.message, self.type, self.param, self.code)
        resp.headers.update(self.headers)
        return resp


class BadRequest(RouterError, status=400): ...


class Unauthorized(RouterError, status=401, code="invalid_api_key"): ...


class PermissionDenied(
    RouterError, status=403, type="permission_error", code="model_not_allowed"
): ...


class NotFound(RouterError, status=404, code="not_found"): ...


class PayloadTooLarge(RouterError, status=413, code="file_too_large"): ...


class UnsupportedMediaType(RouterError, status=415, code="unsupported_media_type"): ...


class AccountUnavailable(
    RouterError, status=503, type="server_error", code="account_unavailable"
): ...


class UpstreamUnavailable(
    RouterError, status=502, type="server_error", code="upstream_unavailable"
): ...


class UpstreamTimeout(RouterError, status=504, type="server_error", code="upstream_timeout"): ...


# Control characters (CR and LF above all) and Unicode line breaks, so that a value a caller
# chose cannot start a forged log line; the backslash too, so the escaping is unambiguous.
_LOG_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, 0x85, 0x2028, 0x2029)}
_LOG_ESCAPES.update({ord("\r"): "\\r", ord("\n"): "\\n", ord("\t"): "\\t", ord("\\"): "\\\\"})


def for_log(value: object) -> str:
    """``value`` as text safe to put in a log line."""
    text = str(value)
    # Every character escaped above but the backslash is unprintable, and isprintable() is
    # a fraction of translate()'s cost: the access log escapes several values per request.
    if text.isprintable() and "\\" not in text:
        return text
    return text.translate(_LOG_ESCAPES)


class DownloadCut(ConnectionResetError):
    """The upstream failed after the answer's headers were sent: the handler logged it and
    cut the client's connection, the only honest signal left."""


class _ErrorBody(msgspec.Struct):
    message: str
    type: str
    param: str | None
    code: str | None


class _ErrorEnvelope(msgspec.Struct):
    error: _ErrorBody


def error_body(message: str, type: str, param: str | None = None, code: str | None = None) -> bytes:
    return _encoder.encode(_ErrorEnvelope(_ErrorBody(message, type, param, code)))


def error_response(
    status: int,
    message: str,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> web.Response:
    return web.Response(
        status=status,
        body=error_body(message, type, param, code),
        content_type="application/json",
    )
