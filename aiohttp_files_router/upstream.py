"""Calls to provider accounts on the shared ClientSession: error mapping, redaction, streaming.

Transport failures map to 502, timeouts to 504 (as Go's ReverseProxy maps them to one status);
upstream internals are not echoed. Upstream error bodies pass through with their status,
normalised to the OpenAI error shape and scrubbed of the account's own secrets.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .errors import RouterError, UpstreamTimeout, UpstreamUnavailable, error_body

__all__ = [
    "ContentStream",
    "UpstreamReply",
    "fetch_json",
    "normalise_error",
    "open_stream",
    "redact",
]

MAX_JSON_BYTES = 64 * 1024 * 1024
STREAM_CHUNK = 256 * 1024
# Reading ahead in megabytes keeps a streamed body moving without pausing the socket often.
STREAM_BUFFER = 4 * 1024 * 1024

_error_probe = msgspec.json.Decoder(dict[str, Any])


@dataclass
class UpstreamReply:
    """A JSON answer from an account: OpenAI-shaped, whatever the provider's own shape."""

    status: int
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class ContentStream:
    status: int
    headers: Mapping[str, str]
    chunks: AsyncIterator[bytes]
    error: UpstreamReply | None = None


def redact(data: bytes, secrets: Iterable[str]) -> bytes:
    for secret in secrets:
        if secret and len(secret) >= 4:
            data = data.replace(secret.encode(), b"***")
    return data


def normalise_error(status: int, body: bytes, secrets: Iterable[str]) -> UpstreamReply:
    if 300 <= status < 400:
        # Redirects are never followed (credentials would go where the Location says), and
        # a redirect without its Location means nothing to the client: a gateway error.
        return UpstreamReply(
            502,
            error_body(
                f"The upstream account answered with a redirect (HTTP {status}); "
                "the router does not follow redirects.",
                "upstream_error",
            ),
        )
    body = redact(body, secrets)
    try:
        obj = _error_probe.decode(body)
    except msgspec.DecodeError:
        obj = None
    if obj is not None and isinstance(obj.get("error"), dict):
        err = obj["error"]
        if isinstance(err.get("message"), str) and "type" in err:
            return UpstreamReply(status, body)
        message = err.get("message")
        return UpstreamReply(
            status,
            error_body(
                message if isinstance(message, str) else f"upstream answered HTTP {status}",
                "upstream_error",
                None,
                str(err["code"]) if err.get("code") is not None else None,
            ),
        )
    # Gateways in front of some providers answer {"statusCode": .., "message": ..}.
    message = obj.get("message") if obj is not None else None
    return UpstreamReply(
        status,
        error_body(
            message if isinstance(message, str) else f"upstream answered HTTP {status}",
            "upstream_error",
            None,
            None,
        ),
    )


def _transport_error(err: BaseException, account: str) -> RouterError:
    # Logged where it is answered (the middleware): an upload stopped on purpose also ends
    # in a transport error here, and is answered as what it really was.
    detail = type(err).__name__
    if isinstance(err, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return UpstreamTimeout(
            f"The upstream account for '{account}' did not answer in time.", detail=detail
        )
    return UpstreamUnavailable(
        f"The upstream account for '{account}' could not be reached.", detail=detail
    )


async def _read_capped(resp: aiohttp.ClientResponse, account: str) -> bytes:
    if resp.content_length is not None and resp.content_length > MAX_JSON_BYTES:
        raise UpstreamUnavailable(f"The upstream account for '{account}' answered too much.")
    buf = bytearray()
    async for chunk in resp.content.iter_chunked(STREAM_CHUNK):
        buf += chunk
        if len(buf) > MAX_JSON_BYTES:
            raise UpstreamUnavailable(f"The upstream account for '{account}' answered too much.")
    return bytes(buf)


async def fetch_json(
    http: aiohttp.ClientSession,
    method: str,
    url: URL,
    *,
    account: str,
    secrets: Iterable[str],
    headers: Mapping[str, str],
    timeout: aiohttp.ClientTimeout,
    params: Mapping[str, str] | None = None,
    data: Any = None,
) -> UpstreamReply:
    """One request whose answer is JSON; non-2xx answers come back normalised."""
    try:
        async with http.request(
            method,
            url,
            headers=headers,
            params=params,
            data=data,
            timeout=timeout,
            allow_redirects=False,
        ) as resp:
            body = await _read_capped(resp, account)
            status = resp.status
    except (TimeoutError, aiohttp.ClientError) as err:
        raise _transport_error(err, account) from None
    if 200 <= status < 300:
        return UpstreamReply(status, body)
    return normalise_error(status, body, secrets)


_PASS_HEADERS = ("Content-Type", "Content-Length", "Content-Disposition")


@asynccontextmanager
async def open_stream(
    http: aiohttp.ClientSession,
    url: URL,
    *,
    account: str,
    secrets: Iterable[str],
    headers: Mapping[str, str],
    timeout: aiohttp.ClientTimeout,
    params: Mapping[str, str] | None = None,
) -> AsyncIterator[ContentStream]:
    """A streamed download; ``error`` is set instead of ``chunks`` when upstream refuses."""
    try:
        resp = await http.get(
            url,
            headers=headers,
            params=params,
            timeout=timeout,
            allow_redirects=False,
        )
    except (TimeoutError, aiohttp.ClientError) as err:
        raise _transport_error(err, account) from None
    try:
        if not 200 <= resp.status < 300:
            try:
                body = await _read_capped(resp, account)
            except (TimeoutError, aiohttp.ClientError) as err:
                raise _transport_error(err, account) from None
            reply = normalise_error(resp.status, body, secrets)
            yield ContentStream(resp.status, {}, _empty(), error=reply)
            return
        kept = CIMultiDict((h, resp.headers[h]) for h in _PASS_HEADERS if h in resp.headers)
        yield ContentStream(resp.status, CIMultiDictProxy(kept), _chunks(resp, account))
    finally:
        resp.release()


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


async def _chunks(resp: aiohttp.ClientResponse, account: str) -> AsyncIterator[bytes]:
    try:
        async for chunk in resp.content.iter_any():
            yield chunk
    except (TimeoutError, aiohttp.ClientError) as err:
        raise _transport_error(err, account) from None
