"""Amazon S3 (path-style REST), as the Bedrock adapter uses it, signed with botocore's SigV4.

Requests go out on the router's own shared ClientSession through the account's
``upstream.Upstream``; botocore only signs them (``SigV4Auth`` / ``S3SigV4Auth``) and supplies
the credential chain. No hand-written signing.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import IO, Any
from urllib.parse import quote, unquote, urlencode

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from ..errors import AccountUnavailable, NotFound, RouterError, error_body
from ..upstream import Upstream, UpstreamReply, read_body, redact, relayed_headers

__all__ = ["EXTRA_HINT", "PART_SIZE", "AwsSigner", "S3Bucket", "botocore_missing"]

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
    """botocore's credentials and SigV4 signer for one account; also the ``Auth`` it passes
    to ``Upstream`` (no fixed headers: every request is signed on its own).

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

    async def headers(self, http: aiohttp.ClientSession) -> Mapping[str, str]:
        return {}

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

    def __init__(
        self,
        upstream: Upstream,
        signer: AwsSigner,
        endpoint: str,
        region: str,
        bucket: str,
        kms_key: str | None = None,
    ):
        self.upstream = upstream
        self.signer = signer
        self.endpoint = endpoint.rstrip("/")
        self.region = region
        self.name = bucket
        self.kms_key = kms_key

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

    def _url(self, key: str, query: Mapping[str, str] | None = None) -> str:
        url = f"{self.endpoint}/{quote(self.name, safe='')}"
        if key:
            url += "/" + quote(key, safe="/")
        if query:
            url += "?" + urlencode(sorted(query.items()), quote_via=quote, safe="")
        return url

    async def call(
        self,
        http: aiohttp.ClientSession,
        method: str,
        key: str,
        *,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | IO[bytes] | None = None,
    ) -> tuple[UpstreamReply, Mapping[str, str]]:
        """One S3 request: (the answer, its headers); errors in OpenAI's shape."""
        url = self._url(key, query)
        signed = await self.signer.sign("s3", self.region, method, url, headers or {}, body)
        data: Any = body
        if isinstance(body, bytes):
            data = io.BytesIO(body)  # aiohttp warns about large raw bytes bodies
        async with self.upstream.exchange(
            http, method, URL(url, encoded=True), headers=signed, data=data
        ) as resp:
            relay = relayed_headers(resp.status, resp.headers)
            raw = b"" if method == "HEAD" else await read_body(resp, self.upstream.account, relay)
            answer_headers = CIMultiDict(resp.headers)
            status = resp.status
        if 200 <= status < 300:
            return UpstreamReply(status, raw, relay), answer_headers
        return aws_error(self.upstream, status, raw, relay), answer_headers

    async def stream_request(
        self, http: aiohttp.ClientSession, key: str
    ) -> tuple[str, dict[str, str]]:
        """The URL and signed headers of a GET (streamed by ``Upstream.stream``)."""
        url = self._url(key)
        return url, await self.signer.sign("s3", self.region, "GET", url, {}, None)

    async def head(
        self, http: aiohttp.ClientSession, key: str
    ) -> tuple[UpstreamReply, Head | None]:
        reply, headers = await self.call(http, "HEAD", key)
        if not reply.ok:
            return reply, None
        return reply, head_of(key, headers)

    async def get_small(self, http: aiohttp.ClientSession, key: str) -> UpstreamReply:
        reply, _ = await self.call(http, "GET", key)
        return reply

    async def delete(self, http: aiohttp.ClientSession, key: str) -> UpstreamReply:
        reply, _ = await self.call(http, "DELETE", key)
        return reply

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
        reply, _ = await self.call(http, "PUT", key, headers=headers, body=body)
        return reply

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
        reply, _ = await self.call(http, "POST", key, query={"uploads": ""}, headers=headers)
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
            reply, headers = await self.call(
                http,
                "PUT",
                key,
                query={"partNumber": str(number), "uploadId": upload_id},
                body=data,
            )
            if reply.ok:
                etags.append(headers.get("ETag", ""))
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
        reply, _ = await self.call(
            http,
            "POST",
            key,
            query={"uploadId": upload_id},
            headers={"Content-Type": "application/xml"},
            body=ET.tostring(root),
        )
        if reply.ok and b"<Error>" in reply.body:
            # CompleteMultipartUpload may fail after answering 200 (S3 API reference).
            return aws_error(self.upstream, 500, reply.body, reply.headers)
        return reply

    async def abort(self, http: aiohttp.ClientSession, key: str, upload_id: str) -> None:
        # A lifecycle rule for incomplete uploads is the backstop (docs/providers/bedrock.md).
        with contextlib.suppress(RouterError):
            await self.call(http, "DELETE", key, query={"uploadId": upload_id})

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
        reply, _ = await self.call(http, "GET", "", query=query)
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
