"""Azure OpenAI accounts: OpenAI's API with Azure's paths, auth and quirks.

- Paths: dated ``{api_base}/openai/files?api-version=2024-10-21``, or the v1 API
  ``{api_base}/openai/v1/files`` for ``api_version`` ``v1``/``latest``/``preview``.
- Auth: ``api-key``; a given Entra ID token; or Entra ID client credentials.
- Answers: empty-string file IDs become null, ISO timestamps unix seconds, ``InProgress``
  ``in_progress``, file ``pending``/``running`` ``uploaded``, an upload's 201 200. In a
  batch, null ``request_counts`` members become 0, ``/chat/completions`` becomes
  ``/v1/chat/completions`` (a null endpoint in a create answer: the one asked for; none at
  all while validating: the one the input file's first row names), and the
  empty output or error file of a finished batch (no completed, or no failed row, by its
  counts) becomes null. Errors get OpenAI's shape upstream.py-wide, their ``code``
  (``token_limit_exceeded``) kept.
- Uploads of ``purpose=batch`` get every row's ``body.model`` set to the deployment, streamed;
  their ``expires_after[seconds]`` is checked only against the 3600 to 2592000 of Azure's
  current REST reference (files-create-file); where Azure's batch guide says 14 to 30 days,
  the verdict is Azure's (users report it taking 3 days: Azure/azure-sdk-for-js 37063).
- Fine-tuning jobs: OpenAI's ``/fine_tuning/jobs`` on both paths, created once the files are
  processed (as for batches); Azure's job statuses (``created``, ``pending``, ``notRunning``,
  ``resuming``) become OpenAI's, ISO times unix seconds, null fields Azure leaves out null,
  null or empty file IDs and organization as OpenAI sends them, ``n_epochs: -1`` ``"auto"``;
  ``trainingType`` comes from ``fine_tuning_training_type`` when the client sends none.
- Batch create waits (polling the file with backoff, up to ``file_ready_timeout``) until
  Azure has processed the input file: Azure refuses a file that is still ``pending``, where
  OpenAI has processed it before answering the upload.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import aiohttp
import msgspec

from ..errors import BadRequest, UpstreamTimeout
from ..jsoncodec import ANY as _value
from ..jsoncodec import ENCODER as _json
from ..jsoncodec import RAW_ITEMS as _items
from ..jsoncodec import RAW_OBJECT as _object
from ..rewrite import FILE_ID_FIELDS
from ..upstream import Auth, StaticAuth, Upstream, UpstreamReply
from .base import (
    AccountSetup,
    BatchRules,
    FileUpload,
    Provider,
    ProviderError,
    ProviderSpec,
    TuningRules,
)
from .entra import EntraParams, entra_auth
from .isotime import unix_seconds
from .jsonl import MAX_LINE_BYTES, map_lines, set_body_model
from .openai import REQUEST_ID_HEADERS as OPENAI_REQUEST_ID_HEADERS
from .openai import Dialect, OpenAIProvider

__all__ = [
    "SPEC",
    "V1_VERSIONS",
    "AzureDialect",
    "AzureParams",
    "AzureProvider",
    "normalise_azure",
]

# OpenAI's (with its gateway headers: Azure's API Management answers with apim-request-id).
REQUEST_ID_HEADERS = OPENAI_REQUEST_ID_HEADERS

V1_VERSIONS = ("v1", "latest", "preview")
_TIMES = (
    "created_at",
    "expires_at",
    "in_progress_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
    "finished_at",
    "estimated_finish",
)
_FILE_STATUS = {
    "pending": "uploaded",
    "running": "uploaded",
    "deleting": "processed",
    "deleted": "processed",
}
# Azure's fine-tuning job states (FineTuningState) that OpenAI names otherwise: a job not yet
# running is "pending" (OpenAI: queued), one being resumed "resuming" (OpenAI's resume
# answers queued).
_JOB_STATUS = {
    "created": "validating_files",
    "pending": "queued",
    "not_running": "queued",
    "resuming": "queued",
}
# FineTuningJob fields OpenAI requires (nullable) that Azure leaves out when null.
_JOB_NULLABLE = ("error", "finished_at", "fine_tuned_model", "trained_tokens", "validation_file")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_COUNTS = ("total", "completed", "failed")
_FINISHED = ("completed", "failed", "cancelled", "expired")
# Polling a file Azure is still processing: first look soon, then back off to this.
FIRST_POLL = 0.25
MAX_POLL = 5.0
# Azure's refusal of a batch over an unprocessed file ("... is in 'pending' state. Only files
# with status 'Processed' are accepted"): the file may still be settling after it read
# processed, so this is waited on like a pending file.
_UNPROCESSED = re.compile(r"only files with status '?processed'? are accepted", re.IGNORECASE)


class _Row(msgspec.Struct):
    url: Any = None


_row = msgspec.json.Decoder(_Row)


def _unix(value: Any) -> Any:
    parsed = unix_seconds(value)
    return value if parsed is None else parsed


def _fix(obj: dict[str, msgspec.Raw]) -> None:
    changes: dict[str, Any] = {}
    for name in _TIMES:
        if name in obj:
            value = _value.decode(obj[name])
            if isinstance(value, str):
                changes[name] = _unix(value)
    for name in FILE_ID_FIELDS:
        if name in obj and _value.decode(obj[name]) == "":
            changes[name] = None
    if "status" in obj:
        status = _value.decode(obj["status"])
        if isinstance(status, str):
            snake = _CAMEL.sub("_", status).lower()
            kind = _value.decode(obj["object"]) if "object" in obj else None
            if kind == "file":
                snake = _FILE_STATUS.get(snake, snake)
            elif kind == "fine_tuning.job":
                snake = _JOB_STATUS.get(snake, snake)
            if snake != status:
                changes["status"] = snake
    if "object" in obj and _value.decode(obj["object"]) == "batch":
        _fix_batch(obj, changes)
    if "object" in obj and _value.decode(obj["object"]) == "fine_tuning.job":
        _fix_job(obj, changes)
    for name, value in changes.items():
        obj[name] = msgspec.Raw(_json.encode(value))


def _fix_batch(obj: dict[str, msgspec.Raw], changes: dict[str, Any]) -> None:
    counts = _value.decode(obj["request_counts"]) if "request_counts" in obj else None
    if isinstance(counts, dict) and any(counts.get(n) is None for n in _COUNTS):
        # Azure sends null counts while validating; OpenAI's are integers from the start.
        counts = {**counts, **{n: counts.get(n) or 0 for n in _COUNTS}}
        changes["request_counts"] = counts
    endpoint = _value.decode(obj["endpoint"]) if "endpoint" in obj else None
    if _v1_endpoint(endpoint) != endpoint:
        changes["endpoint"] = _v1_endpoint(endpoint)
    # Azure attaches an output and an error file to every finished batch, empty ones too;
    # OpenAI attaches a file only when it has rows. The counts say which are empty (no
    # download). An expired batch may list its unrun rows in the error file: kept then.
    status = changes.get("status") or (_value.decode(obj["status"]) if "status" in obj else None)
    if isinstance(counts, dict) and status in _FINISHED:
        if counts.get("completed") == 0 and "output_file_id" in obj:
            changes["output_file_id"] = None
        if (
            counts.get("failed") == 0
            and (status != "expired" or counts.get("completed") == counts.get("total"))
            and "error_file_id" in obj
        ):
            changes["error_file_id"] = None


def _fix_job(obj: dict[str, msgspec.Raw], changes: dict[str, Any]) -> None:
    """A fine-tuning job in OpenAI's shape: nulls sent or left out as OpenAI sends them,
    ``-1`` (Azure's "it picks") as ``"auto"``."""
    for name in _JOB_NULLABLE:
        value = _value.decode(obj[name]) if name in obj else None
        if name not in obj or value == "":
            changes[name] = None
    files = _value.decode(obj["result_files"]) if "result_files" in obj else None
    if not isinstance(files, list) or "" in files:
        changes["result_files"] = [f for f in files or [] if f != ""]
    if "organization_id" not in obj or _value.decode(obj["organization_id"]) is None:
        changes["organization_id"] = ""
    hyper = _value.decode(obj["hyperparameters"]) if "hyperparameters" in obj else None
    if isinstance(hyper, dict) and -1 in hyper.values():
        changes["hyperparameters"] = {k: "auto" if v == -1 else v for k, v in hyper.items()}


def normalise_azure(body: bytes) -> bytes:
    """Azure's answer in OpenAI's shape: only the quirky fields change."""
    try:
        obj = _object.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return body  # not ours to judge here; the ID rewrite reports malformed JSON
    if "data" in obj:
        try:
            items = [_object.decode(raw) for raw in _items.decode(obj["data"])]
        except (msgspec.DecodeError, msgspec.ValidationError):
            return body
        for item in items:
            _fix(item)
        obj["data"] = msgspec.Raw(_json.encode(items))
    _fix(obj)
    return _json.encode(obj)


class AzureParams(EntraParams, kw_only=True, frozen=True):
    """``litellm_params`` of an Azure OpenAI deployment (``model: azure/<deployment>``): an
    API key, or Entra ID's keys (``EntraParams``)."""

    secret_fields = EntraParams.secret_fields | {"api_key"}

    api_key: str | None = None
    api_base: str | None = None
    api_version: str | None = None
    # This router's own: the trainingType a fine-tuning job gets when the client sends none
    # (Azure's Standard, GlobalStandard or Developer training).
    fine_tuning_training_type: str | None = None


class AzureDialect(Dialect):
    """Azure's answers normalised; the dated API's dotted form fields; rows set to the
    deployment."""

    def __init__(self, v1: bool, deployment: str | None):
        self.v1 = v1
        self.deployment = deployment

    def normalise(self, body: bytes) -> bytes:
        return normalise_azure(body)

    def upload_fields(self, upload: FileUpload) -> Sequence[tuple[str, str]]:
        if self.v1:
            return upload.fields
        # The dated API reads the expiry as dotted form fields.
        return [(name.replace("[", ".").rstrip("]"), value) for name, value in upload.fields]

    def upload_chunks(self, upload: FileUpload) -> AsyncIterator[bytes]:
        if upload.purpose != "batch" or not self.deployment:
            return upload.chunks
        return map_lines(upload.chunks, set_body_model(self.deployment))


class AzureProvider(OpenAIProvider):
    """Azure OpenAI: OpenAI's API (in Azure's dialect) plus what Azure needs around it: a
    processed input file before a batch or job, endpoints its batches leave out."""

    # As OpenAI: the file's filename and the batch's metadata come back as sent (Azure
    # OpenAI REST reference, Files - Upload; Batch - Create "metadata", 16 pairs).
    keeps_owner_tags = True
    metadata_pairs = 16
    # Azure's fine-tuning jobs keep no metadata (FineTuningJobCreation has none; the fake
    # drops it) and their one free field, ``suffix`` (40 characters), names the tuned model:
    # a team reaches its jobs here through the router's signed IDs only, and lists none.
    untagged_kinds = frozenset({"fine_tuning_job"})
    # Azure OpenAI batch guide (how-to/batch): rows name /chat/completions or /responses,
    # with or without /v1; embeddings are "currently not supported" (its FAQ). Every row's
    # body.model is set to the deployment here, so rows need none.
    batch_rules = BatchRules(
        frozenset(
            (
                "/chat/completions",
                "/v1/chat/completions",
                "/responses",
                "/v1/responses",
            )
        ),
        needs_model=False,
    )

    # Azure OpenAI fine-tuning: chat examples (system, user, assistant, tool, function),
    # preference (DPO), reinforcement and prompt/completion examples (babbage-002,
    # davinci-002); at least 10; files under 512 MB.
    tuning_rules = TuningRules(
        frozenset(("system", "user", "assistant", "tool", "function")),
        frozenset(("supervised", "dpo", "reinforcement", "completions")),
    )

    def __init__(
        self,
        upstream: Upstream,
        dialect: AzureDialect,
        file_ready_timeout: float,
        api_base: str,
        training_type: str | None = None,
    ):
        # Files and batches belong to the Azure OpenAI resource, whatever the deployment.
        super().__init__(
            upstream, dialect, shared_store=f"Azure OpenAI resource {api_base.rstrip('/')}"
        )
        self.training_type = training_type
        self.file_ready_timeout = file_ready_timeout

    async def create_file(self, http: aiohttp.ClientSession, upload: FileUpload) -> UpstreamReply:
        reply = await super().create_file(http, upload)
        if reply.status == 201:
            reply.status = 200  # the dated API's "201 Created"; OpenAI answers 200
        return reply

    async def retrieve_batch(self, http: aiohttp.ClientSession, batch_id: str) -> UpstreamReply:
        return await self._with_endpoints(http, await super().retrieve_batch(http, batch_id))

    async def cancel_batch(self, http: aiohttp.ClientSession, batch_id: str) -> UpstreamReply:
        return await self._with_endpoints(http, await super().cancel_batch(http, batch_id))

    async def list_batches(
        self, http: aiohttp.ClientSession, query: Mapping[str, str]
    ) -> UpstreamReply:
        return await self._with_endpoints(http, await super().list_batches(http, query))

    async def _with_endpoints(
        self, http: aiohttp.ClientSession, reply: UpstreamReply
    ) -> UpstreamReply:
        """Batches Azure answers without an endpoint (the dated API while validating) get the
        one their input file's rows name: Azure picks the API from the rows, too."""
        if not reply.ok:
            return reply
        try:
            obj = _object.decode(reply.body)
            items = (
                [_object.decode(raw) for raw in _items.decode(obj["data"])]
                if "data" in obj
                else [obj]
            )
        except (msgspec.DecodeError, msgspec.ValidationError):
            return reply
        found: dict[str, Any] = {}
        changed = False
        for item in items:
            file_id = _missing_endpoint(item)
            if file_id is None:
                continue
            if file_id not in found:
                found[file_id] = await self._rows_endpoint(http, file_id)
            if isinstance(found[file_id], str):
                item["endpoint"] = msgspec.Raw(_json.encode(found[file_id]))
                changed = True
        if changed:
            if "data" in obj:
                obj["data"] = msgspec.Raw(_json.encode(items))
            reply.body = _json.encode(obj)
        return reply

    async def _rows_endpoint(self, http: aiohttp.ClientSession, file_id: str) -> Any:
        """The endpoint the first row of an input file names; only that line is read."""
        async with self.file_content(http, file_id) as stream:
            if stream.error is not None:
                return None
            chunks = stream.chunks
            try:
                line = await _first_line(chunks)
            finally:
                close = getattr(chunks, "aclose", None)
                if close is not None:
                    await close()  # stop reading: the connection is dropped, not drained
        if line is None:
            return None
        try:
            return _v1_endpoint(_row.decode(line).url)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None

    async def create_batch(
        self, http: aiohttp.ClientSession, body: Mapping[str, Any]
    ) -> UpstreamReply:
        wait = _FileWait(str(body["input_file_id"]), "input_file_id", self.file_ready_timeout)
        while True:
            refused = await self._processed(http, wait)
            if refused is not None:
                return refused  # Azure's own answer: unknown file, no access, ...
            reply = await super().create_batch(http, body)
            if reply.ok:
                reply.body = _with_endpoint(reply.body, body.get("endpoint"))
                return reply
            if not (
                reply.status == 400 and _UNPROCESSED.search(reply.body.decode("utf-8", "replace"))
            ):
                return reply
            await wait.pause()

    # -- fine-tuning jobs: OpenAI's API on Azure's paths, answers normalised by the dialect ---
    async def create_fine_tuning_job(
        self, http: aiohttp.ClientSession, body: Mapping[str, Any]
    ) -> UpstreamReply:
        if self.training_type and "trainingType" not in body:
            body = {**body, "trainingType": self.training_type}
        for param in ("training_file", "validation_file"):
            if body.get(param):
                wait = _FileWait(str(body[param]), param, self.file_ready_timeout)
                refused = await self._processed(http, wait)
                if refused is not None:
                    return refused
        reply = await super().create_fine_tuning_job(http, body)
        if reply.status == 201:
            reply.status = 200  # the dated API's "201 Created"; OpenAI answers 200
        return reply

    async def _processed(
        self, http: aiohttp.ClientSession, wait: _FileWait
    ) -> UpstreamReply | None:
        """None once Azure has processed a batch's or job's file (polled as ``wait`` says):
        Azure refuses a file that is still ``pending``, where OpenAI has processed it before
        answering the upload. Azure's own refusal if it cannot find the file."""
        while True:
            found = await self.retrieve_file(http, wait.file_id)
            if not found.ok:
                return found
            status, details = _file_status(found.body)
            if status == "error":
                raise BadRequest(
                    f"The {wait.noun} {wait.file_id} failed processing on Azure OpenAI: "
                    f"{details or 'no reason given'}",
                    param=wait.param,
                )
            if status != "uploaded":  # processed (or gone: Azure then says so itself)
                return None
            await wait.pause()


class _FileWait:
    """Polling a file Azure is still processing, with backoff, until ``timeout`` seconds
    are up: the input file of a batch create (``param`` ``input_file_id``) or a file of a
    fine-tuning job create."""

    def __init__(self, file_id: str, param: str, timeout: float):
        self.file_id = file_id
        self.param = param
        self.timeout = timeout
        self.batch = param == "input_file_id"
        self.noun = "input file" if self.batch else "file"
        self.loop = asyncio.get_running_loop()
        self.deadline = self.loop.time() + timeout
        self.delay = FIRST_POLL

    async def pause(self) -> None:
        """Wait before the next look; past the deadline, a 504 saying to try again later."""
        remaining = self.deadline - self.loop.time()
        if remaining <= 0:
            raise UpstreamTimeout(
                f"The {self.noun} {self.file_id} is still being processed by Azure OpenAI "
                f"after {self.timeout:g} seconds; create the "
                f"{'batch' if self.batch else 'job'} again later.",
                param=self.param,
            )
        await asyncio.sleep(min(self.delay, remaining))
        self.delay = min(self.delay * 2, MAX_POLL)


def _v1_endpoint(endpoint: Any) -> Any:
    if isinstance(endpoint, str) and endpoint.startswith("/") and not endpoint.startswith("/v1/"):
        return "/v1" + endpoint
    return endpoint


def _missing_endpoint(obj: dict[str, msgspec.Raw]) -> str | None:
    """The input file of a batch object that has no endpoint (else None)."""
    if "object" not in obj or _value.decode(obj["object"]) != "batch":
        return None
    if _value.decode(obj.get("endpoint", b"null")) is not None:
        return None
    file_id = _value.decode(obj.get("input_file_id", b"null"))
    return file_id if isinstance(file_id, str) and file_id else None


def _file_status(body: bytes) -> tuple[str | None, str | None]:
    """A normalised file answer's status and status_details."""
    try:
        obj = _value.decode(body)
    except msgspec.DecodeError:
        return None, None
    if not isinstance(obj, dict):
        return None, None
    status, details = obj.get("status"), obj.get("status_details")
    return (
        status if isinstance(status, str) else None,
        details if isinstance(details, str) else None,
    )


def _with_endpoint(body: bytes, endpoint: Any) -> bytes:
    """A create answer's null ``endpoint`` (Azure's) replaced by the one asked for."""
    try:
        obj = _object.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return body
    if not isinstance(endpoint, str) or _value.decode(obj.get("endpoint", b"null")) is not None:
        return body
    obj["endpoint"] = msgspec.Raw(_json.encode(endpoint))
    return _json.encode(obj)


async def _first_line(chunks: AsyncIterator[bytes]) -> bytes | None:
    """The first non-blank line of a stream (capped like every line), or None."""
    buf = bytearray()
    async for chunk in chunks:
        buf += chunk
        while (end := buf.find(b"\n")) != -1:
            if buf[:end].strip():
                return bytes(buf[:end])
            del buf[: end + 1]
        if len(buf) > MAX_LINE_BYTES:
            return None
    return bytes(buf) if buf.strip() else None


def _auth(setup: AccountSetup[AzureParams]) -> Auth:
    params = setup.params
    entra = entra_auth(params, setup.route or setup.name, setup.timeout, setup.secrets())
    if entra is not None:
        return entra
    if params.api_key:
        return StaticAuth({"api-key": params.api_key}, setup.secrets())
    raise ProviderError(
        "an azure account needs api_key (or AZURE_API_KEY), azure_ad_token, or "
        "tenant_id, client_id and client_secret"
    )


def _build(setup: AccountSetup[AzureParams]) -> Provider:
    params = setup.params
    if not params.api_base:
        raise ProviderError("an azure account needs api_base (or AZURE_API_BASE)")
    if not params.api_version:
        raise ProviderError("an azure account needs api_version (or AZURE_API_VERSION)")
    version = params.api_version.lower()
    v1 = version in V1_VERSIONS
    if not v1:
        query = {"api-version": params.api_version}
    else:
        query = {"api-version": "preview"} if version == "preview" else {}
    upstream = Upstream(
        setup.called(*REQUEST_ID_HEADERS),
        params.api_base.rstrip("/") + ("/openai/v1" if v1 else "/openai"),
        setup.timeout,
        auth=_auth(setup),
        retries=params.retries,
        query=query,
        secrets=setup.secrets(),
        wire=setup.wire,
    )
    dialect = AzureDialect(v1, setup.model or None)
    return AzureProvider(
        upstream,
        dialect,
        setup.file_ready_timeout,
        params.api_base,
        params.fine_tuning_training_type,
    )


SPEC = ProviderSpec(
    name="azure",
    prefixes=("azure",),
    params=AzureParams,
    factory=_build,
    # The layout derived routes had before providers declared them: IDs issued stay valid.
    route_fields=("model", "api_base", "api_version", "organization", "", "", ""),
    env={
        "api_base": "AZURE_API_BASE",
        "api_version": "AZURE_API_VERSION",
        "api_key": "AZURE_API_KEY",
        "tenant_id": "AZURE_TENANT_ID",
        "client_id": "AZURE_CLIENT_ID",
        "client_secret": "AZURE_CLIENT_SECRET",
        "azure_authority_host": "AZURE_AUTHORITY_HOST",
    },
)
