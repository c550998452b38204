"""The Gemini Developer API flavour of the fake: the Files API and the Batch API (batch mode).

Built from Google's documentation (ai.google.dev/api/files, ai.google.dev/api/batch-api,
ai.google.dev/gemini-api/docs/batch-api, ai.google.dev/api/generate-content) and the
official ``google-genai`` SDK (``google/genai/files.py``, ``batches.py``, ``_api_client.py``,
``_extra_utils.py``, ``_transformers.py``), never from our adapter. Where the sources are
silent the fake takes the least helpful reading, and the comment says so.

- Auth: ``x-goog-api-key`` header or ``?key=``; each key opens one account, which sees only
  its own files and batches.
- Files: the resumable upload protocol on ``/upload/v1beta/files``, streamed to disk;
  ``GET/DELETE /v1beta/files/{id}``, ``GET /v1beta/files`` (pageSize, pageToken), and
  ``GET /v1beta/files/{id}:download?alt=media`` for generated files only.
- Batches: ``POST /v1beta/models/{model}:batchGenerateContent`` with an uploaded JSONL file,
  ``GET /v1beta/batches[/{id}]``, ``POST /v1beta/batches/{id}:cancel``,
  ``DELETE /v1beta/batches/{id}``; every answer is a long-running ``Operation``. A batch runs
  on the fake's clock (``phase_seconds`` pending, as many running) and writes a responses
  file (``files/batch-...``, source ``GENERATED``).

**The upload must declare its total size at ``start``.** Every upload example in the Files
API documentation sends ``X-Goog-Upload-Header-Content-Length`` with the start command, and
the SDK always does (``_extra_utils.prepare_resumable_upload`` measures the file first; its
``upload_file`` docstring: the size "will have to match the size requested in the resumable
upload request"). No source says it may be left out, so this fake refuses a start without it
(400) and refuses a finalize whose byte count differs from it. An adapter that transforms a
stream (and so does not know the size in advance) must spool to disk first. Upload chunks
other than the last must be multiples of ``X-Goog-Upload-Chunk-Granularity`` (8 MiB by
default, the SDK's ``CHUNK_SIZE``) and carry a ``Content-Length``, as every example does.

Paths are served under ``/v1beta`` (the documentation's) and ``/v1`` (the SDK's default
version, ``_api_client.GOOGLE_AI_API_DEFAULT_VERSION``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import string
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Unpack

from aiohttp import web
from aiohttp.typedefs import Handler

from .base import (
    Answer,
    KeyedService,
    RecordedRequest,
    ServiceOptions,
    check_rows,
    content_response,
    keyed_flavour,
)
from .store import JobRun, Workspace

__all__ = ["FakeGemini"]

API = "/v1beta"
# ai.google.dev/gemini-api/docs/files: files are stored for 48 hours, 2 GB each.
FILE_SECONDS = 48 * 3600
MAX_FILE_BYTES = 2 * 1024**3
# ai.google.dev/gemini-api/docs/batch-api: a job still pending or running after 48 hours
# expires (BATCH_STATE_EXPIRED).
BATCH_SECONDS = 48 * 3600
CHUNK_GRANULARITY = 8 * 1024 * 1024  # google/genai/_api_client.py CHUNK_SIZE
BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
TERMINAL = (
    "BATCH_STATE_SUCCEEDED",
    "BATCH_STATE_FAILED",
    "BATCH_STATE_CANCELLED",
    "BATCH_STATE_EXPIRED",
)


# GenerateContentRequest's fields (ai.google.dev/api/generate-content#request-body). The
# protobuf JSON mapping accepts the lowerCamelCase and the proto (snake_case) names and
# rejects any other ("Invalid JSON payload received. Unknown name ...").
def _both(*camel: str) -> frozenset[str]:
    """Each lowerCamelCase field name and its proto (snake_case) name."""
    snake = (re.sub(r"[A-Z]", lambda m: "_" + m.group().lower(), name) for name in camel)
    return frozenset(camel) | frozenset(snake)


# The embedding models batch embeddings take (ai.google.dev/gemini-api/docs/embeddings).
EMBEDDING_MODELS = ("gemini-embedding-001",)
EMBED_FIELDS = frozenset(
    ("model", "content", "taskType", "task_type", "title", "outputDimensionality",
     "output_dimensionality")
)  # fmt: skip


def _invalid_embed(request: dict[str, Any]) -> str | None:
    """Why the service would refuse this EmbedContentRequest (ai.google.dev/api/embeddings:
    ``content`` required, unknown fields refused), or None."""
    unknown = sorted(set(request) - EMBED_FIELDS)
    if unknown:
        return f"Invalid JSON payload received. Unknown name \"{unknown[0]}\" at 'request'."
    content = request.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    if (
        not isinstance(parts, list)
        or not parts
        or not all(isinstance(p, dict) and isinstance(p.get("text"), str) for p in parts)
    ):
        return "* EmbedContentRequest.content: content with text parts is required"
    size = _field(request, "outputDimensionality", "output_dimensionality")
    if size is not None and (not isinstance(size, int) or not 1 <= size <= 3072):
        return "* EmbedContentRequest.output_dimensionality: must be from 1 to 3072"
    return None


def _embed(request: dict[str, Any]) -> dict[str, Any]:
    """An EmbedContentResponse: ``embedding.values`` (3072 by default, gemini-embedding-001)."""
    text = "".join(p["text"] for p in request["content"]["parts"])
    size = _field(request, "outputDimensionality", "output_dimensionality") or 3072
    seed = hashlib.sha256(text.encode()).digest()
    return {
        "embedding": {"values": [round((seed[i % 32] - 127.5) / 127.5, 6) for i in range(size)]}
    }


REQUEST_FIELDS = _both(
    "model", "contents", "tools", "toolConfig", "safetySettings", "systemInstruction",
    "generationConfig", "cachedContent",
)  # fmt: skip
PART_FIELDS = _both(
    "text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode",
    "codeExecutionResult",
)  # fmt: skip

# The record of the request being served (request keys need aiohttp >= 3.14).
_record: ContextVar[RecordedRequest] = ContextVar("fake_gemini_request")
_ID_CHARS = string.ascii_lowercase + string.digits


def _new_id(length: int = 12) -> str:
    # The SDK extracts file names with ``[a-z0-9]+`` (_transformers.t_file_name).
    return "".join(secrets.choice(_ID_CHARS) for _ in range(length))


def _timestamp(ts: float) -> str:
    # Timestamps are RFC 3339, "Z-normalized" (every Timestamp field in the API reference).
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _error(status: int, message: str, reason: str, **extra: Any) -> web.Response:
    # Google's error shape (ai.google.dev/gemini-api/docs/troubleshooting; the SDK's
    # errors.APIError reads error.code, error.message, error.status).
    return web.json_response(
        {"error": {"code": status, "message": message, "status": reason, **extra}},
        status=status,
    )


def _bad(message: str) -> Answer:
    return Answer(_error(400, message, "INVALID_ARGUMENT"))


def _field(obj: Mapping[str, Any], camel: str, snake: str) -> Any:
    # The protobuf JSON mapping: parsers accept both names (protobuf.dev/programming-guides/
    # proto3/#json). The SDK sends snake_case for the upload's file and camelCase for batches.
    return obj[camel] if camel in obj else obj.get(snake)


@dataclass
class GeminiFile:
    id: str
    display_name: str | None
    mime_type: str
    size: int
    sha256: bytes
    created: float
    path: Path
    source: str  # UPLOADED or GENERATED
    seq: int

    @property
    def name(self) -> str:
        return f"files/{self.id}"

    def resource(self, base: str) -> dict[str, Any]:
        # ai.google.dev/api/files#File. int64 fields are JSON strings and empty fields are
        # left out (proto3 JSON mapping), so an unnamed file has no displayName.
        obj: dict[str, Any] = {"name": self.name}
        if self.display_name:
            obj["displayName"] = self.display_name
        obj.update(
            {
                "mimeType": self.mime_type,
                "sizeBytes": str(self.size),
                "createTime": _timestamp(self.created),
                "updateTime": _timestamp(self.created),
                "expirationTime": _timestamp(self.created + FILE_SECONDS),
                "sha256Hash": base64.b64encode(self.sha256).decode(),
                "uri": f"{base}{API}/files/{self.id}",
                "state": "ACTIVE",
                "source": self.source,
            }
        )
        if self.source == "GENERATED":
            # File.download_uri: the SDK downloads only files that have one (files.download).
            obj["downloadUri"] = f"{base}/download{API}/files/{self.id}:download?alt=media"
        return obj


@dataclass
class UploadSession:
    id: str
    account: str
    file_id: str
    display_name: str | None
    mime_type: str
    declared: int
    path: Path
    received: int = 0
    digest: Any = field(default_factory=hashlib.sha256)
    chunk_sizes: list[int] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)


@dataclass
class GeminiBatch(JobRun):
    id: str
    model: str
    display_name: str
    input_file: str  # files/...
    created: float
    checked: bool = False
    error: dict[str, Any] | None = None
    output_file: str | None = None
    stats: dict[str, int] = field(default_factory=dict)
    embed: bool = False  # an asyncBatchEmbedContent batch (EmbedContentRequest rows)


def _bad_key(row: dict[str, Any]) -> str | None:
    """What is wrong with an input row's user-defined ``key`` (the batch guide), if anything."""
    return "has a key that is not a string" if not isinstance(row.get("key", ""), str) else None


@dataclass
class _Account(Workspace):
    files: dict[str, GeminiFile] = field(default_factory=dict)
    batches: dict[str, GeminiBatch] = field(default_factory=dict)


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _page(request: web.Request, default: int) -> tuple[int, int]:
    """(start, size) from pageToken/pageSize; ai.google.dev/api/files#method:-files.list:
    pageSize defaults to 10, at most 100."""
    try:
        size = int(request.query.get("pageSize", "0"))
    except ValueError:
        raise _bad("Invalid value at 'page_size' (TYPE_INT32)") from None
    if size < 0:
        raise _bad("page_size must not be negative")
    size = min(size or default, 100)
    token = request.query.get("pageToken", "")
    if not token:
        return 0, size
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        tag, _, offset = text.partition(":")
        if tag != "offset":
            raise ValueError(token)
        return int(offset), size
    except ValueError:
        raise _bad("Invalid page token.") from None


class FakeGemini(KeyedService[_Account]):
    """The Gemini Developer API for the accounts ``keys`` maps API keys to.

    ``phase_seconds`` is how long a batch stays pending and then running, ``cancel_seconds``
    how long a cancel takes, ``expire_seconds`` when an unfinished batch expires; ``clock``
    may be replaced by a test to move time. ``models`` are the models batches may name.

    What clients of the live service see and the documentation does not say, as knobs:

    - ``output_lag_seconds``: a batch reports ``BATCH_STATE_SUCCEEDED`` this long before its
      responses file is named (tidyverse/ellmer PR 926 polls on until ``responsesFile``
      appears);
    - ``output_in_response_only``: the responses file is named only in the Operation's
      ``response.responsesFile`` (what Google's REST example reads), not in
      ``metadata.output`` (what google-genai reads);
    - ``refused_mime_types``: MIME type -> how many more upload starts declaring it are
      refused with 400 "Unsupported MIME type" (googleapis/python-genai 1547 and
      google-gemini/cookbook 1008 report it, intermittently, for ``jsonl`` and
      ``application/jsonl``).
    """

    def __init__(
        self,
        keys: Mapping[str, str],
        *,
        expire_seconds: float = BATCH_SECONDS,
        chunk_granularity: int = CHUNK_GRANULARITY,
        models: tuple[str, ...] = (
            "gemini-2.5-flash",
            "gemini-2.5-pro",
            "gemini-2.5-flash-lite",
            "gemini-2.0-flash",
        ),
        output_lag_seconds: float = 0.0,
        output_in_response_only: bool = False,
        refused_mime_types: Mapping[str, int] | None = None,
        **service: Unpack[ServiceOptions],
    ):
        super().__init__(keys, _Account, models=models, **service)
        self.output_lag_seconds = output_lag_seconds
        self.output_in_response_only = output_in_response_only
        self.refused_mime_types = dict(refused_mime_types or {})
        self.expire_seconds = expire_seconds
        self.chunk_granularity = chunk_granularity
        self.uploads: dict[str, UploadSession] = {}
        self.finished_uploads: list[UploadSession] = []

    # -- plumbing ---------------------------------------------------------------------------
    def app(self) -> web.Application:
        # The documentation shows v1beta; the SDK's default version is v1
        # (_api_client.GOOGLE_AI_API_DEFAULT_VERSION), so both are served.
        routes = [route for api in (API, "/v1") for route in self._routes(api)]
        return self.make_app(self._serve, routes=routes)

    def _routes(self, api: str) -> list[web.RouteDef]:
        return [
            web.post("/upload" + api + "/files", self.upload),
            web.get(api + "/files", self.list_files),
            web.get(api + "/files/{file}", self.get_file),
            web.delete(api + "/files/{file}", self.delete_file),
            web.get("/download" + api + "/files/{file}", self.get_file),
            web.post(api + "/models/{model}", self.create_batch),
            web.get(api + "/batches", self.list_batches),
            web.get(api + "/batches/{batch}", self.get_batch),
            web.post(api + "/batches/{batch}", self.batch_action),
            web.delete(api + "/batches/{batch}", self.delete_batch),
        ]

    @web.middleware
    async def _serve(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # The key goes in x-goog-api-key or ?key= (ai.google.dev/gemini-api/docs/api-key;
        # cloud.google.com/docs/authentication/api-keys-use).
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        record = self.record(request, account=self.account_of(key), key=key)
        token = _record.set(record)
        try:
            # Upload chunks go to the URL the start answered with; the session id in it is
            # the credential (the Files API's curl examples send no key with them).
            if not self._is_chunk(request):
                self._refuse(key, record.account)
            response: web.StreamResponse = await handler(request)
        finally:
            _record.reset(token)
        return response

    @staticmethod
    def _is_chunk(request: web.Request) -> bool:
        return request.path.startswith("/upload/") and "upload_id" in request.query

    def _refuse(self, key: str | None, account: str | None) -> None:
        # What the service answers (ai.google.dev/gemini-api/docs/troubleshooting: 400
        # INVALID_ARGUMENT for a bad key, 403 PERMISSION_DENIED without one).
        if key is None:
            raise Answer(
                _error(
                    403,
                    "Method doesn't allow unregistered callers (callers without established "
                    "identity). Please use API Key or other form of API consumer identity to "
                    "call this API.",
                    "PERMISSION_DENIED",
                )
            )
        if account is None:
            raise Answer(
                _error(
                    400,
                    "API key not valid. Please pass a valid API key.",
                    "INVALID_ARGUMENT",
                    details=[
                        {
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "API_KEY_INVALID",
                            "domain": "googleapis.com",
                        }
                    ],
                )
            )

    def _account(self, request: web.Request) -> _Account:
        account = _record.get().account
        assert account is not None  # _serve refused the request otherwise
        return self.accounts[account]

    @staticmethod
    def _base(request: web.Request) -> str:
        return f"{request.scheme}://{request.host}"

    async def _json(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise _bad("Invalid JSON payload received.") from None
        if not isinstance(body, dict):
            raise _bad("Invalid JSON payload received. Expected an object.")
        _record.get().json = body
        return body

    # -- files ------------------------------------------------------------------------------
    def _file(self, request: web.Request, account: _Account) -> GeminiFile:
        file_id = request.match_info["file"]
        if request.method == "GET":
            file_id = file_id.removesuffix(":download")
        found = account.files.get(file_id)
        if found is not None and self.clock() >= found.created + FILE_SECONDS:
            self._remove_file(account, found)
            found = None
        if found is None:
            # What the service answers for a file that is missing or another project's.
            raise Answer(
                _error(
                    403,
                    f"You do not have permission to access the File {file_id} or it may not exist.",
                    "PERMISSION_DENIED",
                )
            )
        return found

    @staticmethod
    def _remove_file(account: _Account, found: GeminiFile) -> None:
        del account.files[found.id]
        found.path.unlink(missing_ok=True)

    def add_file(
        self,
        account: str,
        data: bytes,
        *,
        display_name: str | None = None,
        mime_type: str = "application/jsonl",
        source: str = "UPLOADED",
        file_id: str | None = None,
    ) -> GeminiFile:
        """Store a file directly (for tests that need one without uploading it)."""
        acc = self.accounts[account]
        acc.root.mkdir(parents=True, exist_ok=True)
        file_id = file_id or _new_id()
        path = acc.root / file_id
        path.write_bytes(data)
        found = GeminiFile(
            file_id,
            display_name,
            mime_type,
            len(data),
            hashlib.sha256(data).digest(),
            self.clock(),
            path,
            source,
            acc.next_seq(),
        )
        acc.files[file_id] = found
        return found

    async def get_file(self, request: web.Request) -> web.StreamResponse:
        account = self._account(request)
        found = self._file(request, account)
        if not request.match_info["file"].endswith(":download"):
            if request.path.startswith("/download/"):
                raise Answer(_error(404, "Not found.", "NOT_FOUND"))
            return web.json_response(found.resource(self._base(request)))
        # files.download in the SDK: "Only generated files can be downloaded, uploaded files
        # can't be downloaded." The status is not documented: a 400 is the least helpful.
        if found.source != "GENERATED":
            raise Answer(
                _error(
                    400,
                    f"Cannot download file {found.name}: only generated files can be "
                    "downloaded, uploaded files can't be.",
                    "INVALID_ARGUMENT",
                )
            )
        if request.query.get("alt") != "media":
            # The SDK and File.downloadUri always ask for alt=media; the metadata form of
            # :download is undocumented, so the fake serves only the media form.
            raise _bad("The download endpoint requires alt=media.")
        return web.FileResponse(found.path, headers={"Content-Type": found.mime_type})

    async def delete_file(self, request: web.Request) -> web.Response:
        account = self._account(request)
        self._remove_file(account, self._file(request, account))
        return web.json_response({})  # google.protobuf.Empty

    async def list_files(self, request: web.Request) -> web.Response:
        account = self._account(request)
        start, size = _page(request, 10)
        now = self.clock()
        # Newest first; the order is not documented.
        items = sorted(
            (f for f in account.files.values() if now < f.created + FILE_SECONDS),
            key=lambda f: f.seq,
            reverse=True,
        )
        body: dict[str, Any] = {}
        page = items[start : start + size]
        if page:  # proto3 JSON leaves out an empty list: an empty listing is ``{}``
            body["files"] = [f.resource(self._base(request)) for f in page]
        if start + size < len(items):
            body["nextPageToken"] = _page_token(start + size)
        return web.json_response(body)

    # -- the resumable upload ---------------------------------------------------------------
    async def upload(self, request: web.Request) -> web.Response:
        if self._is_chunk(request):
            return await self._upload_command(request)
        # ai.google.dev/api/files#method:-media.upload with the resumable protocol, as the SDK
        # sends it (_extra_utils.prepare_resumable_upload); other upload types are not served.
        if request.headers.get("X-Goog-Upload-Protocol") != "resumable":
            raise _bad("This fake serves only X-Goog-Upload-Protocol: resumable.")
        if request.headers.get("X-Goog-Upload-Command", "").strip() != "start":
            raise _bad("A resumable upload begins with X-Goog-Upload-Command: start.")
        declared_text = request.headers.get("X-Goog-Upload-Header-Content-Length")
        if declared_text is None:
            raise _bad("X-Goog-Upload-Header-Content-Length is required to start an upload.")
        try:
            declared = int(declared_text)
        except ValueError:
            raise _bad(f"Invalid X-Goog-Upload-Header-Content-Length: {declared_text}") from None
        if declared < 0:
            raise _bad(f"Invalid X-Goog-Upload-Header-Content-Length: {declared_text}")
        if declared > MAX_FILE_BYTES:
            raise _bad("The file exceeds the maximum size of 2 GB.")
        account = self._account(request)
        body = await self._json(request) if request.can_read_body else {}
        meta = body.get("file") or {}
        if not isinstance(meta, dict):
            raise _bad("Invalid value at 'file'.")
        mime = request.headers.get("X-Goog-Upload-Header-Content-Type") or _field(
            meta, "mimeType", "mime_type"
        )
        if not mime:
            raise _bad("The file's MIME type is required.")
        if self.refused_mime_types.get(mime, 0) > 0:
            self.refused_mime_types[mime] -= 1
            raise _bad(f"Unsupported MIME type: {mime}")
        file_id = _new_id()
        name = meta.get("name")
        if name:
            # files.upload(config={"name": ...}): files/<id>, lowercase alphanumerics and
            # dashes, at most 40 characters (ai.google.dev/api/files#File name).
            wanted = str(name).removeprefix("files/")
            if not wanted or len(wanted) > 40 or set(wanted) - set(_ID_CHARS + "-"):
                raise _bad(f"Invalid file name: {name}")
            if wanted in account.files:
                raise Answer(_error(409, f"File {name} already exists.", "ALREADY_EXISTS"))
            file_id = wanted
        session = UploadSession(
            _new_id(24),
            account.name,
            file_id,
            _field(meta, "displayName", "display_name"),
            mime,
            declared,
            account.root / f"{file_id}.partial",
        )
        account.root.mkdir(parents=True, exist_ok=True)
        session.path.write_bytes(b"")
        session.commands.append("start")
        self.uploads[session.id] = session
        url = request.url.with_query(upload_id=session.id, upload_protocol="resumable")
        return web.Response(
            headers={
                "X-Goog-Upload-URL": str(url),
                "X-Goog-Upload-Status": "active",
                "X-Goog-Upload-Chunk-Granularity": str(self.chunk_granularity),
            }
        )

    async def _upload_command(self, request: web.Request) -> web.Response:
        session = self.uploads.get(request.query["upload_id"])
        if session is None:
            raise Answer(_error(404, "No such upload session.", "NOT_FOUND"))
        _record.get().account = session.account
        header = request.headers.get("X-Goog-Upload-Command")
        if header is None:
            raise _bad("X-Goog-Upload-Command is required.")
        commands = frozenset(c.strip() for c in header.split(","))
        session.commands.append(header)
        if commands == {"query"}:
            return web.Response(
                headers={
                    "X-Goog-Upload-Status": "active",
                    "X-Goog-Upload-Size-Received": str(session.received),
                }
            )
        if commands == {"cancel"}:
            del self.uploads[session.id]
            session.path.unlink(missing_ok=True)
            return web.Response(headers={"X-Goog-Upload-Status": "cancelled"})
        if commands not in ({"upload"}, {"upload", "finalize"}, {"finalize"}):
            raise _bad(f"Unknown X-Goog-Upload-Command: {header}")
        finalize = "finalize" in commands
        offset_text = request.headers.get("X-Goog-Upload-Offset")
        if offset_text is None and "upload" in commands:
            raise _bad("X-Goog-Upload-Offset is required with the upload command.")
        if offset_text is not None and offset_text != str(session.received):
            # Strict: the offset must be where the server is (the SDK's _upload_fd counts it
            # exactly); the client can ask with the query command.
            raise _bad(
                f"Invalid X-Goog-Upload-Offset {offset_text}: "
                f"{session.received} bytes have been received."
            )
        length = request.content_length
        if "upload" in commands and length is None:
            # Every example sends Content-Length with a chunk; chunked bodies are refused.
            raise Answer(_error(411, "Content-Length is required.", "INVALID_ARGUMENT"))
        length = length or 0
        if "upload" not in commands and length:
            raise _bad("The finalize command carries no bytes; use 'upload, finalize'.")
        if session.received + length > session.declared:
            raise _bad(
                f"The upload exceeds its declared size of {session.declared} bytes "
                "(X-Goog-Upload-Header-Content-Length)."
            )
        if not finalize and length % self.chunk_granularity:
            raise _bad(
                f"A chunk other than the last must be a multiple of {self.chunk_granularity} "
                "bytes (X-Goog-Upload-Chunk-Granularity)."
            )
        if finalize and session.received + length != session.declared:
            raise _bad(
                f"The upload ends at {session.received + length} bytes but declared "
                f"{session.declared} (X-Goog-Upload-Header-Content-Length)."
            )
        got = 0
        with session.path.open("ab") as fh:  # streamed: chunks are up to gigabytes
            async for chunk in request.content.iter_chunked(256 * 1024):
                fh.write(chunk)
                session.digest.update(chunk)
                got += len(chunk)
        session.received += got
        session.chunk_sizes.append(got)
        _record.get().bytes = got
        if not finalize:
            return web.Response(headers={"X-Goog-Upload-Status": "active"})
        del self.uploads[session.id]
        self.finished_uploads.append(session)
        account = self.accounts[session.account]
        path = account.root / session.file_id
        session.path.replace(path)
        found = GeminiFile(
            session.file_id,
            session.display_name,
            session.mime_type,
            session.received,
            session.digest.digest(),
            self.clock(),
            path,
            "UPLOADED",
            account.next_seq(),
        )
        account.files[found.id] = found
        # The final answer carries {"file": File} (files.upload reads return_file.json['file']).
        return web.json_response(
            {"file": found.resource(self._base(request))},
            headers={"X-Goog-Upload-Status": "final"},
        )

    # -- batches ----------------------------------------------------------------------------
    async def create_batch(self, request: web.Request) -> web.Response:
        account = self._account(request)
        model, _, method = request.match_info["model"].partition(":")
        if method not in ("batchGenerateContent", "asyncBatchEmbedContent"):
            raise Answer(_error(404, "Not found.", "NOT_FOUND"))
        # Batch embeddings (ai.google.dev/gemini-api/docs/batch-api, "Batch embeddings";
        # google-genai's batches.create_embeddings posts {model}:asyncBatchEmbedContent):
        # rows are {"key", "request": EmbedContentRequest}, answers EmbedContentResponse.
        embed = method == "asyncBatchEmbedContent"
        if embed and model not in EMBEDDING_MODELS:
            raise Answer(
                _error(
                    404,
                    f"models/{model} is not found for API version v1beta, or is not "
                    "supported for asyncBatchEmbedContent.",
                    "NOT_FOUND",
                )
            )
        if not embed and not self.serves(model):
            raise Answer(
                _error(
                    404,
                    f"models/{model} is not found for API version v1beta, or is not "
                    "supported for batchGenerateContent.",
                    "NOT_FOUND",
                )
            )
        body = await self._json(request)
        batch = body.get("batch")
        if not isinstance(batch, dict):
            raise _bad("batch is required.")
        # ai.google.dev/api/batch-api#method:-models.batchgeneratecontent: displayName and
        # inputConfig are "Required".
        display = _field(batch, "displayName", "display_name")
        if not isinstance(display, str) or not display:
            raise _bad("* BatchGenerateContentRequest.batch.display_name: is required")
        config = _field(batch, "inputConfig", "input_config")
        if not isinstance(config, dict):
            raise _bad("* BatchGenerateContentRequest.batch.input_config: is required")
        file_name = _field(config, "fileName", "file_name")
        if not isinstance(file_name, str) or not file_name.startswith("files/"):
            # Inline requests (inputConfig.requests) are documented but not served here:
            # the router uses files.
            raise _bad("This fake serves only input_config.file_name (files/...).")
        file_id = file_name.removeprefix("files/")
        found = account.files.get(file_id)
        if found is None or self.clock() >= found.created + FILE_SECONDS:
            # Undocumented for batches: the Files API's answer for a missing file.
            raise Answer(
                _error(
                    403,
                    f"You do not have permission to access the File {file_id} or it may not exist.",
                    "PERMISSION_DENIED",
                )
            )
        job = GeminiBatch(_new_id(24), f"models/{model}", display, file_name, self.clock())
        job.embed = embed
        account.batches[job.id] = job
        return web.json_response(self._operation(job, "BATCH_STATE_PENDING"))

    def _state(self, job: GeminiBatch, now: float) -> str:
        if job.finished:
            return job.finished
        if job.cancel_at is not None and now >= job.cancel_at + self.cancel_seconds:
            return "BATCH_STATE_CANCELLED"
        elapsed = now - job.created
        done_at = 2 * self.phase_seconds
        if elapsed >= self.expire_seconds and self.expire_seconds <= done_at:
            return "BATCH_STATE_EXPIRED"
        if elapsed < self.phase_seconds:
            return "BATCH_STATE_PENDING"
        if elapsed < done_at or job.cancel_at is not None:
            return "BATCH_STATE_RUNNING"
        return "BATCH_STATE_SUCCEEDED"

    def _advance(self, account: _Account, job: GeminiBatch) -> str:
        now = self.clock()
        state = self._state(job, now)
        if job.finished:
            return state
        if state in ("BATCH_STATE_RUNNING", "BATCH_STATE_SUCCEEDED") and not job.checked:
            job.checked = True
            self._check(account, job)
            if job.error is not None:
                job.finished, job.ended = "BATCH_STATE_FAILED", job.created + self.phase_seconds
                return job.finished
        if state == "BATCH_STATE_SUCCEEDED":
            self._run(account, job)
        if state in TERMINAL:
            job.finished = state
            job.ended = now
            if state == "BATCH_STATE_CANCELLED":
                # google.longrunning.Operations.CancelOperation: a cancelled operation ends
                # with error code 1 (CANCELLED). No source promises partial results, so a
                # cancelled batch has no responses file (least helpful).
                job.error = {"code": 1, "message": "The batch was cancelled."}
            elif state == "BATCH_STATE_EXPIRED":
                job.error = {"code": 4, "message": "The batch expired before it completed."}
        return state

    def _lines(self, account: _Account, job: GeminiBatch) -> Iterator[tuple[int, bytes]]:
        found = account.files.get(job.input_file.removeprefix("files/"))
        if found is None:
            return
        with found.path.open("rb") as fh:
            for number, line in enumerate(fh, start=1):
                if line.strip():
                    yield number, line

    def _check(self, account: _Account, job: GeminiBatch) -> None:
        """A row that is not ``{"key": str, "request": object}`` fails the whole batch.

        The batch guide: "each line contains a full GenerateContentRequest object" with a
        user-defined key. What the service does with a malformed line is not documented; a
        line without a parseable request cannot carry its key into an error row, so the
        least helpful reading fails the batch and names the line.
        """
        if job.input_file.removeprefix("files/") not in account.files:
            job.error = {"code": 5, "message": f"Input file {job.input_file} not found."}
            return
        count, bad = check_rows(self._lines(account, job), "request", _bad_key)
        if bad:
            job.error = {"code": 3, "message": f"Invalid input file {job.input_file}: {bad}."}
            return
        if count == 0:
            job.error = {"code": 3, "message": f"Input file {job.input_file} has no requests."}
            return
        job.stats = {"requestCount": count, "pendingRequestCount": count}

    def _run(self, account: _Account, job: GeminiBatch) -> None:
        """Answer every row into ``files/batch-<id>``; rows come out of order.

        No source promises the responses file keeps the input order (the batch guide matches
        results by ``key``), so odd-numbered rows are written first, then even ones: a
        deterministic shuffle that streams (two passes over the input, nothing held).
        """
        output_id = f"batch-{job.id}"
        account.root.mkdir(parents=True, exist_ok=True)
        path = account.root / output_id
        ok = failed = 0
        digest = hashlib.sha256()
        with path.open("wb") as out:
            for wanted in (1, 0):
                for index, (_, line) in enumerate(self._lines(account, job)):
                    if index % 2 != wanted:
                        continue
                    row = json.loads(line)
                    result: dict[str, Any] = {}
                    if "key" in row:
                        # Only the key survives from the input row (the batch guide); other
                        # row fields are not documented to come back, so they do not.
                        result["key"] = row["key"]
                    problem = (_invalid_embed if job.embed else _invalid)(row["request"])
                    if problem is None:
                        result["response"] = (
                            _embed(row["request"])
                            if job.embed
                            else self._generate(job.model, row["request"])
                        )
                        ok += 1
                    else:
                        # "either a GenerateContentResponse or a status object" (batch
                        # guide): a google.rpc.Status, whose code is the gRPC code
                        # (3 INVALID_ARGUMENT), not an HTTP status.
                        result["error"] = {"code": 3, "message": problem}
                        failed += 1
                    data = (json.dumps(result) + "\n").encode()
                    out.write(data)
                    digest.update(data)
        found = GeminiFile(
            output_id,
            None,
            "application/jsonl",
            path.stat().st_size,
            digest.digest(),
            self.clock(),
            path,
            "GENERATED",
            account.next_seq(),
        )
        account.files[output_id] = found
        job.output_file = found.name
        job.stats = {
            "requestCount": ok + failed,
            "successfulRequestCount": ok,
            "failedRequestCount": failed,
        }

    @staticmethod
    def _generate(model: str, request: dict[str, Any]) -> dict[str, Any]:
        """A deterministic GenerateContentResponse (ai.google.dev/api/generate-content)."""
        contents = request["contents"]
        text = json.dumps(contents, sort_keys=True)
        digest = hashlib.sha256(f"{model}\x00{text}".encode()).hexdigest()
        config = _field(request, "generationConfig", "generation_config") or {}
        tool_config = _field(request, "toolConfig", "tool_config") or {}
        calling = _field(tool_config, "functionCallingConfig", "function_calling_config") or {}
        declarations = [
            d
            for tool in request.get("tools") or []
            for d in _field(tool, "functionDeclarations", "function_declarations") or []
        ]
        finish = "STOP"
        if calling.get("mode") == "ANY" and declarations:
            parts: list[dict[str, Any]] = [
                {"functionCall": {"name": declarations[0]["name"], "args": {"q": digest[:12]}}}
            ]
        else:
            parts = [{"text": f"mock gemini reply {digest[:12]}"}]
            if _field(config, "maxOutputTokens", "max_output_tokens") == 1:
                finish = "MAX_TOKENS"
        return {
            **content_response(model, parts, finish, max(1, len(text) // 4)),
            "modelVersion": model.removeprefix("models/"),
            "responseId": digest[12:34],
        }

    def _operation(self, job: GeminiBatch, state: str) -> dict[str, Any]:
        """The batch as the long-running Operation every batch method answers with
        (ai.google.dev/api/batch-api: "the response body contains an instance of Operation";
        the SDK's _BatchJob_from_mldev reads name and metadata.*)."""
        meta: dict[str, Any] = {
            "@type": BATCH_TYPE,
            "model": job.model,
            "displayName": job.display_name,
            "inputConfig": {"fileName": job.input_file},
            "createTime": _timestamp(job.created),
            "updateTime": _timestamp(job.ended or job.cancel_at or job.created),
            "state": state,
            "name": f"batches/{job.id}",
        }
        if job.ended is not None and state == job.finished:
            meta["endTime"] = _timestamp(job.ended)
        stats = {k: str(v) for k, v in job.stats.items() if v}  # int64 as strings, 0 omitted
        if stats:
            meta["batchStats"] = stats
        named = job.output_file and (
            job.ended is None or self.clock() >= job.ended + self.output_lag_seconds
        )
        if named and state == "BATCH_STATE_SUCCEEDED" and not self.output_in_response_only:
            meta["output"] = {"responsesFile": job.output_file}
        op: dict[str, Any] = {"name": f"batches/{job.id}", "metadata": meta}
        if state in TERMINAL and state == job.finished:
            op["done"] = True  # proto3 JSON leaves out done: false
            if state == "BATCH_STATE_SUCCEEDED":
                op["response"] = {"@type": OUTPUT_TYPE}
                if named:
                    op["response"]["responsesFile"] = job.output_file
            elif job.error is not None:
                op["error"] = job.error
        return op

    def _batch(self, request: web.Request, account: _Account, batch_id: str) -> GeminiBatch:
        job = account.batches.get(batch_id)
        if job is None:
            raise Answer(_error(404, "Requested entity was not found.", "NOT_FOUND"))
        return job

    async def get_batch(self, request: web.Request) -> web.Response:
        account = self._account(request)
        job = self._batch(request, account, request.match_info["batch"])
        return web.json_response(self._operation(job, self._advance(account, job)))

    async def batch_action(self, request: web.Request) -> web.Response:
        account = self._account(request)
        batch_id, _, action = request.match_info["batch"].partition(":")
        if action != "cancel":
            raise Answer(_error(404, "Not found.", "NOT_FOUND"))
        job = self._batch(request, account, batch_id)
        state = self._advance(account, job)
        if state in TERMINAL:
            # Undocumented; cancelling a finished operation is refused (least helpful).
            raise Answer(
                _error(
                    400,
                    f"Batch batches/{job.id} is in state {state} and cannot be cancelled.",
                    "FAILED_PRECONDITION",
                )
            )
        if job.cancel_at is None:
            job.cancel_at = self.clock()
        return web.json_response({})  # google.protobuf.Empty

    async def delete_batch(self, request: web.Request) -> web.Response:
        # batches.delete: the client is no longer interested in the result; it does not
        # cancel the batch (ai.google.dev/api/batch-api#method:-batches.delete).
        account = self._account(request)
        job = self._batch(request, account, request.match_info["batch"])
        del account.batches[job.id]
        return web.json_response({})

    async def list_batches(self, request: web.Request) -> web.Response:
        account = self._account(request)
        start, size = _page(request, 10)
        jobs = sorted(account.batches.values(), key=lambda j: j.created, reverse=True)
        page = jobs[start : start + size]
        body: dict[str, Any] = {}
        if page:
            body["operations"] = [self._operation(j, self._advance(account, j)) for j in page]
        if start + size < len(jobs):
            body["nextPageToken"] = _page_token(start + size)
        return web.json_response(body)


def _invalid(request: dict[str, Any]) -> str | None:
    """Why the service would refuse this GenerateContentRequest, or None.

    ai.google.dev/api/generate-content: ``contents`` is required; a Content's role is "user"
    or "model"; generationConfig.temperature is in [0.0, 2.0]; unknown fields are refused by
    the protobuf JSON parser.
    """
    unknown = sorted(set(request) - REQUEST_FIELDS)
    if unknown:
        return (
            f"Invalid JSON payload received. Unknown name \"{unknown[0]}\" at 'request': "
            "Cannot find field."
        )
    contents = request.get("contents")
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified"
    for index, content in enumerate(contents):
        if not isinstance(content, dict):
            return f"* GenerateContentRequest.contents[{index}]: must be an object"
        role = content.get("role")
        if role not in (None, "", "user", "model"):
            return f"Please use a valid role: user, model. (contents[{index}].role: {role})"
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            return f"* GenerateContentRequest.contents[{index}].parts: must not be empty."
        for p, part in enumerate(parts):
            if not isinstance(part, dict) or not set(part) & PART_FIELDS:
                return (
                    f"* GenerateContentRequest.contents[{index}].parts[{p}].data: "
                    "required oneof field 'data' must have one initialized field"
                )
    config = _field(request, "generationConfig", "generation_config") or {}
    if not isinstance(config, dict):
        return "* GenerateContentRequest.generation_config: must be an object"
    temperature = config.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not 0 <= temperature <= 2
    ):
        return (
            "* GenerateContentRequest.generation_config.temperature: temperature must be "
            "between 0.0 and 2.0"
        )
    return None


# -- the fake as the command line and --demo see it (fake/__init__.py lists it) -------------
DEMO_KEY = "fake-gemini-api-key"


FLAVOUR = keyed_flavour(
    "gemini",
    FakeGemini,
    described="a Gemini API model",
    model_name="gemini-api",
    key=DEMO_KEY,
    account="demo-project",
    params=lambda place: {
        "model": "gemini/gemini-2.5-flash",
        "api_base": place.base,
        # The Gemini API serves no uploaded file back: the router keeps them here.
        "file_store": f"file://{place.store}",
    },
)
