"""One access log line per request, cheaper than aiohttp's format-string logger.

aiohttp's default logger parses nothing per request but formats a dozen atoms, with a
strftime, whether or not they are wanted (a large share of a files.retrieve's CPU:
benchmarks/README.md). This
one formats one f-string of what an operator follows a request by, from what the router
already knows (``RequestInfo``), and nothing at all when INFO is off.

``text`` lines read::

    <request id> GET /v1/files/{file_id} 200 in=0 out=312 1.2ms model=gpt-4o account=gpt-4o
    upstream=200 0.9ms upstream_id=req_abc

``json``: the same fields as keys of one JSON object per line (with ``--log-format json``).
"""

from __future__ import annotations

import logging
import sys
import time as _time
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from .context import REQUEST_INFO_KEY
from .errors import for_log
from .jsoncodec import ENCODER
from .observe import CLIENT_CLOSED

__all__ = ["ACCESS_LOGGER", "AccessLogger", "JsonFormatter", "TextFormatter"]

ACCESS_LOGGER = logging.getLogger("aiohttp_files_router.access")


class AccessLogger(AbstractAccessLogger):
    """``log_format`` is ``"text"`` or ``"json"`` (``web.run_app(access_log_format=...)``)."""

    __slots__ = ("_json",)

    def __init__(self, logger: logging.Logger, log_format: str) -> None:
        super().__init__(logger, log_format)
        self._json = log_format == "json"

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        info = request.get(REQUEST_INFO_KEY)
        status = response.status
        if info is None:
            rid, route, model, account, up_status, up_ms, up_id = (
                "-",
                request.path[:200],
                "-",
                "-",
                "-",
                0.0,
                "-",
            )
            shown_route = for_log(route)
        else:
            # The ID passed new_request_id's check and the route is a template: both the
            # router's own text, with nothing to escape.
            rid, route = info.request_id, info.route
            shown_route = route
            model, account = info.model or "-", info.account or "-"
            up_status = "-" if info.upstream_status is None else str(info.upstream_status)
            up_ms = info.upstream_seconds * 1000
            up_id = info.upstream_request_id or "-"
            if info.client_gone:
                status = CLIENT_CLOSED
        received = request.content.total_bytes
        sent = response.body_length
        ms = time * 1000
        # Values a caller or an upstream chose are escaped: no CR/LF starts a forged line.
        line = (
            f"{rid} {for_log(request.method)} {shown_route} {status} "
            f"in={received} out={sent} {ms:.1f}ms model={for_log(model)} "
            f"account={for_log(account)} upstream={up_status} {up_ms:.1f}ms "
            f"upstream_id={for_log(up_id)}"
        )
        extra: dict[str, Any] = {"request_id": rid, "upstream_request_id": up_id}
        if self._json:
            extra["access"] = {
                "method": request.method,
                "route": route,
                "status": status,
                "bytes_in": received,
                "bytes_out": sent,
                "duration_ms": round(ms, 3),
                "model": model,
                "account": account,
                "upstream_status": up_status,
                "upstream_ms": round(up_ms, 3),
            }
        # What logger.info() does, without its search of the stack for the caller: the
        # record names this function and line, as findCaller() would.
        logger = self.logger
        if logger.isEnabledFor(logging.INFO):
            frame = sys._getframe()
            logger.handle(
                logger.makeRecord(
                    logger.name,
                    logging.INFO,
                    frame.f_code.co_filename,
                    frame.f_lineno,
                    line,
                    (),
                    None,
                    frame.f_code.co_name,
                    extra,
                )
            )


_encode = ENCODER.encode


class TextFormatter(logging.Formatter):
    """``logging.Formatter`` whose default ``asctime`` is worked out once a second.

    ``formatTime`` calls ``localtime`` and ``strftime`` for every record; only the
    milliseconds change within a second, and every request writes an access line.
    """

    _second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        cached, text = self._second  # one tuple: threads sharing this formatter agree
        if cached != second:
            text = _time.strftime(self.default_time_format, self.converter(record.created))
            self._second = (second, text)
        if self.default_msec_format:
            return self.default_msec_format % (text, record.msecs)
        return text


class JsonFormatter(TextFormatter):
    """One JSON object per line: time, level, logger, message, request IDs, access fields."""

    def format(self, record: logging.LogRecord) -> str:
        obj: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "upstream_request_id": getattr(record, "upstream_request_id", "-"),
        }
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            obj.update(access)
        if record.exc_info:
            obj["exception"] = self.formatException(record.exc_info)
        return _encode(obj).decode()
