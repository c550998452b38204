"""Amazon Bedrock accounts: files are S3 objects, batches are model invocation jobs.

The client only ever sees OpenAI shapes (docs/providers/bedrock.md).

- Files: objects under ``<prefix>/files-router/<deployment>/`` of ``s3_bucket_name``; the ID is
  the object's ``s3://`` URI. Uploads stream as S3 multipart uploads (one 5 MiB part buffered,
  aborted on any failure). Keys are ``<time>-<random>.jsonl``: the client's filename only goes
  into the object's metadata.
- Rows (``purpose=batch``): each OpenAI chat row becomes ``{"recordId", "modelInput"}`` while it
  streams, ``modelInput`` in the deployment's model family (Anthropic Claude Messages or Amazon
  Nova). Bedrock's recordId is at most 11 alphanumeric characters, so it is the row's number
  (``00000000001``...) and the custom_ids go, one JSON string a line in row order, into a
  companion object ``<key minus .jsonl>.ids`` written once the rows are in; its metadata holds
  the record count (S3 fixes an object's metadata when its multipart upload starts, before the
  rows are counted). Output rows are matched by recordId, never by position.
- Batches: ``CreateModelInvocationJob`` named ``fr-<deployment>-<random>``; only jobs with this
  deployment's name pattern are listed, retrieved or cancelled. Output goes under the namespace;
  ``<job id>/<input>.jsonl.out`` is served as OpenAI batch output rows in two views
  (``#succeeded``, ``#failed``), as for Vertex.

Signing and credentials come from botocore (the ``bedrock`` extra); without it every call of a
Bedrock account answers 503 naming the extra.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import secrets as random
import tempfile
import time
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from typing import IO, Annotated, Any
from urllib.parse import quote

import aiohttp
import msgspec

from ...errors import AccountUnavailable, BadRequest, NotFound, RouterError, for_log
from ...jsoncodec import ENCODER as _json
from ...jsoncodec import OBJECT as _decode
from ...ownership import file_tag_of, tagged_filename
from ...params import ProviderParams
from ...upstream import (
    ContentStream,
    Upstream,
    UpstreamReply,
)
from ..base import AccountSetup, BatchRules, FileUpload, Provider, ProviderError, ProviderSpec
from ..calls import in_turn
from ..chat_rows import CHAT_URL, EMBEDDINGS_URL, chat_row, check_endpoint
from ..claude_rows import chat_to_claude, claude_completion
from ..companions import delete_with_companions, store_with_companions
from ..file_refs import FileRefCheck
from ..filestore import router_namespace
from ..genai_rows import RowError, digest, error_body, row_seed
from ..isotime import unix_seconds
from ..jsonl import map_lines
from ..owner_tags import owner_metadata, owner_tag_of
from ..paging import Page, list_after
from ..result_views import left_out, output_rows, result_file_ids, result_row, split_view
from ..s3 import EXTRA_HINT, AwsSigner, Head, S3Bucket, SigV4, botocore_missing
from ..shapes import ENDED_AT, batch_errors, batch_object, batch_times, list_page, ok, output_row
from .client import ControlPlane
from .rows import (
    ANTHROPIC_VERSION,
    TITAN_EMBED,
    chat_to_nova,
    embeddings_to_titan,
    family_of,
    nova_completion,
    titan_embedding,
)

__all__ = ["SPEC", "BedrockParams", "BedrockProvider"]

logger = logging.getLogger(__package__)

# Bedrock quotas: "Minimum number of records per batch inference job" (100 by default).
MIN_RECORDS = 100
# Batch inference results page: recordId is an "11 character alphanumeric string".
RECORD_ID_WIDTH = 11
# Bedrock quotas ("Records per batch inference job", "Batch inference input file size"): what
# a batch input file may hold; Bedrock runs only chat rows mapped to the deployment's model.
BATCH_ENDPOINTS = frozenset((CHAT_URL, EMBEDDINGS_URL))
BATCH_MAX_LINES = 50_000
BATCH_MAX_BYTES = 1024**3
SIDECAR = ".ids"
# Beside a batch upload's records: the bytes the client uploaded.
ORIGINAL = ".original"
_SAFE_ROUTE = re.compile(r"[A-Za-z0-9-]{1,30}")
# S3 user-defined metadata is at most 2 KB: a longer (quoted) filename is cut.
MAX_FILENAME_META = 1024
# The job's times (GetModelInvocationJob); its last modification dates its stopping while it
# is stopping, nothing after.
_TIMES = {"expires_at": "jobExpirationTime", "ended": "endTime", "updated": "lastModifiedTime"}
_STATES = {
    "Submitted": "validating",
    "Validating": "validating",
    "Scheduled": "validating",
    "InProgress": "in_progress",
    "Completed": "completed",
    "PartiallyCompleted": "expired",
    "Expired": "expired",
    "Stopping": "cancelling",
    "Stopped": "cancelled",
    "Failed": "failed",
}


class BedrockParams(ProviderParams, kw_only=True, frozen=True):
    """``litellm_params`` of an Amazon Bedrock deployment (``model: bedrock/<model id>``)."""

    secret_fields = frozenset(
        {"aws_secret_access_key", "aws_session_token", "s3_secret_access_key"}
    )

    aws_region_name: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    aws_profile_name: str | None = None
    s3_bucket_name: str | None = None  # "bucket" or "bucket/prefix"
    s3_region_name: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_encryption_key_id: str | None = None
    aws_batch_role_arn: str | None = None
    api_base: str | None = None  # the Bedrock control-plane endpoint
    s3_endpoint_url: str | None = None
    # This router's own: s3:// prefixes batch rows may name besides the deployment's namespace.
    allowed_file_uris: list[str] | None = None
    # This router's own: the fewest records a job may hold. AWS's "Minimum number of records
    # per batch inference job" is a per-model quota (100 by default) an account can have
    # adjusted; set it to the account's value. Files with fewer rows are refused at create.
    batch_min_records: Annotated[int, msgspec.Meta(ge=1)] | None = None


# The S3Uri shape of Bedrock's API model (botocore data bedrock/*/service-2.json): every
# S3 location a batch inference job names must match it.
S3_URI = re.compile(
    r"s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?"
)


def record_id(index: int) -> str:
    return f"{index:0{RECORD_ID_WIDTH}d}"


def _view(file_id: str) -> tuple[str, str | None]:
    """A file ID as (the stored object's ID, the view of a job's output or None)."""
    return split_view(file_id, ".jsonl.out")


def _output_tag(out_uri: str) -> str | None:
    """The owner tag a job's output directory carries (``.../batch-output/fro-<tag>.x/``)."""
    return file_tag_of(out_uri.rstrip("/").rsplit("/", 1)[-1])


class BedrockProvider(Provider):
    # Chat rows only, mapped to the deployment's model (rows need no body.model); Bedrock's
    # records and input size quotas.
    batch_rules = BatchRules(BATCH_ENDPOINTS, BATCH_MAX_LINES, BATCH_MAX_BYTES, needs_model=False)
    # Owner tags: an upload's filename is kept in its object's user metadata (S3: at most
    # 2 KB, MAX_FILENAME_META cuts the quoted name, after the tag that leads it); a batch's
    # tag names its output directory, ``batch-output/fro-<tag>.<random>/`` (Bedrock's S3Uri
    # takes [-!_*'().a-zA-Z0-9/], 1024 characters), which GetModelInvocationJob and
    # ListModelInvocationJobs answer; the job's tags are not answered by either.
    keeps_owner_tags = True

    def __init__(self, setup: AccountSetup[BedrockParams]):
        params = setup.params
        self.name = setup.name
        self.model = setup.model
        if not self.model:
            raise ProviderError("a bedrock account needs model: bedrock/<model id>")
        self.family = family_of(self.model)
        self.endpoint = EMBEDDINGS_URL if self.family == TITAN_EMBED else CHAT_URL
        region = params.aws_region_name
        if not region:
            raise ProviderError(
                "a bedrock account needs aws_region_name (or AWS_REGION_NAME / AWS_REGION)"
            )
        if not params.s3_bucket_name:
            raise ProviderError("a bedrock account needs s3_bucket_name")
        bucket, _, prefix = params.s3_bucket_name.removeprefix("s3://").partition("/")
        prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        if not S3_URI.fullmatch(f"s3://{bucket}/{prefix}"):
            # Uploads to such a prefix work; every job naming it would fail at create.
            raise ProviderError(
                f"s3_bucket_name {params.s3_bucket_name!r} does not fit Bedrock's S3 URI pattern "
                "(bucket: lowercase letters, digits, '-' and '.'; prefix: letters, digits and "
                "-!_*'(). between '/')"
            )
        s3_region = params.s3_region_name or region
        self.role_arn = params.aws_batch_role_arn
        self.kms_key = params.s3_encryption_key_id
        self.min_records = params.batch_min_records or MIN_RECORDS
        self.missing_extra = botocore_missing()
        self.signer = AwsSigner(
            params.aws_access_key_id,
            params.aws_secret_access_key,
            params.aws_session_token,
            params.aws_profile_name,
        )
        s3_signer = self.signer
        if params.s3_access_key_id:
            s3_signer = AwsSigner(params.s3_access_key_id, params.s3_secret_access_key, None, None)
        self.api = (params.api_base or f"https://bedrock.{region}.amazonaws.com").rstrip("/")
        self.region = region
        configured = tuple(
            v
            for v in (
                params.aws_secret_access_key,
                params.aws_session_token,
                params.s3_secret_access_key,
                params.aws_access_key_id,
                params.s3_access_key_id,
            )
            if v
        )
        # AWS documents no header for a caller's request ID; Bedrock answers with its own in
        # x-amzn-RequestId, S3 in x-amz-request-id.
        self.upstream = Upstream(
            setup.called(None, "x-amzn-RequestId"),
            self.api,
            setup.timeout,
            auth=SigV4(self.signer, "bedrock", region),
            retries=params.retries,
            secrets=configured,
            wire=setup.wire,
        )
        self.control = ControlPlane(self.upstream, self.api)
        s3_upstream = Upstream(
            setup.called(None, "x-amz-request-id"),
            params.s3_endpoint_url or f"https://s3.{s3_region}.amazonaws.com",
            setup.timeout,
            auth=SigV4(s3_signer, "s3", s3_region),
            retries=params.retries,
            secrets=configured,
            wire=setup.wire,
        )
        self.bucket = S3Bucket(s3_upstream, bucket, self.kms_key)
        route = setup.route or setup.name
        # Keys may hold only [-!_*'().a-zA-Z0-9/] (Bedrock's S3Uri pattern): a route outside
        # that set is named by a digest.
        segment = (
            route
            if re.fullmatch(r"[-_.a-zA-Z0-9]{1,100}", route) and route not in (".", "..")
            else ("h-" + hashlib.sha256(route.encode()).hexdigest()[:40])
        )
        self.root = router_namespace(prefix, segment)
        self.label = (
            route
            if _SAFE_ROUTE.fullmatch(route)
            else ("h" + hashlib.sha256(route.encode()).hexdigest()[:24])
        )
        self._job_name = re.compile(rf"fr-{re.escape(self.label)}-[0-9a-f]{{16}}")
        allowed = params.allowed_file_uris or []
        for uri in allowed:
            if not uri.startswith("s3://") or len(uri) <= len("s3://"):
                raise ProviderError(f"allowed_file_uris: {uri!r} is not an s3:// prefix")
        self.file_refs = FileRefCheck(("s3://",), (self.bucket.uri(self.root), *allowed))

    def _check_extra(self) -> None:
        if self.missing_extra:
            raise AccountUnavailable(
                f"Bedrock accounts need botocore: {EXTRA_HINT}", code="missing_extra"
            )

    # -- files ------------------------------------------------------------------------------
    def _key(self, file_id: str) -> str:
        return self.bucket.key_of(_view(file_id)[0], self.root)

    async def create_file(self, http: aiohttp.ClientSession, upload: FileUpload) -> UpstreamReply:
        self._check_extra()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        base = f"{self.root}{stamp}-{random.token_hex(6)}"
        filename = quote(upload.filename, safe="")[:MAX_FILENAME_META]
        metadata = {"filename": filename, "purpose": quote(upload.purpose, safe="")}
        if upload.purpose != "batch":
            key = f"{base}.data"
            reply = await self.bucket.upload(
                http, key, metadata, upload.content_type, upload.guard(upload.chunks)
            )
            if not reply.ok:
                return reply
            return await self._stored(http, key, key)
        if self.family not in ("claude", "nova", TITAN_EMBED):
            raise BadRequest(
                f"Bedrock batches of the '{self.family}' model family are not supported "
                f"(model {self.model}); only Anthropic Claude, Amazon Nova and Amazon "
                "Titan Text Embeddings V2 are.",
                param="model",
            )
        key = f"{base}.jsonl"
        ids: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
        try:
            count = 0

            def row(number: int, line: bytes) -> bytes | None:
                nonlocal count
                if not line.strip():
                    return None
                self.file_refs(number, line)
                custom_id, model_input = self._row(number, line)
                count += 1
                ids.write(_json.encode(custom_id) + b"\n")
                return _json.encode({"recordId": record_id(count), "modelInput": model_input})

            # The records and the client's own bytes beside them, written at once.
            stored = await store_with_companions(
                upload,
                [(key, "application/jsonl", row), (key + ORIGINAL, upload.content_type, None)],
                lambda name, kind, chunks: self.bucket.upload(http, name, metadata, kind, chunks),
                lambda name: self._remove(http, name),
            )
            if isinstance(stored, UpstreamReply):
                return stored
            ids.seek(0)
            side = await self.bucket.put(
                http, base + SIDECAR, ids, {"records": str(count)}, "application/jsonl"
            )
            if not side.ok:
                await self._remove(http, key + ORIGINAL)
                await self._remove(http, key)
                return side
        finally:
            ids.close()
        return await self._stored(http, key, key + ORIGINAL)

    async def _stored(self, http: aiohttp.ClientSession, key: str, shown: str) -> UpstreamReply:
        """The File object of a new upload ``key``, as the object ``shown`` describes it."""
        reply, head = await self.bucket.head(http, shown)
        if head is None:
            return reply
        return ok(self._file_object(head, self.bucket.uri(key)), reply)

    async def _remove(self, http: aiohttp.ClientSession, key: str) -> None:
        with contextlib.suppress(RouterError):  # a clean-up after a failure being answered
            await self.bucket.delete(http, key)

    def _original(self, key: str) -> str:
        """Where the client's bytes of ``key`` are: beside a batch upload's records."""
        upload = "/" not in key[len(self.root) :] and key.endswith(".jsonl")
        return key + ORIGINAL if upload else key

    def _row(self, number: int, line: bytes) -> tuple[str, dict[str, Any]]:
        model = self.model

        def to_model(body: Mapping[str, Any]) -> dict[str, Any]:
            if self.family == TITAN_EMBED:
                raise RowError(f"{model} is an embedding model: rows must be {EMBEDDINGS_URL}")
            if self.family == "claude":
                return chat_to_claude(body, "Bedrock", model=model, version=ANTHROPIC_VERSION)
            return chat_to_nova(body)

        def to_embed(body: Mapping[str, Any]) -> dict[str, Any]:
            if self.family != TITAN_EMBED:
                raise RowError(
                    f"{model} has no embedding batches on Bedrock (Amazon Titan Text "
                    "Embeddings V2 does)"
                )
            return embeddings_to_titan(body)

        return chat_row(
            number,
            line,
            "Bedrock",
            lambda custom_id, body: (custom_id, to_model(body)),
            lambda custom_id, body: (custom_id, to_embed(body)),
        )

    def _file_object(self, head: Head, file_id: str | None = None) -> dict[str, Any]:
        out = head.key.endswith(".jsonl.out")
        return {
            "id": file_id or self.bucket.uri(head.key),
            "object": "file",
            "bytes": head.size,
            "created_at": head.modified,
            "filename": head.metadata.get("filename") or head.key.rsplit("/", 1)[-1],
            "purpose": head.metadata.get("purpose") or ("batch_output" if out else "user_data"),
            "status": "processed",
        }

    async def retrieve_file(self, http: aiohttp.ClientSession, file_id: str) -> UpstreamReply:
        self._check_extra()
        reply, head = await self.bucket.head(http, self._original(self._key(file_id)))
        if head is None:
            return reply
        return ok(self._file_object(head, file_id), reply)

    async def delete_file(self, http: aiohttp.ClientSession, file_id: str) -> UpstreamReply:
        self._check_extra()
        key = self._key(file_id)
        reply, head = await self.bucket.head(http, key)
        if head is None:
            return reply
        original = self._original(key)
        # The companion of custom_ids stays while a job's output may still need it: the
        # namespace's lifecycle (docs) removes it; deleting an output deletes only itself.
        return await delete_with_companions(
            file_id,
            key,
            [original] if original != key else [],
            lambda k: self.bucket.delete(http, k),
        )

    async def list_files(
        self, http: aiohttp.ClientSession, query: Mapping[str, str]
    ) -> UpstreamReply:
        self._check_extra()
        # Keys start with the upload time: S3's lexicographic order is creation order.
        limit = int(query.get("limit", "10000"))
        after = query.get("after")
        start = self._key(after) if after else None
        keys: list[str] = []
        token: str | None = None
        reply = UpstreamReply(200, b"")
        while True:
            reply, page, token = await self.bucket.list(
                http, self.root, start_after=start, token=token
            )
            if not reply.ok:
                return reply
            keys += [k for k in page if not k.endswith((SIDECAR, ORIGINAL))]
            if len(keys) > limit or not token:
                break
        files = []
        for key in keys[:limit]:
            _, head = await self.bucket.head(http, self._original(key))
            if head is not None:
                files.append(self._file_object(head, self.bucket.uri(key)))
        if "purpose" in query:
            files = [f for f in files if f["purpose"] == query["purpose"]]
        return ok(list_page(files, len(keys) > limit), reply)

    @asynccontextmanager
    async def file_content(
        self, http: aiohttp.ClientSession, file_id: str, codings: Collection[str] = ()
    ) -> AsyncIterator[ContentStream]:
        self._check_extra()
        key = self._key(file_id)
        view = _view(file_id)[1]
        output = key.endswith(".jsonl.out")
        custom_ids: list[str] = []
        created = 0
        if output:
            custom_ids = await self._custom_ids(http, key)
            _, head = await self.bucket.head(http, key)
            created = head.modified if head is not None else 0
        async with self.bucket.upstream.stream(
            http, self.bucket.object_url(self._original(key)), codings=() if output else codings
        ) as stream:
            if stream.error is not None:
                # The streamed call's error body was S3's XML: ask once more, small, for
                # AWS's own message (S3Bucket.call reads XML errors).
                again = await self.bucket.get_small(http, self._original(key))
                if not again.ok:
                    stream.error = again
            if stream.error is None and output:
                stream = output_rows(
                    stream,
                    map_lines(stream.chunks, self._output_line(custom_ids, view, key, created)),
                )
            yield stream

    async def _custom_ids(self, http: aiohttp.ClientSession, out_key: str) -> list[str]:
        """The custom_ids of the input behind a job's ``<input>.jsonl.out`` (its companion)."""
        name = out_key.rsplit("/", 1)[-1].removesuffix(".jsonl.out")
        reply = await self.bucket.get_small(http, f"{self.root}{name}{SIDECAR}")
        if not reply.ok:
            logger.warning(
                "account %s: the custom_ids of %s are gone (input deleted?); rows are named "
                "record-<recordId>",
                self.upstream.deployment,
                for_log(out_key),
            )
            return []
        return [str(json.loads(line)) for line in reply.body.splitlines() if line.strip()]

    def _output_line(self, custom_ids: list[str], view: str | None, key: str, created: int) -> Any:
        """Bedrock records -> OpenAI batch output rows; ``created`` is when the output was
        written (Bedrock records carry no time)."""

        def fn(number: int, line: bytes) -> bytes | None:
            row = result_row(
                line, lambda: {"error": {"errorMessage": f"unreadable record on line {number}"}}
            )
            if row is None:
                return None
            error = row.get("error")
            output = row.get("modelOutput")
            failed = error is not None or not isinstance(output, dict)
            if left_out(view, failed):
                return None
            rid = str(row.get("recordId", ""))
            index = int(rid) if rid.isdigit() else 0
            if 1 <= index <= len(custom_ids):
                custom_id = custom_ids[index - 1]
            else:
                custom_id = f"record-{rid or number}"
            # The output object is one per job: its key makes the IDs the batch's own.
            request_id = "req_" + digest(custom_id, rid, key)
            out_id = "batch_req_" + digest(custom_id, "out", rid, key)
            if failed:
                err = error if isinstance(error, dict) else {}
                code = err.get("errorCode")
                status = int(code) if isinstance(code, int) and 400 <= code < 600 else 400
                body = error_body(
                    str(err.get("errorMessage") or "no model output"), "bedrock_error"
                )
            else:
                assert isinstance(output, dict)
                maker = {"claude": claude_completion, TITAN_EMBED: titan_embedding}.get(
                    self.family, nova_completion
                )
                body = maker(output, self.model, custom_id, row_seed(key, rid))
                if self.family != TITAN_EMBED:  # an embeddings body has no created
                    body["created"] = created
                status = 200
            return output_row(out_id, custom_id, status, request_id, body)

        return fn

    # -- batches ----------------------------------------------------------------------------
    def _job_path(self, batch_id: str, suffix: str = "") -> str:
        return f"/model-invocation-job/{quote(batch_id, safe='')}{suffix}"

    def _owned(self, job: Mapping[str, Any]) -> bool:
        return bool(self._job_name.fullmatch(str(job.get("jobName", ""))))

    async def _job(
        self, http: aiohttp.ClientSession, batch_id: str
    ) -> tuple[UpstreamReply, dict[str, Any]]:
        if not batch_id.startswith("arn:") or ":model-invocation-job/" not in batch_id:
            raise NotFound(f"No such batch: '{batch_id}'.", param="batch_id")
        self._check_extra()
        reply = await self.control.call(http, "GET", self.control.url(self._job_path(batch_id)))
        if not reply.ok:
            return reply, {}
        job: dict[str, Any] = self.upstream.decode(_decode, reply.body)
        if not self._owned(job):
            raise NotFound(f"No such batch: '{batch_id}'.", param="batch_id")
        return reply, job

    async def _batch(self, http: aiohttp.ClientSession, job: Mapping[str, Any]) -> dict[str, Any]:
        status = _STATES.get(str(job.get("status")), "in_progress")
        arn = str(job.get("jobArn", ""))
        job_id = arn.rsplit("/", 1)[-1]
        in_uri = str(
            ((job.get("inputDataConfig") or {}).get("s3InputDataConfig") or {}).get("s3Uri", "")
        )
        out_uri = str(
            ((job.get("outputDataConfig") or {}).get("s3OutputDataConfig") or {}).get("s3Uri", "")
        )
        counts = {
            "total": int(job.get("totalRecordCount", 0) or 0),
            "completed": int(job.get("successRecordCount", 0) or 0),
            "failed": int(job.get("errorRecordCount", 0) or 0),
        }
        obj = batch_object(
            arn,
            self.endpoint,
            str(job.get("modelId", self.model)),
            in_uri,
            status,
            unix_seconds(job.get("submitTime")) or 0,
            counts,
            owner_metadata(_output_tag(out_uri)),
        )
        obj["errors"] = None
        batch_times(obj, job, _TIMES, unix_seconds)
        if status in ENDED_AT and out_uri.startswith(self.bucket.uri(self.root)):
            directory = self.bucket.key_of(out_uri.rstrip("/") + "/x", self.root)[:-1]
            manifest = await self.bucket.get_small(http, f"{directory}{job_id}/manifest.json.out")
            if manifest.ok:
                try:
                    m = json.loads(manifest.body)
                    counts.update(
                        total=int(m.get("totalRecordCount", 0)),
                        completed=int(m.get("successRecordCount", 0)),
                        failed=int(m.get("errorRecordCount", 0)),
                    )
                except (ValueError, TypeError, AttributeError):
                    pass
            name = in_uri.rsplit("/", 1)[-1]
            out = self.bucket.uri(f"{directory}{job_id}/{name}.out")
            obj.update(result_file_ids(out, counts["completed"], counts["failed"]))
        if status in ("failed", "expired") and job.get("message"):
            obj["errors"] = batch_errors(str(job.get("status")), str(job["message"]))
        return obj

    async def create_batch(
        self, http: aiohttp.ClientSession, body: Mapping[str, Any]
    ) -> UpstreamReply:
        self._check_extra()
        check_endpoint(body, self.endpoint, "This Bedrock account's model")
        if not self.role_arn:
            raise BadRequest(
                "Bedrock batches need litellm_params.aws_batch_role_arn (the IAM service role "
                "the model invocation job runs as); this deployment has none.",
                param="aws_batch_role_arn",
            )
        key = self._key(str(body["input_file_id"]))
        if not key.endswith(".jsonl") or key.endswith(".jsonl.out"):
            raise BadRequest("The input file is not a batch file.", param="input_file_id")
        reply, head = await self.bucket.head(http, key.removesuffix(".jsonl") + SIDECAR)
        if head is None:
            if reply.status == 404:
                raise BadRequest(
                    "The input file was not uploaded with purpose=batch through this router.",
                    param="input_file_id",
                )
            return reply
        records = int(head.metadata.get("records", "0") or 0)
        if records < self.min_records:
            raise BadRequest(
                f"The input file has {records} records; Bedrock runs a batch only with at least "
                f"{self.min_records} (its minimum records per batch inference job).",
                param="input_file_id",
                code="too_few_records",
            )
        tag = owner_tag_of(body)
        owner = "" if tag is None else tagged_filename("", tag)
        output = self.bucket.uri(f"{self.root}batch-output/{owner}{random.token_hex(8)}/")
        out_cfg: dict[str, Any] = {"s3Uri": output}
        if self.kms_key:
            out_cfg["s3EncryptionKeyId"] = self.kms_key
        job = {
            "jobName": f"fr-{self.label}-{random.token_hex(8)}",
            "roleArn": self.role_arn,
            "modelId": self.model,
            "clientRequestToken": random.token_hex(16),
            "inputDataConfig": {
                "s3InputDataConfig": {"s3Uri": self.bucket.uri(key), "s3InputFormat": "JSONL"}
            },
            "outputDataConfig": {"s3OutputDataConfig": out_cfg},
            # Records are in the model's native (InvokeModel) format; AWS's batch guide: tool
            # calling fails only in jobs of the Converse type ("records that include
            # toolConfig fail with a 400"), so the job says its type.
            "modelInvocationType": "InvokeModel",
            "tags": [{"key": "files-router-deployment", "value": self.label}],
        }
        created = await self.control.call(
            http, "POST", self.control.url("/model-invocation-job"), body=job
        )
        if not created.ok:
            return created
        arn = str(self.upstream.decode(_decode, created.body).get("jobArn", ""))
        return await self.retrieve_batch(http, arn)

    async def retrieve_batch(self, http: aiohttp.ClientSession, batch_id: str) -> UpstreamReply:
        reply, job = await self._job(http, batch_id)
        if not reply.ok:
            return reply
        return ok(await self._batch(http, job), reply)

    async def cancel_batch(self, http: aiohttp.ClientSession, batch_id: str) -> UpstreamReply:
        owned, _ = await self._job(http, batch_id)
        return await in_turn(
            owned,
            lambda: self.control.call(
                http, "POST", self.control.url(self._job_path(batch_id, "/stop"))
            ),
            lambda: self.retrieve_batch(http, batch_id),
        )

    async def list_batches(
        self, http: aiohttp.ClientSession, query: Mapping[str, str]
    ) -> UpstreamReply:
        """Bedrock pages by token; OpenAI by the last ID seen (paging)."""

        async def page(token: str | None) -> Page[dict[str, Any]]:
            params = {"nameContains": f"fr-{self.label}-", "maxResults": "100"}
            if token:
                params["nextToken"] = token
            self._check_extra()
            reply = await self.control.call(
                http, "GET", self.control.url("/model-invocation-jobs", params)
            )
            if not reply.ok:
                return Page(reply)
            found = self.upstream.decode(_decode, reply.body)
            jobs = [job for job in found.get("invocationJobSummaries") or [] if self._owned(job)]
            return Page(reply, jobs, found.get("nextToken"))

        listing = await list_after(
            page,
            after=query.get("after"),
            limit=int(query.get("limit", "20")),
            id_of=lambda job: str(job.get("jobArn", "")),  # as _batch names it
        )
        # Only the jobs answered are read in full (an ended job's manifest is one more call).
        return listing.answer([await self._batch(http, job) for job in listing.data])


SPEC = ProviderSpec(
    name="bedrock",
    prefixes=("bedrock",),
    params=BedrockParams,
    factory=BedrockProvider,
    route_fields=("model", "api_base", "aws_region_name", "s3_bucket_name", "s3_endpoint_url"),
    # As LiteLLM 1.110.2 (llms/bedrock/base_aws_llm.py, _get_aws_region_name): AWS_REGION_NAME,
    # then AWS_REGION (the variable boto3's own region setting reads).
    env={"aws_region_name": ("AWS_REGION_NAME", "AWS_REGION")},
)
