"""The fakes compress their JSON answers, as real upstreams do.

OpenAI's API answers gzip-compressed JSON, and brotli even to clients that did not ask for it
(reported in NextChat PR 3215, spring-ai issue 2345, BricksLLM PR 74); Azure's gateways and
Google's front ends compress too. So every fake answers JSON in the coding it prefers (gzip
unless told otherwise) when the client accepts it, in another coding the client accepts
otherwise, and, in ``unasked`` mode, in its preferred coding whatever the client said.
File downloads are compressed too when ``files`` is set (gzip or deflate only: the codings
aiohttp's server streams).

A fake is set through its ``compression`` attribute (``Compression()`` when it has none).
"""

from __future__ import annotations

import gzip
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import brotli  # type: ignore[import-untyped]  # Brotli ships no type hints
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from aiohttp.web_response import ContentCoding

from .base import Answer

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

__all__ = ["CODINGS", "FILE_CODINGS", "Compression", "middleware"]

CODINGS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,  # RFC 9110's "deflate" is the zlib format
    "br": brotli.compress,
    "zstd": zstd.compress,
}

FILE_CODINGS = ("gzip", "deflate")


@dataclass
class Compression:
    coding: str = "gzip"  # preferred coding; "identity" turns compression off
    unasked: bool = False  # compress with ``coding`` even when the client did not accept it
    files: bool = False  # compress file downloads too (gzip or deflate)


def _accepted(header: str) -> list[str]:
    out = []
    for item in header.split(","):
        coding, _, params = item.partition(";")
        if params.replace(" ", "").lower() in ("q=0", "q=0.0", "q=0.00", "q=0.000"):
            continue
        out.append(coding.strip().lower())
    return out


def _choose(settings: Compression, request: web.Request) -> str | None:
    if settings.coding == "identity":
        return None
    if settings.unasked:
        return settings.coding
    accepted = _accepted(request.headers.get(hdrs.ACCEPT_ENCODING, ""))
    if settings.coding in accepted or "*" in accepted:
        return settings.coding
    return next((c for c in CODINGS if c in accepted), None)


def middleware(fake: Any) -> Any:
    """The compressing middleware of ``fake`` (outermost, so it sees every answer)."""

    @web.middleware
    async def compress(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except Answer as answer:  # an error answer is compressed like any other
            response = answer.response
        settings: Compression = getattr(fake, "compression", None) or Compression()
        coding = _choose(settings, request)
        if coding is None or response.prepared or hdrs.CONTENT_ENCODING in response.headers:
            return response
        if isinstance(response, web.Response) and response.content_type == "application/json":
            body = response.body
            if isinstance(body, bytes) and body:
                response.body = CODINGS[coding](body)
                response.headers[hdrs.CONTENT_ENCODING] = coding
                response.headers[hdrs.VARY] = hdrs.ACCEPT_ENCODING
        elif settings.files and isinstance(response, web.FileResponse) and coding in FILE_CODINGS:
            response.enable_compression(ContentCoding(coding))
        return response

    return compress
