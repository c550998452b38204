"""Amazon S3 (path-style REST), as the Bedrock adapter uses it, signed with botocore's SigV4.

Requests go out on the router's own shared ClientSession through the account's
``upstream.Upstream``, whose auth (``SigV4``) signs each one as it goes out; botocore only signs
them (``SigV4Auth`` / ``S3SigV4Auth``) and supplies the credential chain. No hand-written
signing.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import partial
from typing import IO, Any
from urllib.parse import quote, unquote, urlencode

import aiohttp
from yarl import URL

from ..errors import AccountUnavailable, NotFound, RouterError, error_body
from ..upstream import Answer, Upstream, UpstreamReply, redact

__all__ = ["EXTRA_HINT", "PART_SIZE", "AwsSigner", "S3Bucket", "SigV4", "botocore_missing"]

# S3's multipart rules: parts are at least 5 MiB except the last. One part buffer is held.
PART_SIZE = 5 * 1024 * 1024
EXTRA_HINT = "pip install 'aiohttp_files_router[bedrock]'"
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def botocore_missing() -> bool:
    try:
        import botocore.auth  # type: ignore[import-untyped]
        import botocore.credentials  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        return True
    return False


class AwsSigner:
    """botocore's credentials and SigV4 signer for one account (``SigV4`` binds it to a
    service and region as an ``Upstream``'s auth).

    Static keys are used as they are; without them botocore's chain (environment, profile,
    web identity, container/instance role) finds them. Its refresh is synchronous, so it runs
    in an executor.
    """

    def __init__(
        self,
        access_key: str | None,
        secret_key: str | None,
        session_token: str | None,
        profile: str | None,
    ):
        self._static = (access_key, secret_key, session_token) if access_key else None
        self._profile = profile
        self._provider: Any = None  # botocore's (refreshable) credentials
        self._frozen: Any = None
        self._lock = asyncio.Lock()

    def secrets(self) -> tuple[str, ...]:
        frozen = self._frozen
        if frozen is None:
            return tuple(s for s in (self._static or ())[1:] if s)
        return tuple(s for s in (frozen.secret_key, frozen.token, frozen.access_key) if s)

    def _resolve(self) -> Any:
        import botocore.credentials
        import botocore.session  # type: ignore[import-untyped]

        if self._static is not None:
            key, secret, token = self._static
            return botocore.credentials.Credentials(key, secret, token)
        if self._provider is None:
            session = botocore.session.Session(profile=self._profile)
            self._provider = session.get_credentials()
        if self._provider is None:
            raise AccountUnavailable(
                "No AWS credentials found: set aws_access_key_id and aws_secret_access_key, "
                "or configure the standard AWS credential chain."
            )
        return self._provider.get_frozen_credentials()

    async def credentials(self) -> Any:
        if self._static is not None and self._frozen is not None:
            return self._frozen
        async with self._lock:
            loop = asyncio.get_running_loop()
            self._frozen = await loop.run_in_executor(None, self._resolve)
            return self._frozen

    async def sign(
        self,
        service: str,
        region: str,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | IO[bytes] | None,
    ) -> dict[str, str]:
        """The headers of a signed request (``url`` already encoded as it is sent)."""
        from botocore.auth import S3SigV4Auth, SigV4Auth
        from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]

        creds = await self.credentials()
        request = AWSRequest(method=method, url=url, headers=dict(headers), data=body or b"")
        signer = S3SigV4Auth if service == "s3" else SigV4Auth
        signer(creds, service, region).add_auth(request)
        if hasattr(body, "seek"):
            body.seek(0)  # type: ignore[union-attr]
        return dict(request.headers.items())


@dataclass(frozen=True)
class SigV4:
    """An ``upstream.Auth`` that signs every request with SigV4 for one AWS service and
    region: ``Upstream`` hands it the method, the URL as sent, the headers and the body (whose
    hash is signed), so Bedrock and S3 calls take the same path as every other call."""

    signer: AwsSigner
    service: str  # "s3" (S3's signing rules) or another service's name ("bedrock")
    region: str

    async def headers(self, http: aiohttp.ClientSession) -> Mapping[str, str]:
        return {}  # every request is signed on its own

    def secrets(self) -> tuple[str, ...]:
        return self.signer.secrets()

    async def sign(
        self, method: str, url: URL, headers: Mapping[str, str], body: Any
    ) -> Mapping[str, str]:
        return await self.signer.sign(self.service, self.region, method, str(url), headers, body)


def aws_error(
    upstream: Upstream, status: int, body: bytes, relay: Mapping[str, str]
) -> UpstreamReply:
    """An S3 XML error (or a Bedrock JSON one) in OpenAI's shape, with AWS's message."""
    body = redact(body, upstream.secrets)
    if body.lstrip().startswith(b"<"):
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            root = None
        if root is not None:
            code = root.findtext("Code") or None
            message = root.findtext("Message") or f"S3 answered HTTP {status}"
            return UpstreamReply(status, error_body(message, "upstream_error", None, code), relay)
    if not body.strip():
        message = {404: "Not Found", 403: "Access Denied"}.get(status, f"HTTP {status}")
        return UpstreamReply(
            status, error_body(f"S3 answered: {message}", "upstream_error", None, None), relay
        )
    return upstream.error(status, body, relay)


@dataclass
class Head:
    key: str
    size: int
    modified: int
    metadata: dict[str, str]


class S3Bucket:
    """One bucket reached path-style at ``endpoint`` through one account's ``Upstream``."""

    def __init__(self, upstream: Upstream, bucket: str, kms_key: str | None = None):
        self.upstream = upstream  # its auth signs for S3 (``SigV4``)
        self.endpoint = upstream.base
        self.name = bucket
        self.kms_key = kms_key
        # A call whose answer is read whole (XML or nothing), errors in S3's shape; HEAD and
        # a part's PUT, which need the answer's headers, go through ``exchange``.
        self.call = partial(upstream.json, error=self.error)

    def uri(self, key: str) -> str:
        return f"s3://{self.name}/{key}"

    def key_of(self, uri: str, prefix: str) -> str:
        """The key behind an ``s3://`` ID; only under ``prefix`` of this bucket."""
        head = f"s3://{self.name}/"
        key = uri[len(head) :] if uri.startswith(head) else ""
        if not key.startswith(prefix) or key == prefix or key.endswith("/") or "/../" in key:
            raise NotFound(
                f"No such file: '{uri}' is not in this account's storage.", param="file_id"
            )
        return key

    def _url(self, key: str, query: Mapping[str, str] | None = None) -> URL:
        url = f"{self.endpoint}/{quote(self.name, safe='')}"
        if key:
            url += "/" + quote(key, safe="/")
        if query:
            url += "?" + urlencode(sorted(query.items()), quote_via=quote, safe="")
        return URL(url, encoded=True)

    def error(self, answer: Answer, body: bytes, relay: Mapping[str, str]) -> UpstreamReply:
        """An error answer's S3 XML in OpenAI's shape (``aws_error``)."""
        return aws_error(self.upstream, answer.status, body, relay)

    def object_url(self, key: str) -> URL:
        """The URL of the object ``key`` (for ``Upstream.stream``)."""
        return self._url(key)

    async def head(
        self, http: aiohttp.ClientSession, key: str
    ) -> tuple[UpstreamReply, Head | None]:
        # A HEAD answer has no body (its Content-Length is the object's): nothing to read.
        async with self.upstream.exchange(http, "HEAD", self._url(key)) as resp:
            relay = self.upstream.relayed(resp)
            if not 200 <= resp.status < 300:
                return self.error(resp, b"", relay), None
            return UpstreamReply(resp.status, b"", relay), head_of(key, resp.headers)

    async def get_small(self, http: aiohttp.ClientSession, key: str) -> UpstreamReply:
        return await self.call(http, "GET", self._url(key))

    async def delete(self, http: aiohttp.ClientSession, key: str) -> UpstreamReply:
        return await self.call(http, "DELETE", self._url(key))

    def _sse(self) -> dict[str, str]:
        if not self.kms_key:
            return {}
        return {
            "x-amz-server-side-encryption": "aws:kms",
            "x-amz-server-side-encryption-aws-kms-key-id": self.kms_key,
        }

    async def put(
        self,
        http: aiohttp.ClientSession,
        key: str,
        body: bytes | IO[bytes],
        metadata: Mapping[str, str],
        content_type: str,
    ) -> UpstreamReply:
        headers = {"Content-Type": content_type, **self._sse()}
        headers.update({f"x-amz-meta-{k}": v for k, v in metadata.items()})
        data = io.BytesIO(body) if isinstance(body, bytes) else body
        return await self.call(http, "PUT", self._url(key), headers=headers, data=data)

    async def upload(
        self,
        http: aiohttp.ClientSession,
        key: str,
        metadata: Mapping[str, str],
        content_type: str,
        chunks: AsyncIterator[bytes],
    ) -> UpstreamReply:
        """A multipart upload fed from ``chunks`` in PART_SIZE parts (one part buffered);
        aborted on any failure, so no parts are left behind."""
        headers = {"Content-Type": content_type, **self._sse()}
        headers.update({f"x-amz-meta-{k}": v for k, v in metadata.items()})
        starting = asyncio.ensure_future(
            self.call(http, "POST", self._url(key, {"uploads": ""}), headers=headers)
        )
        try:
            reply = await asyncio.shield(starting)
        except asyncio.CancelledError:
            # Cancelled while S3 may be creating the upload: learn its ID and abort it, so
            # no parts are left billed behind an upload nobody waits for.
            with contextlib.suppress(RouterError):
                late = await starting
                late_id = _xml_text(late.body, "UploadId") if late.ok else None
                if late_id:
                    await self.abort(http, key, late_id)
            raise
        if not reply.ok:
            return reply
        upload_id = _xml_text(reply.body, "UploadId")
        if not upload_id:
            return self.upstream.error(502, b"", reply.headers)
        try:
            reply = await self._parts(http, key, upload_id, chunks)
        except BaseException:
            await self.abort(http, key, upload_id)
            raise
        if not reply.ok:
            await self.abort(http, key, upload_id)
        return reply

    async def _parts(
        self, http: aiohttp.ClientSession, key: str, upload_id: str, chunks: AsyncIterator[bytes]
    ) -> UpstreamReply:
        etags: list[str] = []
        buf = bytearray()

        async def send(data: bytes) -> UpstreamReply:
            number = len(etags) + 1
            url = self._url(key, {"partNumber": str(number), "uploadId": upload_id})
            # A BytesIO: aiohttp warns about large raw bytes bodies.
            async with self.upstream.exchange(http, "PUT", url, data=io.BytesIO(data)) as resp:
                reply = await self.upstream.read(resp, error=self.error)
                if reply.ok:
                    etags.append(resp.headers.get("ETag", ""))
            return reply

        async for chunk in chunks:
            buf += chunk
            while len(buf) >= PART_SIZE:
                piece = bytes(buf[:PART_SIZE])
                del buf[:PART_SIZE]
                reply = await send(piece)
                if not reply.ok:
                    return reply
        if buf or not etags:
            reply = await send(bytes(buf))
            if not reply.ok:
                return reply
        root = ET.Element("CompleteMultipartUpload", xmlns=S3_NS[1:-1])
        for number, etag in enumerate(etags, start=1):
            part = ET.SubElement(root, "Part")
            ET.SubElement(part, "PartNumber").text = str(number)
            ET.SubElement(part, "ETag").text = etag
        reply = await self.call(
            http,
            "POST",
            self._url(key, {"uploadId": upload_id}),
            headers={"Content-Type": "application/xml"},
            data=ET.tostring(root),
        )
        if reply.ok and b"<Error>" in reply.body:
            # CompleteMultipartUpload may fail after answering 200 (S3 API reference).
            return aws_error(self.upstream, 500, reply.body, reply.headers)
        return reply

    async def abort(self, http: aiohttp.ClientSession, key: str, upload_id: str) -> None:
        # A lifecycle rule for incomplete uploads is the backstop (docs/providers/bedrock.md).
        with contextlib.suppress(RouterError):
            await self.call(http, "DELETE", self._url(key, {"uploadId": upload_id}))

    async def list(
        self,
        http: aiohttp.ClientSession,
        prefix: str,
        *,
        start_after: str | None = None,
        token: str | None = None,
        max_keys: int = 1000,
        delimiter: str | None = "/",
    ) -> tuple[UpstreamReply, list[str], str | None]:
        """ListObjectsV2 (``delimiter`` None: the keys of every depth): (answer, keys, the
        next continuation token)."""
        query = {"list-type": "2", "prefix": prefix, "max-keys": str(max_keys)}
        if delimiter:
            query["delimiter"] = delimiter
        if token:
            query["continuation-token"] = token
        elif start_after:
            query["start-after"] = start_after
        reply = await self.call(http, "GET", self._url("", query))
        if not reply.ok:
            return reply, [], None
        try:
            root = ET.fromstring(reply.body)
        except ET.ParseError:
            return self.upstream.error(502, b"", reply.headers), [], None
        keys = [c.findtext(f"{S3_NS}Key") or "" for c in root.findall(f"{S3_NS}Contents")]
        truncated = root.findtext(f"{S3_NS}IsTruncated") == "true"
        return reply, keys, root.findtext(f"{S3_NS}NextContinuationToken") if truncated else None


def _xml_text(body: bytes, name: str) -> str | None:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    return root.findtext(f"{S3_NS}{name}") or root.findtext(name)


def head_of(key: str, headers: Mapping[str, str]) -> Head:
    meta = {
        k.lower()[len("x-amz-meta-") :]: unquote(v)
        for k, v in headers.items()
        if k.lower().startswith("x-amz-meta-")
    }
    modified = 0
    if headers.get("Last-Modified"):
        try:
            modified = int(parsedate_to_datetime(headers["Last-Modified"]).timestamp())
        except (TypeError, ValueError):
            modified = 0
    return Head(key, int(headers.get("Content-Length", "0") or 0), modified, meta)
