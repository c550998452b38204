"""The Vertex AI flavour of the fake: a token endpoint, the GCS JSON API, batch prediction jobs.

Built from Google's documentation and official clients only (each behaviour cites its source),
never from this project's adapter; where the documentation is silent the fake takes the least
helpful reading and says so.

- ``POST /token``: the JWT bearer grant; the assertion must be signed by a known
  service-account key (RS256), carry the cloud-platform scope and name Google's token URL
  or this endpoint's as its audience; only tokens it issued open the rest;
- GCS: resumable (``uploadType=resumable``, chunks in multiples of 256 KiB except the last,
  ``308`` with the persisted ``Range``) and media uploads, object metadata (``md5Hash``, and
  ``crc32c`` when google-crc32c is installed), ``alt=media`` downloads (also under
  ``/download/``), delete, list (prefix, startOffset, pageToken);
- ``tuningJobs`` (``v1`` and ``v1beta1``): supervised tuning of Gemini models from a JSONL
  dataset in the fake's GCS, see ``vertex_tuning.py``; create, get, list (pageSize/pageToken,
  a ``labels.key=value`` filter), ``:cancel``;
- ``batchPredictionJobs`` (``v1`` and ``v1beta1``): create (with ``labels``), get, list
  (pageSize/pageToken, a ``labels.key=value`` filter), ``:cancel``; a job runs on the
  fake's clock and writes
  ``prediction-model-*/predictions.jsonl`` in Vertex's format: each line is
  ``{"status", "processed_time", "request"[, "response"]}``, only the input row's ``request``
  is echoed (no other top-level field survives), lines are written in an order other than the
  input's, and invalid requests become failed lines (``status`` set, no ``response``). An
  embedding model's job (a model named ``*embedding*``) reads ``{"content": ...}`` lines and
  writes ``{"instance", "predictions", "status"}`` lines, only the instance's documented fields
  echoed (``_embedding_line``).

Fault-injection knobs (plain attributes, set them between calls):

- ``drop_labels``: output lines echo the request without its ``labels`` (a job whose output
  lost its labels);
- ``short_range_once``: the next resumable chunk that carries bytes persists only half of
  them (rounded down): the ``308`` answer's ``Range`` ends short of what was sent, as GCS may
  do, and the client must resend from the persisted offset; a chunk starting anywhere else is a
  ``400``. The knob resets itself after use.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib
import json
import random
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Generic, TypeVar, Unpack

import jwt
from aiohttp import web
from aiohttp.typedefs import Handler
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .base import (
    Answer,
    DemoPlace,
    FakeService,
    Option,
    ServiceOptions,
    bearer,
    content_response,
    flavour,
    route,
)
from .compress import Compression
from .compress import middleware as compress
from .store import JobRun
from .vertex_tuning import TuningError, TuningJob, check_dataset, parse_tuning_job

__all__ = ["FakeVertex"]


def _load_crc32c() -> Any:
    """Google's CRC32C (google-crc32c), if installed: it is not a dependency of this package
    but comes with google-cloud-storage."""
    try:
        return importlib.import_module("google_crc32c")
    except ImportError:
        return None


_CRC32C = _load_crc32c()

CHUNK_UNIT = 256 * 1024
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# batchPredictionJobs.list ``filter``: "labels supports general map functions that is:
# labels.key=value - key:value equality; labels.key:* or labels:key - key existence". Only the
# equality form is served; any other filter is refused rather than ignored.
_LABEL_FILTER = re.compile(r'labels\.([a-z][a-z0-9_-]{0,62})\s*=\s*("?)([a-z0-9_-]{0,63})\2')


def _label_filter(text: str | None) -> tuple[str, str] | web.Response | None:
    if text is None:
        return None
    match = _LABEL_FILTER.fullmatch(text.strip())
    if match is None:
        return _error(400, f"Unsupported filter: {text!r}.")
    return match[1], match[3]


def _error(status: int, message: str, reason: str = "INVALID_ARGUMENT") -> web.Response:
    return web.json_response(
        {"error": {"code": status, "message": message, "status": reason}}, status=status
    )


def _embedding_model(model: str) -> bool:
    # "Embedding model and versions" (cloud.google.com/vertex-ai/generative-ai/docs/
    # embeddings): text-embedding-*, text-multilingual-embedding-*, gemini-embedding-001 and
    # the older textembedding-gecko*.
    name = model.rsplit("/", 1)[-1]
    return "embedding" in name


# The text embedding instance's fields (text embeddings API reference,
# cloud.google.com/vertex-ai/generative-ai/docs/model-reference/text-embeddings-api).
_EMBEDDING_FIELDS = ("content", "task_type", "title")


def _embedding_line(model: str, line: bytes) -> dict[str, Any]:
    """One output line of an embedding model's batch job.

    "Get batch text embeddings predictions"
    (cloud.google.com/vertex-ai/generative-ai/docs/embeddings/batch-prediction-genai-embeddings):
    an input line is ``{"content": "..."}``; an output line is ``{"instance": {...},
    "predictions": [{"embeddings": {"statistics": {"token_count", "truncated"}, "values":
    [...]}}], "status": ""}``. The page shows only ``content`` echoed in ``instance``, so the
    echo keeps the instance's documented fields and drops the rest (least helpful reading:
    no custom field travels); nor does it say the output keeps the input's order (see
    ``_reorder``). What a failed line holds is not shown: here its ``status`` says why and
    ``predictions`` is empty.
    """
    try:
        row = json.loads(line)
    except ValueError as err:
        return {"instance": {}, "predictions": [], "status": f"Bad Request: not JSON: {err}"}
    if not isinstance(row, dict):
        return {"instance": {}, "predictions": [], "status": "Bad Request: not an object"}
    echoed = {k: row[k] for k in _EMBEDDING_FIELDS if k in row}
    content = row.get("content")
    if not isinstance(content, str) or not content:
        return {
            "instance": echoed,
            "predictions": [],
            "status": f'Bad Request: {model} takes {{"content": "..."}} instances.',
        }
    digest = hashlib.sha256(f"{model}\x00{content}".encode()).digest()
    values = [round(b / 255 - 0.5, 4) for b in digest[:8]]
    return {
        "instance": echoed,
        "predictions": [
            {
                "embeddings": {
                    "statistics": {"token_count": max(1, len(content) // 4), "truncated": False},
                    "values": values,
                }
            }
        ],
        "status": "",
    }


def _reorder(rows: list[dict[str, Any]], seed: str) -> list[dict[str, Any]]:
    """Output lines in an order other than the input's.

    Neither the Vertex batch docs nor the BatchPredictionJob reference promise that
    ``predictions.jsonl`` follows the input order (only the Gemini Developer API's file output
    does: ``BatchJobDestination.fileName`` in google-genai's types), so the fake shuffles
    (deterministically per job); a file of two or more lines never comes out in input order.
    """
    out = list(rows)
    random.Random(seed).shuffle(out)
    if len(out) > 1 and all(a is b for a, b in zip(out, rows, strict=True)):
        out.reverse()
    return out


def _invalid(request: dict[str, Any]) -> str | None:
    """Why Vertex would refuse ``request`` (a GenerateContentRequest), or None."""
    # contents: "Required" in the GenerateContentRequest reference
    # (https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.publishers.models/generateContent).
    contents = request.get("contents")
    if not isinstance(contents, list) or not contents:
        return "contents is required and must not be empty."
    # temperature: "Range: [0.0, 2.0]" in GenerationConfig
    # (https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference#generationconfig).
    config = request.get("generationConfig")
    if config is not None and not isinstance(config, dict):
        return "generationConfig must be an object."
    temperature = (config or {}).get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not 0 <= temperature <= 2
    ):
        return f"generationConfig.temperature must be in [0.0, 2.0], got {temperature!r}."
    return _invalid_labels(request.get("labels"))


def _label_char(c: str) -> bool:
    return c in "_-" or c.isdecimal() or (c.isalpha() and not c.isupper())


def _invalid_labels(labels: Any) -> str | None:
    """GenerateContentRequest.labels (aiplatform v1 ``GenerateContentRequest``, REST reference
    projects.locations.publishers.models/generateContent, ``labels``): "Label keys and
    values can be no longer than 63 characters (Unicode codepoints) and can only contain
    lowercase letters, numeric characters, underscores, and dashes. International characters
    are allowed. Label values are optional. Label keys must start with a letter." The Cloud
    label rules (https://cloud.google.com/resource-manager/docs/labels-overview#requirements)
    add "up to a maximum of 64" labels and keys of at least one character. The docs do not
    say whether a bad label fails the row or is ignored: the fake fails the row (least helpful
    reading)."""
    if labels is None:
        return None
    if not isinstance(labels, dict):
        return "labels must be an object of strings."
    if len(labels) > 64:
        return f"labels: at most 64 labels, got {len(labels)}."
    for key, value in labels.items():
        if not isinstance(value, str):
            return f"labels.{key}: the value must be a string."
        if not 1 <= len(key) <= 63 or not key[0].isalpha() or key[0].isupper():
            return f"labels: bad key {key!r} (1-63 characters, starting with a lowercase letter)."
        if len(value) > 63:
            return f"labels.{key}: the value is longer than 63 characters."
        if not all(_label_char(c) for c in key + value):
            return (
                f"labels.{key}: keys and values may only hold lowercase letters, digits, "
                "'_' and '-'."
            )
    return None


@dataclass
class GcsObject:
    bucket: str
    name: str
    path: Path
    size: int
    content_type: str
    metadata: dict[str, str]
    created: float
    digests: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        # https://cloud.google.com/storage/docs/json_api/v1/objects#resource: md5Hash and
        # crc32c are base64 digests of the data (crc32c big-endian). google-cloud-storage
        # checks crc32c after an upload by default, so it is given when google-crc32c (Google's
        # own implementation, installed with that client) is importable.
        md5 = hashlib.md5(usedforsecurity=False)
        crc = _CRC32C.Checksum() if _CRC32C is not None else None
        with self.path.open("rb") as fh:
            while chunk := fh.read(1024 * 1024):
                md5.update(chunk)
                if crc is not None:
                    crc.update(chunk)
        self.digests = {"md5Hash": base64.b64encode(md5.digest()).decode()}
        if crc is not None:
            self.digests["crc32c"] = base64.b64encode(crc.digest()).decode()

    def resource(self) -> dict[str, Any]:
        return {
            "kind": "storage#object",
            "id": f"{self.bucket}/{self.name}",
            "name": self.name,
            "bucket": self.bucket,
            "size": str(self.size),
            "contentType": self.content_type,
            "timeCreated": _iso(self.created),
            "updated": _iso(self.created),
            "metadata": self.metadata,
            **self.digests,
        }


@dataclass
class Upload:
    bucket: str
    name: str
    path: Path
    content_type: str
    metadata: dict[str, str]
    received: int = 0
    chunk_sizes: list[int] = field(default_factory=list)


@dataclass
class Job(JobRun):
    id: str
    model: str
    source: str
    output_prefix: str
    created: float
    display_name: str
    output_dir: str | None = None
    stats: dict[str, int] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    labels: dict[str, str] = field(default_factory=dict)


_J = TypeVar("_J", Job, TuningJob)


class FakeVertex(FakeService):
    """Vertex AI and GCS for one project; ``service_accounts`` maps client emails to PEM
    public keys whose private halves may sign token grants."""

    def __init__(
        self,
        service_accounts: Mapping[str, str],
        *,
        project: str = "fake-project",
        project_number: str = "123456789012",
        location: str = "us-central1",
        buckets: Iterable[str] = ("fake-bucket",),
        token_seconds: int = 3600,
        **service: Unpack[ServiceOptions],
    ):
        super().__init__(**service)
        self.service_accounts = dict(service_accounts)
        self.project, self.location = project, location
        self.project_number = project_number
        self.buckets = set(buckets)
        self.token_seconds = token_seconds
        self.tokens: dict[str, str] = {}
        self.token_requests = 0
        self.objects: dict[tuple[str, str], GcsObject] = {}
        self.uploads: dict[str, Upload] = {}
        self.finished_uploads: list[Upload] = []
        self.jobs: dict[str, Job] = {}
        self.tuning_jobs: dict[str, TuningJob] = {}
        self.drop_labels = False
        self.short_range_once = False
        self.compression = Compression()
        # At most this many lines a prediction file, the rest in further files. Google's own
        # batch prediction sample reads every .jsonl of the output directory; the names past
        # the first are undocumented: predictions_00001.jsonl, ... here.
        self.prediction_file_lines: int | None = None
        # A job not finished this long after its creation ends JOB_STATE_EXPIRED ("The job
        # has expired", JobState in the v1 reference) with the output it wrote by then.
        self.expire_seconds: float | None = None

    # -- plumbing ---------------------------------------------------------------------------
    def app(self) -> web.Application:
        # google-genai calls Vertex at v1beta1 by default (_api_client.py), the REST docs at v1.
        location = "/{version:v1|v1beta1}/projects/{project}/locations/{location}/"
        routes = self.routes()
        for kind in _JOB_KINDS:
            jobs = location + kind.collection
            routes += [
                web.post(jobs, partial(kind.create, self)),
                web.get(jobs, partial(self._list, kind)),
                web.get(jobs + "/{job}", partial(self._get, kind)),
                web.post(jobs + "/{job_action}", partial(self._action, kind)),
            ]
        return self.make_app(
            compress(self),
            self._serve,
            routes=routes,
            # Resumable upload chunks arrive whole: allow the router's 8 MiB and then some.
            client_max_size=64 * 1024**2,
        )

    @web.middleware
    async def _serve(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        token = bearer(request)
        record = self.record(request, account=self.tokens.get(token) if token else None, key=token)
        if request.path != "/token" and record.account is None:
            return _error(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED")
        response: web.StreamResponse = await handler(request)
        return response

    def _path(self, bucket: str, name: str) -> Path:
        return self.root / hashlib.sha256(f"{bucket}/{name}".encode()).hexdigest()

    def _bucket(self, request: web.Request) -> str:
        bucket = request.match_info["bucket"]
        if bucket not in self.buckets:
            raise Answer(_error(404, f"The specified bucket does not exist: {bucket}", "NOT_FOUND"))
        return bucket

    def put_object(
        self,
        bucket: str,
        name: str,
        data: bytes,
        content_type: str,
        metadata: dict[str, str] | None = None,
    ) -> GcsObject:
        path = self._path(bucket, name)
        path.write_bytes(data)
        obj = GcsObject(bucket, name, path, len(data), content_type, metadata or {}, self.clock())
        self.objects[(bucket, name)] = obj
        return obj

    # -- token ------------------------------------------------------------------------------
    @route("POST", "/token")
    async def issue_token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = await request.post()
        assertion = str(form.get("assertion", ""))
        if form.get("grant_type") != GRANT:
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
            key = self.service_accounts[claims["iss"]]
            # https://developers.google.com/identity/protocols/oauth2/service-account
            # ("Creating a JWT"): aud "is always https://oauth2.googleapis.com/token" (what
            # google-auth sends whatever the token_uri); this fake's own token URL stands in
            # for it for clients that send the token_uri they were given.
            audiences = [GOOGLE_TOKEN_URL, str(request.url.with_query(None))]
            claims = jwt.decode(assertion, key, algorithms=["RS256"], audience=audiences)
        except (jwt.PyJWTError, KeyError):
            return web.json_response(
                {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
                status=400,
            )
        if "cloud-platform" not in str(claims.get("scope", "")):
            return web.json_response({"error": "invalid_scope"}, status=400)
        token = "ya29.fake-" + secrets.token_hex(16)
        self.tokens[token] = claims["iss"]
        return web.json_response(
            {"access_token": token, "expires_in": self.token_seconds, "token_type": "Bearer"}
        )

    # -- GCS --------------------------------------------------------------------------------
    @route("POST", "/upload/storage/v1/b/{bucket}/o")
    async def start_upload(self, request: web.Request) -> web.Response:
        bucket = self._bucket(request)
        kind = request.query.get("uploadType")
        if kind == "media":
            name = request.query.get("name", "")
            path = self._path(bucket, name)
            size = 0
            with path.open("wb") as fh:  # streamed: media uploads may be large
                async for chunk in request.content.iter_chunked(256 * 1024):
                    fh.write(chunk)
                    size += len(chunk)
            obj = GcsObject(bucket, name, path, size, request.content_type, {}, self.clock())
            self.objects[(bucket, name)] = obj
            return web.json_response(obj.resource())
        if kind != "resumable":
            return _error(400, "uploadType must be resumable or media")
        meta = await request.json()
        name = request.query.get("name") or meta.get("name")
        if not name:
            return _error(400, "Required object name")
        upload_id = secrets.token_hex(12)
        self.uploads[upload_id] = Upload(
            bucket,
            name,
            self._path(bucket, name + ".partial-" + upload_id),
            meta.get("contentType") or "application/octet-stream",
            meta.get("metadata") or {},
        )
        location = request.url.with_query(uploadType="resumable", upload_id=upload_id)
        return web.Response(status=200, headers={"Location": str(location)})

    def _upload(self, request: web.Request) -> Upload:
        upload = self.uploads.get(request.query.get("upload_id", ""))
        if upload is None:
            raise Answer(_error(404, "No such upload session.", "NOT_FOUND"))
        return upload

    @route("PUT", "/upload/storage/v1/b/{bucket}/o")
    async def put_chunk(self, request: web.Request) -> web.Response:
        # https://cloud.google.com/storage/docs/performing-resumable-uploads ("Upload in
        # multiple chunks", "Check the status of a resumable upload"): each chunk carries
        # Content-Range "bytes FIRST-LAST/TOTAL" (TOTAL "*" while unknown), every chunk but
        # the one completing the upload is a multiple of 256 KiB, an unfinished upload answers
        # 308 with "Range: bytes=0-N" (no Range at all when nothing is persisted), and the
        # client must not assume every byte it sent was kept: the next chunk starts at N+1.
        # A chunk starting anywhere else is refused (the docs do not say what GCS does with
        # it; least helpful reading: 400).
        upload = self._upload(request)
        data = await request.read()
        spec = request.headers.get("Content-Range", "")
        try:
            unit, _, rest = spec.partition(" ")
            span, _, total_text = rest.partition("/")
            total = None if total_text == "*" else int(total_text)
            if span == "*":
                start, end = upload.received, upload.received - 1
            else:
                first, _, last = span.partition("-")
                start, end = int(first), int(last)
        except ValueError:
            return _error(400, f"Bad Content-Range: {spec!r}")
        if unit != "bytes" or end - start + 1 != len(data):
            return _error(400, f"Bad Content-Range: {spec!r}")
        if start != upload.received:
            return _error(
                400,
                f"Content-Range {spec!r} does not start at the persisted offset {upload.received}.",
            )
        if total is not None and start + len(data) > total:
            return _error(400, f"Content-Range {spec!r} goes past the declared size.")
        completes = total is not None and start + len(data) == total
        if not completes and len(data) % CHUNK_UNIT:
            return _error(400, "Chunks other than the last must be multiples of 256 KiB.")
        kept = len(data)
        if self.short_range_once and data:
            # The docs' own status example answers "Range: bytes=0-42": a persisted offset
            # need not fall on a 256 KiB boundary, so half the chunk is kept, unaligned.
            self.short_range_once = False
            kept = len(data) // 2
        with upload.path.open("ab") as fh:
            fh.write(data[:kept])
        upload.received += kept
        upload.chunk_sizes.append(len(data))
        if total is None or upload.received < total:
            return self._incomplete(upload)
        del self.uploads[request.query["upload_id"]]
        self.finished_uploads.append(upload)
        final = self._path(upload.bucket, upload.name)
        upload.path.replace(final)
        obj = GcsObject(
            upload.bucket,
            upload.name,
            final,
            upload.received,
            upload.content_type,
            upload.metadata,
            self.clock(),
        )
        self.objects[(upload.bucket, upload.name)] = obj
        return web.json_response(obj.resource())

    @staticmethod
    def _incomplete(upload: Upload) -> web.Response:
        headers = {"Range": f"bytes=0-{upload.received - 1}"} if upload.received else {}
        return web.Response(status=308, headers=headers)

    @route("DELETE", "/upload/storage/v1/b/{bucket}/o")
    async def cancel_upload(self, request: web.Request) -> web.Response:
        upload = self._upload(request)
        del self.uploads[request.query["upload_id"]]
        upload.path.unlink(missing_ok=True)
        return web.Response(status=499)

    def _object(self, request: web.Request) -> GcsObject:
        bucket = self._bucket(request)
        name = request.match_info["object"]
        obj = self.objects.get((bucket, name))
        if obj is None:
            raise Answer(_error(404, f"No such object: {bucket}/{name}", "NOT_FOUND"))
        return obj

    @route("GET", "/storage/v1/b/{bucket}/o/{object:.+}")
    # The JSON API's media download endpoint (google-cloud-storage uses it):
    # https://cloud.google.com/storage/docs/json_api/v1/objects/get
    @route("GET", "/download/storage/v1/b/{bucket}/o/{object:.+}")
    async def get_object(self, request: web.Request) -> web.StreamResponse:
        obj = self._object(request)
        if request.query.get("alt") == "media":
            return web.FileResponse(obj.path, headers={"Content-Type": obj.content_type})
        return web.json_response(obj.resource())

    @route("DELETE", "/storage/v1/b/{bucket}/o/{object:.+}")
    async def delete_object(self, request: web.Request) -> web.Response:
        obj = self._object(request)
        del self.objects[(obj.bucket, obj.name)]
        obj.path.unlink(missing_ok=True)
        return web.Response(status=204)

    @route("GET", "/storage/v1/b/{bucket}/o")
    async def list_objects(self, request: web.Request) -> web.Response:
        bucket = self._bucket(request)
        query = request.query
        names = sorted(
            n
            for b, n in self.objects
            if b == bucket
            and n.startswith(query.get("prefix", ""))
            and n >= query.get("startOffset", "")
        )
        start = int(query.get("pageToken", "0"))
        size = int(query.get("maxResults", "1000"))
        page = names[start : start + size]
        body: dict[str, Any] = {
            "kind": "storage#objects",
            "items": [self.objects[(bucket, n)].resource() for n in page],
        }
        if start + size < len(names):
            body["nextPageToken"] = str(start + size)
        return web.json_response(body)

    # -- batch prediction jobs --------------------------------------------------------------
    def _check_scope(self, request: web.Request) -> None:
        # A project is named by its ID or its number alike.
        project = request.match_info["project"]
        if project not in (self.project, self.project_number) or (
            request.match_info["location"] != self.location
        ):
            raise Answer(_error(404, "Project or location not found.", "NOT_FOUND"))

    def _state(
        self, job: Job | TuningJob, now: float, *, expire: float | None = None, fails: bool = False
    ) -> str:
        """A job's state on the fake's clock, batch prediction and tuning alike: pending for a
        phase, running for another, then succeeded; a cancel takes ``cancel_seconds``. A job
        given ``expire`` expires if not done by then; one that ``fails`` fails as it starts."""
        if job.finished:
            return job.finished
        if job.cancel_at is not None:
            return (
                "JOB_STATE_CANCELLED"
                if now >= job.cancel_at + self.cancel_seconds
                else "JOB_STATE_CANCELLING"
            )
        elapsed = now - job.created
        if expire is not None and expire <= elapsed < 2 * self.phase_seconds:
            return "JOB_STATE_EXPIRED"
        if fails and elapsed >= self.phase_seconds:
            return "JOB_STATE_FAILED"
        return self.phase(elapsed, "JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED")

    def _advance(self, job: Job) -> str:
        now = self.clock()
        state = self._state(job, now, expire=self.expire_seconds)
        if (
            state in ("JOB_STATE_SUCCEEDED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED")
            and not job.finished
        ):
            limit = None
            if state == "JOB_STATE_CANCELLED":
                limit = 0 if job.cancel_phase == "JOB_STATE_PENDING" else -1
            elif state == "JOB_STATE_EXPIRED":
                limit = -1  # what it had done by then
            self._run(job, limit)
            job.finished = "JOB_STATE_FAILED" if job.error else state
        return job.finished or state

    def _run(self, job: Job, limit: int | None) -> None:
        bucket, _, name = job.source.removeprefix("gs://").partition("/")
        source = self.objects.get((bucket, name))
        if source is None:
            job.error = {"code": 5, "message": f"Input {job.source} not found."}
            return
        lines = [line for line in source.path.read_bytes().splitlines() if line.strip()]
        if limit == -1:
            limit = len(lines) // 2
        now = self.clock()
        rows: list[dict[str, Any]] = []
        ok = failed = 0
        for line in lines[:limit]:
            row = self._output_line(job.model, line, _iso(now))
            if "response" in row or row.get("predictions"):
                ok += 1
            else:
                failed += 1
            rows.append(row)
        out_bucket, _, out_prefix = job.output_prefix.removeprefix("gs://").partition("/")
        directory = f"{out_prefix.rstrip('/')}/prediction-model-{int(now)}"
        ordered = _reorder(rows, job.id)
        size = self.prediction_file_lines or max(1, len(ordered))
        for part, start in enumerate(range(0, max(1, len(ordered)), size)):
            data = "".join(json.dumps(r) + "\n" for r in ordered[start : start + size]).encode()
            name = "predictions.jsonl" if part == 0 else f"predictions_{part:05d}.jsonl"
            self.put_object(out_bucket, f"{directory}/{name}", data, "application/jsonl")
        job.output_dir = f"gs://{out_bucket}/{directory}"
        job.stats = {
            "successfulCount": ok,
            "failedCount": failed,
            "incompleteCount": len(lines) - ok - failed,
        }

    def _output_line(self, model: str, line: bytes, processed: str) -> dict[str, Any]:
        if _embedding_model(model):
            return _embedding_line(model, line)
        return self._generate_line(model, line, processed)

    def _generate_line(self, model: str, line: bytes, processed: str) -> dict[str, Any]:
        """One line of ``predictions.jsonl`` for one input line.

        https://cloud.google.com/vertex-ai/generative-ai/docs/multimodal/batch-prediction-from-cloud-storage
        ("Prepare your inputs", "Retrieve batch output"): an input line is
        ``{"request": GenerateContentRequest}``; an output line carries ``status`` (empty on
        success), ``processed_time``, the ``request`` and, for succeeded rows only, the
        ``response``; error details go in ``status``. Nothing says any other top-level field
        of the input line is copied, so none is (least helpful reading; LiteLLM issue 14044
        reports the real service drops ``custom_id``). The page is silent on whether failed
        lines echo the request; they do here, as implementations run against the service
        report (Bifrost's Vertex batches: the request "is echoed back in each output line").
        A line with no request object to echo (not JSON, no ``request``) carries none.
        """
        try:
            row = json.loads(line)
        except ValueError as err:
            return {
                "status": f"Bad Request: the line is not JSON: {err}",
                "processed_time": processed,
            }
        request = row.get("request") if isinstance(row, dict) else None
        if not isinstance(request, dict):
            return {
                "status": 'Bad Request: a line must be {"request": {...}}.',
                "processed_time": processed,
            }
        echoed = dict(request)
        if self.drop_labels:
            echoed.pop("labels", None)
        problem = _invalid(request)
        if problem:
            return {
                "status": f"Bad Request: {problem}",
                "processed_time": processed,
                "request": echoed,
            }
        return {
            "status": "",
            "processed_time": processed,
            "request": echoed,
            "response": self._predict(model, request),
        }

    @staticmethod
    def _predict(model: str, request: dict[str, Any]) -> dict[str, Any]:
        text = json.dumps(request["contents"])
        digest = hashlib.sha256(f"{model}\x00{text}".encode()).hexdigest()[:12]
        config = request.get("generationConfig") or {}
        mode = ((request.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")
        declarations = [
            d for t in request.get("tools") or [] for d in t.get("functionDeclarations") or []
        ]
        if mode == "ANY" and declarations:
            parts: list[dict[str, Any]] = [
                {"functionCall": {"name": declarations[0]["name"], "args": {"q": digest}}}
            ]
            finish = "STOP"
        else:
            parts = [{"text": f"mock vertex reply {digest}"}]
            finish = "MAX_TOKENS" if config.get("maxOutputTokens") == 1 else "STOP"
        return {
            **content_response(model, parts, finish, max(1, len(text) // 4)),
            "modelVersion": model.rsplit("/", 1)[-1] + "-001",
        }

    def _job_json(self, job: Job, state: str | None = None) -> dict[str, Any]:
        """The job resource; ``state`` pins what a create answer reports, as Vertex does."""
        state = state or self._advance(job)
        obj: dict[str, Any] = {
            "name": f"projects/{self.project}/locations/{self.location}/batchPredictionJobs/"
            f"{job.id}",
            "displayName": job.display_name,
            "model": job.model,
            "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": [job.source]}},
            "outputConfig": {
                "predictionsFormat": "jsonl",
                "gcsDestination": {"outputUriPrefix": job.output_prefix},
            },
            "state": state,
            "createTime": _iso(job.created),
            "updateTime": _iso(job.cancel_at or job.created),
        }
        if state != "JOB_STATE_PENDING":
            obj["startTime"] = _iso(job.created + self.phase_seconds)
        if job.finished and state == job.finished:
            obj["endTime"] = _iso(
                job.created + 2 * self.phase_seconds if job.cancel_at is None else job.cancel_at
            )
        if job.output_dir:
            obj["outputInfo"] = {"gcsOutputDirectory": job.output_dir}
        if job.stats:
            obj["completionStats"] = {k: str(v) for k, v in job.stats.items()}
        if job.error:
            obj["error"] = job.error
        if job.labels:
            obj["labels"] = job.labels
        return obj

    async def create_job(self, request: web.Request) -> web.Response:
        self._check_scope(request)
        body = await request.json()
        try:
            model = body["model"]
            source = body["inputConfig"]["gcsSource"]["uris"][0]
            output = body["outputConfig"]["gcsDestination"]["outputUriPrefix"]
        except (KeyError, IndexError, TypeError):
            return _error(400, "model, inputConfig.gcsSource and outputConfig are required")
        # https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/batch-prediction-api
        # (inputConfig.instancesFormat: "Use jsonl for Cloud Storage"; likewise
        # outputConfig.predictionsFormat). The docs do not say what a job without them
        # gets: it is refused (least helpful reading).
        formats = (
            body["inputConfig"].get("instancesFormat"),
            body["outputConfig"].get("predictionsFormat"),
        )
        if formats != ("jsonl", "jsonl"):
            return _error(
                400, "inputConfig.instancesFormat and outputConfig.predictionsFormat must be jsonl"
            )
        if not str(model).startswith("publishers/google/models/"):
            return _error(400, f"Unsupported model: {model}")
        job = Job(
            str(secrets.randbelow(10**18) + 10**18),
            model,
            source,
            output,
            self.clock(),
            body.get("displayName", ""),
        )
        # BatchPredictionJob.labels (REST reference, projects.locations.batchPredictionJobs)
        # states the same rules as a request's labels.
        problem = _invalid_labels(body.get("labels"))
        if problem:
            return _error(400, problem)
        job.labels = dict(body.get("labels") or {})
        self.jobs[job.id] = job
        return web.json_response(self._job_json(job, "JOB_STATE_PENDING"))

    def _found(self, request: web.Request, jobs: Mapping[str, _J], kind: str) -> _J:
        """The job of ``kind`` that a get or a ``:cancel`` names."""
        self._check_scope(request)
        job_id = request.match_info.get("job")
        if job_id is None:
            job_id, _, action = request.match_info["job_action"].partition(":")
            if action != "cancel":
                raise Answer(_error(404, "Unknown action.", "NOT_FOUND"))
        job = jobs.get(job_id)
        if job is None:
            raise Answer(_error(404, f"{kind} {job_id} not found.", "NOT_FOUND"))
        return job

    def _cancel(self, job: Job | TuningJob, state: str) -> web.Response:
        """``:cancel`` of a job now in ``state``; a second cancel changes nothing."""
        if state in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
            return _error(400, f"Cannot cancel a job in state {state}.", "FAILED_PRECONDITION")
        if job.cancel_at is None:
            job.cancel_at, job.cancel_phase = self.clock(), state
        # batchPredictionJobs.cancel, tuningJobs.cancel: "If successful, the response body is
        # empty."
        return web.json_response({})

    def _page(self, request: web.Request, jobs: Iterable[_J]) -> tuple[list[_J], dict[str, Any]]:
        """The page a list asks for (newest first, a ``labels.key=value`` filter, pageSize and
        pageToken) and the ``nextPageToken`` of the answer, if any."""
        self._check_scope(request)
        ordered = sorted(jobs, key=lambda j: j.created, reverse=True)
        wanted = _label_filter(request.query.get("filter"))
        if isinstance(wanted, web.Response):
            raise Answer(wanted)
        if wanted is not None:
            ordered = [j for j in ordered if j.labels.get(wanted[0]) == wanted[1]]
        start = int(request.query.get("pageToken", "0"))
        size = int(request.query.get("pageSize", "100"))
        more = {"nextPageToken": str(start + size)} if start + size < len(ordered) else {}
        return ordered[start : start + size], more

    async def _get(self, kind: _JobKind[Any], request: web.Request) -> web.Response:
        job = self._found(request, kind.jobs(self), kind.resource)
        return web.json_response(kind.to_json(self, job))

    async def _action(self, kind: _JobKind[Any], request: web.Request) -> web.Response:
        job = self._found(request, kind.jobs(self), kind.resource)
        return self._cancel(job, kind.advance(self, job))

    async def _list(self, kind: _JobKind[Any], request: web.Request) -> web.Response:
        page, more = self._page(request, kind.jobs(self).values())
        listed = {kind.collection: [kind.to_json(self, j) for j in page]}
        return web.json_response((listed if page or kind.lists_none else {}) | more)

    # -- tuning jobs ------------------------------------------------------------------------
    def _tuning_advance(self, job: TuningJob) -> str:
        now = self.clock()
        state = self._state(job, now, fails=bool(job.problem))
        terminal = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED")
        if state in terminal and not job.finished:
            job.finished = state
            job.ended = {
                "JOB_STATE_SUCCEEDED": job.created + 2 * self.phase_seconds,
                "JOB_STATE_FAILED": job.created + self.phase_seconds,
            }.get(state, (job.cancel_at or now) + self.cancel_seconds)
        return state

    def _tuning_json(self, job: TuningJob, state: str | None = None) -> dict[str, Any]:
        state = state or self._tuning_advance(job)
        prefix = f"projects/{self.project_number}/locations/{self.location}"
        spec: dict[str, Any] = {"trainingDatasetUri": job.training}
        if job.validation:
            spec["validationDatasetUri"] = job.validation
        if job.hyper:
            # What was asked, not what the job picked: the docs give no defaults to show.
            spec["hyperParameters"] = job.hyper
        if job.last_only:
            spec["exportLastCheckpointOnly"] = True
        obj: dict[str, Any] = {
            "name": f"{prefix}/tuningJobs/{job.id}",
            "baseModel": job.model,
            "supervisedTuningSpec": spec,
            "state": state,
            "createTime": _iso(job.created),
            "updateTime": _iso(job.ended or job.cancel_at or job.created),
        }
        if job.display_name is not None:
            obj["tunedModelDisplayName"] = job.display_name
        if job.description is not None:
            obj["description"] = job.description
        if job.labels:
            obj["labels"] = job.labels
        if state != "JOB_STATE_PENDING" and not (
            job.cancel_at and job.cancel_at < job.created + self.phase_seconds
        ):
            obj["startTime"] = _iso(job.created + self.phase_seconds)
        if job.ended is not None and state == job.finished:
            obj["endTime"] = _iso(job.ended)
        if job.stats and state in ("JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"):
            steps = max(1, int(job.stats["tuningDatasetExampleCount"]) * job.epochs // 4)
            obj["tuningDataStats"] = {
                "supervisedTuningDataStats": job.stats | {"tuningStepCount": str(steps)}
            }
        if state == "JOB_STATE_SUCCEEDED":
            endpoint = f"{prefix}/endpoints/{job.endpoint_id}"
            tuned: dict[str, Any] = {
                "model": f"{prefix}/models/{job.model_id}@1",
                "endpoint": endpoint,
            }
            if not job.last_only:
                # TunedModel.checkpoints: "only populated for tuning jobs that enable
                # intermediate checkpoints" (the default). One per epoch; only the last is
                # deployed (the fake's reading).
                per_epoch = max(1, int(job.stats["tuningDatasetExampleCount"]) // 4)
                tuned["checkpoints"] = [
                    {
                        "checkpointId": str(epoch),
                        "epoch": str(epoch),
                        "step": str(epoch * per_epoch),
                    }
                    | ({"endpoint": endpoint} if epoch == job.epochs else {})
                    for epoch in range(1, job.epochs + 1)
                ]
            obj["tunedModel"] = tuned
        if state == "JOB_STATE_FAILED":
            obj["error"] = {"code": 3, "message": job.problem}
        if state == "JOB_STATE_CANCELLED":
            obj["error"] = {"code": 1, "message": "CANCELLED"}
        return obj

    def _dataset(self, uri: str) -> GcsObject:
        bucket, _, name = uri.removeprefix("gs://").partition("/")
        found = self.objects.get((bucket, name))
        if found is None:
            # The docs do not say when a missing dataset is found out: at create (a 400) here.
            raise Answer(_error(400, f"Dataset {uri} does not exist or cannot be read."))
        return found

    async def create_tuning(self, request: web.Request) -> web.Response:
        self._check_scope(request)
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "Invalid JSON payload received.")
        try:
            fields = parse_tuning_job(body)
        except TuningError as err:
            return _error(400, str(err))
        problem = _invalid_labels(body.get("labels"))
        if problem:
            return _error(400, problem)
        training = self._dataset(fields["training"])
        validation = self._dataset(fields["validation"]) if fields["validation"] else None
        job = TuningJob(
            id=str(secrets.randbelow(10**18) + 10**18),
            created=self.clock(),
            labels=dict(body.get("labels") or {}),
            **fields,
        )
        # Vertex validates the dataset once the job is created; a bad one fails the job.
        job.problem, job.stats = check_dataset(training.path, job.training)
        if job.problem is None and validation is not None and job.validation:
            job.problem = check_dataset(validation.path, job.validation)[0]
        self.tuning_jobs[job.id] = job
        return web.json_response(self._tuning_json(job, "JOB_STATE_PENDING"))


@dataclass(frozen=True)
class _JobKind(Generic[_J]):
    """One kind of job the fake serves under a location: its REST ``collection`` (create,
    list, get and ``:cancel``), its resource name in a 404, where the fake keeps its jobs,
    how one advances on the clock (giving its state now) and is shown; ``lists_none``:
    whether a list with no jobs still names the collection (an empty list)."""

    collection: str
    resource: str
    create: Callable[[FakeVertex, web.Request], Awaitable[web.Response]]
    jobs: Callable[[FakeVertex], dict[str, _J]]
    advance: Callable[[FakeVertex, _J], str]
    to_json: Callable[[FakeVertex, _J], dict[str, Any]]
    lists_none: bool


_JOB_KINDS: tuple[_JobKind[Any], ...] = (
    _JobKind(
        "batchPredictionJobs",
        "BatchPredictionJob",
        FakeVertex.create_job,
        lambda fake: fake.jobs,
        FakeVertex._advance,
        FakeVertex._job_json,
        lists_none=True,
    ),
    # proto3 JSON leaves out an empty repeated field: no tuning jobs, no "tuningJobs".
    _JobKind(
        "tuningJobs",
        "TuningJob",
        FakeVertex.create_tuning,
        lambda fake: fake.tuning_jobs,
        FakeVertex._tuning_advance,
        FakeVertex._tuning_json,
        lists_none=False,
    ),
)


# -- the fake as the command line and --demo see it (fake/__init__.py lists it) -------------
DEMO_EMAIL = "demo@fake-project.iam.gserviceaccount.com"
DEMO_MODEL = "gemini-batch"


def _build(args: argparse.Namespace, keys: dict[str, str], error: Callable[[str], Any]) -> Any:
    accounts = {
        email: Path(pem).read_text()
        for email, pem in (item.split("=", 1) for item in args.service_account)
    }
    return FakeVertex(
        accounts,
        buckets=args.bucket or ["fake-bucket"],
        project_number=args.project_number,
        storage=args.storage,
        phase_seconds=args.phase_seconds,
    )


def _service_account(token_uri: str) -> tuple[str, str]:
    """A throwaway service-account key (JSON text) and its public half, for the fake."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    info = {
        "type": "service_account",
        "project_id": "fake-project",
        "private_key": private,
        "client_email": DEMO_EMAIL,
        "token_uri": token_uri,
    }
    return json.dumps(info), public.decode()


def _demo(place: DemoPlace) -> tuple[FakeVertex, dict[str, dict[str, Any]]]:
    credentials, public_key = _service_account(f"{place.base}/token")
    fake = FakeVertex(
        {DEMO_EMAIL: public_key}, buckets=["demo-bucket"], phase_seconds=place.phase_seconds
    )
    params = {
        "model": "vertex_ai/gemini-2.5-flash",
        "vertex_project": "fake-project",
        "vertex_location": "us-central1",
        "vertex_credentials": credentials,
        "gcs_bucket_name": "demo-bucket/router",
        "api_base": place.base,
        "gcs_api_base": place.base,
    }
    return fake, {DEMO_MODEL: params}


FLAVOUR = flavour(
    "vertex",
    _build,
    _demo,
    Option(
        "--service-account",
        "vertex: a client email and the path of its PEM public key",
        metavar="EMAIL=PEM",
        repeated=True,
    ),
    Option(
        "--project-number",
        "vertex: the project number tuning job and model names carry",
        default="123456789012",
    ),
    models=(DEMO_MODEL,),
    described="a Vertex AI model",
)
