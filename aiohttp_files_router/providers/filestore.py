"""The file store: where the router keeps files a provider cannot serve back itself.

A deployment names it in ``litellm_params.file_store``:

- ``file:///var/lib/files-router``: a local directory. Safe for several worker processes of
  one host: an object is written to a temporary file beside its final name and renamed into
  place when complete (an atomic rename), so a reader sees the whole object or none;
- ``s3://bucket/prefix``: Amazon S3 (or any S3 API at ``s3_endpoint_url``), signed as Bedrock's
  storage is (``s3.S3Bucket``, botocore's SigV4): ``aws_access_key_id``,
  ``aws_secret_access_key``, ``aws_session_token``, ``aws_profile_name``, else botocore's
  credential chain; ``aws_region_name`` (default ``us-east-1``);
- ``gs://bucket/prefix``: Google Cloud Storage (``gcs.Bucket``), with Vertex's credential
  settings: ``vertex_credentials`` (a service-account key, JSON text or a path;
  GOOGLE_APPLICATION_CREDENTIALS is the fallback where the provider lists ``FILE_STORE_ENV``)
  and ``gcs_api_base``.

A provider that uses the store derives its params from ``FileStoreParams`` (the fields above),
adds ``FILE_STORE_ENV`` to its spec's ``env``, and opens the store in its factory::

    store = account_store(setup)  # None when the deployment names no file_store

(``open_store`` opens a store named otherwise.) Opening makes no call; every later call of
an S3 or GCS store goes through the account's ``upstream.Upstream`` (timeouts, retries,
secrets, the 502/504 mapping). The API, all of it async and streamed:

- ``put(http, key, chunks, meta) -> int``: store ``chunks`` (never held whole) under ``key``
  with ``meta`` (``StoreMeta``: filename, purpose, content type, created_at, a few extra
  strings); answers the size stored. An object appears only when complete; a put that fails
  leaves nothing behind;
- ``open(http, key)``: an async context manager of a ``ContentStream`` (the bytes, streamed;
  a missing object is a 404 in ``ContentStream.error``);
- ``head(http, key) -> StoredFile | None``: the size and ``StoreMeta``, None when missing;
- ``delete(http, key) -> bool``: False when there was nothing to delete;
- ``list(http, prefix, after=None, limit=100) -> (list[StoredFile], has_more)``: keys under
  ``prefix`` in ascending key order, those after ``after`` (a key, exclusive);
- ``close()``: releases what the store holds (a token session).

Keys are the caller's names below the deployment's ``namespace``
(``<prefix>/files-router/<namespace>/``): segments of ``[A-Za-z0-9_~=+-]`` and, past the first
character, ``.``, joined by ``/``. Any other key is a 404: a key never escapes the namespace.
Failures of the storage (a refused S3 call, a full disk) raise ``StoreError``, a 502 naming the
account and the store's own message.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import os
import re
import secrets as random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

import aiohttp
import msgspec
from yarl import URL

from ..errors import NotFound, UpstreamUnavailable, error_body
from ..jsoncodec import OBJECT as _decode
from ..params import ProviderParams
from ..transport import Wire
from ..upstream import Auth, Called, ContentStream, Upstream, UpstreamReply
from .base import AccountSetup, ProviderError
from .gcs import Bucket
from .google_auth import GoogleToken, load_service_account
from .isotime import unix_seconds
from .s3 import EXTRA_HINT, AwsSigner, S3Bucket, SigV4, botocore_missing

__all__ = [
    "FILE_STORE_ENV",
    "FileStore",
    "FileStoreParams",
    "LocalStore",
    "StoreError",
    "StoreMeta",
    "StoredFile",
    "account_store",
    "open_store",
    "router_namespace",
]

READ_CHUNK = 256 * 1024
MAX_KEY = 512
# Metadata travels in headers (S3) or object metadata (GCS): kept short.
MAX_META_VALUE = 1024
FILE_STORE_ENV: Mapping[str, str] = {"vertex_credentials": "GOOGLE_APPLICATION_CREDENTIALS"}
_SEGMENT = re.compile(r"[A-Za-z0-9_~=+-][A-Za-z0-9_.~=+-]*")
_json = msgspec.json.Encoder()
Fields = dict[str, str]  # an object's metadata, as ``StoreMeta.fields`` gives it


class FileStoreParams(ProviderParams, kw_only=True, frozen=True):
    """The ``litellm_params`` of a deployment that may keep files in a file store."""

    secret_fields = frozenset({"aws_secret_access_key", "aws_session_token", "vertex_credentials"})

    file_store: str | None = None  # file:///dir, s3://bucket/prefix or gs://bucket/prefix
    # s3:// stores (the names Bedrock deployments use)
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    aws_profile_name: str | None = None
    aws_region_name: str | None = None
    s3_endpoint_url: str | None = None
    # gs:// stores (the names Vertex deployments use)
    vertex_credentials: str | None = None
    gcs_api_base: str | None = None


class StoreError(UpstreamUnavailable):
    """The file store failed (refused a call, or its disk did): a 502 naming it."""


@dataclass(frozen=True)
class StoreMeta:
    """What is kept beside an object's bytes; ``created_at`` 0 means the time of the put."""

    filename: str = ""
    purpose: str = ""
    content_type: str = "application/octet-stream"
    created_at: int = 0
    extra: Mapping[str, str] = field(default_factory=dict)

    def fields(self, created_at: int) -> dict[str, str]:
        out = {
            **self.extra,
            # A name is kept whole up to the bound S3's 2 KB of metadata leaves room for.
            "filename": self.filename[:MAX_META_VALUE],
            "purpose": self.purpose,
            "content_type": self.content_type,
            "created_at": str(created_at),
        }
        for name, value in out.items():
            if len(value) > MAX_META_VALUE or not re.fullmatch(r"[a-z0-9_]{1,64}", name):
                raise ValueError(f"file store metadata {name!r} is too long or badly named")
        return out

    @classmethod
    def of(cls, fields: Mapping[str, str], fallback_created: int = 0) -> StoreMeta:
        known = ("filename", "purpose", "content_type", "created_at")
        created = fields.get("created_at", "")
        return cls(
            filename=fields.get("filename", ""),
            purpose=fields.get("purpose", ""),
            content_type=fields.get("content_type") or "application/octet-stream",
            created_at=int(created) if created.isdigit() else fallback_created,
            extra={k: v for k, v in fields.items() if k not in known},
        )


@dataclass(frozen=True)
class StoredFile:
    key: str  # relative to the store's namespace, as given to put
    size: int
    meta: StoreMeta


# A listing's page: the objects, and whether more follow.
Listing = tuple[list[StoredFile], bool]


def check_key(key: str) -> str:
    """``key`` when it names an object inside the namespace, else a 404."""
    if len(key) > MAX_KEY or not all(_SEGMENT.fullmatch(s) for s in key.split("/")):
        raise NotFound(f"No such file: {key!r} is not in this account's store.", param="file_id")
    return key


def _missing(key: str) -> ContentStream:
    reply = UpstreamReply(
        404, error_body(f"No such file: {key!r}.", "invalid_request_error", "file_id", "not_found")
    )
    return ContentStream(404, {}, _nothing(), error=reply)


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


async def _counted(chunks: AsyncIterator[bytes], seen: list[int]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        seen[0] += len(chunk)
        yield chunk


class FileStore(abc.ABC):
    """One deployment's namespace in a file store (see the module's docstring)."""

    url: str  # the configured URL, for messages (holds no secret)
    account: str

    async def put(
        self,
        http: aiohttp.ClientSession,
        key: str,
        chunks: AsyncIterator[bytes],
        meta: StoreMeta,
    ) -> int:
        """Store ``chunks`` under ``key``; the size stored. All or nothing."""
        fields = meta.fields(meta.created_at or int(time.time()))
        return await self._put(http, check_key(key), chunks, fields)

    @abc.abstractmethod
    async def _put(
        self, http: aiohttp.ClientSession, key: str, chunks: AsyncIterator[bytes], fields: Fields
    ) -> int:
        """``put`` of a checked key, its metadata as ``StoreMeta.fields``."""

    @abc.abstractmethod
    def open(
        self, http: aiohttp.ClientSession, key: str
    ) -> AbstractAsyncContextManager[ContentStream]:
        """The object's bytes, streamed; a missing one is a 404 in ``error``."""

    @abc.abstractmethod
    async def head(self, http: aiohttp.ClientSession, key: str) -> StoredFile | None:
        """Size and metadata of ``key``; None when it does not exist."""

    @abc.abstractmethod
    async def delete(self, http: aiohttp.ClientSession, key: str) -> bool:
        """Remove ``key``; False when it did not exist."""

    async def list(
        self,
        http: aiohttp.ClientSession,
        prefix: str = "",
        after: str | None = None,
        limit: int = 100,
    ) -> Listing:
        """Up to ``limit`` objects under ``prefix`` after the key ``after``, in key order,
        and whether more follow."""
        if prefix:  # a key, a key's start, or either with a trailing ``/``
            check_key(prefix.rstrip("/") or "/")
        return await self._list(http, prefix, after, limit)

    @abc.abstractmethod
    async def _list(
        self, http: aiohttp.ClientSession, prefix: str, after: str | None, limit: int
    ) -> Listing:
        """``list`` of a checked prefix."""

    async def close(self) -> None:  # noqa: B027 - only token-holding stores hold anything
        """Release what the store holds."""

    def _failed(self, what: str, reply: UpstreamReply | None = None) -> StoreError:
        detail = ""
        if reply is not None:
            try:
                message = _decode.decode(reply.body).get("error", {}).get("message")
            except (msgspec.DecodeError, AttributeError):
                message = None
            detail = f" (HTTP {reply.status}: {message})" if message else f" (HTTP {reply.status})"
        return StoreError(
            f"The file store of account '{self.account}' failed to {what}{detail}.",
            headers=reply.headers if reply is not None else None,
        )


# -- file:// ---------------------------------------------------------------------------------
def _discard_opened(opening: asyncio.Future[IO[bytes]]) -> None:
    if opening.cancelled() or opening.exception() is not None:
        return
    fh = opening.result()
    fh.close()
    with contextlib.suppress(OSError):
        os.unlink(fh.name)


def _close_read(reading: asyncio.Future[tuple[IO[bytes], int, dict[str, str]] | None]) -> None:
    if reading.cancelled() or reading.exception() is not None:
        return
    found = reading.result()
    if found is not None:
        found[0].close()


class LocalStore(FileStore):
    """A directory on this host. An object is one file: a JSON line of metadata, then the
    bytes; written under a ``.tmp-`` name and renamed into place, so readers in any process
    see a whole object or none (keys never hold a segment starting with a dot)."""

    def __init__(self, url: str, account: str, root: Path):
        self.url = url
        self.account = account
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    async def _put(
        self, http: aiohttp.ClientSession, key: str, chunks: AsyncIterator[bytes], fields: Fields
    ) -> int:
        path = self._path(key)
        header = _json.encode(fields) + b"\n"

        def start() -> IO[bytes]:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.parent / f".tmp-{random.token_hex(8)}-{path.name}"
            fh = tmp.open("xb")
            fh.write(header)
            return fh

        opening = asyncio.ensure_future(asyncio.to_thread(start))
        try:
            fh = await asyncio.shield(opening)
        except OSError as err:
            raise self._failed(f"store a file ({err.strerror})") from None
        except asyncio.CancelledError:
            # Cancelled while the thread opens the file (a sibling copy failed, the client
            # left): the file it opens is closed and removed when the thread is done.
            opening.add_done_callback(_discard_opened)
            raise
        size = 0
        try:
            async for chunk in chunks:
                size += len(chunk)
                await asyncio.to_thread(fh.write, chunk)

            def finish() -> None:
                fh.flush()
                os.fsync(fh.fileno())
                fh.close()
                os.replace(fh.name, path)

            await asyncio.to_thread(finish)
        except OSError as err:
            raise self._failed(f"store a file ({err.strerror})") from None
        finally:
            if not fh.closed:
                fh.close()
            with contextlib.suppress(OSError):
                os.unlink(fh.name)  # gone already when it was renamed into place
        return size

    def _read_head(self, path: Path) -> tuple[IO[bytes], int, dict[str, str]] | None:
        try:
            fh = path.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        line = fh.readline(64 * 1024)
        try:
            fields = _decode.decode(line)
        except msgspec.DecodeError:
            fh.close()
            raise self._failed(f"read {path.name}: it is not a file store object") from None
        size = os.fstat(fh.fileno()).st_size - len(line)
        return fh, size, {str(k): str(v) for k, v in fields.items()}

    async def _opened(self, path: Path) -> tuple[IO[bytes], int, dict[str, str]] | None:
        """``_read_head`` in a thread; cancelled while the thread opens the file (a listing
        given up, the client gone), the file is closed when the thread is done."""
        reading = asyncio.ensure_future(asyncio.to_thread(self._read_head, path))
        try:
            return await asyncio.shield(reading)
        except OSError as err:
            raise self._failed(f"read a file ({err.strerror})") from None
        except asyncio.CancelledError:
            reading.add_done_callback(_close_read)
            raise

    async def head(self, http: aiohttp.ClientSession, key: str) -> StoredFile | None:
        found = await self._opened(self._path(key))
        if found is None:
            return None
        fh, size, fields = found
        fh.close()
        return StoredFile(key, size, StoreMeta.of(fields))

    @asynccontextmanager
    async def open(self, http: aiohttp.ClientSession, key: str) -> AsyncIterator[ContentStream]:
        found = await self._opened(self._path(key))
        if found is None:
            yield _missing(key)
            return
        fh, size, fields = found

        async def chunks() -> AsyncIterator[bytes]:
            while chunk := await asyncio.to_thread(fh.read, READ_CHUNK):
                yield chunk

        headers = {
            "Content-Type": StoreMeta.of(fields).content_type,
            "Content-Length": str(size),
        }
        try:
            yield ContentStream(200, headers, chunks())
        finally:
            fh.close()

    async def delete(self, http: aiohttp.ClientSession, key: str) -> bool:
        path = self._path(key)
        try:
            await asyncio.to_thread(path.unlink)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as err:
            raise self._failed(f"delete a file ({err.strerror})") from None
        return True

    def _keys(self, prefix: str, after: str | None) -> list[str]:
        base, _, _ = prefix.rpartition("/")
        start = self.root.joinpath(*base.split("/")) if base else self.root
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = Path(dirpath).relative_to(self.root).as_posix()
            head = "" if rel == "." else rel + "/"
            found += [
                head + f
                for f in filenames
                if not f.startswith(".") and (head + f).startswith(prefix)
            ]
        return sorted(k for k in found if after is None or k > after)

    async def _list(
        self, http: aiohttp.ClientSession, prefix: str, after: str | None, limit: int
    ) -> Listing:
        keys = await asyncio.to_thread(self._keys, prefix, after)
        out: list[StoredFile] = []
        for key in keys:
            if len(out) == limit:
                return out, True
            stored = await self.head(http, key)  # None: deleted meanwhile
            if stored is not None:
                out.append(stored)
        return out, False


# -- s3:// -----------------------------------------------------------------------------------
# What of S3's 2 KB of user metadata the (percent-encoded) filename may take.
S3_FILENAME_BYTES = 1536


def _clipped(value: str, limit: int) -> str:
    """``value`` percent-encoded, cut at a whole character to at most ``limit`` bytes."""
    out, size = [], 0
    for char in value:
        piece = quote(char, safe="")
        size += len(piece)
        if size > limit:
            break
        out.append(piece)
    return "".join(out)


class _BucketStore(FileStore):
    """A prefix (``root``) of a cloud bucket: uploads and downloads go through the bucket's
    Upstream; each store says how its metadata is written and where an object's bytes are."""

    bucket: S3Bucket | Bucket

    def __init__(self, url: str, account: str, bucket: S3Bucket | Bucket, root: str):
        self.url = url
        self.account = account
        self.bucket = bucket
        self.root = root

    def _metadata(self, fields: Fields) -> dict[str, str]:
        return fields

    @abc.abstractmethod
    def _media_url(self, name: str) -> URL: ...

    async def _put(
        self, http: aiohttp.ClientSession, key: str, chunks: AsyncIterator[bytes], fields: Fields
    ) -> int:
        seen = [0]
        reply = await self.bucket.upload(
            http,
            self.root + key,
            self._metadata(fields),
            fields["content_type"],
            _counted(chunks, seen),
        )
        if not reply.ok:
            raise self._failed("store a file", reply)
        return seen[0]

    @asynccontextmanager
    async def open(self, http: aiohttp.ClientSession, key: str) -> AsyncIterator[ContentStream]:
        url = self._media_url(self.root + check_key(key))
        async with self.bucket.upstream.stream(http, url) as stream:
            if stream.error is not None and stream.status != 404:
                raise self._failed("read a file", stream.error)
            yield _missing(key) if stream.error is not None else stream


class S3Store(_BucketStore):
    """A prefix of an S3 bucket (``s3.S3Bucket``: multipart uploads, SigV4 by botocore)."""

    bucket: S3Bucket

    def _metadata(self, fields: Fields) -> dict[str, str]:
        encoded = {k.replace("_", "-"): quote(v, safe="") for k, v in fields.items()}
        # S3 keeps at most 2 KB of user metadata, percent-encoded here: the name gives way.
        encoded["filename"] = _clipped(fields["filename"], S3_FILENAME_BYTES)
        return encoded

    async def head(self, http: aiohttp.ClientSession, key: str) -> StoredFile | None:
        reply, head = await self.bucket.head(http, self.root + check_key(key))
        if head is None:
            if reply.status == 404:
                return None
            raise self._failed("read a file's metadata", reply)
        fields = {k.replace("-", "_"): v for k, v in head.metadata.items()}
        return StoredFile(key, head.size, StoreMeta.of(fields, head.modified))

    def _media_url(self, name: str) -> URL:
        return self.bucket.object_url(name)

    async def delete(self, http: aiohttp.ClientSession, key: str) -> bool:
        # S3 answers a DELETE of a missing key with 204 as well: HEAD tells them apart.
        if await self.head(http, key) is None:
            return False
        reply = await self.bucket.delete(http, self.root + check_key(key))
        if not reply.ok and reply.status != 404:
            raise self._failed("delete a file", reply)
        return reply.ok

    async def _list(
        self, http: aiohttp.ClientSession, prefix: str, after: str | None, limit: int
    ) -> Listing:
        start = self.root + check_key(after) if after else None
        reply, keys, _ = await self.bucket.list(
            http, self.root + prefix, start_after=start, max_keys=limit + 1, delimiter=None
        )
        if not reply.ok:
            raise self._failed("list files", reply)
        out: list[StoredFile] = []
        for name in keys[:limit]:
            stored = await self.head(http, name[len(self.root) :])
            if stored is not None:
                out.append(stored)
        return out, len(keys) > limit


# -- gs:// -----------------------------------------------------------------------------------
class GcsStore(_BucketStore):
    """A prefix of a GCS bucket (``gcs.Bucket``: resumable uploads, a service-account token)."""

    bucket: Bucket

    def __init__(self, url: str, account: str, bucket: Bucket, root: str, close: Callable[[], Any]):
        super().__init__(url, account, bucket, root)
        self._close = close

    async def close(self) -> None:
        await self._close()

    def _stored(self, resource: Mapping[str, Any]) -> StoredFile:
        meta = {str(k): str(v) for k, v in (resource.get("metadata") or {}).items()}
        name = str(resource.get("name", ""))
        created = unix_seconds(resource.get("timeCreated")) or 0
        return StoredFile(
            name[len(self.root) :], int(resource.get("size", 0)), StoreMeta.of(meta, created)
        )

    async def _object(
        self, http: aiohttp.ClientSession, method: str, key: str, what: str
    ) -> UpstreamReply | None:
        """A call on ``key``'s object: its answer, None when it does not exist."""
        url = self.bucket.object_url(self.root + check_key(key))
        reply = await self.bucket.upstream.json(http, method, url)
        if reply.status == 404:
            return None
        if not reply.ok:
            raise self._failed(what, reply)
        return reply

    async def head(self, http: aiohttp.ClientSession, key: str) -> StoredFile | None:
        reply = await self._object(http, "GET", key, "read a file's metadata")
        return None if reply is None else self._stored(self.bucket.resource(reply))

    def _media_url(self, name: str) -> URL:
        return self.bucket.object_url(name, alt="media")

    async def delete(self, http: aiohttp.ClientSession, key: str) -> bool:
        return await self._object(http, "DELETE", key, "delete a file") is not None

    async def _list(
        self, http: aiohttp.ClientSession, prefix: str, after: str | None, limit: int
    ) -> Listing:
        params = {"prefix": self.root + prefix, "maxResults": str(limit + 1)}
        if after:
            params["startOffset"] = self.root + check_key(after)
        reply = await self.bucket.upstream.json(http, "GET", self.bucket.list_url(), params=params)
        if not reply.ok:
            raise self._failed("list files", reply)
        listing = self.bucket.resource(reply)
        # startOffset is inclusive (GCS objects.list reference): the ``after`` key itself goes.
        items = [
            self._stored(r)
            for r in listing.get("items") or []
            if not after or str(r.get("name")) != self.root + after
        ]
        return items[:limit], len(items) > limit or bool(listing.get("nextPageToken"))


# -- opening ---------------------------------------------------------------------------------
def router_namespace(prefix: str, segment: str) -> str:
    """Where the router keeps one deployment's objects in storage it writes to (a bucket, a
    file store): ``<prefix>files-router/<segment>/``, ``prefix`` empty or ending in ``/``,
    ``segment`` naming the deployment's route whole (quoted or a digest), so that one route
    is never a prefix of another's namespace."""
    return f"{prefix}files-router/{segment}/"


S = TypeVar("S", bound=FileStoreParams)


def account_store(setup: AccountSetup[S]) -> FileStore | None:
    """The store the deployment's ``litellm_params.file_store`` names, opened for it (under
    its route, its calls made as the account's); None when it names none."""
    params = setup.params
    if not params.file_store:
        return None
    return open_store(
        params.file_store,
        params,
        account=setup.name,
        timeout=setup.timeout,
        namespace=setup.route or setup.name,
        called=setup.called(),
        wire=setup.wire,
    )


def open_store(
    url: str,
    params: ProviderParams,
    *,
    account: str,
    timeout: aiohttp.ClientTimeout,
    namespace: str,
    called: Called | None = None,
    wire: Wire | None = None,
) -> FileStore:
    """The store ``url`` names, for one deployment (``namespace``: its route); no call yet.

    Credentials come from ``params`` (``FileStoreParams``' fields, read by name so any
    params struct holding them works). Unusable settings raise ProviderError.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    segment = quote(namespace, safe="")
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ProviderError(f"file_store {url!r}: use file:///absolute/path")
        if parts.query or parts.fragment:
            raise ProviderError(f"file_store {url!r}: a file:// URL takes no query")
        return LocalStore(url, account, Path(unquote(parts.path)) / router_namespace("", segment))
    factory = _BUCKET_STORES.get(scheme)
    if factory is None or not parts.netloc or parts.query or parts.fragment:
        raise ProviderError(
            f"file_store {url!r}: use file:///path, s3://bucket/prefix or gs://bucket/prefix"
        )
    prefix = parts.path.strip("/")
    root = router_namespace(f"{prefix}/" if prefix else "", segment)
    return factory(
        _Opening(url, params, account, called or account, timeout, wire, parts.netloc, root)
    )


@dataclass(frozen=True)
class _Opening:
    """A bucket store being opened: its URL, bucket and root, and the account's settings."""

    url: str
    params: ProviderParams
    account: str
    who: Called | str
    timeout: aiohttp.ClientTimeout
    wire: Wire | None
    bucket: str
    root: str

    def get(self, name: str) -> str | None:
        """A ``FileStoreParams`` field of the params, None when unset."""
        value = getattr(self.params, name, None)
        return value if isinstance(value, str) and value else None

    def upstream(self, base: str, auth: Auth, secrets: tuple[str, ...]) -> Upstream:
        """The store's Upstream: the account's timeouts, retries and transport."""
        return Upstream(
            self.who,
            base,
            self.timeout,
            auth=auth,
            retries=self.params.retries,
            secrets=secrets,
            wire=self.wire,
        )


def _s3_store(at: _Opening) -> FileStore:
    if botocore_missing():
        raise ProviderError(f"file_store {at.url!r} needs botocore: {EXTRA_HINT}")
    region = at.get("aws_region_name") or "us-east-1"
    signer = AwsSigner(
        at.get("aws_access_key_id"),
        at.get("aws_secret_access_key"),
        at.get("aws_session_token"),
        at.get("aws_profile_name"),
    )
    configured = tuple(
        v
        for v in (
            at.get("aws_secret_access_key"),
            at.get("aws_session_token"),
            at.get("aws_access_key_id"),
        )
        if v
    )
    upstream = at.upstream(
        at.get("s3_endpoint_url") or f"https://s3.{region}.amazonaws.com",
        SigV4(signer, "s3", region),
        configured,
    )
    return S3Store(at.url, at.account, S3Bucket(upstream, at.bucket), at.root)


def _gcs_store(at: _Opening) -> FileStore:
    credentials = at.get("vertex_credentials")
    if not credentials:
        raise ProviderError(
            f"file_store {at.url!r} needs vertex_credentials (or GOOGLE_APPLICATION_CREDENTIALS)"
        )
    info = load_service_account(credentials)
    token = GoogleToken(at.account, info, at.timeout.connect or 10.0)
    upstream = at.upstream(
        at.get("gcs_api_base") or "https://storage.googleapis.com",
        token,
        (str(info["private_key"]),),
    )
    bucket = Bucket(upstream, upstream.base, at.bucket, at.root)
    return GcsStore(at.url, at.account, bucket, at.root, token.close)


# The cloud stores, by their URL scheme.
_BUCKET_STORES: Mapping[str, Callable[[_Opening], FileStore]] = {
    "s3": _s3_store,
    "gs": _gcs_store,
}
