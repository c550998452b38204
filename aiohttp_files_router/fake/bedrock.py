"""The Amazon Bedrock flavour of the fake: an S3 subset and batch inference (model invocation jobs).

Built only from AWS's documentation and botocore's service models, never from our adapter:

- S3 API reference (PutObject, HeadObject, GetObject, DeleteObject, ListObjectsV2,
  CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload,
  ListMultipartUploads, "Error responses") and ``botocore/data/s3/2006-03-01/service-2.json``.
- Bedrock API reference (CreateModelInvocationJob, GetModelInvocationJob,
  ListModelInvocationJobs, StopModelInvocationJob) and
  ``botocore/data/bedrock/2023-04-20/service-2.json``, whose shapes (lengths, patterns, enums,
  required members) validate every job request here: the fake reads them from the installed
  botocore at run time rather than copying them.
- The Bedrock user guide on batch inference: "Format and upload your batch inference data"
  (batch-inference-data.html), "View the results of a batch inference job"
  (batch-inference-results.html), the quotas ("Minimum number of records per batch inference
  job", 100 by default), and the model parameter pages for Anthropic Claude Messages
  (model-parameters-anthropic-claude-messages.html) and Amazon Nova
  (nova userguide, "Complete request schema" / "Response structure").
- SigV4 (IAM user guide, "Signature Version 4 signing", "Troubleshoot Signature Version 4"):
  the expected signature of every request is computed by botocore's own signer
  (``botocore.auth.SigV4Auth`` / ``S3SigV4Auth``) from a table of known credentials and compared
  with the one sent. No hand-written crypto.

Where the documentation is silent the fake takes the least helpful reading and says so.

**One port, told apart by path.** The Bedrock control plane's paths are ``/model-invocation-job``
(create), ``/model-invocation-job/{jobIdentifier}`` (get), ``.../stop`` and
``/model-invocation-jobs`` (list), exactly as the service model's ``requestUri``s; every other
path is S3, path-style (``/<bucket>/<key>``). The buckets ``model-invocation-job`` and
``model-invocation-jobs`` therefore cannot exist here. Each request's signature must also be
scoped to the matching service (``s3`` or ``bedrock``) and to the fake's region. Point boto3 at
it with ``endpoint_url=<fake>`` for both clients and ``Config(s3={"addressing_style": "path"})``.

botocore is needed at run time (``pip install 'aiohttp_files_router[bedrock]'``); it is imported
lazily, so ``aiohttp_files_router.fake`` imports without it.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import itertools
import json
import math
import re
import secrets
import string
import time
import xml.etree.ElementTree as ET
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web

from .base import (
    Answer,
    DemoAccounts,
    DemoPlace,
    FakeFlavour,
    FakeService,
    RecordedRequest,
    answers,
)

__all__ = ["AwsCredential", "FakeBedrock"]

DEFAULT_ACCOUNT = "123456789012"
CHUNK = 256 * 1024
# S3 API reference, UploadPart / "Amazon S3 multipart upload limits": parts are 5 MiB to
# 5 GiB, except the last; at most 10,000 parts. The size rule is checked at
# CompleteMultipartUpload (EntityTooSmall), as S3 does.
MIN_PART = 5 * 1024 * 1024
MAX_PARTS = 10_000
# S3 user guide, "Working with object metadata": user-defined metadata is at most 2 KB in a PUT
# request header (names and values, UTF-8); object keys are at most 1,024 bytes.
MAX_METADATA = 2048
MAX_KEY = 1024
# SigV4: a request whose X-Amz-Date is more than 15 minutes from the server's time is refused
# (S3 RequestTimeTooSkewed; IAM "Troubleshoot SigV4": "Signature expired").
MAX_SKEW = 15 * 60
S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
BEDROCK_ROOTS = ("/model-invocation-job", "/model-invocation-jobs")
# Bedrock user guide, batch-inference-data: input files "must end in the extension .jsonl";
# the S3Uri shape's pattern allows only these characters in a key segment.
KEY_CHARS = re.compile(r"[-!_*'().a-zA-Z0-9/]+")
# batch-inference-data shows recordId as "alphanumeric string"; batch-inference-results shows
# it as an "11 character alphanumeric string" and every example (CALL0000001, 3223593EFGH,
# 1223213ABCD) has 11. Least helpful reading: [A-Za-z0-9] only, at most 11 characters.
RECORD_ID = re.compile(r"[A-Za-z0-9]+")
RECORD_ID_MAX = 11
# CreateModelInvocationJob: timeoutDurationInHours is 24..168. The reference does not state
# the default here: the least helpful reading is the shortest, 24.
DEFAULT_TIMEOUT_HOURS = 24
TERMINAL = ("Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired")
PHASES = ("Submitted", "Validating", "Scheduled", "InProgress")
SSE_VALUES = ("AES256", "aws:kms", "aws:kms:dsse")
CHECKSUMS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")


@dataclass(frozen=True)
class AwsCredential:
    """A secret key, the AWS account it belongs to, and the session token it needs, if any."""

    secret_key: str
    account: str = DEFAULT_ACCOUNT
    session_token: str | None = None

    def __repr__(self) -> str:
        return f"AwsCredential(account={self.account!r}, secret_key='****')"


@dataclass
class S3Object:
    path: Path
    size: int
    etag: str  # quoted, as S3 sends it
    content_type: str
    metadata: dict[str, str]
    sse: str | None
    kms_key: str | None
    checksums: dict[str, str]
    modified: float


@dataclass
class Part:
    number: int
    path: Path
    size: int
    etag: str
    md5: bytes


@dataclass
class Upload:
    id: str
    key: str
    initiated: float
    content_type: str
    metadata: dict[str, str]
    sse: str | None
    kms_key: str | None
    parts: dict[int, Part] = field(default_factory=dict)


@dataclass
class Bucket:
    name: str
    owner: str
    objects: dict[str, S3Object] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)


@dataclass
class Job:
    id: str
    arn: str
    account: str
    name: str
    model_id: str
    family: str
    role_arn: str
    client_token: str | None
    request: dict[str, Any]
    submit: float
    timeout_hours: int
    modified: float
    stop_at: float | None = None
    stopping_shown: float | None = None  # when an answer first showed the job Stopping
    final: str | None = None
    ended: float | None = None
    message: str | None = None
    validated: bool = False
    inputs: list[str] = field(default_factory=list)  # keys in the input bucket
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class Received:
    size: int
    md5: bytes
    checksums: dict[str, str]
    data: bytes = b""


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)


def _request_id() -> str:
    return secrets.token_hex(8).upper()


# -- S3 answers (S3 API reference, "Error responses": an XML <Error> with Code, Message,
#    RequestId; HEAD answers carry no body) -------------------------------------------------
def _s3_error(status: int, code: str, message: str, head: bool = False, **extra: str) -> Answer:
    root = ET.Element("Error")
    ET.SubElement(root, "Code").text = code
    ET.SubElement(root, "Message").text = message
    for name, value in extra.items():
        ET.SubElement(root, name).text = value
    rid = _request_id()
    ET.SubElement(root, "RequestId").text = rid
    headers = {"x-amz-request-id": rid}
    if head:
        return Answer(web.Response(status=status, headers=headers))
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root)
    return Answer(
        web.Response(status=status, body=body, content_type="application/xml", headers=headers)
    )


def _xml(root: ET.Element, status: int = 200) -> web.Response:
    root.set("xmlns", S3_NS)
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root)
    return web.Response(
        status=status,
        body=body,
        content_type="application/xml",
        headers={"x-amz-request-id": _request_id()},
    )


def _sub(parent: ET.Element, name: str, text: str | int | None) -> ET.Element:
    node = ET.SubElement(parent, name)
    if text is not None:
        node.text = str(text)
    return node


# -- Bedrock answers (rest-json: the error type in x-amzn-ErrorType, {"message"} in the body;
#    botocore's RestJSONParser reads both) ----------------------------------------------------
def _br_error(status: int, code: str, message: str) -> Answer:
    return Answer(
        web.json_response(
            {"message": message},
            status=status,
            headers={"x-amzn-ErrorType": code, "x-amzn-RequestId": _request_id()},
        )
    )


def _invalid(*problems: str) -> Answer:
    # The wording of AWS's generated validators ("1 validation error detected: Value ... at
    # '...' failed to satisfy constraint: ...").
    n = len(problems)
    noun = "error" if n == 1 else "errors"
    return _br_error(
        400, "ValidationException", f"{n} validation {noun} detected: " + "; ".join(problems)
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _checksum_of(name: str, data_hash: Any) -> str:
    if name == "crc32":
        return _b64(int(data_hash).to_bytes(4, "big"))
    return _b64(data_hash.digest())


class FakeBedrock(FakeService):
    """S3 (path-style) and the Bedrock model invocation job API on one port.

    ``credentials`` maps access key IDs to an :class:`AwsCredential` (or just a secret key, for
    the default account). ``buckets`` maps bucket names to the account that owns them (a plain
    list is owned by the default account); only the owner reaches a bucket. ``phase_seconds``
    is how long a job spends in each of Submitted, Validating, Scheduled and InProgress;
    ``cancel_seconds`` how long it is Stopping at least (and in any case until an answer has
    shown it Stopping once; see ``_advance``); ``clock`` may be replaced by a test to move
    time. ``min_records`` is Bedrock's minimum records per job (100 by default, as documented).
    """

    def __init__(
        self,
        credentials: Mapping[str, AwsCredential | str],
        buckets: Mapping[str, str] | Iterable[str] = ("fake-bucket",),
        *,
        region: str = "us-west-2",
        bucket_region: str | None = None,
        storage: Path | None = None,
        phase_seconds: float = 0.0,
        cancel_seconds: float = 0.0,
        clock: Callable[[], float] = time.time,
        min_records: int = 100,
        record_id_max: int = RECORD_ID_MAX,
    ):
        try:
            import botocore.session  # type: ignore[import-untyped]
        except ImportError:  # pragma: no cover - depends on the environment
            raise RuntimeError(
                "FakeBedrock needs botocore: pip install 'aiohttp_files_router[bedrock]'"
            ) from None
        super().__init__(
            storage=storage,
            phase_seconds=phase_seconds,
            cancel_seconds=cancel_seconds,
            clock=clock,
        )
        self.credentials = {
            k: v if isinstance(v, AwsCredential) else AwsCredential(v)
            for k, v in credentials.items()
        }
        owners = (
            buckets if isinstance(buckets, Mapping) else dict.fromkeys(buckets, DEFAULT_ACCOUNT)
        )
        for name in owners:
            if name in ("model-invocation-job", "model-invocation-jobs"):
                raise ValueError(f"bucket name {name!r} is taken by the Bedrock API's paths")
        self.buckets = {name: Bucket(name, owner) for name, owner in owners.items()}
        self.region = region
        # The buckets' Region when it is not Bedrock's: S3 checks a request's SigV4 scope
        # against the bucket's own Region (AuthorizationHeaderMalformed, "the region 'X' is
        # wrong; expecting 'Y'", S3 API reference, Error responses) and HeadBucket names it in
        # x-amz-bucket-region.
        self.bucket_region = bucket_region or region
        self.min_records = min_records
        self.record_id_max = record_id_max
        self.jobs: dict[str, Job] = {}
        # Prompt prefixes cached so far (digest of the model and the prefix): prompt caching.
        self.cached_prefixes: set[str] = set()
        self._seq = itertools.count()
        self._model = botocore.session.get_session().get_service_model("bedrock")

    # -- plumbing ---------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[answers], client_max_size=1024**2)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        app.on_cleanup.append(self._cleanup)
        return app

    def _new_path(self) -> Path:
        folder = self.root / "objects"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{next(self._seq)}-{secrets.token_hex(6)}"

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        raw_path, _, raw_query = request.raw_path.partition("?")
        bedrock = raw_path in BEDROCK_ROOTS or raw_path.startswith("/model-invocation-job/")
        record = self.record(request, account=None, key=None, raw_path=raw_path)
        body = b""
        if bedrock:
            body = await self._small_body(request)
        access_key, cred = self._authenticate(request, bedrock, raw_path, raw_query, body)
        record.key, record.account = access_key, cred.account
        # Jobs move on the clock whoever looks: a job's output is in S3 once it is done,
        # whether or not anyone has asked for the job since.
        for job in list(self.jobs.values()):
            self._advance(job)
        if bedrock:
            if body:
                with suppress(ValueError):
                    record.json = json.loads(body)
            return self._bedrock(request, cred, raw_path, body)
        return await self._s3(request, cred, raw_path, record)

    @staticmethod
    async def _small_body(request: web.Request) -> bytes:
        """A control-plane request body (JSON, small; its hash is part of the signature)."""
        data = b""
        async for chunk in request.content.iter_chunked(CHUNK):
            data += chunk
            if len(data) > 1024**2:
                raise _br_error(413, "ValidationException", "Request entity too large.")
        return data

    # -- SigV4 ------------------------------------------------------------------------------
    def _auth_error(self, bedrock: bool, head: bool, kind: str, detail: str = "") -> Answer:
        """AWS's answer for each way a signature can be wrong.

        S3: API reference "Error responses" (AccessDenied, InvalidAccessKeyId,
        SignatureDoesNotMatch, AuthorizationHeaderMalformed, RequestTimeTooSkewed,
        InvalidToken). Bedrock (a JSON service): the common errors of AWS's JSON APIs
        (MissingAuthenticationTokenException, UnrecognizedClientException for an unknown access
        key or token, InvalidSignatureException for a signature that does not match or has
        expired, IncompleteSignatureException), all 403.
        """
        if bedrock:
            code, message = {
                "missing": ("MissingAuthenticationTokenException", "Missing Authentication Token"),
                "malformed": (
                    "IncompleteSignatureException",
                    f"Authorization header requires 'Credential', 'Signature' and "
                    f"'SignedHeaders' parameters. {detail}".strip(),
                ),
                "key": (
                    "UnrecognizedClientException",
                    "The security token included in the request is invalid.",
                ),
                "token": (
                    "UnrecognizedClientException",
                    "The security token included in the request is invalid.",
                ),
                "scope": ("InvalidSignatureException", detail),
                "skew": ("InvalidSignatureException", f"Signature expired: {detail}"),
                "signature": (
                    "InvalidSignatureException",
                    "The request signature we calculated does not match the signature you "
                    "provided. Check your AWS Secret Access Key and signing method. Consult "
                    "the service documentation for details.",
                ),
            }[kind]
            return _br_error(403, code, message)
        if kind == "missing":
            return _s3_error(403, "AccessDenied", "Access Denied", head)
        if kind in ("malformed", "scope"):
            return _s3_error(
                400,
                "AuthorizationHeaderMalformed",
                f"The authorization header is malformed; {detail}",
                head,
                Region=self.bucket_region,
            )
        if kind == "key":
            return _s3_error(
                403,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
                head,
            )
        if kind == "token":
            return _s3_error(
                400, "InvalidToken", "The provided token is malformed or otherwise invalid.", head
            )
        if kind == "skew":
            return _s3_error(
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
                head,
            )
        return _s3_error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            head,
        )

    def _authenticate(
        self, request: web.Request, bedrock: bool, raw_path: str, raw_query: str, body: bytes
    ) -> tuple[str, AwsCredential]:
        from botocore.auth import S3SigV4Auth, SigV4Auth  # type: ignore[import-untyped]
        from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
        from botocore.credentials import Credentials  # type: ignore[import-untyped]

        head = request.method == "HEAD"
        header = request.headers.get("Authorization")
        if not header:
            # Presigned URLs (query-string auth) are not in the subset the router uses.
            raise self._auth_error(bedrock, head, "missing")
        m = re.fullmatch(
            r"AWS4-HMAC-SHA256 Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request,"
            r"\s*SignedHeaders=([a-z0-9;\-]+),\s*Signature=([0-9a-f]{64})",
            header.strip(),
        )
        if not m:
            raise self._auth_error(bedrock, head, "malformed", "unparseable Authorization")
        access_key, day, region, service, signed, signature = m.groups()
        cred = self.credentials.get(access_key)
        if cred is None:
            raise self._auth_error(bedrock, head, "key")
        want_service = "bedrock" if bedrock else "s3"
        expected = self.region if bedrock else self.bucket_region
        if region != expected:
            raise self._auth_error(
                bedrock,
                head,
                "scope",
                f"the region '{region}' is wrong; expecting '{expected}'"
                if not bedrock
                else "Credential should be scoped to a valid region.",
            )
        if service != want_service:
            raise self._auth_error(
                bedrock,
                head,
                "scope",
                f"the service '{service}' is wrong; expecting '{want_service}'"
                if not bedrock
                else "Credential should be scoped to correct service: 'bedrock'.",
            )
        amz_date = request.headers.get("X-Amz-Date", "")
        names = signed.split(";")
        if "host" not in names or "x-amz-date" not in names or not amz_date.startswith(day):
            raise self._auth_error(bedrock, head, "signature")
        try:
            sent = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        except ValueError:
            raise self._auth_error(bedrock, head, "signature") from None
        if abs(time.time() - sent) > MAX_SKEW:
            raise self._auth_error(bedrock, head, "skew", f"{amz_date} is out of range")
        token = request.headers.get("X-Amz-Security-Token")
        if token != cred.session_token:
            raise self._auth_error(bedrock, head, "token")
        if not bedrock and "x-amz-content-sha256" not in names:
            # S3 requires the payload hash header with SigV4 (S3 API reference, "Common
            # request headers": x-amz-content-sha256 is required for all AWS SigV4 requests).
            raise _s3_error(
                400,
                "InvalidRequest",
                "Missing required header for this request: x-amz-content-sha256",
                head,
            )
        headers = {}
        for name in names:
            values = request.headers.getall(name, [])
            if not values:
                raise self._auth_error(bedrock, head, "signature")
            headers[name] = ",".join(values)
        url = f"{request.scheme}://{request.host}{raw_path}" + (
            f"?{raw_query}" if raw_query else ""
        )
        aws_request = AWSRequest(method=request.method, url=url, headers=headers, data=body)
        aws_request.context["timestamp"] = amz_date
        credentials = Credentials(access_key, cred.secret_key, cred.session_token)
        signer = (SigV4Auth if bedrock else S3SigV4Auth)(credentials, service, region)
        canonical = signer.canonical_request(aws_request)
        expected = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
        if not hmac.compare_digest(str(expected), signature):
            raise self._auth_error(bedrock, head, "signature")
        sent_hash = headers.get("x-amz-content-sha256")
        if bedrock and sent_hash is not None and sent_hash != hashlib.sha256(body).hexdigest():
            raise self._auth_error(bedrock, head, "signature")
        return access_key, cred

    # -- S3 ---------------------------------------------------------------------------------
    async def _s3(
        self, request: web.Request, cred: AwsCredential, raw_path: str, record: RecordedRequest
    ) -> web.StreamResponse:
        head = request.method == "HEAD"
        bucket_name, _, raw_key = raw_path.lstrip("/").partition("/")
        bucket_name = unquote(bucket_name)
        key = unquote(raw_key)
        q = request.query
        if not bucket_name:
            raise _s3_error(501, "NotImplemented", "ListBuckets is not served by this fake.", head)
        bucket = self.buckets.get(bucket_name)
        if bucket is None:
            raise _s3_error(
                404,
                "NoSuchBucket",
                "The specified bucket does not exist",
                head,
                BucketName=bucket_name,
            )
        if bucket.owner != cred.account:
            raise _s3_error(403, "AccessDenied", "Access Denied", head)
        method = request.method
        if not key:
            if method == "GET" and q.get("list-type") == "2":
                return self._list_objects(request, bucket)
            if method == "GET" and "uploads" in q:
                return self._list_uploads(request, bucket)
            if method == "HEAD":
                return web.Response(headers={"x-amz-bucket-region": self.bucket_region})
            raise _s3_error(501, "NotImplemented", "This bucket operation is not served.", head)
        if len(key.encode()) > MAX_KEY:
            raise _s3_error(400, "KeyTooLongError", "Your key is too long", head)
        if method == "PUT" and "uploadId" in q:
            return await self._upload_part(request, bucket, key)
        if method == "PUT":
            if "x-amz-copy-source" in request.headers:
                raise _s3_error(501, "NotImplemented", "CopyObject is not served.")
            return await self._put_object(request, bucket, key, record)
        if method == "POST" and "uploads" in q:
            return self._create_upload(request, bucket, key)
        if method == "POST" and "uploadId" in q:
            return await self._complete_upload(request, bucket, key)
        if method == "DELETE" and "uploadId" in q:
            upload = self._upload(bucket, key, q["uploadId"])
            for part in upload.parts.values():
                part.path.unlink(missing_ok=True)
            del bucket.uploads[upload.id]
            return web.Response(status=204)
        if method == "DELETE":
            # DeleteObject: 204 whether or not the key existed (S3 API reference).
            found = bucket.objects.pop(key, None)
            if found is not None:
                found.path.unlink(missing_ok=True)
            return web.Response(status=204)
        if method in ("GET", "HEAD"):
            return await self._get_object(request, bucket, key)
        raise _s3_error(405, "MethodNotAllowed", "The specified method is not allowed.", head)

    @staticmethod
    def _metadata(request: web.Request) -> dict[str, str]:
        meta = {
            name.lower()[len("x-amz-meta-") :]: value
            for name, value in request.headers.items()
            if name.lower().startswith("x-amz-meta-")
        }
        if sum(len(k.encode()) + len(v.encode()) for k, v in meta.items()) > MAX_METADATA:
            raise _s3_error(
                400,
                "MetadataTooLarge",
                "Your metadata headers exceed the maximum allowed metadata size.",
            )
        return meta

    def _sse(self, request: web.Request, account: str) -> tuple[str | None, str | None]:
        """SSE headers (PutObject / CreateMultipartUpload): kept and echoed, never applied."""
        sse = request.headers.get("x-amz-server-side-encryption")
        key = request.headers.get("x-amz-server-side-encryption-aws-kms-key-id")
        if sse is not None and sse not in SSE_VALUES:
            raise _s3_error(
                400, "InvalidArgument", "The encryption method specified is not supported"
            )
        if key is not None and sse not in ("aws:kms", "aws:kms:dsse"):
            raise _s3_error(
                400,
                "InvalidArgument",
                "Server Side Encryption with KMS managed key requires HTTP header "
                "x-amz-server-side-encryption : aws:kms",
            )
        if sse in ("aws:kms", "aws:kms:dsse") and key is None:
            # S3 user guide, "Specifying SSE-KMS": without a key ID, the AWS managed key.
            key = f"arn:aws:kms:{self.bucket_region}:{account}:alias/aws/s3"
        return sse, key

    def _sse_headers(self, sse: str | None, key: str | None) -> dict[str, str]:
        headers = {}
        if sse:
            headers["x-amz-server-side-encryption"] = sse
        if key:
            headers["x-amz-server-side-encryption-aws-kms-key-id"] = key
        return headers

    async def _chunks(
        self, request: web.Request, mode: str, trailers: dict[str, str]
    ) -> AsyncIterator[bytes]:
        """The payload as it arrives; aws-chunked bodies decoded, their trailers collected.

        S3 API reference, "Signature calculations for the Authorization header: transferring
        payload in multiple chunks" and "Using trailing checksums": ``hex-size\\r\\ndata\\r\\n``
        ... ``0\\r\\n`` then ``name:value`` trailer lines and an empty line. botocore sends
        this with ``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` over TLS (botocore/httpchecksum.py).
        """
        if not mode.startswith("STREAMING-"):
            async for chunk in request.content.iter_chunked(CHUNK):
                yield chunk
            return
        content = request.content
        try:
            while True:
                line = await content.readline()
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    break
                while size:
                    data = await content.readexactly(min(size, CHUNK))
                    size -= len(data)
                    yield data
                if await content.readexactly(2) != b"\r\n":
                    raise ValueError("chunk not terminated")
            while True:
                line = (await content.readline()).strip()
                if not line:
                    break
                name, _, value = line.decode().partition(":")
                trailers[name.strip().lower()] = value.strip()
        except (ValueError, EOFError, UnicodeDecodeError):
            raise _s3_error(
                400, "IncompleteBody", "The request body is not valid aws-chunked encoding."
            ) from None

    async def _receive(self, request: web.Request, dest: Path | None) -> Received:
        """Stream the payload to ``dest`` (or keep it, when small), checking every digest.

        x-amz-content-sha256 is a hex SHA-256 (checked: XAmzContentSHA256Mismatch),
        UNSIGNED-PAYLOAD or STREAMING-UNSIGNED-PAYLOAD-TRAILER (what botocore sends; S3 API
        reference "Authenticating requests (SigV4)"); Content-MD5 and x-amz-checksum-* are
        checked too (BadDigest). CRC32C and CRC64NVME need awscrt to compute; they are kept
        unchecked.
        """
        mode = request.headers["x-amz-content-sha256"]
        if mode.startswith("STREAMING-") and mode != "STREAMING-UNSIGNED-PAYLOAD-TRAILER":
            raise _s3_error(501, "NotImplemented", f"{mode} is not served by this fake.")
        if mode not in (
            "UNSIGNED-PAYLOAD",
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        ) and not re.fullmatch("[0-9a-f]{64}", mode):
            raise _s3_error(
                400,
                "InvalidArgument",
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                "STREAMING-UNSIGNED-PAYLOAD-TRAILER or a valid sha256 value.",
            )
        sha = hashlib.sha256()
        md5 = hashlib.md5()
        crc = 0
        sha1 = hashlib.sha1()
        sha256 = hashlib.sha256()
        size = 0
        kept = bytearray()
        trailers: dict[str, str] = {}
        fh = dest.open("wb") if dest is not None else None
        try:
            async for chunk in self._chunks(request, mode, trailers):
                size += len(chunk)
                sha.update(chunk)
                md5.update(chunk)
                sha1.update(chunk)
                sha256.update(chunk)
                crc = zlib.crc32(chunk, crc)
                if fh is not None:
                    fh.write(chunk)
                else:
                    kept += chunk
                    if len(kept) > 1024**2:
                        raise _s3_error(
                            400, "MaxMessageLengthExceeded", "Your request was too big."
                        )
            if fh is not None:
                fh.close()
            if re.fullmatch("[0-9a-f]{64}", mode) and sha.hexdigest() != mode:
                raise _s3_error(
                    400,
                    "XAmzContentSHA256Mismatch",
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                )
            decoded = request.headers.get("x-amz-decoded-content-length")
            if mode.startswith("STREAMING-") and decoded is not None and int(decoded) != size:
                raise _s3_error(
                    400, "IncompleteBody", "You did not provide the number of bytes specified"
                )
            content_md5 = request.headers.get("Content-MD5")
            if content_md5 is not None and content_md5 != _b64(md5.digest()):
                raise _s3_error(
                    400,
                    "BadDigest",
                    "The Content-MD5 you specified did not match what we received.",
                )
            computed = {
                "crc32": _checksum_of("crc32", crc),
                "sha1": _checksum_of("sha1", sha1),
                "sha256": _checksum_of("sha256", sha256),
            }
            sent = {**{k.lower(): v for k, v in request.headers.items()}, **trailers}
            checksums = {}
            for name in CHECKSUMS:
                value = sent.get(f"x-amz-checksum-{name}")
                if value is None:
                    continue
                if name in computed and computed[name] != value:
                    raise _s3_error(
                        400,
                        "BadDigest",
                        f"The {name.upper()} you specified did not match the calculated checksum.",
                    )
                checksums[name] = value
        except BaseException:
            if fh is not None:
                fh.close()
            if dest is not None:
                dest.unlink(missing_ok=True)  # noqa: ASYNC240 - a local temp file
            raise
        return Received(size, md5.digest(), checksums, bytes(kept))

    async def _put_object(
        self, request: web.Request, bucket: Bucket, key: str, record: RecordedRequest
    ) -> web.Response:
        meta = self._metadata(request)
        sse, kms_key = self._sse(request, bucket.owner)
        path = self._new_path()
        got = await self._receive(request, path)
        record.bytes = got.size
        old = bucket.objects.get(key)
        if old is not None:
            old.path.unlink(missing_ok=True)
        obj = S3Object(
            path,
            got.size,
            f'"{got.md5.hex()}"',
            request.headers.get("Content-Type", "binary/octet-stream"),
            meta,
            sse,
            kms_key,
            got.checksums,
            self.clock(),
        )
        bucket.objects[key] = obj
        headers = {"ETag": obj.etag, **self._sse_headers(sse, kms_key)}
        headers.update({f"x-amz-checksum-{n}": v for n, v in got.checksums.items()})
        return web.Response(headers=headers)

    def _object(self, bucket: Bucket, key: str, head: bool) -> S3Object:
        found = bucket.objects.get(key)
        if found is None:
            raise _s3_error(404, "NoSuchKey", "The specified key does not exist.", head, Key=key)
        return found

    async def _get_object(
        self, request: web.Request, bucket: Bucket, key: str
    ) -> web.StreamResponse:
        head = request.method == "HEAD"
        obj = self._object(bucket, key, head)
        headers = {
            "ETag": obj.etag,
            "Last-Modified": _http_date(obj.modified),
            "Accept-Ranges": "bytes",
            "Content-Type": obj.content_type,
            **self._sse_headers(obj.sse, obj.kms_key),
            **{f"x-amz-meta-{k}": v for k, v in obj.metadata.items()},
        }
        start, end = 0, obj.size - 1
        status = 200
        spec = request.headers.get("Range")
        if spec is not None:
            # GetObject: one byte range (RFC 9110); S3 does not serve multiple ranges.
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", spec.strip())
            if m and (m[1] or m[2]):
                if m[1]:
                    start = int(m[1])
                    end = min(int(m[2]), obj.size - 1) if m[2] else obj.size - 1
                else:
                    start = max(obj.size - int(m[2]), 0)
                if start >= obj.size or start > end:
                    raise _s3_error(
                        416,
                        "InvalidRange",
                        "The requested range is not satisfiable",
                        head,
                        RangeRequested=spec,
                        ActualObjectSize=str(obj.size),
                    )
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end}/{obj.size}"
        elif request.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED":
            headers.update({f"x-amz-checksum-{n}": v for n, v in obj.checksums.items()})
        length = max(end - start + 1, 0)
        headers["Content-Length"] = str(length)
        response = web.StreamResponse(status=status, headers=headers)
        await response.prepare(request)
        if head:
            return response
        with obj.path.open("rb") as fh:
            fh.seek(start)
            left = length
            while left:
                data = fh.read(min(CHUNK, left))
                if not data:
                    break
                left -= len(data)
                await response.write(data)
        await response.write_eof()
        return response

    @staticmethod
    def _max_keys(request: web.Request, name: str) -> int:
        try:
            value = int(request.query.get(name, "1000"))
        except ValueError:
            raise _s3_error(
                400, "InvalidArgument", f"Provided {name} not an integer or within integer range"
            ) from None
        if value < 0:
            raise _s3_error(400, "InvalidArgument", f"{name} must not be negative")
        return min(value, 1000)

    def _list_objects(self, request: web.Request, bucket: Bucket) -> web.Response:
        """ListObjectsV2: prefix, delimiter, max-keys (1,000 at most), start-after,
        continuation-token (opaque), encoding-type=url (which botocore always sends)."""
        q = request.query
        prefix = q.get("prefix", "")
        delimiter = q.get("delimiter", "")
        max_keys = self._max_keys(request, "max-keys")
        encode = q.get("encoding-type") == "url"
        if "encoding-type" in q and not encode:
            raise _s3_error(400, "InvalidArgument", "Invalid Encoding Method specified in Request")
        after = q.get("start-after", "")
        token = q.get("continuation-token")
        if token is not None:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode()
            except (ValueError, binascii.Error):
                raise _s3_error(
                    400, "InvalidArgument", "The continuation token provided is incorrect"
                ) from None
        enc = (lambda s: quote(s, safe="/")) if encode else (lambda s: s)
        contents: list[tuple[str, S3Object]] = []
        prefixes: list[str] = []
        last = ""
        truncated = False
        for key in sorted(bucket.objects):
            if not key.startswith(prefix) or key <= after:
                continue
            entry = key
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    entry = key[: cut + len(delimiter)]
                    if prefixes and prefixes[-1] == entry:
                        continue
                    if entry <= after:
                        continue
            if len(contents) + len(prefixes) >= max_keys:
                truncated = True
                break
            if entry != key:
                prefixes.append(entry)
                last = entry + "\U0010ffff"
            else:
                contents.append((key, bucket.objects[key]))
                last = key
        root = ET.Element("ListBucketResult")
        _sub(root, "Name", bucket.name)
        _sub(root, "Prefix", enc(prefix))
        if delimiter:
            _sub(root, "Delimiter", enc(delimiter))
        _sub(root, "MaxKeys", max_keys)
        if encode:
            _sub(root, "EncodingType", "url")
        _sub(root, "KeyCount", len(contents) + len(prefixes))
        _sub(root, "IsTruncated", "true" if truncated else "false")
        if token is not None:
            _sub(root, "ContinuationToken", token)
        if "start-after" in q:
            _sub(root, "StartAfter", enc(q["start-after"]))
        if truncated:
            _sub(root, "NextContinuationToken", base64.urlsafe_b64encode(last.encode()).decode())
        for key, obj in contents:
            item = _sub(root, "Contents", None)
            _sub(item, "Key", enc(key))
            _sub(item, "LastModified", _iso(obj.modified))
            _sub(item, "ETag", obj.etag)
            _sub(item, "Size", obj.size)
            _sub(item, "StorageClass", "STANDARD")
        for entry in prefixes:
            _sub(_sub(root, "CommonPrefixes", None), "Prefix", enc(entry))
        return _xml(root)

    # -- multipart --------------------------------------------------------------------------
    def _create_upload(self, request: web.Request, bucket: Bucket, key: str) -> web.Response:
        meta = self._metadata(request)
        sse, kms_key = self._sse(request, bucket.owner)
        upload = Upload(
            secrets.token_urlsafe(48),
            key,
            self.clock(),
            request.headers.get("Content-Type", "binary/octet-stream"),
            meta,
            sse,
            kms_key,
        )
        bucket.uploads[upload.id] = upload
        root = ET.Element("InitiateMultipartUploadResult")
        _sub(root, "Bucket", bucket.name)
        _sub(root, "Key", key)
        _sub(root, "UploadId", upload.id)
        response = _xml(root)
        response.headers.update(self._sse_headers(sse, kms_key))
        return response

    @staticmethod
    def _upload(bucket: Bucket, key: str, upload_id: str) -> Upload:
        upload = bucket.uploads.get(upload_id)
        if upload is None or upload.key != key:
            raise _s3_error(
                404,
                "NoSuchUpload",
                "The specified upload does not exist. The upload ID may be invalid, or the "
                "upload may have been aborted or completed.",
                UploadId=upload_id,
            )
        return upload

    async def _upload_part(self, request: web.Request, bucket: Bucket, key: str) -> web.Response:
        upload = self._upload(bucket, key, request.query["uploadId"])
        try:
            number = int(request.query.get("partNumber", ""))
        except ValueError:
            number = 0
        if not 1 <= number <= MAX_PARTS:
            raise _s3_error(
                400,
                "InvalidArgument",
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        path = self._new_path()
        got = await self._receive(request, path)
        if upload.id not in bucket.uploads:  # aborted while the part was arriving
            path.unlink(missing_ok=True)
            raise _s3_error(404, "NoSuchUpload", "The specified upload does not exist.")
        old = upload.parts.get(number)
        if old is not None:
            old.path.unlink(missing_ok=True)
        part = Part(number, path, got.size, f'"{got.md5.hex()}"', got.md5)
        upload.parts[number] = part
        headers = {"ETag": part.etag, **self._sse_headers(upload.sse, upload.kms_key)}
        headers.update({f"x-amz-checksum-{n}": v for n, v in got.checksums.items()})
        return web.Response(headers=headers)

    async def _complete_upload(
        self, request: web.Request, bucket: Bucket, key: str
    ) -> web.Response:
        upload = self._upload(bucket, key, request.query["uploadId"])
        got = await self._receive(request, None)
        malformed = _s3_error(
            400,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our "
            "published schema",
        )
        try:
            root = ET.fromstring(got.data)
        except ET.ParseError:
            raise malformed from None
        wanted: list[tuple[int, str]] = []
        for node in root:
            if node.tag.rpartition("}")[2] != "Part":
                continue
            fields = {child.tag.rpartition("}")[2]: (child.text or "") for child in node}
            try:
                wanted.append((int(fields["PartNumber"]), fields["ETag"].strip()))
            except (KeyError, ValueError):
                raise malformed from None
        if not wanted:
            raise malformed
        numbers = [n for n, _ in wanted]
        if numbers != sorted(set(numbers)):
            raise _s3_error(
                400,
                "InvalidPartOrder",
                "The list of parts was not in ascending order. Parts must be ordered by part "
                "number.",
            )
        parts = []
        for number, etag in wanted:
            part = upload.parts.get(number)
            if part is None or part.etag.strip('"') != etag.strip('"'):
                raise _s3_error(
                    400,
                    "InvalidPart",
                    "One or more of the specified parts could not be found. The part may not "
                    "have been uploaded, or the specified entity tag may not match the part's "
                    "entity tag.",
                    PartNumber=str(number),
                )
            parts.append(part)
        for part in parts[:-1]:
            if part.size < MIN_PART:
                raise _s3_error(
                    400,
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed object size.",
                    ProposedSize=str(part.size),
                    MinSizeAllowed=str(MIN_PART),
                    PartNumber=str(part.number),
                    ETag=part.etag,
                )
        path = self._new_path()
        size = 0
        with path.open("wb") as out:
            for part in parts:
                with part.path.open("rb") as fh:
                    while data := fh.read(CHUNK):
                        out.write(data)
                        size += len(data)
        for part in upload.parts.values():
            part.path.unlink(missing_ok=True)
        del bucket.uploads[upload.id]
        # The multipart ETag: MD5 of the parts' binary MD5s, "-" and the part count (what S3
        # returns; the API reference only promises it is not an MD5 of the object).
        digest = hashlib.md5(b"".join(p.md5 for p in parts)).hexdigest()
        old = bucket.objects.get(key)
        if old is not None:
            old.path.unlink(missing_ok=True)
        obj = S3Object(
            path,
            size,
            f'"{digest}-{len(parts)}"',
            upload.content_type,
            upload.metadata,
            upload.sse,
            upload.kms_key,
            {},
            self.clock(),
        )
        bucket.objects[key] = obj
        result = ET.Element("CompleteMultipartUploadResult")
        _sub(result, "Location", f"{request.scheme}://{request.host}/{bucket.name}/{quote(key)}")
        _sub(result, "Bucket", bucket.name)
        _sub(result, "Key", key)
        _sub(result, "ETag", obj.etag)
        response = _xml(result)
        response.headers.update(self._sse_headers(obj.sse, obj.kms_key))
        return response

    def _list_uploads(self, request: web.Request, bucket: Bucket) -> web.Response:
        """ListMultipartUploads: uploads in progress (so tests can see none is left billed)."""
        prefix = request.query.get("prefix", "")
        encode = request.query.get("encoding-type") == "url"
        enc = (lambda s: quote(s, safe="/")) if encode else (lambda s: s)
        max_uploads = self._max_keys(request, "max-uploads")
        uploads = sorted(
            (u for u in bucket.uploads.values() if u.key.startswith(prefix)),
            key=lambda u: (u.key, u.initiated),
        )
        root = ET.Element("ListMultipartUploadsResult")
        _sub(root, "Bucket", bucket.name)
        _sub(root, "KeyMarker", "")
        _sub(root, "UploadIdMarker", "")
        _sub(root, "Prefix", enc(prefix))
        _sub(root, "MaxUploads", max_uploads)
        if encode:
            _sub(root, "EncodingType", "url")
        # Markers are not served: a listing longer than max-uploads is refused instead of
        # silently cut.
        if len(uploads) > max_uploads:
            raise _s3_error(
                501, "NotImplemented", "Paging multipart upload listings is not served."
            )
        _sub(root, "IsTruncated", "false")
        for upload in uploads:
            item = _sub(root, "Upload", None)
            _sub(item, "Key", enc(upload.key))
            _sub(item, "UploadId", upload.id)
            _sub(item, "Initiated", _iso(upload.initiated))
            _sub(item, "StorageClass", "STANDARD")
        return _xml(root)

    # -- Bedrock ----------------------------------------------------------------------------
    def _bedrock(
        self, request: web.Request, cred: AwsCredential, raw_path: str, body: bytes
    ) -> web.Response:
        if raw_path == "/model-invocation-job" and request.method == "POST":
            return self._create_job(cred, body)
        if raw_path == "/model-invocation-jobs" and request.method == "GET":
            return self._list_jobs(request, cred)
        rest = raw_path[len("/model-invocation-job/") :]
        if request.method == "POST" and rest.endswith("/stop"):
            return self._stop_job(cred, unquote(rest[: -len("/stop")]))
        if request.method == "GET" and rest:
            job = self._job(cred, unquote(rest))
            self._advance(job)
            return web.json_response(self._describe(job))
        raise _br_error(404, "UnknownOperationException", "Unknown operation")

    def _check_shape(self, shape: Any, value: Any, path: str, problems: list[str]) -> None:
        """Validate ``value`` against a botocore shape (length, pattern, enum, range, required).

        Smithy patterns are not anchored; the least helpful reading matches them whole.
        """
        at = path or "request"
        kind = shape.type_name
        meta = shape.metadata
        if kind == "structure":
            if not isinstance(value, dict):
                problems.append(
                    f"Value at '{at}' failed to satisfy constraint: Member must be a structure"
                )
                return
            for name in shape.required_members:
                if value.get(name) is None:
                    where = f"{path}.{name}" if path else name
                    problems.append(
                        f"Value null at '{where}' failed to satisfy constraint: "
                        "Member must not be null"
                    )
            for name, item in value.items():
                where = f"{path}.{name}" if path else name
                if name not in shape.members:
                    problems.append(f"Unknown member '{where}'")
                elif item is not None:
                    self._check_shape(shape.members[name], item, where, problems)
            if meta.get("union") and sum(v is not None for v in value.values()) != 1:
                problems.append(
                    f"Value at '{at}' failed to satisfy constraint: "
                    "Member must have exactly one member set"
                )
        elif kind == "string":
            if not isinstance(value, str):
                problems.append(
                    f"Value at '{at}' failed to satisfy constraint: Member must be a string"
                )
                return
            shown = value if len(value) < 200 else value[:200] + "..."
            if ("min" in meta and len(value) < meta["min"]) or (
                "max" in meta and len(value) > meta["max"]
            ):
                problems.append(
                    f"Value '{shown}' at '{at}' failed to satisfy constraint: Member must have "
                    f"length between {meta.get('min', 0)} and {meta.get('max')}"
                )
            if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
                problems.append(
                    f"Value '{shown}' at '{at}' failed to satisfy constraint: Member must "
                    f"satisfy regular expression pattern: {meta['pattern']}"
                )
            if shape.enum and value not in shape.enum:
                problems.append(
                    f"Value '{shown}' at '{at}' failed to satisfy constraint: Member must "
                    f"satisfy enum value set: [{', '.join(shape.enum)}]"
                )
        elif kind in ("integer", "long"):
            if not isinstance(value, int) or isinstance(value, bool):
                problems.append(
                    f"Value at '{at}' failed to satisfy constraint: Member must be a number"
                )
                return
            if ("min" in meta and value < meta["min"]) or ("max" in meta and value > meta["max"]):
                problems.append(
                    f"Value '{value}' at '{at}' failed to satisfy constraint: Member must have "
                    f"value between {meta.get('min')} and {meta.get('max')}"
                )
        elif kind == "list":
            if not isinstance(value, list):
                problems.append(
                    f"Value at '{at}' failed to satisfy constraint: Member must be a list"
                )
                return
            if ("min" in meta and len(value) < meta["min"]) or (
                "max" in meta and len(value) > meta["max"]
            ):
                problems.append(
                    f"Value at '{at}' failed to satisfy constraint: Member must have length "
                    f"between {meta.get('min', 0)} and {meta.get('max')}"
                )
            for i, item in enumerate(value):
                self._check_shape(shape.member, item, f"{at}.{i + 1}.member", problems)

    @staticmethod
    def _family(model_id: str) -> str | None:
        """The model family of a model ID, inference profile ID or their ARNs."""
        name = model_id.rsplit("/", 1)[-1]
        name = re.sub(r"^(us|eu|apac|jp|au|ca|us-gov|global)\.", "", name)
        if name.startswith("anthropic.claude"):
            return "claude"
        if name.startswith("amazon.nova"):
            return "nova"
        if name.startswith("amazon.titan-embed-text-v2"):
            return "titan-embed"
        return None

    def _create_job(self, cred: AwsCredential, body: bytes) -> web.Response:
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            raise _br_error(400, "SerializationException", "Malformed request body") from None
        shape = self._model.operation_model("CreateModelInvocationJob").input_shape
        problems: list[str] = []
        self._check_shape(shape, req, "", problems)
        if problems:
            raise _invalid(*problems)
        role_account = req["roleArn"].split(":")[4]
        if role_account != cred.account:
            # iam:PassRole on another account's role is not allowed (Bedrock user guide,
            # "Create a custom service role for batch inference").
            raise _br_error(
                403,
                "AccessDeniedException",
                f"User is not authorized to perform: iam:PassRole on resource: {req['roleArn']}",
            )
        family = self._family(req["modelId"])
        if family is None:
            # Only the families this fake can answer for (Claude Messages, Nova) run here.
            raise _br_error(400, "ValidationException", "The provided model identifier is invalid.")
        if (
            "s3InputDataConfig" not in req["inputDataConfig"]
            or "s3OutputDataConfig" not in req["outputDataConfig"]
        ):
            raise _invalid("Only S3 input and output data configurations are supported.")
        token = req.get("clientRequestToken")
        comparable = {k: v for k, v in req.items() if k != "clientRequestToken"}
        for job in self.jobs.values():
            if job.account != cred.account:
                continue
            if token is not None and job.client_token == token:
                # Idempotency (the reference links EC2's "Ensuring idempotency"): the same
                # token and parameters answer the same job; other parameters are a conflict.
                if job.request == comparable:
                    return web.json_response({"jobArn": job.arn})
                raise _br_error(
                    400,
                    "ConflictException",
                    "The clientRequestToken was already used with different parameters.",
                )
            if job.name == req["jobName"]:
                # Docs silent on name reuse; least helpful: a name is used once per account.
                raise _br_error(
                    400,
                    "ConflictException",
                    f"A job with the name {req['jobName']} already exists.",
                )
        if req.get("modelInvocationType", "InvokeModel") != "InvokeModel":
            # Converse-shaped records are not answered by this fake: refused, not misread.
            raise _invalid(
                "modelInvocationType Converse is not served by this fake; use InvokeModel."
            )
        job_id = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(12))
        now = self.clock()
        job = Job(
            id=job_id,
            arn=f"arn:aws:bedrock:{self.region}:{cred.account}:model-invocation-job/{job_id}",
            account=cred.account,
            name=req["jobName"],
            model_id=req["modelId"],
            family=family,
            role_arn=req["roleArn"],
            client_token=token,
            request=comparable,
            submit=now,
            timeout_hours=req.get("timeoutDurationInHours") or DEFAULT_TIMEOUT_HOURS,
            modified=now,
        )
        self.jobs[job.id] = job
        return web.json_response({"jobArn": job.arn})

    def _job(self, cred: AwsCredential, identifier: str) -> Job:
        pattern = self._model.shape_for("ModelInvocationJobIdentifier").metadata["pattern"]
        if not re.fullmatch(pattern, identifier):
            raise _invalid(
                f"Value '{identifier}' at 'jobIdentifier' failed to satisfy constraint: Member "
                f"must satisfy regular expression pattern: {pattern}"
            )
        job = self.jobs.get(identifier.rsplit("/", 1)[-1])
        if (
            job is None
            or job.account != cred.account
            or (identifier.startswith("arn:") and identifier != job.arn)
        ):
            raise _br_error(
                404,
                "ResourceNotFoundException",
                f"The specified job {identifier} could not be found.",
            )
        return job

    def _describe(self, job: Job) -> dict[str, Any]:
        """GetModelInvocationJobResponse / ModelInvocationJobSummary (service model)."""
        status = self._status(job)
        if status == "Stopping" and job.stopping_shown is None:
            job.stopping_shown = self.clock()
        obj: dict[str, Any] = {
            "jobArn": job.arn,
            "jobName": job.name,
            "modelId": job.model_id,
            "roleArn": job.role_arn,
            "status": status,
            "submitTime": _iso(job.submit),
            "lastModifiedTime": _iso(job.modified),
            "inputDataConfig": job.request["inputDataConfig"],
            "outputDataConfig": job.request["outputDataConfig"],
            "timeoutDurationInHours": job.timeout_hours,
            "jobExpirationTime": _iso(job.submit + job.timeout_hours * 3600),
        }
        if job.client_token is not None:
            obj["clientRequestToken"] = job.client_token
        for name in ("vpcConfig", "modelInvocationType"):
            if name in job.request:
                obj[name] = job.request[name]
        if job.message is not None:
            obj["message"] = job.message
        if job.ended is not None:
            obj["endTime"] = _iso(job.ended)
        # The record counts are documented members; when they appear is not. Least helpful:
        # only once the job has run.
        obj.update(job.counts)
        return obj

    def _status(self, job: Job) -> str:
        if job.final:
            return job.final
        if job.stop_at is not None:
            return "Stopping"
        if self.phase_seconds <= 0:
            return "InProgress"
        phase = int((self.clock() - job.submit) // self.phase_seconds)
        return PHASES[min(phase, 3)]

    def _finish(self, job: Job, status: str, at: float, message: str | None = None) -> None:
        job.final, job.ended, job.modified = status, at, at
        job.message = message

    def _advance(self, job: Job) -> None:
        """Move a job along the fake's clock: Submitted, Validating, Scheduled, InProgress
        (``phase_seconds`` each), then Completed; Failed when validation fails (at the end of
        Validating); Expired or PartiallyCompleted at ``timeoutDurationInHours``; Stopping
        then Stopped after StopModelInvocationJob.

        The Bedrock API reference (GetModelInvocationJob, response element ``status``, the
        same text in ModelInvocationJobSummary and botocore's service model) has "Stopping -
        This job is being stopped by a user" and "Stopped - This job was stopped by a user";
        StopModelInvocationJob answers only an empty HTTP 200
        (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_GetModelInvocationJob.html,
        .../API_StopModelInvocationJob.html). Nothing says how soon Stopped follows, so the
        least helpful reading: a stopped job is Stopping for ``cancel_seconds`` and, however
        short that is, until a Get or List answer has shown it Stopping once. A caller that
        stops a job and reads it at once always sees Stopping."""
        if job.final:
            return
        now, p = self.clock(), self.phase_seconds
        if job.stop_at is not None:
            due = job.stop_at + self.cancel_seconds
            if job.stopping_shown is not None and now >= due:
                # No source says a stopped job writes its partial output; least helpful: none.
                self._finish(job, "Stopped", max(due, job.stopping_shown))
            return
        deadline = job.submit + job.timeout_hours * 3600
        validate_at, run_at, done_at = (job.submit + k * p for k in (2, 3, 4))
        if not job.validated and now >= validate_at and validate_at < deadline:
            job.validated = True
            problem = self._validate(job)
            if problem is not None:
                self._finish(job, "Failed", validate_at, problem)
                return
        if now >= run_at and deadline > run_at:
            missing = self._missing_input(job)
            if missing is not None:
                # Docs silent on an input removed after validation; least helpful: Failed.
                self._finish(job, "Failed", min(now, done_at, deadline), missing)
                return
        if now >= deadline and deadline < done_at:
            if deadline <= run_at:
                self._finish(job, "Expired", deadline, "The job did not start before it timed out.")
            else:
                self._run(job, (deadline - run_at) / p)
                self._finish(
                    job,
                    "PartiallyCompleted",
                    deadline,
                    "The job timed out before every record was processed.",
                )
            return
        if now >= done_at:
            self._run(job, 1.0)
            self._finish(job, "Completed", done_at)

    def _missing_input(self, job: Job) -> str | None:
        uri = job.request["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
        bucket = self.buckets[self._split_uri(uri)[0]]
        for key in job.inputs:
            if key not in bucket.objects:
                return f"The input S3 object s3://{bucket.name}/{key} no longer exists."
        return None

    @staticmethod
    def _split_uri(uri: str) -> tuple[str, str]:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return bucket, key

    def _validate(self, job: Job) -> str | None:
        """What Bedrock checks while Validating; the job's message names what failed."""
        in_uri = job.request["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
        out_uri = job.request["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"]
        for uri in (in_uri, out_uri):
            bucket = self.buckets.get(self._split_uri(uri)[0])
            if bucket is None or bucket.owner != job.account:
                return f"Access denied to the S3 location {uri} with role {job.role_arn}."
        bucket = self.buckets[self._split_uri(in_uri)[0]]
        key = self._split_uri(in_uri)[1]
        if key and not key.endswith("/"):
            if key not in bucket.objects:
                return f"The input S3 object {in_uri} does not exist."
            keys = [key]
        else:
            keys = sorted(k for k in bucket.objects if k.startswith(key))
        for k in keys:
            # batch-inference-data: input files "must end in the extension .jsonl"; the S3Uri
            # pattern's characters apply to every key (least helpful reading for a folder).
            if not k.endswith(".jsonl") or not KEY_CHARS.fullmatch(k):
                return (
                    f"The input file s3://{bucket.name}/{k} is not valid: input files must end "
                    "in .jsonl and their keys may contain only the characters "
                    "[-!_*'().a-zA-Z0-9/]."
                )
        if not keys:
            return f"No .jsonl input files were found at {in_uri}."
        total = 0
        for k in keys:
            with bucket.objects[k].path.open("rb") as fh:
                for number, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    total += 1
                    problem = self._check_record(line)
                    if problem:
                        return (
                            f"Invalid record in s3://{bucket.name}/{k} at line {number}: {problem}."
                        )
        job.inputs = keys
        if total < self.min_records:
            # User guide quotas: "Minimum number of records per batch inference job" (100).
            return (
                f"The number of records in the job's input ({total}) is less than the minimum "
                f"number of records per batch inference job ({self.min_records})."
            )
        job.counts = {}
        return None

    def _check_record(self, line: bytes) -> str | None:
        try:
            row = json.loads(line)
        except ValueError:
            return "the line is not valid JSON"
        if not isinstance(row, dict):
            return "the line is not a JSON object"
        if not isinstance(row.get("modelInput"), dict):
            return "modelInput must be a JSON object"
        if "recordId" in row:
            rid = row["recordId"]
            if (
                not isinstance(rid, str)
                or not RECORD_ID.fullmatch(rid)
                or len(rid) > self.record_id_max
            ):
                return (
                    f"recordId must be an alphanumeric string of at most {self.record_id_max} "
                    "characters"
                )
        return None

    def _lines(self, bucket: Bucket, key: str) -> list[int]:
        offsets = []
        with bucket.objects[key].path.open("rb") as fh:
            pos = 0
            for line in fh:
                if line.strip():
                    offsets.append(pos)
                pos += len(line)
        return offsets

    def _run(self, job: Job, fraction: float) -> None:
        """Answer the records into ``<output uri>/<job id>/<input file name>.out`` and write
        ``manifest.json.out`` beside them (batch-inference-results).

        "The order of records in the output JSONL file is not guaranteed to match the order of
        records in the input JSONL file" (batch-inference-data): records come out in an order
        hashed from the job ID. Only line offsets are held, never the records.
        """
        in_bucket = self.buckets[
            self._split_uri(job.request["inputDataConfig"]["s3InputDataConfig"]["s3Uri"])[0]
        ]
        out_cfg = job.request["outputDataConfig"]["s3OutputDataConfig"]
        out_name, out_prefix = self._split_uri(out_cfg["s3Uri"])
        out_bucket = self.buckets[out_name]
        out_prefix = out_prefix.rstrip("/") + "/" if out_prefix.strip("/") else ""
        kms = out_cfg.get("s3EncryptionKeyId")
        per_file = [(k, self._lines(in_bucket, k)) for k in job.inputs]
        total = sum(len(offsets) for _, offsets in per_file)
        budget = math.floor(total * fraction)
        counts = dict.fromkeys(("processed", "success", "error", "input", "output"), 0)
        for key, offsets in per_file:
            order = sorted(
                range(len(offsets)),
                key=lambda i: hashlib.sha256(f"{job.id}:{key}:{i}".encode()).digest(),
            )
            path = self._new_path()
            with path.open("wb") as out, in_bucket.objects[key].path.open("rb") as src:
                for index in order:
                    if budget <= 0:
                        break
                    budget -= 1
                    src.seek(offsets[index])
                    row = json.loads(src.readline())
                    rid = row.get("recordId")
                    if rid is None:
                        # "If you omit the recordId field, Amazon Bedrock adds it in the output."
                        rid = (
                            hashlib.sha256(f"{job.id}:{key}:{index}".encode())
                            .hexdigest()[:11]
                            .upper()
                        )
                    result: dict[str, Any] = {"recordId": rid, "modelInput": row["modelInput"]}
                    answer, problem = self._invoke(job.family, job.model_id, row["modelInput"])
                    if problem is None and _tools_refused(job, row["modelInput"]):
                        answer, problem = {}, "records that include tools fail in Converse jobs"
                    counts["processed"] += 1
                    if problem is not None:
                        result["error"] = {"errorCode": 400, "errorMessage": problem}
                        counts["error"] += 1
                    else:
                        result["modelOutput"] = answer
                        counts["success"] += 1
                        usage = answer.get("usage", {})
                        counts["input"] += usage.get(
                            "input_tokens", usage.get("inputTokens", 0)
                        ) + answer.get("inputTextTokenCount", 0)
                        counts["output"] += usage.get("output_tokens", usage.get("outputTokens", 0))
                    out.write(json.dumps(result).encode() + b"\n")
            name = key.rsplit("/", 1)[-1]
            self._put_generated(out_bucket, f"{out_prefix}{job.id}/{name}.out", path, kms)
        manifest = {
            "totalRecordCount": total,
            "processedRecordCount": counts["processed"],
            "successRecordCount": counts["success"],
            "errorRecordCount": counts["error"],
            "inputTokenCount": counts["input"],
            "outputTokenCount": counts["output"],
        }
        path = self._new_path()
        path.write_bytes(json.dumps(manifest).encode())
        self._put_generated(out_bucket, f"{out_prefix}{job.id}/manifest.json.out", path, kms)
        job.counts = {
            "totalRecordCount": total,
            "processedRecordCount": counts["processed"],
            "successRecordCount": counts["success"],
            "errorRecordCount": counts["error"],
        }

    def _put_generated(self, bucket: Bucket, key: str, path: Path, kms: str | None) -> None:
        md5 = hashlib.md5()
        with path.open("rb") as fh:
            while data := fh.read(CHUNK):
                md5.update(data)
        old = bucket.objects.get(key)
        if old is not None:
            old.path.unlink(missing_ok=True)
        bucket.objects[key] = S3Object(
            path,
            path.stat().st_size,
            f'"{md5.hexdigest()}"',
            "binary/octet-stream",
            {},
            "aws:kms" if kms else None,
            kms,
            {},
            self.clock(),
        )

    # -- the models -------------------------------------------------------------------------
    def _invoke(
        self, family: str, model_id: str, body: dict[str, Any]
    ) -> tuple[dict[str, Any], str | None]:
        if family == "titan-embed":
            return _titan_invoke(body)
        problem = _check_claude(body, model_id) if family == "claude" else _check_nova(body)
        if problem is not None:
            # The runtime's wording for a body the model rejects (InvokeModel
            # ValidationException "Malformed input request: ...").
            return (
                {},
                f"Malformed input request: {problem}, please reformat your input and try again.",
            )
        text_in = json.dumps(body.get("messages"), sort_keys=True)
        digest = hashlib.sha256(f"{model_id}\x00{text_in}".encode()).hexdigest()
        words = ["Fake", "answer", digest[:12], "from", model_id.rsplit("/", 1)[-1]]
        input_tokens = len(text_in.split()) + len(json.dumps(body.get("system", "")).split())
        cached = self._cache(model_id, body, family)
        if family == "claude":
            return _claude_answer(body, model_id, words, input_tokens, cached), None
        return _nova_answer(body, words, input_tokens, cached), None

    def _cache(self, model_id: str, body: dict[str, Any], family: str) -> tuple[str, int] | None:
        """("read" or "write", tokens) of the prompt's cached prefix, if it has one.

        The prefix runs to the last cache checkpoint (Claude: a block with ``cache_control``;
        Nova: a ``cachePoint`` block), system first, then messages (Anthropic "Prompt
        caching"; Nova user guide, "Prompt caching"). Shorter than the minimum, it is not
        cached, with no error (both guides: 1,024 tokens for most models). The first record
        with a prefix writes it, later ones read it.
        """
        marked = "cache_control" if family == "claude" else "cachePoint"
        system = body.get("system")
        blocks = [
            *(system if isinstance(system, list) else []),
            *(
                b
                for m in body.get("messages") or []
                if isinstance(m.get("content"), list)
                for b in m["content"]
            ),
        ]
        last = max(
            (i for i, b in enumerate(blocks) if isinstance(b, dict) and marked in b), default=-1
        )
        if last < 0:
            return None
        prefix = json.dumps(blocks[: last + 1], sort_keys=True)
        tokens = len(prefix.split())
        if tokens < CACHE_MIN_TOKENS:
            return None
        key = hashlib.sha256(f"{model_id}\x00{prefix}".encode()).hexdigest()
        if key in self.cached_prefixes:
            return "read", tokens
        self.cached_prefixes.add(key)
        return "write", tokens

    # -- jobs: list and stop ----------------------------------------------------------------
    def _list_jobs(self, request: web.Request, cred: AwsCredential) -> web.Response:
        q = request.query
        shape = self._model.operation_model("ListModelInvocationJobs").input_shape
        problems: list[str] = []
        values: dict[str, Any] = {}
        for name in ("statusEquals", "nameContains", "nextToken", "sortBy", "sortOrder"):
            if name in q:
                values[name] = q[name]
        if "maxResults" in q:
            try:
                values["maxResults"] = int(q["maxResults"])
            except ValueError:
                problems.append(
                    f"Value '{q['maxResults']}' at 'maxResults' failed to satisfy constraint: "
                    "Member must be a number"
                )
        times: dict[str, float] = {}
        for name in ("submitTimeAfter", "submitTimeBefore"):
            if name in q:
                try:
                    times[name] = datetime.fromisoformat(q[name].replace("Z", "+00:00")).timestamp()
                except ValueError:
                    problems.append(
                        f"Value '{q[name]}' at '{name}' failed to satisfy constraint: "
                        "Member must be a timestamp"
                    )
        self._check_shape(shape, values, "", problems)
        if problems:
            raise _invalid(*problems)
        # The default page size is not documented; least helpful: a small one.
        size = values.get("maxResults", 10)
        start = 0
        if "nextToken" in values:
            try:
                start = int(
                    base64.urlsafe_b64decode(values["nextToken"].encode())
                    .decode()
                    .removeprefix("jobs:")
                )
            except ValueError:
                raise _br_error(400, "ValidationException", "Invalid pagination token.") from None
        jobs = []
        for job in self.jobs.values():
            if job.account != cred.account:
                continue
            self._advance(job)
            if "statusEquals" in values and self._status(job) != values["statusEquals"]:
                continue
            if "nameContains" in values and values["nameContains"] not in job.name:
                continue
            if "submitTimeAfter" in times and job.submit <= times["submitTimeAfter"]:
                continue
            if "submitTimeBefore" in times and job.submit >= times["submitTimeBefore"]:
                continue
            jobs.append(job)
        # sortBy CreationTime only; sortOrder's default is not documented: Descending.
        jobs.sort(
            key=lambda j: j.submit, reverse=values.get("sortOrder", "Descending") == "Descending"
        )
        page = jobs[start : start + size]
        answer: dict[str, Any] = {"invocationJobSummaries": [self._describe(j) for j in page]}
        if start + size < len(jobs):
            answer["nextToken"] = base64.urlsafe_b64encode(f"jobs:{start + size}".encode()).decode()
        return web.json_response(answer)

    def _stop_job(self, cred: AwsCredential, identifier: str) -> web.Response:
        job = self._job(cred, identifier)
        self._advance(job)
        status = self._status(job)
        if status in TERMINAL:
            # The service model lists ConflictException for StopModelInvocationJob.
            raise _br_error(
                400, "ConflictException", f"The job {job.arn} cannot be stopped: it is {status}."
            )
        if job.stop_at is None:
            job.stop_at = job.modified = self.clock()
            self._advance(job)
        return web.json_response({})


# -- Claude Messages (Bedrock user guide, model-parameters-anthropic-claude-messages) --------
CLAUDE_FIELDS = {
    "anthropic_version", "anthropic_beta", "max_tokens", "system", "messages", "temperature",
    "top_p", "top_k", "stop_sequences", "tools", "tool_choice",
    # AWS "Get validated JSON results from models": InvokeModel with Claude takes a JSON
    # schema in output_config.format.
    "output_config",
}  # fmt: skip
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
# The shortest prefix prompt caching caches (Anthropic and Nova guides: 1,024 tokens).
CACHE_MIN_TOKENS = 1024


def _alternates(messages: list[Any]) -> str | None:
    roles = [m.get("role") for m in messages]
    if roles and roles[0] != "user":
        return "#/messages: the first message must use the user role"
    for a, b in itertools.pairwise(roles):
        if a == b:
            return "#/messages: roles must alternate between user and assistant"
    return None


def _check_claude(body: dict[str, Any], model_id: str = "") -> str | None:
    extra = sorted(set(body) - CLAUDE_FIELDS)
    if extra:
        return f"#: extraneous key [{extra[0]}] is not permitted"
    if body.get("anthropic_version") != "bedrock-2023-05-31":
        return "#/anthropic_version: expected bedrock-2023-05-31"
    tokens = body.get("max_tokens")
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1:
        return (
            "#: required key [max_tokens] not found"
            if tokens is None
            else "#/max_tokens: expected a positive integer"
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return (
            "#: required key [messages] not found"
            if messages is None
            else "#/messages: expected a non-empty array"
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"#/messages/{i}/role: expected user or assistant"
        content = message.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, list) or not content:
            return f"#/messages/{i}/content: expected a string or a non-empty array"
        for j, part in enumerate(content):
            where = f"#/messages/{i}/content/{j}"
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                if not isinstance(part.get("text"), str):
                    return f"{where}/text: expected a string"
                if not part["text"]:
                    # Anthropic's Messages API: "text content blocks must be non-empty".
                    return f"{where}: text content blocks must be non-empty"
            elif kind == "image":
                source = part.get("source")
                if (
                    not isinstance(source, dict)
                    or source.get("type") != "base64"
                    or source.get("media_type") not in IMAGE_TYPES
                    or not isinstance(source.get("data"), str)
                ):
                    return (
                        f"{where}/source: expected a base64 source with media_type one of "
                        + ", ".join(IMAGE_TYPES)
                    )
            elif kind not in ("tool_use", "tool_result"):
                return f"{where}/type: {kind} is not a valid enum value"
    problem = _alternates(messages)
    if problem:
        return problem
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        return "#/system: expected a string or an array"
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int | float) or not 0 <= value <= 1):
            return f"#/{name}: expected a number between 0 and 1"
    if (
        re.search(r"claude-(?:sonnet|haiku|opus)-4-5", model_id)
        and body.get("temperature") is not None
        and body.get("top_p") is not None
    ):
        # Claude 4.5 models (BerriAI/litellm 15070, Anthropic's models overview).
        return "temperature and top_p cannot both be specified for this model"
    fmt = (body.get("output_config") or {}).get("format") if "output_config" in body else None
    if "output_config" in body and (
        not isinstance(fmt, dict)
        or fmt.get("type") != "json_schema"
        or not isinstance(fmt.get("schema"), dict)
    ):
        return "#/output_config/format: expected {type: json_schema, schema: {...}}"
    stops = body.get("stop_sequences")
    if stops is not None and (
        not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)
    ):
        return "#/stop_sequences: expected an array of strings"
    tools = body.get("tools")
    if tools is not None and (
        not isinstance(tools, list)
        or not all(
            isinstance(t, dict)
            and isinstance(t.get("name"), str)
            and isinstance(t.get("input_schema"), dict)
            for t in tools
        )
    ):
        return "#/tools: each tool needs a name and an input_schema"
    choice = body.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool"):
            return "#/tool_choice/type: expected auto, any or tool"
        if choice["type"] == "tool" and not any(
            t.get("name") == choice.get("name") for t in tools or []
        ):
            return "#/tool_choice/name: no tool has this name"
    return None


# -- Amazon Titan Text Embeddings V2 (Bedrock user guide, model-parameters-titan-embed-text:
#    request inputText, dimensions 1024/512/256, normalize, embeddingTypes; response
#    embedding, inputTextTokenCount, embeddingsByType) -----------------------------------------
TITAN_FIELDS = {"inputText", "dimensions", "normalize", "embeddingTypes"}


def _titan_invoke(body: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    extra = sorted(set(body) - TITAN_FIELDS)
    if extra:
        return {}, f"Malformed input request: extraneous key [{extra[0]}] is not permitted"
    text = body.get("inputText")
    if not isinstance(text, str) or not text:
        return {}, "Malformed input request: required key [inputText] not found"
    dimensions = body.get("dimensions", 1024)
    if dimensions not in (256, 512, 1024):
        return {}, "Malformed input request: #/dimensions: 256, 512 or 1024"
    seed = hashlib.sha256(text.encode()).digest()
    vector = [round((seed[i % 32] - 127.5) / 127.5, 6) for i in range(dimensions)]
    if body.get("normalize", True):
        norm = sum(v * v for v in vector) ** 0.5 or 1.0
        vector = [round(v / norm, 6) for v in vector]
    tokens = len(text.split())
    return {
        "embedding": vector,
        "inputTextTokenCount": tokens,
        "embeddingsByType": {"float": vector},
    }, None


def _tools_refused(job: Job, model_input: Any) -> bool:
    """Whether a record with tools fails for the job's invocation type.

    AWS's batch inference guide (current revision): tool calling fails in jobs of the
    Converse type ("records that include toolConfig fail with a 400") and works in
    InvokeModel jobs. A job that does not say its type is taken as Converse for this (the
    least helpful reading: the guide names no default); Converse jobs are refused at create.
    """
    if job.request.get("modelInvocationType") == "InvokeModel":
        return False
    return isinstance(model_input, dict) and bool(
        model_input.get("tools") or model_input.get("toolConfig")
    )


def _claude_answer(
    body: dict[str, Any],
    model_id: str,
    words: list[str],
    input_tokens: int,
    cached: tuple[str, int] | None = None,
) -> dict[str, Any]:
    """The InvokeModel response body for Claude Messages."""
    choice = body.get("tool_choice") or {}
    content: list[dict[str, Any]]
    if choice.get("type") in ("any", "tool"):
        name = choice.get("name") or body["tools"][0]["name"]
        content = [
            {"type": "tool_use", "id": "toolu_" + secrets.token_hex(12), "name": name, "input": {}}
        ]
        stop, out = "tool_use", 8
    elif "output_config" in body:
        # A JSON text that follows the schema (its required properties, as strings).
        schema = body["output_config"]["format"]["schema"]
        text = json.dumps({k: " ".join(words[:2]) for k in schema.get("required") or []})
        content = [{"type": "text", "text": text}]
        stop, out = "end_turn", len(text.split())
    else:
        limit = body["max_tokens"]
        stop = "max_tokens" if len(words) > limit else "end_turn"
        kept = words[:limit]
        content = [{"type": "text", "text": " ".join(kept)}]
        out = len(kept)
    return {
        "id": "msg_bdrk_" + secrets.token_hex(12),
        "type": "message",
        "role": "assistant",
        "model": model_id.rsplit("/", 1)[-1],
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            # Anthropic "Prompt caching": input_tokens counts only what follows the last
            # cache breakpoint; the cached prefix is cache_creation_ or cache_read_input_tokens.
            "input_tokens": input_tokens - (cached[1] if cached else 0),
            "output_tokens": out,
            **(
                {
                    "cache_creation_input_tokens": cached[1] if cached[0] == "write" else 0,
                    "cache_read_input_tokens": cached[1] if cached[0] == "read" else 0,
                }
                if cached
                else {}
            ),
        },
    }


# -- Amazon Nova (Nova user guide, "Complete request schema" and Nova 2 "Request and response
#    schema"; "Using the Invoke API" for the response) -------------------------------------
NOVA_FIELDS = {"schemaVersion", "system", "messages", "inferenceConfig", "toolConfig"}
NOVA_CONFIG = {"maxTokens", "temperature", "topP", "topK", "stopSequences", "reasoningConfig"}
NOVA_IMAGE_FORMATS = ("jpeg", "png", "gif", "webp")


def _check_nova(body: dict[str, Any]) -> str | None:
    extra = sorted(set(body) - NOVA_FIELDS)
    if extra:
        return f"extraneous key [{extra[0]}] is not permitted"
    if "schemaVersion" in body and body["schemaVersion"] != "messages-v1":
        # The Nova 2 schema says every field not marked required is optional, and
        # schemaVersion is not marked; its only documented value is "messages-v1".
        return "schemaVersion must be messages-v1"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty array"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"messages[{i}].role must be user or assistant"
        content = message.get("content")
        if not isinstance(content, list) or not content:
            return f"messages[{i}].content must be a non-empty array"
        for j, part in enumerate(content):
            if not isinstance(part, dict) or not (
                {"text", "image", "video", "toolUse", "toolResult", "cachePoint"} & set(part)
            ):
                return (
                    f"messages[{i}].content[{j}] has no text, image, video, toolUse, toolResult "
                    "or cachePoint"
                )
            if "text" in part and not isinstance(part["text"], str):
                return f"messages[{i}].content[{j}].text must be a string"
            image = part.get("image")
            if image is not None and (
                not isinstance(image, dict)
                or image.get("format") not in NOVA_IMAGE_FORMATS
                or not isinstance((image.get("source") or {}).get("bytes"), str)
            ):
                return (
                    f"messages[{i}].content[{j}].image needs a format (jpeg, png, gif, webp) "
                    "and source.bytes (Base64)"
                )
    # "first turn must be user"; turns alternate as in the Converse API, whose request
    # schema Nova's Invoke body shares.
    problem = _alternates(messages)
    if problem:
        return problem.replace("#/", "")
    system = body.get("system")
    if system is not None and (
        not isinstance(system, list)
        or not all(
            isinstance(s, dict) and (isinstance(s.get("text"), str) or "cachePoint" in s)
            for s in system
        )
    ):
        return "system must be an array of {text} or {cachePoint} objects"
    config = body.get("inferenceConfig")
    if config is not None:
        if not isinstance(config, dict):
            return "inferenceConfig must be an object"
        extra = sorted(set(config) - NOVA_CONFIG)
        if extra:
            return f"extraneous key [inferenceConfig.{extra[0]}] is not permitted"
        tokens = config.get("maxTokens")
        if tokens is not None and (
            not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1
        ):
            return "inferenceConfig.maxTokens must be a positive integer"
    return None


def _nova_answer(
    body: dict[str, Any],
    words: list[str],
    input_tokens: int,
    cached: tuple[str, int] | None = None,
) -> dict[str, Any]:
    limit = (body.get("inferenceConfig") or {}).get("maxTokens") or len(words)
    kept = words[:limit]
    usage: dict[str, Any] = {
        "inputTokens": input_tokens,
        "outputTokens": len(kept),
        "totalTokens": input_tokens + len(kept),
    }
    if cached:
        # Nova's Invoke response names the cached prefix cacheReadInputTokenCount or
        # cacheWriteInputTokenCount (Nova user guide, "Prompt caching"); inputTokens is the
        # rest of the prompt.
        usage["inputTokens"] = input_tokens - cached[1]
        usage[
            "cacheReadInputTokenCount" if cached[0] == "read" else "cacheWriteInputTokenCount"
        ] = cached[1]
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": " ".join(kept)}]}},
        "stopReason": "max_tokens" if len(words) > limit else "end_turn",
        "usage": usage,
    }


# -- the fake as the command line and --demo see it (fake/__init__.py lists it) -------------
DEMO_KEY_ID, DEMO_SECRET = "AKIADEMOFAKEBEDROCK1", "demo-fake-bedrock-secret"
DEMO_ACCOUNT = "123456789012"
DEMO_MODEL = "claude-bedrock-batch"
DEMO_EMBED_MODEL = "titan-embed"
# Bedrock runs a job only with at least 100 records; the demo's fake takes the seed's three.
DEMO_MIN_RECORDS = 1


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--aws-credential",
        action="append",
        default=[],
        metavar="KEY_ID=SECRET[:ACCOUNT]",
        help="bedrock: an access key, its secret and its 12-digit account (repeatable)",
    )
    p.add_argument(
        "--region", default="us-west-2", help="bedrock: the region signatures are scoped to"
    )
    p.add_argument(
        "--min-records",
        type=int,
        default=100,
        help="bedrock: minimum records per job (AWS's default quota is 100)",
    )


def _build(args: argparse.Namespace, keys: dict[str, str], error: Callable[[str], Any]) -> Any:
    credentials = {}
    for item in args.aws_credential:
        key_id, _, rest = item.partition("=")
        secret, _, account = rest.rpartition(":") if ":" in rest else (rest, "", "")
        credentials[key_id] = AwsCredential(secret, account) if account else AwsCredential(secret)
    # Buckets belong to the first credential's account.
    owner = next(iter(credentials.values())).account if credentials else None
    buckets = args.bucket or ["fake-bucket"]
    return FakeBedrock(
        credentials,
        dict.fromkeys(buckets, owner) if owner else buckets,
        region=args.region,
        storage=args.storage,
        phase_seconds=args.phase_seconds,
        min_records=args.min_records,
    )


def _demo(place: DemoPlace) -> DemoAccounts:
    fake = FakeBedrock(
        {DEMO_KEY_ID: AwsCredential(DEMO_SECRET, DEMO_ACCOUNT)},
        ["demo-bucket"],
        phase_seconds=place.phase_seconds,
        min_records=DEMO_MIN_RECORDS,
    )
    params = {
        "model": "bedrock/us.anthropic.claude-3-5-sonnet-20240620-v1:0",
        "aws_region_name": "us-west-2",
        "aws_access_key_id": DEMO_KEY_ID,
        "aws_secret_access_key": DEMO_SECRET,
        "s3_bucket_name": "demo-bucket/router",
        "aws_batch_role_arn": f"arn:aws:iam::{DEMO_ACCOUNT}:role/DemoBatch",
        "api_base": place.base,
        "s3_endpoint_url": place.base,
        "batch_min_records": DEMO_MIN_RECORDS,
    }
    model_list = [
        {"model_name": DEMO_MODEL, "litellm_params": params},
        {
            "model_name": DEMO_EMBED_MODEL,
            "litellm_params": {**params, "model": "bedrock/amazon.titan-embed-text-v2:0"},
        },
    ]
    return DemoAccounts(fake, model_list)


FLAVOUR = FakeFlavour(
    name="bedrock",
    add_arguments=_arguments,
    build=_build,
    demo=_demo,
    # The chat snippet leaves titan-embed out: it takes embeddings batches only.
    demo_models=(DEMO_MODEL,),
    demo_described="an Amazon Bedrock model",
    demo_hints=(
        "An embeddings batch on Bedrock's Titan Text Embeddings V2: {python} "
        f"examples/seed_example.py --endpoint /v1/embeddings --model {DEMO_EMBED_MODEL}",
    ),
    needs="botocore",
)
