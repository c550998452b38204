"""Mistral AI accounts (``model: mistral/<model>``): Mistral's Files API and batch jobs.

The client only ever sees OpenAI shapes (docs/providers/mistral.md).

- Files: Mistral's ``/v1/files`` (OpenAI's upload form: ``purpose``, ``file``), spoken through
  ``openai.OpenAIProvider`` with a ``MistralDialect``. An upload of ``purpose=batch`` has its
  rows rewritten while it streams: Mistral's batch lines are ``{"custom_id", "body"}`` (no
  ``method`` or ``url``; docs.mistral.ai/capabilities/batch), and ``body.model`` is the
  deployment's model, so a file written for OpenAI runs as it is. Mistral file objects get
  OpenAI's ``status``; Mistral's own fields are kept.
- Batches: ``POST /v1/batch/jobs`` with ``input_files``, ``endpoint``, the deployment's
  ``model``, ``metadata`` and ``timeout_hours`` 24 (OpenAI's completion window). Job statuses
  and counts become OpenAI's; the job's ``output_file`` and ``error_file`` become
  ``<file id>#succeeded`` and ``<file id>#failed``, IDs whose content is served as OpenAI
  batch output rows (the plain file ID serves Mistral's own rows).
- Uploads back: Mistral holds the rewritten rows, so without more a batch file's content and
  ``bytes`` are Mistral's rows (the documented exception). With ``litellm_params.file_store``
  (providers/filestore.py, as Gemini's) the client's bytes go there while the rows go to
  Mistral (``uploads/<random>``), and a record ``files/<Mistral file id>`` points at them:
  retrieve, list and content then show what was uploaded; a delete removes all three.
- Listings: Mistral pages by number (``page``, ``page_size``); OpenAI by the last ID seen, so
  a listing walks Mistral's pages to the cursor (paging.list_after).
- Isolation: the files and jobs of one API key are one workspace's; deployments with the same
  key and base see each other's objects (``shared_store``), as OpenAI accounts do.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import secrets as random
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import aiohttp
import msgspec

from ..errors import BadRequest, RouterError
from ..errors import error_body as error_body_bytes
from ..fanout import tee
from ..jsoncodec import ENCODER as _json
from ..jsoncodec import OBJECT as _decode
from ..jsoncodec import RAW_OBJECT as _object
from ..upstream import (
    Answer,
    ContentStream,
    StaticAuth,
    Upstream,
    UpstreamReply,
    redact,
)
from .base import AccountSetup, BatchRules, FileUpload, Provider, ProviderError, ProviderSpec
from .chat_rows import CHAT_URL
from .filestore import FILE_STORE_ENV, FileStore, FileStoreParams, StoreMeta, account_store
from .genai_rows import digest, error_body
from .jsonl import map_lines
from .openai import Dialect, OpenAIProvider, v1_base
from .paging import Page, list_after
from .result_views import FAILED, SUCCEEDED, left_out, output_rows, result_row, split_view
from .shapes import batch_object, batch_times, error_row, ok, output_row

__all__ = ["DEFAULT_API_BASE", "SPEC", "MistralDialect", "MistralParams", "MistralProvider"]

logger = logging.getLogger(__package__)

DEFAULT_API_BASE = "https://api.mistral.ai/v1"
# The job's times (BatchJobOut: started_at, completed_at), unix seconds already.
_TIMES = {"in_progress_at": "started_at", "ended": "completed_at"}
FILES = "files/"
UPLOADS = "uploads/"
# Mistral's file IDs are UUIDs; anything else has no record in the store.
_FILE_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
EMBEDDINGS_URL = "/v1/embeddings"
PAGE_SIZE = 100  # the SDK's default page_size of both listings
# OpenAI's only completion window; Mistral's timeout_hours default is the same 24 hours.
TIMEOUT_HOURS = 24
_STATES = {
    "QUEUED": "validating",
    "RUNNING": "in_progress",
    "SUCCESS": "completed",
    "FAILED": "failed",
    "TIMEOUT_EXCEEDED": "expired",
    "CANCELLATION_REQUESTED": "cancelling",
    "CANCELLED": "cancelled",
}
# OpenAI body fields Mistral's chat request names otherwise (models/chatcompletionrequest.py).
_RENAMED = {"max_completion_tokens": "max_tokens", "seed": "random_seed"}
# Mistral's chat finish reasons (ChatCompletionChoice.finish_reason) in OpenAI's words.
_FINISH = {"model_length": "length", "error": "stop"}


class MistralParams(FileStoreParams, kw_only=True, frozen=True):
    """``litellm_params`` of a Mistral AI deployment (``model: mistral/<model>``); the
    optional file store's fields come from ``FileStoreParams``."""

    secret_fields = FileStoreParams.secret_fields | {"api_key"}

    api_key: str | None = None
    api_base: str | None = None


def _file(obj: dict[str, Any]) -> dict[str, Any]:
    """A Mistral file object with OpenAI's fields (Mistral's own kept). Its size is already
    OpenAI's ``bytes`` on the wire (the SDK's ``size_bytes`` is that field's Python name)."""
    obj.setdefault("status", "processed")
    obj["object"] = "file"
    return obj


class MistralDialect(Dialect):
    """File objects with OpenAI's ``status``; batch rows in Mistral's shape, on the
    deployment's model; only the form fields Mistral's upload reads."""

    def __init__(self, model: str):
        self.model = msgspec.Raw(_json.encode(model))

    def normalise(self, body: bytes) -> bytes:
        try:
            obj = _decode.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return body
        if obj.get("object") == "file" or ("filename" in obj and "created_at" in obj):
            return _json.encode(_file(obj))
        return body

    def upload_fields(self, upload: FileUpload) -> Sequence[tuple[str, str]]:
        # Mistral's upload form (files_api_routes_upload_file): ``purpose``, ``expiry`` in
        # hours (OpenAI's expires_after[seconds], rounded up), ``visibility``, ``file``.
        fields = dict(upload.fields)
        out = [("purpose", fields["purpose"])] if "purpose" in fields else []
        seconds = fields.get("expires_after[seconds]", "")
        if seconds.isdigit():
            out.append(("expiry", str(-(-int(seconds) // 3600))))
        return out

    def upload_chunks(self, upload: FileUpload) -> AsyncIterator[bytes]:
        if upload.purpose != "batch":
            return upload.chunks
        return map_lines(upload.chunks, self._row)

    def _row(self, number: int, line: bytes) -> bytes | None:
        if not line.strip():
            return None
        try:
            row = _object.decode(line)
            body = _object.decode(row["body"])
        except (msgspec.DecodeError, msgspec.ValidationError, KeyError):
            raise BadRequest(
                f"Line {number} of the batch file is not a batch row with a 'body' object.",
                param="file",
                code="invalid_batch_line",
            ) from None
        body["model"] = self.model
        for openai_name, mistral_name in _RENAMED.items():
            if openai_name in body and mistral_name not in body:
                body[mistral_name] = body.pop(openai_name)
        return _json.encode({"custom_id": row.get("custom_id"), "body": body})


class MistralProvider(OpenAIProvider):
    """Mistral's files (OpenAI-shaped, through the dialect) and batch jobs (mapped here)."""

    # Chat and embeddings rows, mapped to the deployment's model (rows need no body.model);
    # Mistral's batch guide allows up to 1M requests a batch, its Files API 512 MB a file.
    batch_rules = BatchRules(
        frozenset((CHAT_URL, EMBEDDINGS_URL)), 1_000_000, 512 * 1024 * 1024, needs_model=False
    )
    # Mistral keeps an upload's filename and a job's metadata and answers both (its file and
    # job objects, docs.mistral.ai/api): the owner tags stay where OpenAI keeps them.
    keeps_owner_tags = True

    # Mistral's fine-tuning API is not OpenAI's (its own job fields, no pause, no events):
    # not offered here until it is mapped, a 400 as on every account without it, and merged
    # job listings leave these accounts out (not OpenAI's, inherited, answering a 404).
    tuning_rules = None
    create_fine_tuning_job = Provider.create_fine_tuning_job
    list_fine_tuning_jobs = Provider.list_fine_tuning_jobs
    retrieve_fine_tuning_job = Provider.retrieve_fine_tuning_job
    cancel_fine_tuning_job = Provider.cancel_fine_tuning_job
    pause_fine_tuning_job = Provider.pause_fine_tuning_job
    resume_fine_tuning_job = Provider.resume_fine_tuning_job
    list_fine_tuning_events = Provider.list_fine_tuning_events
    list_fine_tuning_checkpoints = Provider.list_fine_tuning_checkpoints

    def __init__(
        self,
        upstream: Upstream,
        model: str,
        *,
        shared_store: str | None,
        store: FileStore | None = None,
        name: str = "",
    ):
        super().__init__(upstream, MistralDialect(model), shared_store=shared_store)
        self.model = model
        self.store = store
        self.name = name
        # Mistral's own error fields kept (``_error``), besides the dialect's answers.
        self._call = partial(upstream.json, ok=self.dialect.normalise, error=self._error)

    async def close(self) -> None:
        if self.store is not None:
            await self.store.close()

    def _error(self, answer: Answer, body: bytes, relay: Mapping[str, str]) -> UpstreamReply:
        """Mistral's errors in OpenAI's shape: ``{"object": "error", "message", "type",
        "param", "code"}`` keeps its fields; a 422 ``{"detail": [{"loc", "msg"}]}`` names
        each field it refuses."""
        status = answer.status
        body = redact(body, self.upstream.secrets)
        try:
            obj = _decode.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return self.upstream.error(status, body, relay)
        message = obj.get("message")
        detail = obj.get("detail")
        if isinstance(detail, list) and detail:
            message = "; ".join(
                f"{'.'.join(str(p) for p in d.get('loc') or [])}: {d.get('msg')}"
                if isinstance(d, dict)
                else str(d)
                for d in detail
            )
            obj = {"type": "invalid_request_error"}
        elif isinstance(detail, str):
            message = detail
        if not isinstance(message, str) or not message:
            return self.upstream.error(status, body, relay)

        def text(name: str) -> str | None:
            value = obj.get(name)
            return str(value) if value is not None and value != "" else None

        return UpstreamReply(
            status,
            error_body_bytes(
                message, text("type") or "upstream_error", text("param"), text("code")
            ),
            relay,
        )

    # -- files --------------------------------------------------------------------------------
    async def create_file(self, http: aiohttp.ClientSession, upload: FileUpload) -> UpstreamReply:
        if self.store is None or upload.purpose != "batch":
            return await super().create_file(http, upload)
        store = self.store
        token = UPLOADS + random.token_hex(16)
        meta = StoreMeta(upload.filename[:1024], upload.purpose, upload.content_type)
        rows = dataclasses.replace(upload)
        made: list[str] = []  # the Mistral file's ID, once it exists

        async def to_mistral(chunks: AsyncIterator[bytes]) -> UpstreamReply | int:
            rows.chunks = chunks
            try:
                reply = await super(MistralProvider, self).create_file(http, rows)
            finally:
                upload.failure = upload.failure or rows.failure
            if reply.ok:
                made.append(str(self.upstream.decode(_decode, reply.body).get("id", "")))
            return reply

        async def original(chunks: AsyncIterator[bytes]) -> UpstreamReply | int:
            return await store.put(http, token, upload.guard(chunks), meta)

        async def undo(index: int) -> None:
            if index == 1:
                await self._forget(http, token)
            elif made:
                await self._forget_upstream(http, made[0])

        done = await tee(
            upload.chunks,
            [to_mistral, original],
            lambda r: not isinstance(r, UpstreamReply) or r.ok,
            undo,
        )
        if isinstance(done, UpstreamReply):
            return done
        assert isinstance(done, list)
        reply, size = done[0], done[1]
        assert isinstance(reply, UpstreamReply) and isinstance(size, int)
        file_id = made[0]
        if not _FILE_ID.fullmatch(file_id):
            # Not a key the store takes (Mistral's IDs are UUIDs): served as Mistral holds it.
            await self._forget(http, token)
            return reply
        try:
            record = StoreMeta(meta.filename, upload.purpose, extra={"original": token})
            await store.put(http, FILES + file_id, _empty(), record)
        except BaseException:
            await self._forget(http, token)
            await self._forget_upstream(http, file_id)
            raise
        obj = self.upstream.decode(_decode, reply.body)
        return ok({**obj, "bytes": size}, reply)

    async def _forget(self, http: aiohttp.ClientSession, key: str) -> None:
        """Remove ``key`` from the store, best effort (a clean-up after a failure)."""
        if self.store is not None:
            try:
                await self.store.delete(http, key)
            except RouterError as err:
                logger.warning("account %s: %s remains in the file store: %s", self.name, key, err)

    async def _forget_upstream(self, http: aiohttp.ClientSession, file_id: str) -> None:
        try:
            await super().delete_file(http, file_id)
        except RouterError as err:
            logger.warning("account %s: Mistral file %s remains: %s", self.name, file_id, err)

    async def _original(self, http: aiohttp.ClientSession, file_id: str) -> tuple[str, int] | None:
        """Where the client's own bytes of Mistral file ``file_id`` are kept, and their size."""
        if self.store is None or not _FILE_ID.fullmatch(file_id):
            return None
        record = await self.store.head(http, FILES + file_id)
        key = record.meta.extra.get("original") if record is not None else None
        if not key:
            return None
        stored = await self.store.head(http, key)
        return (key, stored.size) if stored is not None else None

    async def _shown(self, http: aiohttp.ClientSession, obj: dict[str, Any]) -> dict[str, Any]:
        """A Mistral file object with the size the client uploaded, where the store has it."""
        if obj.get("purpose") == "batch":
            kept = await self._original(http, str(obj.get("id", "")))
            if kept is not None:
                obj["bytes"] = kept[1]
        return obj

    async def retrieve_file(self, http: aiohttp.ClientSession, file_id: str) -> UpstreamReply:
        base, view = split_view(file_id)
        reply = await super().retrieve_file(http, base)
        if not reply.ok:
            return reply
        obj = self.upstream.decode(_decode, reply.body)
        if view is None:
            return ok(await self._shown(http, obj), reply)
        obj.update(id=file_id, purpose="batch_output")
        return ok(obj, reply)

    async def delete_file(self, http: aiohttp.ClientSession, file_id: str) -> UpstreamReply:
        base, view = split_view(file_id)
        kept = await self._original(http, base) if view is None else None
        reply = await super().delete_file(http, base)
        if reply.ok and view is not None:
            return ok({"id": file_id, "object": "file", "deleted": True}, reply)
        if reply.ok and kept is not None and self.store is not None:
            await self.store.delete(http, kept[0])
            await self.store.delete(http, FILES + base)
        return reply

    async def list_files(
        self, http: aiohttp.ClientSession, query: Mapping[str, str]
    ) -> UpstreamReply:
        purpose = query.get("purpose")

        async def page(token: str | None) -> Page[dict[str, Any]]:
            return await self._page(http, self.upstream.url("files"), token, _file)

        listing = await list_after(
            page,
            after=query.get("after"),
            limit=int(query.get("limit", "10000")),
            id_of=lambda f: str(f.get("id")),
            keep=(lambda f: f.get("purpose") == purpose) if purpose else None,
        )
        return listing.answer([await self._shown(http, f) for f in listing.data])

    async def _page(
        self, http: aiohttp.ClientSession, url: Any, token: str | None, fix: Any
    ) -> Page[dict[str, Any]]:
        """One Mistral page (``token`` is its number); the next number while pages are full
        and ``total`` (where given) says more follow."""
        number = int(token or "0")
        params = {"page": str(number), "page_size": str(PAGE_SIZE)}
        reply = await self._call(http, "GET", url, params=params)
        if not reply.ok:
            return Page(reply)
        found = self.upstream.decode(_decode, reply.body)
        items = [fix(item) for item in found.get("data") or [] if isinstance(item, dict)]
        total = found.get("total")
        more = len(items) >= PAGE_SIZE and (
            not isinstance(total, int) or (number + 1) * PAGE_SIZE < total
        )
        return Page(reply, items, str(number + 1) if more else None)

    @asynccontextmanager
    async def file_content(
        self, http: aiohttp.ClientSession, file_id: str, codings: Collection[str] = ()
    ) -> AsyncIterator[ContentStream]:
        base, view = split_view(file_id)
        kept = await self._original(http, base) if view is None else None
        if kept is not None and self.store is not None:
            async with self.store.open(http, kept[0]) as stored:
                yield stored
            return
        url = self.upstream.url("files", base, "content")
        async with self.upstream.stream(
            http, url, codings=codings if view is None else ()
        ) as stream:
            if stream.error is None and view is not None:
                stream = output_rows(
                    stream, map_lines(stream.chunks, self._output_line(view, base))
                )
            yield stream

    def _output_line(self, view: str, file_id: str) -> Any:  # jsonl.LineFn
        """Mistral result rows -> OpenAI batch output rows (the failed ones in error rows)."""

        def fn(number: int, line: bytes) -> bytes | None:
            row = result_row(
                line, lambda: {"error": {"message": f"unreadable result on line {number}"}}
            )
            if row is None:
                return None
            custom_id = str(row.get("custom_id") or f"line-{number}")
            response = row.get("response")
            error = row.get("error")
            status = response.get("status_code", 200) if isinstance(response, dict) else None
            failed = bool(error) or not isinstance(status, int) or not 200 <= status < 300
            if left_out(view, failed):
                return None
            out_id = str(row.get("id") or "batch_req_" + digest(custom_id, file_id, str(number)))
            err = error if isinstance(error, dict) else {"message": str(error or "")}
            message = str(err.get("message") or "the request failed")
            if isinstance(response, dict) and isinstance(status, int):
                # A request that got an HTTP answer: its status, and an OpenAI error body
                # where Mistral's result row holds only a message (as OpenAI's error rows).
                body = response.get("body")
                if not failed and isinstance(body, dict):
                    body = _completion(body)
                elif failed and not isinstance(body, dict):
                    body = error_body(message, "mistral_error")
                return output_row(
                    out_id,
                    custom_id,
                    status,
                    str(response.get("request_id") or "req_" + digest(custom_id, file_id)),
                    body,
                )
            # No HTTP answer (a row without a status is failed): OpenAI's row for a request
            # that never ran.
            code = err.get("code")
            return error_row(
                out_id, custom_id, str(code) if code is not None else "mistral_error", message
            )

        return fn

    # -- batches -------------------------------------------------------------------------------
    def _batch(self, job: Mapping[str, Any]) -> dict[str, Any]:
        status = _STATES.get(str(job.get("status")), "in_progress")
        inputs = job.get("input_files") or []
        succeeded = int(job.get("succeeded_requests") or 0)
        failed = int(job.get("failed_requests") or 0)
        obj = batch_object(
            str(job.get("id", "")),
            str(job.get("endpoint") or CHAT_URL),
            job.get("model") or self.model,
            str(inputs[0]) if inputs else "",
            status,
            int(job.get("created_at") or 0),
            {
                "total": int(job.get("total_requests") or 0),
                "completed": succeeded,
                "failed": failed,
            },
            _metadata(job.get("metadata")),
        )
        if job.get("output_file"):
            obj["output_file_id"] = f"{job['output_file']}#{SUCCEEDED}"
        if job.get("error_file"):
            obj["error_file_id"] = f"{job['error_file']}#{FAILED}"
        obj["errors"] = None
        batch_times(obj, job, _TIMES, int)
        errors = [e for e in job.get("errors") or [] if isinstance(e, dict)]
        if errors:
            obj["errors"] = {
                "object": "list",
                "data": [
                    {
                        "code": "mistral_batch_error",
                        "message": str(e.get("message", "")),
                        "param": None,
                        "line": None,
                    }
                    for e in errors
                ],
            }
        return obj

    async def _job_call(
        self, http: aiohttp.ClientSession, method: str, *segments: str, body: Any = None
    ) -> UpstreamReply:
        reply = await self._call(
            http, method, self.upstream.url("batch", "jobs", *segments), body=body
        )
        if not reply.ok:
            return reply
        job: dict[str, Any] = self.upstream.decode(_decode, reply.body)
        return ok(self._batch(job), reply)

    async def create_batch(
        self, http: aiohttp.ClientSession, body: Mapping[str, Any]
    ) -> UpstreamReply:
        endpoint = body.get("endpoint")
        if endpoint not in self.batch_rules.endpoints:
            raise BadRequest(
                f"Mistral accounts run only {sorted(self.batch_rules.endpoints)} batches.",
                param="endpoint",
            )
        job: dict[str, Any] = {
            "input_files": [str(body["input_file_id"])],
            "endpoint": endpoint,
            "model": self.model,
            "timeout_hours": TIMEOUT_HOURS,
        }
        if body.get("metadata"):
            job["metadata"] = body["metadata"]
        return await self._job_call(http, "POST", body=job)

    async def retrieve_batch(self, http: aiohttp.ClientSession, batch_id: str) -> UpstreamReply:
        return await self._job_call(http, "GET", batch_id)

    async def cancel_batch(self, http: aiohttp.ClientSession, batch_id: str) -> UpstreamReply:
        return await self._job_call(http, "POST", batch_id, "cancel")

    async def list_batches(
        self, http: aiohttp.ClientSession, query: Mapping[str, str]
    ) -> UpstreamReply:
        async def page(token: str | None) -> Page[dict[str, Any]]:
            return await self._page(http, self.upstream.url("batch", "jobs"), token, self._batch)

        listing = await list_after(
            page,
            after=query.get("after"),
            limit=int(query.get("limit", "20")),
            id_of=lambda b: str(b.get("id")),
        )
        return listing.answer(listing.data)


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


def _metadata(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict) or not value:
        return None
    return {str(k): v if isinstance(v, str) else _json.encode(v).decode() for k, v in value.items()}


def _completion(body: dict[str, Any]) -> dict[str, Any]:
    """A Mistral chat completion with OpenAI's finish reasons (everything else kept)."""
    for choice in body.get("choices") or []:
        if isinstance(choice, dict) and choice.get("finish_reason") in _FINISH:
            choice["finish_reason"] = _FINISH[choice["finish_reason"]]
    return body


def _build(setup: AccountSetup[MistralParams]) -> Provider:
    params = setup.params
    if not setup.model:
        raise ProviderError("a mistral account needs model: mistral/<model>")
    # Mistral's API reference and SDK document no request-ID header either way.
    upstream = Upstream(
        setup.called(),
        v1_base(params.api_base, DEFAULT_API_BASE),
        setup.timeout,
        auth=StaticAuth(
            {"Authorization": f"Bearer {params.api_key}"} if params.api_key else {},
            setup.secrets(),
        ),
        retries=params.retries,
        wire=setup.wire,
    )
    # Files and jobs belong to the workspace behind the key.
    store = None
    if params.api_key:
        key_digest = hashlib.sha256(params.api_key.encode()).hexdigest()[:8]
        store = f"{upstream.base}, the same API key (sha256 {key_digest}...)"
    return MistralProvider(
        upstream, setup.model, shared_store=store, store=account_store(setup), name=setup.name
    )


SPEC = ProviderSpec(
    name="mistral",
    prefixes=("mistral",),
    params=MistralParams,
    factory=_build,
    env={"api_key": "MISTRAL_API_KEY", "api_base": "MISTRAL_API_BASE", **FILE_STORE_ENV},
)
