"""Every call to a provider account, under one answer policy (``_attempts``), whichever part
of the transport (transport.py) carries it: error mapping, redaction, repeats, redirects,
metrics and request IDs, streaming.

Transport failures map to 502, timeouts to 504 (as Go's ReverseProxy maps them to one status);
upstream internals are not echoed. Upstream error bodies pass through with their status,
normalised to the OpenAI error shape and scrubbed of the account's own secrets.

Upstreams speak HTTP as real services do (docs/upstreams.md): JSON answers are decoded whatever
content coding aiohttp knows (gzip, deflate, br, zstd), asked for or not, and capped by their
decoded size; downloads keep a coding the client accepts and are decoded while streaming for
one that does not; a request a lost connection took is repeated on a fresh connection only
when it is safe to repeat, and a POST is never sent twice; redirects are never followed;
rate-limit headers of a 429 or 5xx and the upstream's request ID are relayed to the client.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, TypeVar, runtime_checkable
from urllib.parse import quote

import aiohttp
import msgspec
from aiohttp import hdrs
from aiohttp.compression_utils import HAS_BROTLI, HAS_ZSTD
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .context import Called, RequestInfo, current_info
from .errors import RouterError, UpstreamTimeout, UpstreamUnavailable, error_body, for_log
from .jsoncodec import ENCODER as _json
from .jsoncodec import OBJECT as _error_probe
from .metrics import upstream_done
from .transport import STREAM_BUFFER, Transport, Wire, plain

__all__ = [
    "DECODED_CODINGS",
    "RESUME_INCOMPLETE",
    "SAFE_TO_REPEAT",
    "STREAM_BUFFER",
    "UPSTREAM_REQUEST_ID",
    "Answer",
    "Auth",
    "CallSettings",
    "Called",
    "ContentStream",
    "ErrorShape",
    "RequestSigner",
    "Rewrite",
    "StaticAuth",
    "Upstream",
    "UpstreamReply",
    "accepted_codings",
    "exchange",
    "fetch_json",
    "normalise_error",
    "read_body",
    "redact",
    "relayed_headers",
]

logger = logging.getLogger(__package__)

MAX_JSON_BYTES = 64 * 1024 * 1024
STREAM_CHUNK = 256 * 1024

# The content codings aiohttp decodes (with Brotli and backports.zstd installed, as
# install_requires has them), in the order a download prefers to keep them.
DECODED_CODINGS: tuple[str, ...] = tuple(
    coding
    for coding, usable in (
        ("zstd", HAS_ZSTD),
        ("br", HAS_BROTLI),
        ("gzip", True),
        ("deflate", True),
    )
    if usable
)
UPSTREAM_REQUEST_ID = "x-upstream-request-id"
# What ``quote(s, safe="")`` leaves as it is (RFC 3986 unreserved): most IDs, checked faster.
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")
# Relayed from a 429 or 5xx, so a client's own backoff (the openai SDK's) works through us.
RETRY_HEADERS = ("retry-after", "retry-after-ms")
RATE_LIMIT_PREFIX = "x-ratelimit-"
_JSON_TYPE = {"Content-Type": "application/json"}


@dataclass
class UpstreamReply:
    """A JSON answer from an account: OpenAI-shaped, whatever the provider's own shape."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)  # relayed to the client

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class ContentStream:
    status: int
    headers: Mapping[str, str]
    chunks: AsyncIterator[bytes]
    error: UpstreamReply | None = None


def relayed_headers(
    status: int, headers: Mapping[str, str], id_headers: Iterable[str] = ()
) -> CIMultiDict[str]:
    """What of an upstream answer's headers the client gets: the request ID (from the first
    of the provider's ``id_headers`` present), backoff hints."""
    out: CIMultiDict[str] = CIMultiDict()
    for name in id_headers:
        if name in headers:
            out[UPSTREAM_REQUEST_ID] = headers[name]
            break
    if status == 429 or status >= 500:
        for name, value in headers.items():
            low = name.lower()
            if low in RETRY_HEADERS or low.startswith(RATE_LIMIT_PREFIX):
                out.add(name, value)
    return out


def accepted_codings(accept_encoding: str) -> frozenset[str]:
    """The codings of DECODED_CODINGS an ``Accept-Encoding`` header accepts (q > 0)."""
    accepted: set[str] = set()
    refused: set[str] = set()
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        (accepted if q > 0 else refused).add(coding)
    if "*" in accepted:
        accepted |= set(DECODED_CODINGS) - refused
    return frozenset(accepted & set(DECODED_CODINGS))


def redact(data: bytes, secrets: Iterable[str]) -> bytes:
    for secret in secrets:
        if secret and len(secret) >= 4:
            data = data.replace(secret.encode(), b"***")
    return data


def normalise_error(
    status: int,
    body: bytes,
    secrets: Iterable[str],
    headers: Mapping[str, str] | None = None,
) -> UpstreamReply:
    """An upstream error answer in the OpenAI shape; ``headers`` are the ones to relay."""
    relay = dict(headers or {})
    body = redact(body, secrets)
    try:
        obj = _error_probe.decode(body)
    except msgspec.DecodeError:
        obj = None
    message: Any = None
    code: str | None = None
    if obj is not None and isinstance(obj.get("error"), dict):
        err = obj["error"]
        if isinstance(err.get("message"), str) and "type" in err:
            return UpstreamReply(status, body, relay)
        message = err.get("message")
        code = str(err["code"]) if err.get("code") is not None else None
    elif obj is not None:
        # Gateways in front of some providers answer {"statusCode": .., "message": ..}.
        message = obj.get("message")
    if not isinstance(message, str):
        message = f"upstream answered HTTP {status}"
    return UpstreamReply(status, error_body(message, "upstream_error", None, code), relay)


def _called(called: Called | str) -> Called:
    return Called(called) if isinstance(called, str) else called


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


# -- one exchange: the answer policy ---------------------------------------------------------
# How a connection the upstream closed fails a request sent on it: before any answer, with the
# peer gone. A connection that could not be made is not among them (nothing was sent).
_LOST = (
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientOSError,
    aiohttp.ClientConnectionResetError,
)
# Requests the same again leave the upstream as one would (RFC 9110 9.2.2): repeated after a
# lost connection. Any other (POST: a batch or a job created, an upload begun) is never sent
# twice. One whose body is held whole goes on a new connection instead of a pooled one that
# may have gone stale; a streamed upload stays on the pool (a new connection per upload cost
# router CPU per GiB: benchmarks/README.md), where a stale connection fails it with a 502 and
# the client uploads again.
SAFE_TO_REPEAT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# The one answer in 300-399 that is no redirect, and where it is taken as an answer: a
# resumable upload protocol keeps a chunk with "308 Resume Incomplete" (no Location), taken
# only by a call that says ``resumable`` (docs/upstreams.md names the storage that does).
# Every other 3xx from every call is a 502: never followed (the account's credentials must
# not reach another host, and a streamed body cannot be sent twice), never passed on.
RESUME_INCOMPLETE = 308


def _whole(data: Any) -> bool:
    """Whether a request body is held whole (none, bytes, text, a form's fields)."""
    return data is None or isinstance(data, (bytes, bytearray, str, Mapping))


def _repeatable(data: Any) -> bool:
    """Whether a request that was never answered may be sent again as it was.

    A body held whole (JSON, a form, none) is sent again in full; a streamed body only if
    not one byte of it was taken yet (aiohttp marks a payload consumed as it starts it): an
    upload under way is never replayed. File objects would resend only their unread rest.
    """
    if isinstance(data, aiohttp.payload.Payload):
        return not data.consumed
    return _whole(data)


class Answer(Protocol):
    """What of an upstream answer the readers below use: ``aiohttp.ClientResponse`` or
    ``smallcalls.SmallAnswer``."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> CIMultiDictProxy[str]: ...

    @property
    def content(self) -> aiohttp.StreamReader: ...

    @property
    def content_length(self) -> int | None: ...

    def release(self) -> Any: ...


A = TypeVar("A", bound=Answer)


def _with_request_id(
    info: RequestInfo | None, called: Called, headers: Mapping[str, str] | None
) -> Mapping[str, str] | None:
    # The request's ID goes upstream under the provider's own header.
    if info is None or called.client_id_header is None:
        return headers
    return {**(headers or {}), called.client_id_header: info.request_id}


def _unknown_outcome(err: BaseException, called: Called) -> RouterError:
    return UpstreamUnavailable(
        f"The connection to the upstream account for '{called.route}' was lost after the "
        "request was sent: whether it was carried out is unknown. It was not sent again; "
        "look before repeating it.",
        detail=type(err).__name__,
    )


async def _attempts(
    send: Callable[[bool], Awaitable[A]],
    info: RequestInfo | None,
    called: Called,
    *,
    method: str,
    url: URL,
    retries: int,
    repeatable: Callable[[], bool],
    resumable: bool = False,
    whole: bool = True,
) -> A:
    """``send(fresh)`` until it is answered, under the one answer policy.

    A request a lost connection took is sent again (``fresh``) up to ``retries`` times when
    it is safe to repeat (``SAFE_TO_REPEAT``) and ``repeatable()``; any other request is never
    sent twice (502, outcome unknown), and goes on a fresh connection from the start when its
    body is held whole (``whole``). A 3xx is a 502 (``RESUME_INCOMPLETE`` taken as an answer
    when ``resumable``). Every attempt is timed and counted (metrics, the access line) against
    ``called`` here rather than in a TraceConfig: cheaper, and on every session. Transport
    failures raise RouterError (502/504).
    """
    safe = method in SAFE_TO_REPEAT
    attempt = 0
    while True:
        started = time.perf_counter()
        try:
            answer = await send(attempt > 0 or (whole and not safe))
        except aiohttp.ClientConnectorError as err:
            upstream_done(info, called, started, None)
            raise _transport_error(err, called.route) from None
        except _LOST as err:
            upstream_done(info, called, started, None)
            if not safe:
                raise _unknown_outcome(err, called) from None
            if attempt >= retries or not repeatable():
                raise _transport_error(err, called.route) from None
            attempt += 1
            logger.info(
                "account %s: %s %s lost on a stale connection (%s); repeating it",
                called.route,
                method,
                for_log(url.path),
                type(err).__name__,
            )
            continue
        except (OSError, TimeoutError, aiohttp.ClientError, HttpProcessingError) as err:
            upstream_done(info, called, started, None)
            raise _transport_error(err, called.route) from None
        except BaseException:
            upstream_done(info, called, started, None)
            raise
        upstream_done(info, called, started, answer)
        status = answer.status
        if 300 <= status < 400 and not (resumable and status == RESUME_INCOMPLETE):
            relay = relayed_headers(status, answer.headers, called.upstream_id_headers)
            answer.release()
            raise UpstreamUnavailable(
                f"The upstream account for '{called.route}' answered with a redirect "
                f"(HTTP {status}), which the router does not follow.",
                headers=relay,
            )
        return answer


class Request(NamedTuple):
    """One request as it goes out (``Upstream`` applied the account's query and auth)."""

    method: str
    url: URL
    headers: Mapping[str, str] | None
    params: Mapping[str, str] | None
    data: Any


class CallSettings(Protocol):
    """What every call of one account carries, whichever path takes it (an ``Upstream`` is
    one): the deployment called, its timeout and repeats, the values scrubbed from answers."""

    @property
    def called(self) -> Called: ...

    @property
    def timeout(self) -> aiohttp.ClientTimeout: ...

    @property
    def retries(self) -> int: ...

    @property
    def secrets(self) -> Iterable[str]: ...


@dataclass(frozen=True, slots=True)
class _Settings:
    """The ``CallSettings`` of a call made outside any ``Upstream`` (a token grant)."""

    called: Called
    timeout: aiohttp.ClientTimeout
    retries: int = 1
    secrets: Iterable[str] = ()


# How an adapter reads an account's answers: a 2xx body into OpenAI's shape; an error answer
# (raw, its relayed headers) in the provider's own error shape.
Rewrite = Callable[[bytes], bytes]
ErrorShape = Callable[[Answer, bytes, CIMultiDict[str]], UpstreamReply]


def exchange(
    http: aiohttp.ClientSession | Transport,
    method: str,
    url: URL,
    *,
    account: Called | str,
    timeout: aiohttp.ClientTimeout,
    retries: int = 1,
    decode: bool = True,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    data: Any = None,
    resumable: bool = False,
) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
    """One request on the session and its answer (headers read, body not), under the answer
    policy of ``_attempts`` (redirects, repeats, metrics), for a call no ``Upstream`` makes.

    ``decode``: aiohttp decodes the body's content coding. ``resumable``: a resumable
    upload's 308 is an answer. Transport failures raise RouterError (502/504).
    """
    return _exchange(
        _transport(http),
        _Settings(_called(account), timeout, retries),
        Request(method, url, headers, params, data),
        decode=decode,
        resumable=resumable,
    )


def _transport(http: aiohttp.ClientSession | Transport) -> Transport:
    return http if isinstance(http, Transport) else plain(http)


@asynccontextmanager
async def _exchange(
    transport: Transport,
    account: CallSettings,
    request: Request,
    *,
    retries: int | None = None,
    decode: bool = True,
    resumable: bool = False,
) -> AsyncIterator[aiohttp.ClientResponse]:
    method, url, headers, params, data = request
    called = account.called
    timeout = account.timeout
    info = current_info()
    headers = _with_request_id(info, called, headers)

    def send(fresh: bool) -> Awaitable[aiohttp.ClientResponse]:
        return (transport.fresh() if fresh else transport.session).request(
            method,
            url,
            headers=headers,
            params=params,
            data=data,
            timeout=timeout,
            allow_redirects=False,
            auto_decompress=decode,
        )

    try:
        resp = await _attempts(
            send,
            info,
            called,
            method=method,
            url=url,
            retries=account.retries if retries is None else retries,
            repeatable=lambda: _repeatable(data),
            resumable=resumable,
            whole=_whole(data),
        )
        try:
            yield resp
        finally:
            resp.release()
    finally:
        await transport.done()


# -- bodies --------------------------------------------------------------------------------
def _coding(resp: Answer) -> str:
    coding = resp.headers.get(hdrs.CONTENT_ENCODING, "").strip().lower()
    return "" if coding == "identity" else coding


def _decoded(resp: Answer, decode: bool) -> bool:
    """Whether aiohttp decoded the body (it decodes exactly these single codings)."""
    return decode and _coding(resp) in ("gzip", "deflate", "br", "zstd")


def _undecodable(account: str, coding: str, headers: Mapping[str, str]) -> RouterError:
    return UpstreamUnavailable(
        f"The upstream account for '{account}' answered with Content-Encoding '{coding}', "
        "which the router cannot decode.",
        headers=headers,
    )


async def read_body(
    resp: Answer,
    account: str,
    relay: Mapping[str, str] | None = None,
    *,
    decode: bool = True,
) -> bytes:
    """The whole (decoded) body of a JSON answer, capped by its decoded size."""
    relay = relay or {}
    coding = _coding(resp)
    if coding and not _decoded(resp, decode):
        raise _undecodable(account, coding, relay)
    length = None if coding else resp.content_length
    if length is not None and length > MAX_JSON_BYTES:
        raise _too_much(account, relay)
    try:
        if length is not None:
            # Its length is known and within the cap: read at once.
            return await resp.content.read()
        buf = bytearray()
        # aiohttp decodes a chunk at a time as it is read, so a small compressed body that
        # inflates to gigabytes stops here at the cap.
        async for chunk in resp.content.iter_chunked(STREAM_CHUNK):
            buf += chunk
            if len(buf) > MAX_JSON_BYTES:
                raise _too_much(account, relay)
    except aiohttp.ClientPayloadError as err:
        if coding:
            raise _undecodable(account, coding, relay) from None
        raise _transport_error(err, account) from None
    except (TimeoutError, aiohttp.ClientError) as err:
        raise _transport_error(err, account) from None
    return bytes(buf)


def _too_much(account: str, relay: Mapping[str, str]) -> RouterError:
    return UpstreamUnavailable(
        f"The upstream account for '{account}' answered too much.", headers=relay
    )


async def fetch_json(
    http: aiohttp.ClientSession | Transport,
    method: str,
    url: URL,
    *,
    account: Called | str,
    secrets: Iterable[str],
    headers: Mapping[str, str],
    timeout: aiohttp.ClientTimeout,
    params: Mapping[str, str] | None = None,
    data: Any = None,
    retries: int = 1,
) -> UpstreamReply:
    """One request whose answer is JSON, for a call no ``Upstream`` makes; non-2xx answers
    come back normalised."""
    settings = _Settings(_called(account), timeout, retries, secrets)
    return await _fetch_json(
        _transport(http), settings, Request(method, url, headers, params, data)
    )


async def _fetch_json(
    transport: Transport,
    account: CallSettings,
    request: Request,
    ok: Rewrite | None = None,
    error: ErrorShape | None = None,
) -> UpstreamReply:
    """A body held whole (or none) goes on the transport's ``smallcalls`` pool when it has
    one, anything else (forms, streams) on its session."""
    calls = transport.small
    method, url, headers, params, data = request
    if calls is None or not (data is None or isinstance(data, bytes)):
        async with _exchange(transport, account, request) as resp:
            return await _json_reply(resp, account, ok, error)
    timeout = account.timeout
    if timeout.total is not None:
        # The pool knows connect and read timeouts; a total one bounds the whole call here.
        within = _Settings(
            account.called,
            aiohttp.ClientTimeout(
                connect=timeout.connect,
                sock_connect=timeout.sock_connect,
                sock_read=timeout.sock_read,
            ),
            account.retries,
            account.secrets,
        )
        try:
            async with asyncio.timeout(timeout.total):
                return await _fetch_json(transport, within, request, ok, error)
        except TimeoutError as err:
            raise _transport_error(err, account.called.route) from None
    if params:
        url = url.extend_query(params)
    info = current_info()
    called = account.called
    sent = _with_request_id(info, called, headers) or {}
    answer = await _attempts(
        lambda fresh: calls.send(method, url, sent, data, timeout, fresh=fresh),
        info,
        called,
        method=method,
        url=url,
        retries=account.retries,
        repeatable=lambda: True,  # the body is held whole
    )
    try:
        return await _json_reply(answer, account, ok, error)
    finally:
        answer.release()


async def _json_reply(
    resp: Answer,
    account: CallSettings,
    ok: Rewrite | None = None,
    error: ErrorShape | None = None,
    also_ok: Collection[int] = (),
) -> UpstreamReply:
    relay = relayed_headers(resp.status, resp.headers, account.called.upstream_id_headers)
    body = await read_body(resp, account.called.route, relay)
    status = resp.status
    if 200 <= status < 300 or status in also_ok:
        return UpstreamReply(status, body if ok is None else ok(body), relay)
    if error is not None:
        return error(resp, body, relay)
    return normalise_error(status, body, account.secrets, relay)


# -- downloads -----------------------------------------------------------------------------
_PASS_HEADERS = ("Content-Type", "Content-Length", "Content-Disposition")


@asynccontextmanager
async def _open_stream(
    transport: Transport,
    account: CallSettings,
    request: Request,
    codings: Collection[str],
) -> AsyncIterator[ContentStream]:
    """A streamed download; ``error`` is set instead of ``chunks`` when upstream refuses.

    ``codings``: the content codings the consumer takes as they are (the client's
    ``Accept-Encoding``); a body in any other coding is decoded while it streams.
    """
    keep = [c for c in DECODED_CODINGS if c in codings]

    def get(keep: list[str]) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
        headers = {**(request.headers or {}), hdrs.ACCEPT_ENCODING: ", ".join(keep) or "identity"}
        return _exchange(transport, account, request._replace(headers=headers), decode=not keep)

    async with get(keep) as resp:
        coding = _coding(resp)
        if not (keep and coding and (coding not in keep or not 200 <= resp.status < 300)):
            yield await _content(resp, account, keep)
            return
    # Encoded although not asked to, in a coding the client does not take (or an error
    # answer, which we read): a GET is safe to repeat, this time decoded as it streams.
    async with get([]) as resp:
        yield await _content(resp, account, [])


async def _content(
    resp: aiohttp.ClientResponse, settings: CallSettings, keep: list[str]
) -> ContentStream:
    called = settings.called
    account = called.route
    relay = relayed_headers(resp.status, resp.headers, called.upstream_id_headers)
    if not 200 <= resp.status < 300:
        body = await read_body(resp, account, relay, decode=not keep)
        reply = normalise_error(resp.status, body, settings.secrets, relay)
        return ContentStream(resp.status, relay, _empty(), error=reply)
    kept = CIMultiDict(relay)
    kept.extend((h, resp.headers[h]) for h in _PASS_HEADERS if h in resp.headers)
    kept[hdrs.VARY] = hdrs.ACCEPT_ENCODING
    coding = _coding(resp)
    if coding in keep:
        kept[hdrs.CONTENT_ENCODING] = coding
    elif _decoded(resp, not keep):
        kept.popall(hdrs.CONTENT_LENGTH, None)  # it counted the encoded bytes
    elif coding:
        raise _undecodable(account, coding, relay)
    return ContentStream(resp.status, CIMultiDictProxy(kept), _chunks(resp, account))


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


async def _chunks(resp: aiohttp.ClientResponse, account: str) -> AsyncIterator[bytes]:
    try:
        async for chunk in resp.content.iter_any():
            yield chunk
    except (TimeoutError, aiohttp.ClientError) as err:
        raise _transport_error(err, account) from None


# -- one account's calls ---------------------------------------------------------------------
T = TypeVar("T")


class Auth(Protocol):
    """How an account proves who it is: headers per call, and the values to scrub.

    An auth whose proof depends on the request (a request signature such as SigV4) also has
    ``sign`` (see ``RequestSigner``): ``Upstream`` calls it with each request as it goes out.
    """

    async def headers(self, http: aiohttp.ClientSession) -> Mapping[str, str]:
        """The headers every call carries (fetching or refreshing a token if need be)."""
        ...

    def secrets(self) -> tuple[str, ...]:
        """Keys and tokens this auth holds now: scrubbed from whatever goes back."""
        ...


@runtime_checkable
class RequestSigner(Protocol):
    """``sign``: the headers of ``method url`` with ``headers`` and ``body`` (bytes, a file
    object, read and rewound, or None), signed. ``url`` is exactly as it goes on the wire."""

    async def sign(
        self, method: str, url: URL, headers: Mapping[str, str], body: Any
    ) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class StaticAuth:
    """Fixed headers (an API key); ``keys`` are the secret values among them."""

    fixed: Mapping[str, str] = field(default_factory=dict)
    keys: tuple[str, ...] = ()

    async def headers(self, http: aiohttp.ClientSession) -> Mapping[str, str]:
        return self.fixed

    def secrets(self) -> tuple[str, ...]:
        return self.keys


def _segment(s: str) -> str:
    if s in (".", ".."):
        return s.replace(".", "%2E")
    return s if _UNRESERVED.fullmatch(s) else quote(s, safe="")


class Upstream:
    """Every call of one account: base URL, auth, timeouts, retries, scrubbing, errors.

    Transport failures raise RouterError (refused or reset 502, timeout 504); error answers
    come back as OpenAI-shaped UpstreamReply with the account's secrets scrubbed; JSON that
    does not decode is a 502 (``decode``). Every adapter and storage client of the account
    calls through it.
    """

    def __init__(
        self,
        called: Called | str,
        base: str,
        timeout: aiohttp.ClientTimeout,
        *,
        auth: Auth | None = None,
        retries: int = 1,
        query: Mapping[str, str] | None = None,
        secrets: tuple[str, ...] = (),
        wire: Wire | None = None,
    ):
        # The deployment its calls go to (logs, metrics, the access line, messages) and its
        # provider's request-ID headers.
        self.called = _called(called)
        self.base = base.rstrip("/")
        self.timeout = timeout
        self.auth: Auth = auth or StaticAuth()
        self._signer = self.auth if isinstance(self.auth, RequestSigner) else None
        self.retries = retries
        self.query: Mapping[str, str] = dict(query or {})
        self._secrets = secrets
        # The router's transport, once its session is set up (``AccountSetup.wire``); an
        # Upstream made elsewhere calls on the session it is given.
        self.wire = wire

    @property
    def deployment(self) -> str:
        """The deployment's name in messages: its route."""
        return self.called.route

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values scrubbed from anything passed back (configured ones and current tokens)."""
        return self._secrets + self.auth.secrets()

    def url(self, *segments: str) -> URL:
        """``base/seg/seg``; every segment quoted whole, so an ID never adds a path or host
        (nor removes one: ``.`` and ``..`` are sent encoded, which no server resolves)."""
        path = "/".join(_segment(s) for s in segments)
        return URL(f"{self.base}/{path}" if segments else self.base, encoded=True)

    async def headers(
        self, http: aiohttp.ClientSession, extra: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        return {**await self.auth.headers(http), **(extra or {})}

    def _on(self, http: aiohttp.ClientSession) -> Transport:
        wire = self.wire
        if wire is not None and wire.transport is not None:
            return wire.transport
        return plain(http)

    async def _request(
        self,
        http: aiohttp.ClientSession,
        method: str,
        url: URL,
        params: Mapping[str, str] | None,
        extra: Mapping[str, str] | None,
        data: Any,
    ) -> Request:
        """The request as it goes out: the account's query and auth applied; a signing auth
        sees the final URL (the query in it), the headers and the body."""
        query = {**self.query, **(params or {})}
        headers = await self.headers(http, extra)
        if self._signer is None:
            return Request(method, url, headers, query or None, data)
        if query:
            url = url.extend_query(query)
        return Request(method, url, await self._signer.sign(method, url, headers, data), None, data)

    async def json(
        self,
        http: aiohttp.ClientSession,
        method: str,
        url: URL,
        *,
        params: Mapping[str, str] | None = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        ok: Rewrite | None = None,
        error: ErrorShape | None = None,
    ) -> UpstreamReply:
        """A call whose answer is JSON; ``body``, when given, is sent as JSON (instead of
        ``data``). ``ok`` rewrites a 2xx body (an adapter's dialect), ``error`` reads an
        error answer in the provider's own shape (else ``error`` below): an adapter binds
        both once (``functools.partial``) and makes every call with them."""
        if body is not None:
            data = _json.encode(body)
            headers = _JSON_TYPE if headers is None else {**_JSON_TYPE, **headers}
        request = await self._request(http, method, url, params, headers, data)
        return await _fetch_json(self._on(http), self, request, ok, error)

    @asynccontextmanager
    async def stream(
        self,
        http: aiohttp.ClientSession,
        url: URL,
        *,
        params: Mapping[str, str] | None = None,
        codings: Collection[str] = (),
    ) -> AsyncIterator[ContentStream]:
        """A streamed download; ``error`` is set instead of ``chunks`` when upstream refuses.

        ``codings``: the content codings the consumer takes as they are (the client's
        ``Accept-Encoding``); a body in any other coding is decoded while it streams.
        """
        request = await self._request(http, "GET", url, params, None, None)
        async with _open_stream(self._on(http), self, request, codings) as stream:
            yield stream

    @asynccontextmanager
    async def exchange(
        self,
        http: aiohttp.ClientSession,
        method: str,
        url: URL,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        data: Any = None,
        retries: int | None = None,
        resumable: bool = False,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """One raw request with this account's auth (``exchange``), for protocols that need
        the answer's headers (resumable uploads, S3, job APIs)."""
        request = await self._request(http, method, url, params, headers, data)
        on = self._on(http)
        async with _exchange(on, self, request, retries=retries, resumable=resumable) as resp:
            yield resp

    async def read(
        self,
        resp: aiohttp.ClientResponse,
        also_ok: Collection[int] = (),
        *,
        error: ErrorShape | None = None,
    ) -> UpstreamReply:
        """An exchange's whole answer: 2xx (and ``also_ok``) as they are, errors normalised
        (or read by ``error``, as in ``json``)."""
        return await _json_reply(resp, self, error=error, also_ok=also_ok)

    def relayed(self, resp: Answer) -> CIMultiDict[str]:
        """What of ``resp``'s headers the client gets (``relayed_headers``)."""
        return relayed_headers(resp.status, resp.headers, self.called.upstream_id_headers)

    def error(
        self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> UpstreamReply:
        """An error answer in the OpenAI shape, scrubbed of this account's secrets."""
        return normalise_error(status, body, self.secrets, headers)

    def decode(self, decoder: msgspec.json.Decoder[T], body: bytes) -> T:
        """A JSON answer decoded; malformed JSON (or the wrong shape) is a 502."""
        try:
            return decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise UpstreamUnavailable(
                f"The upstream account for '{self.deployment}' answered with malformed JSON."
            ) from None
