"""What the fake's parts share: limits, the objects it keeps, S3's and Bedrock's error answers,
and the state every part reads (``Base``)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path
from typing import Any

from aiohttp import web

from ..base import Answer, FakeService

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


class Base(FakeService):
    """The fake's state: credentials, buckets, jobs (``FakeBedrock`` documents the arguments)."""

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

    def _new_path(self) -> Path:
        folder = self.root / "objects"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{next(self._seq)}-{secrets.token_hex(6)}"
