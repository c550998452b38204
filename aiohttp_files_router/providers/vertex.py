"""Vertex AI accounts: files are objects in the account's GCS bucket, batches are Vertex
batch prediction jobs. The client only ever sees OpenAI shapes.

- Upload (``purpose=batch``): OpenAI rows become Vertex rows line by line while they stream
  into a resumable GCS upload (``<name>.jsonl``, which jobs read), and the client's own bytes
  go at the same time into ``<name>.jsonl.original`` beside it: retrieve, content and listings
  answer with those, and a delete removes both. Other purposes are stored as they are. The
  file ID is the (rows) object's ``gs://`` URI.
- Content of a job's ``predictions.jsonl``: Vertex predictions become OpenAI batch output rows,
  each row's ``custom_id`` read from the request labels Vertex echoes (see vertex_labels). A
  batch's ``output_file_id`` and ``error_file_id`` are two views of that one object: its URI
  with ``#succeeded`` or ``#failed`` appended, each serving only those rows.
- Batches: ``batchPredictionJobs`` with the deployment's model; states, counts and times mapped.
- Fine-tuning: ``tuningJobs``, training files converted at upload (vertex_tuning).
"""

from __future__ import annotations

import hashlib
import re
import secrets as random
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec
from yarl import URL

from ..errors import BadRequest, NotFound, UpstreamUnavailable
from ..jsoncodec import ENCODER as _json
from ..jsoncodec import OBJECT as _decode
from ..ownership import OWNER_KEY
from ..params import ProviderParams
from ..transport import Wire
from ..upstream import Called, ContentStream, Upstream, UpstreamReply
from .base import AccountSetup, BatchRules, FileUpload, Provider, ProviderError, ProviderSpec
from .calls import in_turn
from .chat_rows import EMBEDDINGS_URL, chat_row, check_endpoint
from .companions import Part, delete_with_companions, store_with_companions
from .file_refs import FileRefCheck
from .filestore import router_namespace
from .gcs import Bucket, file_object
from .genai_rows import RowError
from .google_auth import GoogleToken, load_service_account
from .isotime import unix_seconds
from .jsonl import map_lines
from .owner_tags import owner_metadata, owner_tag_of
from .paging import Page, list_after
from .result_views import lost_ids_warning, output_rows, result_file_ids, split_view
from .shapes import batch_errors, batch_object, batch_times, list_page, ok
from .vertex_embeddings import (
    IDS,
    MAX_ROWS,
    Matcher,
    content_key,
    embedding_line,
    embeddings_to_instance,
    is_embedding_model,
)
from .vertex_rows import CHAT_URL, openai_to_vertex_line, vertex_to_openai_line
from .vertex_tuning import (
    TUNING_RULES,
    job_body,
    job_checkpoints,
    job_events,
    job_url,
    openai_job,
    tuning_line,
    tuning_url,
)

__all__ = ["SPEC", "VertexParams", "VertexProvider"]

# The label on every job the router creates: which deployment (route) it belongs to.
JOB_LABEL = "files_router_deployment"
# The job's times (BatchPredictionJob); its last update dates its cancelling while it is
# cancelling, nothing after.
_TIMES = {"in_progress_at": "startTime", "ended": "endTime", "updated": "updateTime"}
# Label values: lowercase letters, digits, "_" and "-", at most 63 characters.
_LABEL_SAFE = re.compile(r"[a-z0-9_-]{1,63}")
PREDICTIONS = "predictions.jsonl"
# Beside a batch upload's Vertex rows: the bytes the client uploaded.
ORIGINAL = ".original"
_STATES = {
    "JOB_STATE_QUEUED": "validating",
    "JOB_STATE_PENDING": "validating",
    "JOB_STATE_RUNNING": "in_progress",
    "JOB_STATE_PAUSED": "in_progress",
    "JOB_STATE_UPDATING": "in_progress",
    "JOB_STATE_SUCCEEDED": "completed",
    "JOB_STATE_PARTIALLY_SUCCEEDED": "completed",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLING": "cancelling",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_EXPIRED": "expired",
}


def _label_value(route: str) -> str:
    """The route as a label value: itself where Vertex allows it, else a digest of it."""
    if _LABEL_SAFE.fullmatch(route):
        return route
    return "h-" + hashlib.sha256(route.encode()).hexdigest()[:40]


def _owner_label(job: Mapping[str, Any]) -> str | None:
    labels = job.get("labels")
    tag = labels.get(OWNER_KEY) if isinstance(labels, dict) else None
    return tag if isinstance(tag, str) else None


def _tuning_job(job: Mapping[str, Any]) -> dict[str, Any]:
    """A tuning job in OpenAI's shape, its owner label handed back as metadata."""
    return {**openai_job(job), "metadata": owner_metadata(_owner_label(job))}


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # an async generator that yields nothing


def _view(file_id: str) -> tuple[str, str | None]:
    """A file ID as (the stored object's ID, the view of a job's predictions or None)."""
    return split_view(file_id, "/" + PREDICTIONS)


class VertexParams(ProviderParams, kw_only=True, frozen=True):
    """``litellm_params`` of a Vertex AI deployment (``model: vertex_ai/<model>``)."""

    secret_fields = frozenset({"vertex_credentials"})

    api_base: str | None = None  # the Vertex AI endpoint (a fake's, in tests)
    vertex_project: str | None = None
    vertex_location: str | None = None
    vertex_credentials: str | None = None  # a service account: JSON text or a file path
    gcs_bucket_name: str | None = None  # "bucket" or "bucket/prefix"
    gcs_api_base: str | None = None  # this router's own: the GCS JSON API endpoint
    # This router's own: object URI prefixes (gs://...) batch rows may name besides the
    # deployment's own namespace.
    allowed_file_uris: list[str] | None = None


class VertexProvider(Provider):
    # Vertex AI and Cloud Storage document no header for a caller's request ID (their
    # x-goog-request-params is a routing header) and no request ID in their answers: our ID
    # stays in our own log lines only.

    # Rows become GenerateContent requests for the configured model (vertex_rows): only chat
    # completions map, and the model comes from the account, not the row.
    # An embedding model's rows become text embedding instances (vertex_embeddings); each row
    # is checked against the account's model as it is converted.
    batch_rules = BatchRules(frozenset((CHAT_URL, EMBEDDINGS_URL)), needs_model=False)
    # Owner tags: an upload's filename is kept in its object's custom metadata (GCS: at most
    # 8 KiB of custom metadata per object), a batch's or tuning job's tag as its label
    # OWNER_KEY (labels: keys and values of at most 63 lowercase letters, digits, "_" or "-",
    # 64 labels per job; the tag is 32 hex digits).
    keeps_owner_tags = True
    tuning_rules = TUNING_RULES

    def __init__(
        self,
        name: str,
        params: VertexParams,
        timeout: aiohttp.ClientTimeout,
        model: str | None,
        *,
        route: str | None = None,
        wire: Wire | None = None,
    ):
        self.name = name
        self.model = (model or "").split("/", 1)[-1]
        if not self.model:
            raise ProviderError("a vertex_ai account needs model: vertex_ai/<model>")
        # An embedding model runs embedding batches ({"content"} instances), every other
        # model GenerateContent batches.
        self.embed = is_embedding_model(self.model)
        self.endpoint = EMBEDDINGS_URL if self.embed else CHAT_URL
        project, location = params.vertex_project, params.vertex_location or "us-central1"
        credentials = params.vertex_credentials
        if not credentials:
            raise ProviderError(
                "a vertex_ai account needs vertex_credentials (or GOOGLE_APPLICATION_CREDENTIALS)"
            )
        info = load_service_account(credentials)
        project = project or info.get("project_id")
        if not project:
            raise ProviderError("a vertex_ai account needs vertex_project")
        if not params.gcs_bucket_name:
            raise ProviderError("a vertex_ai account needs gcs_bucket_name")
        bucket, _, prefix = params.gcs_bucket_name.removeprefix("gs://").partition("/")
        prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        host = (
            f"https://{location}-aiplatform.googleapis.com"
            if location != "global"
            else "https://aiplatform.googleapis.com"
        )
        self.jobs_url = (
            f"{(params.api_base or host).rstrip('/')}/v1/projects/"
            f"{quote(project, safe='')}/locations/{quote(location, safe='')}"
            "/batchPredictionJobs"
        )
        self.tuning_url = tuning_url(self.jobs_url)
        self.token = GoogleToken(route or name, info, timeout.connect or 10.0)
        self.upstream = Upstream(
            Called(route or name, name),
            self.jobs_url,
            timeout,
            auth=self.token,
            retries=params.retries,
            secrets=(str(info["private_key"]),),
            wire=wire,
        )
        self.bucket = Bucket(
            self.upstream, params.gcs_api_base or "https://storage.googleapis.com", bucket, prefix
        )
        # Each deployment's objects live under a namespace of its own, however many
        # deployments share the bucket: <prefix>files-router/<route>/. Quoted whole, so one
        # route is never a prefix of another's namespace.
        self.root = router_namespace(prefix, quote(route or name, safe=""))
        self.bucket.prefix = self.root
        self.label = _label_value(route or name)
        allowed = params.allowed_file_uris or []
        for uri in allowed:
            if not uri.startswith("gs://") or len(uri) <= len("gs://"):
                raise ProviderError(f"allowed_file_uris: {uri!r} is not a gs:// prefix")
        self.file_refs = FileRefCheck(("gs://",), (self.bucket.uri(self.root), *allowed))

    async def close(self) -> None:
        await self.token.close()

    # -- files ------------------------------------------------------------------------------
    async def create_file(self, http: aiohttp.ClientSession, upload: FileUpload) -> UpstreamReply:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        name = f"{self.root}{stamp}-{random.token_hex(6)}"
        meta = {"filename": upload.filename, "purpose": upload.purpose}
        if upload.purpose not in ("batch", "fine-tune"):
            reply = await self.bucket.upload(
                http, name, meta, upload.content_type, upload.guard(upload.chunks)
            )
            if not reply.ok:
                return reply
            return ok(file_object(self.bucket.resource(reply), self.bucket.name), reply)
        name += ".jsonl"
        line_fn = self._row if upload.purpose == "batch" else tuning_line
        parts: list[Part] = [
            (name, "application/jsonl", line_fn),
            (name + ORIGINAL, upload.content_type, None),
        ]
        if self.embed and upload.purpose == "batch":
            # No output line carries a custom_id: they stay beside the rows.
            parts.append((name + IDS, "application/jsonl", _ids_line))
        stored = await store_with_companions(
            upload,
            parts,
            lambda part, kind, chunks: self.bucket.upload(http, part, meta, kind, chunks),
            lambda part: self.bucket.remove(http, part),
        )
        if isinstance(stored, UpstreamReply):
            return stored
        obj = file_object(self.bucket.resource(stored[1]), self.bucket.name)
        return ok({**obj, "id": self.bucket.uri(name)}, stored[1])

    def _original(self, name: str) -> str | None:
        """The object of the client's own bytes beside a batch upload's rows, if ``name``
        is such an upload (uploads from before these were kept have none)."""
        own = name.startswith(self.root) and "/" not in name[len(self.root) :]
        return name + ORIGINAL if own and name.endswith(".jsonl") else None

    def _row(self, number: int, line: bytes) -> bytes:
        if self.embed:
            return self._embedding_row(number, line)
        self.file_refs(number, line)

        def refuse(custom_id: str, body: dict[str, Any]) -> bytes:
            raise RowError(
                f"{self.model} generates text; embedding batches need a Vertex embedding model "
                "such as text-embedding-005"
            )

        return openai_to_vertex_line(number, line, refuse)

    def _embedding_row(self, number: int, line: bytes) -> bytes:
        if not line.strip():
            return line
        if number > MAX_ROWS:
            raise BadRequest(
                f"Line {number} of the batch file cannot run on Vertex AI: a Vertex embedding "
                f"batch takes at most {MAX_ROWS} rows.",
                param="file",
                code="invalid_batch_line",
            )

        def convert(custom_id: str, body: dict[str, Any]) -> bytes:
            raise RowError(f"{self.model} is an embedding model: rows must be {EMBEDDINGS_URL}")

        def embed(custom_id: str, body: dict[str, Any]) -> bytes:
            return _json.encode(embeddings_to_instance(body))

        return chat_row(number, line, "Vertex AI", convert, embed)

    async def retrieve_file(self, http: aiohttp.ClientSession, file_id: str) -> UpstreamReply:
        stored, _ = _view(file_id)
        name = self.bucket.object_name(stored)
        reply = await self.upstream.json(
            http, "GET", self.bucket.object_url(self._original(name) or name)
        )
        if not reply.ok:
            return reply
        # A view's size is its object's: counting its rows would mean reading them all.
        return ok(
            {**file_object(self.bucket.resource(reply), self.bucket.name), "id": file_id}, reply
        )

    async def delete_file(self, http: aiohttp.ClientSession, file_id: str) -> UpstreamReply:
        # Deleting a view deletes the predictions object both views read.
        name = self.bucket.object_name(_view(file_id)[0])
        original = self._original(name)
        beside: list[str] = []
        if original is not None:
            beside = [original, name + IDS] if self.embed else [original]
        return await delete_with_companions(
            file_id,
            name,
            beside,
            lambda other: self.upstream.json(http, "DELETE", self.bucket.object_url(other)),
        )

    async def list_files(
        self, http: aiohttp.ClientSession, query: Mapping[str, str]
    ) -> UpstreamReply:
        # GCS lists by name, and names start with the upload time: ascending creation order.
        # An upload's original sorts right after its rows and is shown through them.
        limit = int(query.get("limit", "10000"))
        params = {"prefix": self.root, "maxResults": str(limit + 1)}
        after = query.get("after")
        if after:
            params["startOffset"] = self.bucket.object_name(after)
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = {**params, "pageToken": token} if token else params
            reply = await self.upstream.json(http, "GET", self.bucket.list_url(), params=page)
            if not reply.ok:
                return reply
            listing = self.bucket.resource(reply)
            items += listing.get("items") or []
            token = listing.get("nextPageToken")
            shown = [
                r
                for r in items
                if not str(r.get("name")).endswith((ORIGINAL, IDS))
                and not (after and self.bucket.uri(str(r.get("name"))) == after)
            ]
            if len(shown) > limit or not token:
                break
        originals = {str(r.get("name")): r for r in items if str(r.get("name")).endswith(ORIGINAL)}
        files = []
        for r in shown[:limit]:
            name = str(r.get("name"))
            source = originals.get(self._original(name) or "", r)
            files.append({**file_object(source, self.bucket.name), "id": self.bucket.uri(name)})
        if "purpose" in query:
            files = [f for f in files if f["purpose"] == query["purpose"]]
        return ok(list_page(files, len(shown) > limit or bool(token)), reply)

    @asynccontextmanager
    async def file_content(
        self, http: aiohttp.ClientSession, file_id: str, codings: Collection[str] = ()
    ) -> AsyncIterator[ContentStream]:
        stored, view = _view(file_id)
        name = self.bucket.object_name(stored)
        predictions = name.endswith("/" + PREDICTIONS)
        parts = [name]
        if predictions:
            found = await self._prediction_files(http, name)
            if isinstance(found, UpstreamReply):
                yield ContentStream(found.status, {}, _nothing(), error=found)
                return
            parts = found or parts
        async with self.upstream.stream(
            http,
            self.bucket.object_url(self._original(name) or name, alt="media"),
            codings=() if predictions else codings,  # rows are rewritten: decoded
        ) as stream:
            if stream.error is None and predictions:
                # Vertex predictions leave as OpenAI batch output rows (their length changes).
                line_fn = vertex_to_openai_line(
                    self.model, view, self._unmatched(stored), output=stored
                )
                if self.embed:
                    matcher = await self._matcher(http, name)
                    if isinstance(matcher, UpstreamReply):
                        yield ContentStream(matcher.status, {}, _nothing(), error=matcher)
                        return
                    line_fn = embedding_line(
                        self.model, matcher, view, stored, self._unmatched(stored)
                    )
                rows = map_lines(self._joined(http, stream.chunks, parts[1:]), line_fn)
                stream = output_rows(stream, rows)
            yield stream

    async def _matcher(self, http: aiohttp.ClientSession, name: str) -> Matcher | UpstreamReply:
        """The custom_ids of the embedding upload a job's predictions ``name`` came from (its
        output directory is named after it, see create_batch). One short line a row, at most
        MAX_ROWS rows: read whole before the predictions."""
        matcher = Matcher()
        rest = name[len(self.root) :] if name.startswith(self.root) else ""
        parts = rest.split("/")
        if len(parts) < 5 or parts[0] != "batch-output" or not parts[1].endswith(".jsonl"):
            return matcher  # not one of ours: rows are named by their line
        async with self.upstream.stream(
            http, self.bucket.object_url(self.root + parts[1] + IDS, alt="media")
        ) as ids:
            if ids.error is not None:
                return matcher if ids.error.status == 404 else ids.error
            async for _ in map_lines(ids.chunks, lambda _n, line: matcher.feed(line)):
                pass
        return matcher

    async def _prediction_files(
        self, http: aiohttp.ClientSession, name: str
    ) -> list[str] | UpstreamReply:
        """Every ``.jsonl`` object of a job's output directory, in name order.

        A job may write its predictions to several files; Google's own batch prediction
        sample ("Intro to Batch Predictions with the Gemini API") reads every ``.jsonl`` of
        the output directory. Names only: each is read in turn as the download goes.
        """
        directory = name.rsplit("/", 1)[0] + "/"
        names: list[str] = []
        token: str | None = None
        while True:
            params = {"prefix": directory, **({"pageToken": token} if token else {})}
            reply = await self.upstream.json(http, "GET", self.bucket.list_url(), params=params)
            if not reply.ok:
                return reply
            listing = self.bucket.resource(reply)
            for item in listing.get("items") or []:
                found = str(item.get("name") or "")
                rest = found[len(directory) :]
                if found.startswith(directory) and rest.endswith(".jsonl") and "/" not in rest:
                    names.append(found)
            token = listing.get("nextPageToken")
            if not isinstance(token, str) or not token:
                return sorted(names)

    async def _joined(
        self, http: aiohttp.ClientSession, first: AsyncIterator[bytes], rest: list[str]
    ) -> AsyncIterator[bytes]:
        """The first file's chunks, then each further file's, a line break between files."""
        last = b""
        async for chunk in first:
            last = chunk or last
            yield chunk
        for name in rest:
            if last and not last.endswith(b"\n"):
                yield b"\n"
            async with self.upstream.stream(
                http, self.bucket.object_url(name, alt="media")
            ) as more:
                if more.error is not None:
                    # The answer has begun: only an aborted download can say so.
                    raise UpstreamUnavailable(
                        f"The upstream account for '{self.name}' failed to serve a prediction "
                        f"file (HTTP {more.error.status})."
                    )
                last = b""
                async for chunk in more.chunks:
                    last = chunk or last
                    yield chunk

    def _unmatched(self, file_id: str) -> Callable[[int], None]:
        """Reports the first row of a download whose custom_id is lost; once per file."""
        return lost_ids_warning(
            "account %s: line %d of %s carries no custom_id label (the job's output lost its "
            "request labels?); such rows are named line-N by their position",
            self.upstream.deployment,
            file_id,
        )

    # -- batches ----------------------------------------------------------------------------
    def _batch(self, job: Mapping[str, Any]) -> dict[str, Any]:
        status = _STATES.get(str(job.get("state")), "in_progress")
        stats = job.get("completionStats") or {}
        done, failed = int(stats.get("successfulCount", 0)), int(stats.get("failedCount", 0))
        # incompleteCount is -1 when Vertex does not know it (BatchPredictionJob reference).
        total = done + failed + max(0, int(stats.get("incompleteCount", 0)))
        uris = ((job.get("inputConfig") or {}).get("gcsSource") or {}).get("uris") or [""]
        obj = batch_object(
            str(job.get("name", "")).rsplit("/", 1)[-1],
            self.endpoint,
            str(job.get("model", self.model)).rsplit("/", 1)[-1],
            uris[0],
            status,
            unix_seconds(job.get("createTime")) or 0,
            {"total": total, "completed": done, "failed": failed},
            owner_metadata(_owner_label(job)),
        )
        batch_times(obj, job, _TIMES, unix_seconds)
        # Two views of the job's predictions; the job's counts say which would be empty. An
        # expired job keeps what it wrote, as Gemini and Bedrock batches do.
        directory = (job.get("outputInfo") or {}).get("gcsOutputDirectory")
        if directory and status in ("completed", "cancelled", "failed", "expired"):
            predictions = f"{str(directory).rstrip('/')}/{PREDICTIONS}"
            obj.update(result_file_ids(predictions, done, failed))
        error = job.get("error")
        if isinstance(error, dict) and error.get("message"):
            obj["errors"] = batch_errors(str(error.get("code", "")), str(error["message"]))
        return obj

    def _job_reply(self, reply: UpstreamReply) -> UpstreamReply:
        if not reply.ok:
            return reply
        job: dict[str, Any] = self.upstream.decode(_decode, reply.body)
        return ok(self._batch(job), reply)

    def _job_url(self, batch_id: str, suffix: str = "") -> URL:
        if not batch_id.isdigit():
            raise NotFound(f"No such batch: '{batch_id}'.", param="batch_id")
        return URL(f"{self.jobs_url}/{batch_id}{suffix}", encoded=True)

    async def create_batch(
        self, http: aiohttp.ClientSession, body: Mapping[str, Any]
    ) -> UpstreamReply:
        check_endpoint(body, self.endpoint, f"'{self.model}' on Vertex AI")
        stored = self.bucket.object_name(str(body["input_file_id"]))
        source = self.bucket.uri(stored)
        output = f"{self.root}batch-output/{random.token_hex(8)}"
        upload = stored[len(self.root) :] if stored.startswith(self.root) else ""
        if self.embed and upload.endswith(".jsonl") and "/" not in upload:
            # Named after the upload: its predictions find the custom_ids beside it.
            output = f"{self.root}batch-output/{upload}/{random.token_hex(8)}"
        output = self.bucket.uri(output)
        labels = {JOB_LABEL: self.label}
        tag = owner_tag_of(body)
        if tag is not None:
            labels[OWNER_KEY] = tag
        job = {
            "displayName": f"files-router-{random.token_hex(6)}",
            "labels": labels,
            "model": f"publishers/google/models/{self.model}",
            "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": [source]}},
            "outputConfig": {
                "predictionsFormat": "jsonl",
                "gcsDestination": {"outputUriPrefix": output},
            },
        }
        reply = await self.upstream.json(http, "POST", URL(self.jobs_url, encoded=True), body=job)
        return self._job_reply(reply)

    def _owned(self, job: Mapping[str, Any]) -> bool:
        labels = job.get("labels")
        return isinstance(labels, dict) and labels.get(JOB_LABEL) == self.label

    async def _own_job(self, http: aiohttp.ClientSession, batch_id: str) -> UpstreamReply:
        """The job, if this deployment created it; another deployment's job is a 404."""
        reply = await self.upstream.json(http, "GET", self._job_url(batch_id))
        job: dict[str, Any] = self.upstream.decode(_decode, reply.body) if reply.ok else {}
        if reply.ok and not self._owned(job):
            raise NotFound(f"No such batch: '{batch_id}'.", param="batch_id")
        return reply

    async def retrieve_batch(self, http: aiohttp.ClientSession, batch_id: str) -> UpstreamReply:
        return self._job_reply(await self._own_job(http, batch_id))

    async def cancel_batch(self, http: aiohttp.ClientSession, batch_id: str) -> UpstreamReply:
        return await in_turn(
            await self._own_job(http, batch_id),
            lambda: self.upstream.json(http, "POST", self._job_url(batch_id, ":cancel"), body={}),
            lambda: self.retrieve_batch(http, batch_id),
        )

    def _filter(self) -> str:
        return f'labels.{JOB_LABEL}="{self.label}"'

    async def list_batches(
        self, http: aiohttp.ClientSession, query: Mapping[str, str]
    ) -> UpstreamReply:
        """Vertex pages by token; OpenAI by the last ID seen (paging)."""
        limit = int(query.get("limit", "20"))

        async def page(token: str | None) -> Page[dict[str, Any]]:
            params = {"pageSize": str(max(limit, 50)), "filter": self._filter()}
            if token:
                params["pageToken"] = token
            reply = await self.upstream.json(
                http, "GET", URL(self.jobs_url, encoded=True), params=params
            )
            if not reply.ok:
                return Page(reply)
            found = self.upstream.decode(_decode, reply.body)
            # The filter should have left out other deployments' jobs; never show one anyway.
            jobs = [job for job in found.get("batchPredictionJobs") or [] if self._owned(job)]
            return Page(reply, [self._batch(job) for job in jobs], found.get("nextPageToken"))

        listing = await list_after(
            page, after=query.get("after"), limit=limit, id_of=lambda batch: str(batch["id"])
        )
        return listing.answer(listing.data)

    # -- fine-tuning jobs (vertex_tuning) -----------------------------------------------------
    async def create_fine_tuning_job(
        self, http: aiohttp.ClientSession, body: Mapping[str, Any]
    ) -> UpstreamReply:
        training = self._tuning_file(body, "training_file")
        validation = (
            self._tuning_file(body, "validation_file") if body.get("validation_file") else None
        )
        labels = {JOB_LABEL: self.label}
        tag = owner_tag_of(body)
        if tag is not None:
            # The owner goes where a batch job's does, in a label (63 characters at most:
            # the key is 18, the tag 32); the router's metadata pair is not the client's.
            labels[OWNER_KEY] = tag
            rest = {k: v for k, v in body["metadata"].items() if k != OWNER_KEY}
            body = {**body, "metadata": rest or None}
        job = job_body(body, training, validation, labels)
        reply = await self.upstream.json(http, "POST", URL(self.tuning_url, encoded=True), body=job)
        return self._tuning_reply(reply, _tuning_job)

    def _tuning_file(self, body: Mapping[str, Any], param: str) -> str:
        """The object a job's file names, only inside this deployment's namespace."""
        try:
            return self.bucket.uri(self.bucket.object_name(str(body[param])))
        except NotFound as err:
            err.param = param
            raise

    def _tuning_reply(
        self, reply: UpstreamReply, shape: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> UpstreamReply:
        if not reply.ok:
            return reply
        return ok(shape(self.upstream.decode(_decode, reply.body)), reply)

    async def _own_tuning_job(self, http: aiohttp.ClientSession, job_id: str) -> UpstreamReply:
        """The tuning job, if this deployment created it; another's is a 404."""
        reply = await self.upstream.json(http, "GET", job_url(self.tuning_url, job_id))
        job: dict[str, Any] = self.upstream.decode(_decode, reply.body) if reply.ok else {}
        if reply.ok and not self._owned(job):
            raise NotFound(f"No such fine-tuning job: '{job_id}'.", param="fine_tuning_job_id")
        return reply

    async def retrieve_fine_tuning_job(
        self, http: aiohttp.ClientSession, job_id: str
    ) -> UpstreamReply:
        return self._tuning_reply(await self._own_tuning_job(http, job_id), _tuning_job)

    async def cancel_fine_tuning_job(
        self, http: aiohttp.ClientSession, job_id: str
    ) -> UpstreamReply:
        owned = await self._own_tuning_job(http, job_id)
        if not owned.ok:
            return owned
        url = job_url(self.tuning_url, job_id, ":cancel")
        reply = await self.upstream.json(http, "POST", url, body={})
        if not reply.ok:
            return reply
        return await self.retrieve_fine_tuning_job(http, job_id)

    async def pause_fine_tuning_job(
        self, http: aiohttp.ClientSession, job_id: str
    ) -> UpstreamReply:
        raise BadRequest("Vertex AI tuning jobs cannot be paused.", param="fine_tuning_job_id")

    async def resume_fine_tuning_job(
        self, http: aiohttp.ClientSession, job_id: str
    ) -> UpstreamReply:
        raise BadRequest("Vertex AI tuning jobs cannot be resumed.", param="fine_tuning_job_id")

    async def list_fine_tuning_events(
        self, http: aiohttp.ClientSession, job_id: str, query: Mapping[str, str]
    ) -> UpstreamReply:
        reply = await self._own_tuning_job(http, job_id)
        return self._tuning_reply(reply, lambda job: job_events(job, query))

    async def list_fine_tuning_checkpoints(
        self, http: aiohttp.ClientSession, job_id: str, query: Mapping[str, str]
    ) -> UpstreamReply:
        reply = await self._own_tuning_job(http, job_id)
        return self._tuning_reply(reply, lambda job: job_checkpoints(job, query))

    async def list_fine_tuning_jobs(
        self, http: aiohttp.ClientSession, query: Mapping[str, str]
    ) -> UpstreamReply:
        limit = int(query.get("limit", "20"))
        if any(k.startswith("metadata[") for k in query):
            # Jobs here carry no metadata (a create with metadata is refused): none matches.
            return UpstreamReply(200, _json.encode(list_page([], False)), {})

        async def page(token: str | None) -> Page[dict[str, Any]]:
            params = {"pageSize": str(max(limit, 50)), "filter": self._filter()}
            if token:
                params["pageToken"] = token
            url = URL(self.tuning_url, encoded=True)
            reply = await self.upstream.json(http, "GET", url, params=params)
            if not reply.ok:
                return Page(reply)
            found = self.upstream.decode(_decode, reply.body)
            jobs = [job for job in found.get("tuningJobs") or [] if self._owned(job)]
            return Page(reply, [_tuning_job(job) for job in jobs], found.get("nextPageToken"))

        listing = await list_after(
            page, after=query.get("after"), limit=limit, id_of=lambda job: str(job["id"])
        )
        return listing.answer(listing.data)


def _ids_line(number: int, line: bytes) -> bytes | None:
    """A row of an embedding upload as its line of the custom_id object (checked already by
    the rows beside it)."""
    if not line.strip():
        return None
    try:
        row = _decode.decode(line)
        text = row["body"]["input"]
        text = text[0] if isinstance(text, list) else text
        return _json.encode((content_key(str(text)), str(row["custom_id"])))
    except (msgspec.DecodeError, KeyError, TypeError, IndexError):
        return None  # refused by the rows' conversion


def _build(setup: AccountSetup[VertexParams]) -> Provider:
    return VertexProvider(
        setup.name,
        setup.params,
        setup.timeout,
        setup.params.model,
        route=setup.route,
        wire=setup.wire,
    )


SPEC = ProviderSpec(
    name="vertex_ai",
    prefixes=("vertex_ai", "vertex_ai_beta"),
    params=VertexParams,
    factory=_build,
    # The layout derived routes had before providers declared them: IDs issued stay valid.
    route_fields=(
        "model",
        "api_base",
        "api_version",
        "organization",
        "vertex_project",
        "vertex_location",
        "gcs_bucket_name",
    ),
    env={"vertex_credentials": "GOOGLE_APPLICATION_CREDENTIALS"},
)
