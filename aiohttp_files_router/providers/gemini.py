"""Gemini Developer API accounts (``model: gemini/<model>``): the Files API and batch mode.

- Upload (``purpose=batch`` only): OpenAI rows become ``{"key": <custom_id>, "request":
  <GenerateContentRequest>}`` rows while they stream (genai_rows); the key comes back in the
  output. The resumable protocol must declare the total size at ``start``
  (``X-Goog-Upload-Header-Content-Length``: every example in ai.google.dev/api/files sends
  it and google-genai measures the file first), which a transformed stream does not know: it
  is spooled to an unlinked temp file, then sent from disk a chunk at a time, each chunk but
  the last a multiple of the server's granularity (8 MiB, the SDK's ``CHUNK_SIZE``).
- A batch's responses file (``files/batch-<batch id>``, source GENERATED) is served as
  OpenAI batch output rows; ``output_file_id`` and ``error_file_id`` are two views of it (its
  ID with ``#succeeded`` or ``#failed``). Gemini does not serve uploaded files back: with a
  ``file_store`` (providers/filestore.py) the client's bytes go there at the same time as
  the rows go to the spool, under the Gemini file name the router picks (``files/<id>``),
  and retrieve (``bytes``), content and delete use them; without one, content is a 400.
- Batches: ``models/<model>:batchGenerateContent`` with the uploaded file as input; every
  answer is a long-running Operation whose ``metadata`` is the batch.
- Isolation: deployments sharing one API key share one Gemini project. Every file and batch
  the router creates has a displayName starting with the deployment's route (quoted) and a
  ``/``; objects without it are another deployment's (or nobody's) and answer 404. A
  responses file belongs to the deployment whose batch wrote it.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import re
import secrets as random
import tempfile
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from typing import IO, Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from ..errors import BadRequest, NotFound, RouterError, UpstreamUnavailable, for_log
from ..fanout import tee
from ..jsoncodec import ENCODER as _json
from ..jsoncodec import OBJECT as _decode
from ..ownership import file_tag_of, tagged_filename
from ..upstream import ContentStream, StaticAuth, Upstream, UpstreamReply
from .base import AccountSetup, BatchRules, FileUpload, Provider, ProviderError, ProviderSpec
from .calls import in_turn, undone_unless_ok
from .chat_rows import CHAT_URL, EMBEDDINGS_URL, check_endpoint
from .filestore import FILE_STORE_ENV, FileStore, FileStoreParams, StoreMeta, account_store
from .gemini_rows import gemini_to_openai_line, openai_to_gemini_line
from .genai_rows import (
    RowError,
)
from .isotime import unix_seconds
from .jsonl import map_lines
from .owner_tags import owner_metadata, owner_tag_of
from .paging import Page, list_after
from .result_views import lost_ids_warning, output_rows, result_file_ids, split_view
from .shapes import batch_errors, batch_object, batch_times, ok, ok_from

__all__ = ["SPEC", "GeminiParams", "GeminiProvider"]

logger = logging.getLogger(__package__)

DEFAULT_API_BASE = "https://generativelanguage.googleapis.com"
API = "v1beta"
# google-genai's CHUNK_SIZE; the server names its granularity in the start answer.
CHUNK_BYTES = 8 * 1024 * 1024
MAX_CHUNK_BYTES = 64 * 1024 * 1024
PAGE_SIZE = "100"  # the most a Files / Batch API page holds
# Gemini names files and batches with lowercase letters, digits and dashes.
_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
# The upload's MIME types, in order: Google's REST example's for .jsonl, then plain text.
UPLOAD_MIME_TYPES = ("application/jsonl", "text/plain")
_STATES = {
    "BATCH_STATE_PENDING": "validating",
    "BATCH_STATE_RUNNING": "in_progress",
    "BATCH_STATE_SUCCEEDED": "completed",
    "BATCH_STATE_FAILED": "failed",
    "BATCH_STATE_CANCELLED": "cancelled",
    "BATCH_STATE_EXPIRED": "expired",
}
_FILE_STATES = {"ACTIVE": "processed", "PROCESSING": "uploaded", "FAILED": "error"}
# The File resource's displayName holds at most 512 characters (ai.google.dev/api/files).
MAX_DISPLAY_NAME = 512


def _view(file_id: str) -> tuple[str, str | None]:
    """A file ID as (Gemini's file ID, the view of a responses file or None)."""
    return split_view(file_id)


def _page_params(token: str | None) -> dict[str, str]:
    return {"pageSize": PAGE_SIZE} | ({"pageToken": token} if token else {})


def _batch_id(batch: Mapping[str, Any]) -> str:
    """A batch's ID as the client sees it."""
    return str(batch.get("name", "")).removeprefix("batches/")


def _no_file(file_id: str) -> NotFound:
    return NotFound(f"No such File object: '{file_id}'.", param="file_id")


def _no_batch(batch_id: str) -> NotFound:
    return NotFound(f"No such batch: '{batch_id}'.", param="batch_id")


def _missing(reply: UpstreamReply) -> bool:
    """Gemini answers a missing (or another project's) file with 403 "may not exist"."""
    return reply.status == 404 or (reply.status == 403 and b"may not exist" in reply.body)


def _count(stats: Mapping[str, Any], name: str) -> int:
    # int64 fields are JSON strings, and zeros are left out (proto3 JSON mapping).
    try:
        return int(stats.get(name) or 0)
    except (TypeError, ValueError):
        return 0


class GeminiParams(FileStoreParams, kw_only=True, frozen=True):
    """``litellm_params`` of a Gemini Developer API deployment (``model: gemini/<model>``);
    ``file_store`` and its credentials (FileStoreParams) keep uploads to serve them back."""

    secret_fields = frozenset({"api_key"}) | FileStoreParams.secret_fields

    api_key: str | None = None  # sent as x-goog-api-key; GEMINI_API_KEY is the fallback
    api_base: str | None = None  # https://generativelanguage.googleapis.com (a fake's, in tests)


class GeminiProvider(Provider):
    # Rows become GenerateContent requests for the deployment's model: only chat completions
    # map, and rows need no body.model. Batch mode takes input files up to 2 GB
    # (ai.google.dev/gemini-api/docs/batch-mode); it documents no request count, so the
    # router's default bound on lines stays.
    # Chat rows for a generating model, embedding rows for an embedding model (_row says which).
    batch_rules = BatchRules(
        frozenset((CHAT_URL, EMBEDDINGS_URL)), max_bytes=2 * 1024**3, needs_model=False
    )
    # Owner tags: an upload's filename is kept in the File's displayName after the
    # deployment's prefix (at most 512 characters, MAX_DISPLAY_NAME: the tag is 37 and leads
    # the filename, so a cut keeps it); a batch's tag leads its displayName after the prefix
    # too (GenerateContentBatch has no labels or metadata). Responses files Gemini names
    # itself carry none.
    keeps_owner_tags = True
    # The Gemini API documents no header for a caller's request ID.

    def __init__(self, setup: AccountSetup[GeminiParams]):
        params = setup.params
        self.name = setup.name
        self.model = setup.model.removeprefix("models/")
        if not self.model or not _ID.fullmatch(self.model.replace(".", "-")):
            raise ProviderError("a gemini account needs model: gemini/<model>")
        if not params.api_key:
            raise ProviderError("a gemini account needs api_key (or GEMINI_API_KEY)")
        # An embedding model (gemini-embedding-001, ...) runs batch embeddings
        # (asyncBatchEmbedContent), every other model generateContent batches.
        self.embed = "embedding" in self.model
        self.endpoint = EMBEDDINGS_URL if self.embed else CHAT_URL
        base = (params.api_base or DEFAULT_API_BASE).rstrip("/")
        for suffix in ("/v1beta", "/v1"):
            base = base.removesuffix(suffix)
        # Gemini documents no request-ID header either way (as Vertex).
        self.upstream = Upstream(
            setup.called(),
            base,
            setup.timeout,
            auth=StaticAuth({"x-goog-api-key": params.api_key}, (params.api_key,)),
            retries=params.retries,
            wire=setup.wire,
        )
        origin = URL(base)
        self.origin = (origin.scheme, origin.host, origin.port)
        # One key is one Google Cloud project: its files and batches are one store.
        key_digest = hashlib.sha256(params.api_key.encode()).hexdigest()[:8]
        self.shared_store = f"{base}, the same API key (sha256 {key_digest}...)"
        # Quoted whole, so one route is never a prefix of another's namespace.
        self.prefix = quote(setup.route or setup.name, safe="") + "/"
        self.store: FileStore | None = account_store(setup)

    async def close(self) -> None:
        if self.store is not None:
            await self.store.close()

    def _url(self, *segments: str, action: str = "") -> URL:
        """``base/v1beta/seg/...``; ``action`` (``:cancel``) kept as the API spells it."""
        url = self.upstream.url(API, *segments)
        return URL(str(url) + action, encoded=True) if action else url

    def _json_headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json"}

    # -- files ------------------------------------------------------------------------------
    def _file_object(self, file: Mapping[str, Any], file_id: str | None = None) -> dict[str, Any]:
        gemini_id = str(file.get("name", "")).removeprefix("files/")
        generated = file.get("source") == "GENERATED"
        display = str(file.get("displayName") or "")
        return {
            "id": file_id or gemini_id,
            "object": "file",
            "bytes": _count(file, "sizeBytes"),
            "created_at": unix_seconds(file.get("createTime")) or 0,
            "expires_at": unix_seconds(file.get("expirationTime")),
            "filename": (f"{gemini_id}.jsonl" if generated else display.removeprefix(self.prefix)),
            "purpose": "batch_output" if generated else "batch",
            "status": _FILE_STATES.get(str(file.get("state")), "processed"),
            "status_details": None,
        }

    def _gemini_id(self, file_id: str) -> tuple[str, str | None]:
        gemini_id, view = _view(file_id)
        if not _ID.fullmatch(gemini_id):
            raise _no_file(file_id)
        return gemini_id, view

    async def _own_file(
        self, http: aiohttp.ClientSession, file_id: str
    ) -> tuple[UpstreamReply, dict[str, Any]]:
        """The File resource, if this deployment made it; anything else is a 404."""
        gemini_id, view = self._gemini_id(file_id)
        reply = await self.upstream.json(http, "GET", self._url("files", gemini_id))
        if _missing(reply):
            raise _no_file(file_id)
        if not reply.ok:
            return reply, {}
        file = self.upstream.decode(_decode, reply.body)
        generated = file.get("source") == "GENERATED"
        if view is not None and not generated:
            raise _no_file(file_id)
        if generated:
            owned = await self._owns_responses(http, gemini_id)
        else:
            owned = str(file.get("displayName") or "").startswith(self.prefix)
        if not owned:
            raise _no_file(file_id)
        return reply, file

    async def _owns_responses(self, http: aiohttp.ClientSession, gemini_id: str) -> bool:
        """Whether a generated file is the responses file of one of this deployment's
        batches (Gemini names it ``files/batch-<batch id>``)."""
        batch_id = gemini_id.removeprefix("batch-")
        if batch_id == gemini_id or not _ID.fullmatch(batch_id):
            return False
        reply = await self.upstream.json(http, "GET", self._url("batches", batch_id))
        if not reply.ok:
            return False
        batch = self._metadata(self.upstream.decode(_decode, reply.body))
        return self._owned(batch) and self._responses(batch) == f"files/{gemini_id}"

    async def create_file(self, http: aiohttp.ClientSession, upload: FileUpload) -> UpstreamReply:
        if upload.purpose != "batch":
            raise BadRequest(
                "Gemini accounts take only purpose=batch uploads (the Gemini API keeps no "
                "purpose, and its batch mode reads only its own row format).",
                param="purpose",
            )
        fd, path = tempfile.mkstemp(prefix="files-router-", dir=upload.spool_dir)
        spool = os.fdopen(fd, "w+b")
        os.unlink(path)  # gone from the directory now; the space is freed on close

        async def rows(chunks: AsyncIterator[bytes]) -> int:
            size = 0
            async for chunk in upload.guard(map_lines(chunks, self._row)):
                await asyncio.to_thread(spool.write, chunk)
                size += len(chunk)
            await asyncio.to_thread(spool.seek, 0)
            return size

        try:
            if self.store is None:
                return await self._upload(http, upload.filename, spool, await rows(upload.chunks))
            store = self.store
            # Gemini takes the file name a client picks (ai.google.dev/api/files, File.name):
            # the stored original goes under it before Gemini has the file.
            gemini_id = "fr-" + random.token_hex(16)
            meta = StoreMeta(upload.filename, upload.purpose, upload.content_type)

            async def original(chunks: AsyncIterator[bytes]) -> int:
                return await store.put(http, _stored_key(gemini_id), upload.guard(chunks), meta)

            async def undo(index: int) -> None:
                if index == 1:
                    await self._forget(http, gemini_id)

            sizes = await tee(upload.chunks, [rows, original], lambda _: True, undo)
            assert isinstance(sizes, list)
            reply = await undone_unless_ok(
                self._upload(http, upload.filename, spool, sizes[0], gemini_id),
                lambda: self._forget(http, gemini_id),
            )
            if not reply.ok:
                return reply
            obj = self.upstream.decode(_decode, reply.body)
            return ok({**obj, "bytes": sizes[1]}, reply)
        finally:
            spool.close()

    async def _forget(self, http: aiohttp.ClientSession, gemini_id: str) -> None:
        """Remove a stored original, best effort (a clean-up after a failure)."""
        if self.store is not None:
            try:
                await self.store.delete(http, _stored_key(gemini_id))
            except RouterError as err:
                logger.warning(
                    "account %s: the stored copy of %s remains: %s",
                    self.name,
                    gemini_id,
                    for_log(err.message),
                )

    async def _stored_size(
        self, http: aiohttp.ClientSession, file: Mapping[str, Any]
    ) -> int | None:
        """The size the client uploaded, where the store holds the file's original."""
        if self.store is None or file.get("source") == "GENERATED":
            return None
        gemini_id = str(file.get("name", "")).removeprefix("files/")
        stored = await self.store.head(http, _stored_key(gemini_id))
        return stored.size if stored is not None else None

    def _row(self, number: int, line: bytes) -> bytes:
        return openai_to_gemini_line(number, line, self.model, self.embed, self._check_file_refs)

    def _check_file_refs(self, request: Mapping[str, Any]) -> None:
        """Gemini reads a ``fileData`` URI of its own Files API with the account's key: a row
        could name another deployment's file through it. Only public URLs may be named."""
        base = self.upstream.base.lower()
        for content in request.get("contents") or []:
            for part in content.get("parts") or []:
                uri = (part.get("fileData") or {}).get("fileUri")
                if not isinstance(uri, str):
                    continue
                low = uri.strip().lower()
                if low.startswith(base) or not low.startswith(("https://", "http://")):
                    raise RowError(
                        f"it names {uri[:200]!r}; rows may name only public http(s) URLs, "
                        "not files of the account's Gemini project"
                    )

    def _same_origin(self, url: str) -> bool:
        parsed = URL(url)
        return (parsed.scheme, parsed.host, parsed.port) == self.origin

    async def _upload(
        self,
        http: aiohttp.ClientSession,
        filename: str,
        spool: IO[bytes],
        size: int,
        gemini_id: str | None = None,
    ) -> UpstreamReply:
        display = (self.prefix + filename)[:MAX_DISPLAY_NAME]
        # What Google's REST example for batch mode sends for a .jsonl file: the type in
        # X-Goog-Upload-Header-Content-Type, the display name alone in the body. Users of the
        # live service see that type refused now and then ("Unsupported MIME type",
        # googleapis/python-genai 1547, google-gemini/cookbook 1008): a refused start made
        # nothing, so it is asked once more with another type Gemini accepts for text.
        resource = {"displayName": display}
        if gemini_id is not None:
            resource["name"] = f"files/{gemini_id}"
        for mime in UPLOAD_MIME_TYPES:
            start = {
                "X-Goog-Upload-Protocol": "resumable",
                "X-Goog-Upload-Command": "start",
                "X-Goog-Upload-Header-Content-Length": str(size),
                "X-Goog-Upload-Header-Content-Type": mime,
                **self._json_headers(),
            }
            body = _json.encode({"file": resource})
            async with self.upstream.exchange(
                http, "POST", self.upstream.url("upload", API, "files"), headers=start, data=body
            ) as resp:
                reply = await self.upstream.read(resp)
                session = resp.headers.get("X-Goog-Upload-URL")
                granularity = resp.headers.get("X-Goog-Upload-Chunk-Granularity", "")
            if not (reply.status == 400 and b"Unsupported MIME type" in reply.body):
                break
        if not reply.ok:
            return reply
        if not session or not self._same_origin(session):
            # The key goes with every chunk: never to another host.
            raise UpstreamUnavailable(
                f"The upstream account for '{self.name}' answered the upload's start "
                "without a usable X-Goog-Upload-URL."
            )
        step = int(granularity) if granularity.isdigit() and int(granularity) > 0 else 0
        chunk_size = CHUNK_BYTES
        if step and step <= MAX_CHUNK_BYTES:
            chunk_size = max(step, CHUNK_BYTES // step * step)
        offset = 0
        while True:
            data = await asyncio.to_thread(spool.read, chunk_size)
            last = offset + len(data) >= size
            headers = {
                "X-Goog-Upload-Command": "upload, finalize" if last else "upload",
                "X-Goog-Upload-Offset": str(offset),
            }
            # A BytesIO body: aiohttp writes it without holding up the loop, with its length.
            async with self.upstream.exchange(
                http, "POST", URL(session, encoded=True), headers=headers, data=io.BytesIO(data)
            ) as resp:
                reply = await self.upstream.read(resp)
            if not reply.ok or last:
                break
            offset += len(data)
        if not reply.ok:
            await self._cancel_upload(http, session)
            return reply
        answer = self.upstream.decode(_decode, reply.body)
        file = answer.get("file")
        if not isinstance(file, dict):
            raise UpstreamUnavailable(
                f"The upstream account for '{self.name}' answered the upload without a file."
            )
        return ok(self._file_object(file), reply)

    async def _cancel_upload(self, http: aiohttp.ClientSession, session: str) -> None:
        """Ends a refused upload's session, so Gemini keeps no partial file; best effort."""
        try:
            async with self.upstream.exchange(
                http,
                "POST",
                URL(session, encoded=True),
                headers={"X-Goog-Upload-Command": "cancel"},
            ):
                pass
        except RouterError:
            pass  # the refusal being answered matters more than this clean-up

    async def retrieve_file(self, http: aiohttp.ClientSession, file_id: str) -> UpstreamReply:
        reply, file = await self._own_file(http, file_id)
        if not reply.ok:
            return reply
        # A view's size is its file's: counting its rows would mean reading them all.
        obj = self._file_object(file, file_id)
        size = await self._stored_size(http, file)
        return ok(obj if size is None else {**obj, "bytes": size}, reply)

    async def delete_file(self, http: aiohttp.ClientSession, file_id: str) -> UpstreamReply:
        # Deleting a view deletes the responses file both views read.
        owned, _ = await self._own_file(http, file_id)
        if not owned.ok:
            return owned
        gemini_id, _ = self._gemini_id(file_id)
        if self.store is not None:
            # First, so that a failure leaves the file, and a retry finds the rest.
            await self.store.delete(http, _stored_key(gemini_id))
        reply = await self.upstream.json(http, "DELETE", self._url("files", gemini_id))
        if _missing(reply):
            raise _no_file(file_id)
        if not reply.ok:
            return reply
        return ok({"id": file_id, "object": "file", "deleted": True}, reply)

    async def _responses_files(self, http: aiohttp.ClientSession) -> set[str] | UpstreamReply:
        """The responses files of this deployment's batches (walks the batch listing)."""
        found: set[str] = set()
        token: str | None = None
        while True:
            page = await self._batches_page(http, token)
            if not page.reply.ok:
                return page.reply
            found.update(name for batch in page.items if (name := self._responses(batch)))
            token = page.token
            if not token:
                return found

    async def list_files(
        self, http: aiohttp.ClientSession, query: Mapping[str, str]
    ) -> UpstreamReply:
        """Gemini pages by token (newest first); OpenAI by the last ID seen (paging). Only
        this deployment's files are listed."""
        after = query.get("after")
        purpose = query.get("purpose")
        responses: set[str] | None = None

        async def page(token: str | None) -> Page[dict[str, Any]]:
            nonlocal responses
            reply = await self.upstream.json(
                http, "GET", self._url("files"), params=_page_params(token)
            )
            if not reply.ok:
                return Page(reply)
            found = self.upstream.decode(_decode, reply.body)
            files = []
            resources: list[dict[str, Any]] = []
            for file in found.get("files") or []:
                if file.get("source") == "GENERATED":
                    if responses is None:
                        walked = await self._responses_files(http)
                        if isinstance(walked, UpstreamReply):
                            return Page(walked)
                        responses = walked
                    if str(file.get("name", "")) not in responses:
                        continue
                elif not str(file.get("displayName") or "").startswith(self.prefix):
                    continue
                files.append(self._file_object(file))
                resources.append(file)
            if self.store is not None:
                sizes = await asyncio.gather(*(self._stored_size(http, f) for f in resources))
                files = [
                    obj if size is None else {**obj, "bytes": size}
                    for obj, size in zip(files, sizes, strict=True)
                ]
            return Page(reply, files, found.get("nextPageToken"))

        listing = await list_after(
            page,
            after=_view(after)[0] if after else None,
            limit=int(query.get("limit", "10000")),
            id_of=lambda file: str(file["id"]),
            keep=lambda file: purpose is None or file["purpose"] == purpose,
        )
        return listing.answer(listing.data)

    @asynccontextmanager
    async def file_content(
        self, http: aiohttp.ClientSession, file_id: str, codings: Collection[str] = ()
    ) -> AsyncIterator[ContentStream]:
        reply, file = await self._own_file(http, file_id)
        if not reply.ok:
            yield ContentStream(reply.status, reply.headers, _nothing(), error=reply)
            return
        if file.get("source") != "GENERATED":
            gemini_id, _ = self._gemini_id(file_id)
            if self.store is not None:
                async with self.store.open(http, _stored_key(gemini_id)) as stored:
                    if stored.error is None:
                        yield stored
                        return
            raise BadRequest(
                "Gemini does not serve uploaded files back: only a batch's output and error "
                "files have content, unless the deployment has a file_store "
                + ("(this file is not in it)." if self.store else "(this one has none)."),
                param="file_id",
                code="content_not_available",
            )
        gemini_id, view = self._gemini_id(file_id)
        url = URL(
            f"{self.upstream.base}/download/{API}/files/{quote(gemini_id, safe='')}:download",
            encoded=True,
        )
        created = unix_seconds(file.get("createTime")) or 0
        async with self.upstream.stream(http, url, params={"alt": "media"}) as stream:
            if stream.error is None:
                stream = output_rows(
                    stream, map_lines(stream.chunks, self._output_line(view, created, file_id))
                )
            yield stream

    def _output_line(self, view: str | None, created: int, file_id: str) -> Any:  # jsonl.LineFn
        unmatched = lost_ids_warning(
            "account %s: line %d of %s carries no key; such rows are named line-N",
            self.upstream.deployment,
            file_id,
        )
        # The responses file is one per batch (files/batch-<batch id>).
        output = _view(file_id)[0]
        return gemini_to_openai_line(self.model, self.embed, view, created, output, unmatched)

    # -- batches ----------------------------------------------------------------------------
    @staticmethod
    def _metadata(op: dict[str, Any]) -> dict[str, Any]:
        """The batch inside an Operation (or the batch itself, where one is answered)."""
        meta = op.get("metadata")
        batch = dict(meta) if isinstance(meta, dict) else dict(op)
        batch.setdefault("name", op.get("name"))
        response = op.get("response")
        if isinstance(response, dict) and response.get("responsesFile"):
            # Where Google's REST example reads it; metadata.output is where google-genai does.
            batch["_responsesFile"] = response["responsesFile"]
        if isinstance(op.get("error"), dict):
            batch["_error"] = op["error"]
        return batch

    def _owned(self, batch: Mapping[str, Any]) -> bool:
        return str(batch.get("displayName") or "").startswith(self.prefix)

    @staticmethod
    def _responses(batch: Mapping[str, Any]) -> str | None:
        output = batch.get("output")
        name = output.get("responsesFile") if isinstance(output, dict) else None
        if not (isinstance(name, str) and name):
            name = batch.get("_responsesFile")
        return name if isinstance(name, str) and name else None

    def _batch(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        status = _STATES.get(str(batch.get("state")), "validating")
        stats = batch.get("batchStats") or {}
        done = _count(stats, "successfulRequestCount")
        failed = _count(stats, "failedRequestCount")
        total = max(_count(stats, "requestCount"), done + failed)
        obj = batch_object(
            _batch_id(batch),
            self.endpoint,
            str(batch.get("model") or self.model).removeprefix("models/"),
            str((batch.get("inputConfig") or {}).get("fileName") or "").removeprefix("files/"),
            status,
            unix_seconds(batch.get("createTime")) or 0,
            {"total": total, "completed": done, "failed": failed},
            owner_metadata(
                file_tag_of(str(batch.get("displayName") or "").removeprefix(self.prefix))
            ),
        )
        responses = self._responses(batch)
        if status == "completed" and not responses:
            # Succeeded before its responses file is named (seen by clients of the live
            # service, tidyverse/ellmer PR 926): not done for a client until it can read it.
            status = obj["status"] = "finalizing"
        batch_times(obj, batch, {"ended": "endTime"}, unix_seconds)
        if responses and status in ("completed", "cancelled", "failed", "expired"):
            obj.update(result_file_ids(responses.removeprefix("files/"), done, failed))
        error = batch.get("_error")
        if status == "failed" and isinstance(error, dict) and error.get("message"):
            obj["errors"] = batch_errors(str(error.get("code", "")), str(error["message"]))
        return obj

    def _batch_id(self, batch_id: str) -> str:
        if not _ID.fullmatch(batch_id):
            raise _no_batch(batch_id)
        return batch_id

    async def _own_batch(
        self, http: aiohttp.ClientSession, batch_id: str
    ) -> tuple[UpstreamReply, dict[str, Any]]:
        """The batch, if this deployment created it; anything else is a 404."""
        reply = await self.upstream.json(
            http, "GET", self._url("batches", self._batch_id(batch_id))
        )
        if _missing(reply):
            raise _no_batch(batch_id)
        if not reply.ok:
            return reply, {}
        batch = self._metadata(self.upstream.decode(_decode, reply.body))
        if not self._owned(batch):
            raise _no_batch(batch_id)
        return reply, batch

    async def create_batch(
        self, http: aiohttp.ClientSession, body: Mapping[str, Any]
    ) -> UpstreamReply:
        check_endpoint(body, self.endpoint, "This Gemini account's model")
        input_id = str(body.get("input_file_id") or "")
        try:
            owned, file = await self._own_file(http, input_id)
        except NotFound:
            raise NotFound(f"No such File object: '{input_id}'.", param="input_file_id") from None
        if not owned.ok:
            return owned
        if file.get("source") == "GENERATED" or _view(input_id)[1] is not None:
            raise BadRequest(
                "input_file_id must be a file uploaded with purpose=batch.",
                param="input_file_id",
            )
        tag = owner_tag_of(body)
        owner = "" if tag is None else tagged_filename("", tag)
        job = {
            "batch": {
                "displayName": f"{self.prefix}{owner}batch-{random.token_hex(6)}",
                "inputConfig": {"fileName": f"files/{input_id}"},
            }
        }
        method = "asyncBatchEmbedContent" if self.embed else "batchGenerateContent"
        url = self._url("models", action=f"/{quote(self.model, safe='')}:{method}")
        reply = await self.upstream.json(
            http, "POST", url, data=_json.encode(job), headers=self._json_headers()
        )
        if not reply.ok:
            return reply
        return ok(self._batch(self._metadata(self.upstream.decode(_decode, reply.body))), reply)

    async def retrieve_batch(self, http: aiohttp.ClientSession, batch_id: str) -> UpstreamReply:
        return ok_from(await self._own_batch(http, batch_id), self._batch)

    async def cancel_batch(self, http: aiohttp.ClientSession, batch_id: str) -> UpstreamReply:
        owned, _ = await self._own_batch(http, batch_id)
        return await in_turn(
            owned,
            lambda: self.upstream.json(
                http,
                "POST",
                self._url("batches", batch_id, action=":cancel"),
                data=b"{}",
                headers=self._json_headers(),
            ),
            lambda: self.retrieve_batch(http, batch_id),
        )

    async def list_batches(
        self, http: aiohttp.ClientSession, query: Mapping[str, str]
    ) -> UpstreamReply:
        """Gemini pages by token; OpenAI by the last ID seen (paging)."""
        listing = await list_after(
            lambda token: self._batches_page(http, token),
            after=query.get("after"),
            limit=int(query.get("limit", "20")),
            id_of=_batch_id,
        )
        return listing.answer([self._batch(batch) for batch in listing.data])

    async def _batches_page(
        self, http: aiohttp.ClientSession, token: str | None
    ) -> Page[dict[str, Any]]:
        """One page of the batch listing: this deployment's batches on it."""
        reply = await self.upstream.json(
            http, "GET", self._url("batches"), params=_page_params(token)
        )
        if not reply.ok:
            return Page(reply)
        found = self.upstream.decode(_decode, reply.body)
        batches = [
            batch
            for batch in map(self._metadata, found.get("operations") or found.get("batches") or [])
            if self._owned(batch)
        ]
        return Page(reply, batches, found.get("nextPageToken"))


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


def _stored_key(gemini_id: str) -> str:
    return f"files/{gemini_id}"


SPEC = ProviderSpec(
    name="gemini",
    prefixes=("gemini",),
    params=GeminiParams,
    factory=GeminiProvider,
    route_fields=("model", "api_base"),
    env={"api_key": "GEMINI_API_KEY", **FILE_STORE_ENV},
)
