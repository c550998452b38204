"""Anthropic accounts (``model: anthropic/<model>``): the Message Batches API, with files kept in
the deployment's file store (``litellm_params.file_store``, providers/filestore.py).

The client only ever sees OpenAI shapes (docs/providers/anthropic.md).

- Files: Anthropic's batches take their requests inline, so files live in the file store
  under ``files/<file id>`` of the deployment's namespace; the ID is ``file-<time><random>``
  (key order is creation order). Uploads of ``purpose=batch`` are checked and converted while
  they stream: each OpenAI chat row becomes ``{"custom_id", "params"}`` (claude_rows, the
  mapping Bedrock uses too; ``params.model`` is the deployment's model). Anthropic's
  ``custom_id`` allows ``^[a-zA-Z0-9_-]{1,64}$``: a client's custom_id outside that (or one
  starting with ``fr-line-``) becomes ``fr-line-<line>`` and the original rides in the
  stored row as ``openai_custom_id``. More than 100,000 requests, or requests over 256 MB,
  are a 400 at upload (Anthropic's limits per batch). The client's own bytes are kept beside
  the requests (``files/<file id>.original``, removed with them): a file's ``bytes`` and
  content are what was uploaded.
- Batches: ``batches.create`` streams the stored rows into ``POST /v1/messages/batches``
  (``{"requests": [...]}``, the ``openai_custom_id`` fields taken out) in bounded memory, then
  writes the batch's record, ``batches/<batch id>``, into the store: the input file's ID and
  the custom_ids it mapped. Only batches with a record in this namespace are retrieved,
  cancelled or listed (Anthropic batches carry no metadata to tag them with).
- Results: a batch's ``output_file_id`` and ``error_file_id`` are ``<batch id>.results`` with
  ``#succeeded`` or ``#failed``; their content is the batch's ``results_url`` JSONL made into
  OpenAI batch output rows (``succeeded`` -> a ``chat.completion``; ``errored`` -> the error
  with its HTTP status; ``canceled`` / ``expired`` -> an ``error`` row), each with the
  client's own custom_id.
- Errors: Anthropic's ``{"type": "error", "error": {"type", "message"}}`` becomes OpenAI's
  shape with the same type; ``request-id`` and ``retry-after`` pass on as for any account.
"""

from __future__ import annotations

import logging
import re
import secrets as random
import time
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec
from yarl import URL

from ..errors import BadRequest, NotFound, RouterError, for_log
from ..errors import error_body as error_body_bytes
from ..fanout import tee
from ..jsoncodec import ENCODER as _json
from ..jsoncodec import OBJECT as _decode
from ..jsoncodec import RAW_OBJECT as _object
from ..ownership import OWNER_KEY
from ..upstream import ContentStream, StaticAuth, Upstream, UpstreamReply
from .base import AccountSetup, BatchRules, FileUpload, Provider, ProviderError, ProviderSpec
from .chat_rows import CHAT_URL, chat_row
from .claude_rows import chat_to_claude, claude_completion
from .filestore import (
    FILE_STORE_ENV,
    FileStore,
    FileStoreParams,
    StoredFile,
    StoreError,
    StoreMeta,
    account_store,
)
from .genai_rows import digest, error_body
from .isotime import unix_seconds
from .jsonl import map_lines
from .openai import v1_base
from .owner_tags import owner_metadata, owner_tag_of
from .result_views import left_out, output_rows, result_file_ids, result_row, split_view
from .shapes import batch_object, batch_times, error_row, list_page, ok, ok_from, output_row

__all__ = ["DEFAULT_API_BASE", "SPEC", "AnthropicParams", "AnthropicProvider"]

logger = logging.getLogger(__package__)

DEFAULT_API_BASE = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
# The batch's times (Message Batches: expires_at, cancel_initiated_at, ended_at).
_TIMES = {"expires_at": "expires_at", "cancelling_at": "cancel_initiated_at", "ended": "ended_at"}
# Message Batches limits (docs.anthropic.com, "Batch limitations"): 100,000 requests or
# 256 MB a batch, whichever comes first.
MAX_REQUESTS = 100_000
MAX_BATCH_BYTES = 256 * 1024 * 1024
MAX_RECORD_METADATA = 1024
MAX_FILENAME = 1024
PAGE_LIMIT = "100"  # the most a Message Batches list page holds
_CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
MAPPED = "fr-line-"
RESULTS = ".results"
FILES = "files/"
# A batch upload's own bytes, kept beside its converted requests and served back.
ORIGINAL = ".original"
BATCHES = "batches/"
# Anthropic error types (docs.anthropic.com, "Errors") -> the HTTP status they come with.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


class AnthropicParams(FileStoreParams, kw_only=True, frozen=True):
    """``litellm_params`` of an Anthropic deployment (``model: anthropic/<model>``); the file
    store's fields come from ``FileStoreParams``."""

    secret_fields = FileStoreParams.secret_fields | {"api_key"}

    api_key: str | None = None
    api_base: str | None = None


def _no_file(file_id: str) -> NotFound:
    return NotFound(f"No such File object: '{file_id}'.", param="file_id")


def _no_batch(batch_id: str) -> NotFound:
    return NotFound(f"No such batch: '{batch_id}'.", param="batch_id")


def _file_key(file_id: str) -> str:
    if not re.fullmatch(r"file-[0-9a-f]{1,64}", file_id):
        raise _no_file(file_id)
    return FILES + file_id


def _batch_key(batch_id: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", batch_id):
        raise _no_batch(batch_id)
    return BATCHES + batch_id


def anthropic_custom_id(custom_id: str, number: int) -> tuple[str, bool]:
    """The custom_id Anthropic gets for a row's, and whether it had to be mapped."""
    if _CUSTOM_ID.fullmatch(custom_id) and not custom_id.startswith(MAPPED):
        return custom_id, False
    return f"{MAPPED}{number}", True


class AnthropicProvider(Provider):
    batch_rules = BatchRules(
        frozenset((CHAT_URL,)), MAX_REQUESTS, MAX_BATCH_BYTES, needs_model=False
    )
    # The store keeps a file's name (owner prefix and all) and a batch's record its owner.
    keeps_owner_tags = True

    def __init__(self, setup: AccountSetup[AnthropicParams], store: FileStore):
        params = setup.params
        self.name = setup.name
        self.model = setup.model
        self.store = store
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if params.api_key:
            headers["x-api-key"] = params.api_key
        # Anthropic documents its own request ID in the ``request-id`` answer header and no
        # header for a caller's.
        self.upstream = Upstream(
            setup.called(None, "request-id"),
            v1_base(params.api_base, DEFAULT_API_BASE),
            setup.timeout,
            auth=StaticAuth(headers, setup.secrets()),
            retries=params.retries,
            wire=setup.wire,
        )
        self.origin = URL(self.upstream.base).origin()

    async def close(self) -> None:
        await self.store.close()

    # -- calls --------------------------------------------------------------------------------
    def _error(self, reply: UpstreamReply) -> UpstreamReply:
        """Anthropic's error envelope in OpenAI's shape (upstream.py has scrubbed it and kept
        its message; the type is Anthropic's)."""
        try:
            obj = _decode.decode(reply.body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return reply
        err = obj.get("error")
        if not isinstance(err, dict) or not isinstance(err.get("message"), str):
            return reply
        kind = err.get("type")
        body = error_body_bytes(
            err["message"],
            str(kind) if isinstance(kind, str) else "upstream_error",
            err.get("param") if isinstance(err.get("param"), str) else None,
            err.get("code") if isinstance(err.get("code"), str) else None,
        )
        return UpstreamReply(reply.status, body, reply.headers)

    async def _call(
        self,
        http: aiohttp.ClientSession,
        method: str,
        *segments: str,
        params: Mapping[str, str] | None = None,
        data: Any = None,
    ) -> UpstreamReply:
        reply = await self.upstream.json(
            http,
            method,
            self.upstream.url("messages", "batches", *segments),
            params=params,
            data=data,
            headers={"Content-Type": "application/json"} if data is not None else None,
        )
        return reply if reply.ok else self._error(reply)

    # -- files --------------------------------------------------------------------------------
    def _file_object(self, file_id: str, size: int, meta: StoreMeta) -> dict[str, Any]:
        return {
            "id": file_id,
            "object": "file",
            "bytes": size,
            "created_at": meta.created_at,
            "filename": meta.filename or file_id,
            "purpose": meta.purpose or "user_data",
            "status": "processed",
        }

    async def create_file(self, http: aiohttp.ClientSession, upload: FileUpload) -> UpstreamReply:
        file_id = f"file-{int(time.time() * 1000):013x}{random.token_hex(8)}"
        key = _file_key(file_id)
        now = int(time.time())
        meta = StoreMeta(_short_name(upload.filename), upload.purpose, upload.content_type, now)
        if upload.purpose != "batch":
            size = await self.store.put(http, key, upload.guard(upload.chunks), meta)
            return ok(self._file_object(file_id, size, meta), UpstreamReply(200, b""))
        store = self.store
        rows = StoreMeta(meta.filename, upload.purpose, "application/jsonl", now)

        async def requests(chunks: AsyncIterator[bytes]) -> int:
            converted = upload.guard(map_lines(chunks, self._rows()))
            return await store.put(http, key, converted, rows)

        async def original(chunks: AsyncIterator[bytes]) -> int:
            return await store.put(http, key + ORIGINAL, upload.guard(chunks), meta)

        async def undo(index: int) -> None:
            await self._remove(http, key if index == 0 else key + ORIGINAL)

        sizes = await tee(upload.chunks, [requests, original], lambda _: True, undo)
        assert isinstance(sizes, list)
        return ok(self._file_object(file_id, sizes[1], meta), UpstreamReply(200, b""))

    async def _remove(self, http: aiohttp.ClientSession, key: str) -> None:
        """Remove ``key``, best effort (a clean-up after a failure being answered)."""
        try:
            await self.store.delete(http, key)
        except RouterError as err:
            logger.warning("account %s: %s remains in the file store: %s", self.name, key, err)

    async def _shown(self, http: aiohttp.ClientSession, stored: StoredFile) -> StoredFile:
        """What a stored file shows the client: a batch upload's own bytes, where kept."""
        if stored.meta.purpose != "batch":
            return stored
        return await self.store.head(http, stored.key + ORIGINAL) or stored

    def _rows(self) -> Any:  # jsonl.LineFn
        """OpenAI chat rows -> Message Batches requests, keeping each custom_id losslessly;
        the requests' total size is held to Anthropic's limit."""
        total = 0

        def convert(number: int) -> Any:
            def fn(custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
                params = {
                    "model": self.model,
                    **chat_to_claude(body, "Anthropic", model=self.model, fetches_urls=True),
                }
                sent, mapped = anthropic_custom_id(custom_id, number)
                row: dict[str, Any] = {"custom_id": sent, "params": params}
                if mapped:
                    row["openai_custom_id"] = custom_id
                return row

            return fn

        def fn(number: int, line: bytes) -> bytes | None:
            nonlocal total
            if not line.strip():
                return None
            row = chat_row(number, line, "Anthropic", convert(number))
            out = _json.encode(row)
            total += len(out) + 1
            if total > MAX_BATCH_BYTES:
                raise BadRequest(
                    f"Line {number} of the batch file takes its requests past Anthropic's "
                    f"{MAX_BATCH_BYTES // 1024 // 1024} MB a batch.",
                    param="file",
                    code="invalid_batch_line",
                )
            return out

        return fn

    async def retrieve_file(self, http: aiohttp.ClientSession, file_id: str) -> UpstreamReply:
        base, view = split_view(file_id, RESULTS)
        if view is not None:
            reply, batch = await self._batch_of_results(http, base, file_id)
            if not reply.ok:
                return reply
            if not batch.get("results_url"):
                raise _no_file(file_id)  # results exist once processing has ended
            ended = unix_seconds(batch.get("ended_at")) or 0
            obj = {
                "id": file_id,
                "object": "file",
                "bytes": 0,  # Anthropic does not say before the results are read
                "created_at": ended,
                "filename": f"{base}.jsonl",
                "purpose": "batch_output",
                "status": "processed",
            }
            return ok(obj, reply)
        stored = await self.store.head(http, _file_key(file_id))
        if stored is None:
            raise _no_file(file_id)
        stored = await self._shown(http, stored)
        return ok(self._file_object(file_id, stored.size, stored.meta), UpstreamReply(200, b""))

    async def delete_file(self, http: aiohttp.ClientSession, file_id: str) -> UpstreamReply:
        if split_view(file_id, RESULTS)[1] is not None:
            raise BadRequest(
                "The results of an Anthropic batch stay as long as Anthropic keeps the batch "
                "(29 days); they cannot be deleted on their own.",
                param="file_id",
            )
        key = _file_key(file_id)
        # The original first, so that a failure leaves the requests and a retry finds both.
        await self.store.delete(http, key + ORIGINAL)
        if not await self.store.delete(http, key):
            raise _no_file(file_id)
        return ok({"id": file_id, "object": "file", "deleted": True}, UpstreamReply(200, b""))

    async def list_files(
        self, http: aiohttp.ClientSession, query: Mapping[str, str]
    ) -> UpstreamReply:
        limit = int(query.get("limit", "10000"))
        after = query.get("after")
        purpose = query.get("purpose")
        start = _file_key(after) if after else None
        files: list[dict[str, Any]] = []
        more = True
        while more and len(files) <= limit:
            page, more = await self.store.list(http, FILES, after=start, limit=100)
            for stored in page:
                start = stored.key
                if stored.key.endswith(ORIGINAL):
                    continue
                if purpose is None or stored.meta.purpose == purpose:
                    shown = await self._shown(http, stored)
                    files.append(
                        self._file_object(stored.key.removeprefix(FILES), shown.size, shown.meta)
                    )
            if not page:
                break
        return ok(list_page(files[:limit], len(files) > limit or more), UpstreamReply(200, b""))

    @asynccontextmanager
    async def file_content(
        self, http: aiohttp.ClientSession, file_id: str, codings: Collection[str] = ()
    ) -> AsyncIterator[ContentStream]:
        base, view = split_view(file_id, RESULTS)
        if view is None:
            key = _file_key(file_id)
            async with self.store.open(http, key + ORIGINAL) as stream:
                if stream.error is None:
                    yield stream
                    return
            async with self.store.open(http, key) as stream:
                yield stream
            return
        reply, batch = await self._batch_of_results(http, base, file_id)
        if not reply.ok:
            yield ContentStream(reply.status, {}, _nothing(), error=reply)
            return
        url = URL(str(batch.get("results_url") or ""))
        if not url.is_absolute() or url.origin() != self.origin:
            # The key goes only to the account's own API.
            raise NotFound(f"The results of '{file_id}' are not available.", param="file_id")
        batch_id = base.removesuffix(RESULTS)
        names = await self._mapped_ids(http, batch_id)
        async with self.upstream.stream(http, URL(str(url), encoded=True)) as stream:
            if stream.error is not None:
                stream.error = self._error(stream.error)
            else:
                stream = output_rows(
                    stream,
                    map_lines(stream.chunks, self._output_line(view, batch_id, names, batch)),
                )
            yield stream

    async def _batch_of_results(
        self, http: aiohttp.ClientSession, base: str, file_id: str
    ) -> tuple[UpstreamReply, dict[str, Any]]:
        if not base.endswith(RESULTS):
            raise _no_file(file_id)
        try:
            return await self._own_batch(http, base.removesuffix(RESULTS))
        except NotFound:
            raise _no_file(file_id) from None

    async def _mapped_ids(self, http: aiohttp.ClientSession, batch_id: str) -> dict[str, str]:
        """The custom_ids a batch's upload mapped (sent -> the client's), from its record."""
        names: dict[str, str] = {}
        async with self.store.open(http, _batch_key(batch_id)) as stream:
            if stream.error is not None:
                return names

            def fn(number: int, line: bytes) -> None:
                if line.strip():
                    sent, original = msgspec.json.decode(line, type=tuple[str, str])
                    names[sent] = original

            async for _ in map_lines(stream.chunks, fn):
                pass
        return names

    def _output_line(
        self, view: str, batch_id: str, names: Mapping[str, str], batch: Mapping[str, Any]
    ) -> Any:  # jsonl.LineFn
        created = unix_seconds(batch.get("ended_at")) or 0

        def fn(number: int, line: bytes) -> bytes | None:
            row = result_row(line, lambda: {"result": {"type": "errored"}})
            if row is None:
                return None
            sent = str(row.get("custom_id") or f"line-{number}")
            custom_id = names.get(sent, sent)
            result = row.get("result") if isinstance(row.get("result"), dict) else {}
            assert isinstance(result, dict)
            kind = result.get("type")
            failed = kind != "succeeded" or not isinstance(result.get("message"), dict)
            if left_out(view, failed):
                return None
            out_id = "batch_req_" + digest(custom_id, batch_id, "out")
            request_id = "req_" + digest(custom_id, batch_id)
            if not failed:
                body = claude_completion(result["message"], self.model, custom_id, batch_id)
                body["created"] = created
                return output_row(out_id, custom_id, 200, request_id, body)
            if kind == "errored":
                envelope = result.get("error") if isinstance(result.get("error"), dict) else {}
                assert isinstance(envelope, dict)
                err = envelope.get("error") if isinstance(envelope.get("error"), dict) else {}
                assert isinstance(err, dict)
                error_type = str(err.get("type") or "api_error")
                return output_row(
                    out_id,
                    custom_id,
                    _ERROR_STATUS.get(error_type, 500),
                    str(envelope.get("request_id") or request_id),
                    error_body(str(err.get("message") or "the request failed"), error_type),
                )
            if kind == "canceled":
                return error_row(
                    out_id,
                    custom_id,
                    "batch_cancelled",
                    "The batch was cancelled before this request ran.",
                )
            return error_row(
                out_id,
                custom_id,
                "batch_expired",
                "This request could not be executed before the batch expired.",
            )

        return fn

    # -- batches ------------------------------------------------------------------------------
    async def _record(self, http: aiohttp.ClientSession, batch_id: str) -> StoreMeta:
        stored = await self.store.head(http, _batch_key(batch_id))
        if stored is None:
            raise _no_batch(batch_id)
        return stored.meta

    async def _own_batch(
        self, http: aiohttp.ClientSession, batch_id: str
    ) -> tuple[UpstreamReply, dict[str, Any]]:
        meta = await self._record(http, batch_id)
        reply = await self._call(http, "GET", batch_id)
        if not reply.ok:
            return reply, {}
        batch: dict[str, Any] = self.upstream.decode(_decode, reply.body)
        return reply, _with_record(batch, meta)

    def _batch(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        counts = batch.get("request_counts") or {}

        def count(name: str) -> int:
            value = counts.get(name) if isinstance(counts, dict) else 0
            return value if isinstance(value, int) else 0

        succeeded = count("succeeded")
        failed = count("errored") + count("canceled") + count("expired")
        total = succeeded + failed + count("processing")
        processing = batch.get("processing_status")
        if processing == "in_progress":
            status = "in_progress"
        elif processing == "canceling":
            status = "cancelling"
        elif batch.get("cancel_initiated_at"):
            status = "cancelled"
        elif count("expired"):
            status = "expired"
        else:
            status = "completed"
        batch_id = str(batch.get("id", ""))
        created = unix_seconds(batch.get("created_at")) or 0
        obj = batch_object(
            batch_id,
            CHAT_URL,
            self.model,
            str(batch.get("_input_file_id") or ""),
            status,
            created,
            {"total": total, "completed": succeeded, "failed": failed},
            batch.get("_metadata"),
        )
        obj["in_progress_at"] = created
        obj["errors"] = None
        batch_times(obj, batch, _TIMES, unix_seconds)
        if processing == "ended" and batch.get("results_url"):
            obj.update(result_file_ids(batch_id + RESULTS, succeeded, failed))
        return obj

    async def create_batch(
        self, http: aiohttp.ClientSession, body: Mapping[str, Any]
    ) -> UpstreamReply:
        if body.get("endpoint") != CHAT_URL:
            raise BadRequest(f"Anthropic accounts run only '{CHAT_URL}' batches.", param="endpoint")
        input_id = str(body["input_file_id"])
        key = _file_key(input_id)
        stored = await self.store.head(http, key)
        if stored is None:
            raise _no_file(input_id)
        if stored.meta.purpose != "batch":
            raise BadRequest(
                "The input file was not uploaded with purpose=batch.", param="input_file_id"
            )
        mapped: list[bytes] = []
        async with self.store.open(http, key) as stream:
            if stream.error is not None:
                return stream.error
            payload = aiohttp.payload.AsyncIterablePayload(
                _requests(stream.chunks, mapped), content_type="application/json"
            )
            reply = await self._call(http, "POST", data=payload)
        if not reply.ok:
            return reply
        batch: dict[str, Any] = self.upstream.decode(_decode, reply.body)
        batch_id = str(batch.get("id", ""))
        extra = {"input_file_id": input_id}
        tag = owner_tag_of(body)
        if tag is not None:
            # Kept on its own: the client's metadata may not fit the record.
            extra["owner"] = tag
        metadata = {k: v for k, v in (body.get("metadata") or {}).items() if k != OWNER_KEY}
        if metadata:
            # Message Batches keep no metadata: the record does, where it fits (S3 keeps 2 KB
            # of quoted metadata an object; what does not fit is not kept, see the docs).
            text = _json.encode(metadata).decode()
            if len(quote(text, safe="")) <= MAX_RECORD_METADATA:
                extra["metadata"] = text
        record = StoreMeta(input_id, "batch", "application/jsonl", extra=extra)
        try:
            await self.store.put(http, _batch_key(batch_id), _chunks(mapped), record)
        except StoreError:
            # Without its record the batch is nobody's: it is cancelled rather than left
            # running unseen (the client, told 502, may create it again).
            logger.warning(
                "account %s: the record of batch %s could not be stored; cancelling it",
                self.name,
                for_log(batch_id),
            )
            await self._call(http, "POST", batch_id, "cancel")
            raise
        return ok(self._batch(_with_record(batch, record)), reply)

    async def retrieve_batch(self, http: aiohttp.ClientSession, batch_id: str) -> UpstreamReply:
        return ok_from(await self._own_batch(http, batch_id), self._batch)

    async def cancel_batch(self, http: aiohttp.ClientSession, batch_id: str) -> UpstreamReply:
        meta = await self._record(http, batch_id)
        reply = await self._call(http, "POST", batch_id, "cancel")
        if not reply.ok:
            return reply
        batch: dict[str, Any] = self.upstream.decode(_decode, reply.body)
        return ok(self._batch(_with_record(batch, meta)), reply)

    async def list_batches(
        self, http: aiohttp.ClientSession, query: Mapping[str, str]
    ) -> UpstreamReply:
        """Anthropic pages newest first by ``after_id`` as OpenAI does by ``after``: the
        walk starts at the client's cursor and keeps the batches this namespace recorded."""
        limit = int(query.get("limit", "20"))
        after = query.get("after")
        found: list[dict[str, Any]] = []
        more = True
        reply = UpstreamReply(200, b"")
        while more and len(found) <= limit:
            params = {"limit": PAGE_LIMIT} | ({"after_id": after} if after else {})
            reply = await self._call(http, "GET", params=params)
            if not reply.ok:
                return reply
            page = self.upstream.decode(_decode, reply.body)
            items = [b for b in page.get("data") or [] if isinstance(b, dict)]
            for batch in items:
                after = str(batch.get("id", ""))
                stored = await self.store.head(http, _batch_key(after))
                if stored is not None:
                    found.append(self._batch(_with_record(batch, stored.meta)))
            more = bool(page.get("has_more")) and bool(items)
        return ok(list_page(found[:limit], len(found) > limit or more), reply)


def _short_name(filename: str) -> str:
    """The filename, cut so that it fits a store's metadata even URL-quoted (S3 keeps 2 KB of
    metadata an object; the store quotes each value)."""
    name = filename[:MAX_FILENAME]
    while len(quote(name, safe="")) > MAX_FILENAME:
        name = name[: len(name) * 3 // 4]
    return name


def _with_record(batch: dict[str, Any], record: StoreMeta) -> dict[str, Any]:
    """An Anthropic batch with what its record keeps (input file, metadata)."""
    batch["_input_file_id"] = record.extra.get("input_file_id", "")
    try:
        metadata = _decode.decode(record.extra.get("metadata", "null"))
    except (msgspec.DecodeError, msgspec.ValidationError):
        metadata = None
    owner = owner_metadata(record.extra.get("owner"))
    if owner is not None:
        metadata = {**(metadata if isinstance(metadata, dict) else {}), **owner}
    batch["_metadata"] = metadata or None
    return batch


async def _requests(chunks: AsyncIterator[bytes], mapped: list[bytes]) -> AsyncIterator[bytes]:
    """``{"requests": [...]}`` from the stored rows, a row at a time; the custom_ids the
    upload mapped are taken out of the rows and kept in ``mapped`` (the batch's record)."""
    yield b'{"requests":['
    first = True

    def fn(number: int, line: bytes) -> bytes | None:
        nonlocal first
        if not line.strip():
            return None
        row = _object.decode(line)
        original = row.pop("openai_custom_id", None)
        if original is not None:
            mapped.append(_json.encode([_decode_str(row["custom_id"]), _decode_str(original)]))
        out = (b"" if first else b",") + _json.encode(row)
        first = False
        return out

    async for block in map_lines(chunks, fn):
        # map_lines ends each kept line with a newline: JSON whitespace between elements.
        yield block
    yield b"]}"


def _decode_str(raw: msgspec.Raw) -> str:
    return str(msgspec.json.decode(raw))


async def _chunks(lines: list[bytes]) -> AsyncIterator[bytes]:
    for line in lines:
        yield line + b"\n"


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


def _build(setup: AccountSetup[AnthropicParams]) -> Provider:
    if not setup.model:
        raise ProviderError("an anthropic account needs model: anthropic/<model>")
    store = account_store(setup)
    if store is None:
        raise ProviderError(
            "an anthropic account needs litellm_params.file_store (file:///dir, "
            "s3://bucket/prefix or gs://bucket/prefix): Anthropic keeps no batch input files"
        )
    return AnthropicProvider(setup, store)


SPEC = ProviderSpec(
    name="anthropic",
    prefixes=("anthropic",),
    params=AnthropicParams,
    factory=_build,
    route_fields=("model", "api_base", "file_store"),
    env={"api_key": "ANTHROPIC_API_KEY", "api_base": "ANTHROPIC_API_BASE", **FILE_STORE_ENV},
)
