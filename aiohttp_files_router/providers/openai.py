"""OpenAI and OpenAI-compatible accounts: the API is ours already, so calls pass through.

``OpenAIProvider`` is also the shared piece for any provider speaking OpenAI's files and
batches API: it takes the account's ``Upstream`` (base URL, auth, query every call carries)
and a ``Dialect`` (how answers, upload fields and rows differ).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, ClassVar

import aiohttp
from aiohttp import hdrs

from ..params import ProviderParams
from ..upstream import ContentStream, StaticAuth, Upstream, UpstreamReply
from .base import AccountSetup, BatchRules, FileUpload, Provider, ProviderSpec, TuningRules

__all__ = [
    "DEFAULT_API_BASE",
    "REQUEST_ID_HEADERS",
    "SPEC",
    "Dialect",
    "OpenAIParams",
    "OpenAIProvider",
    "v1_base",
]

# OpenAI takes a caller's request ID in X-Client-Request-Id and answers with its own in
# x-request-id (the openai SDK's _base_client reads both). OpenAI-compatible servers often sit
# behind a gateway that answers with its own: Azure API Management's apim-request-id, Azure's
# x-ms-request-id, a plain request-id.
REQUEST_ID_HEADERS = (
    "X-Client-Request-Id",
    "x-request-id",
    "apim-request-id",
    "x-ms-request-id",
    "request-id",
)

DEFAULT_API_BASE = "https://api.openai.com/v1"


# The HTML form encoding of a multipart field's filename, as the openai SDK (httpx) and
# browsers write it: UTF-8 as it is, '"' and control characters percent-encoded, '\' doubled.
_FORM_ESCAPES = {ord('"'): "%22", ord("\\"): "\\\\"} | {
    c: f"%{c:02X}" for c in range(0x20) if c != 0x1B
}


def form_quoted(value: str) -> str:
    return value.translate(_FORM_ESCAPES)


def v1_base(api_base: str | None, default: str) -> str:
    """``api_base`` ending in ``/v1``, whether it was written with it or not (LiteLLM's own
    defaults differ: with it for OpenAI and Mistral, without for Anthropic)."""
    base = (api_base or default).rstrip("/")
    return base if base.endswith("/v1") else f"{base}/v1"


class OpenAIParams(ProviderParams, kw_only=True, frozen=True):
    """``litellm_params`` of an OpenAI or OpenAI-compatible deployment."""

    secret_fields = frozenset({"api_key"})

    api_key: str | None = None
    api_base: str | None = None
    api_version: str | None = None
    organization: str | None = None


class Dialect:
    """How an OpenAI-style API differs from OpenAI's own; every hook here leaves things be.

    A provider that speaks OpenAI's files and batches API with quirks (Azure OpenAI) passes
    its own Dialect to OpenAIProvider instead of overriding the adapter.
    """

    def normalise(self, body: bytes) -> bytes:
        """A successful JSON answer, turned into OpenAI's shape."""
        return body

    def upload_fields(self, upload: FileUpload) -> Sequence[tuple[str, str]]:
        """The form fields an upload sends (``purpose``, ``expires_after[...]``)."""
        return upload.fields

    def upload_chunks(self, upload: FileUpload) -> AsyncIterator[bytes]:
        """The file part's bytes as they stream up (rows may be rewritten, line by line)."""
        return upload.chunks


BATCH_REQUIRED: dict[str, tuple[str, ...]] = {
    "/v1/responses": ("model",),
    "/v1/chat/completions": ("model", "messages"),
    "/v1/embeddings": ("model", "input"),
    "/v1/completions": ("model", "prompt"),
    "/v1/moderations": ("input",),
    "/v1/images/generations": ("prompt",),
    "/v1/images/edits": ("images", "prompt"),
    "/v1/videos": ("prompt",),
}


class OpenAIProvider(Provider):
    """OpenAI's files and batches API at ``upstream``'s base URL, spoken in ``dialect``."""

    # Documented in the API reference ("Debugging requests"): the client may send its own ID
    # in X-Client-Request-Id; every answer carries OpenAI's ID in x-request-id. Azure OpenAI
    # documents both the same way.
    # The upload's filename and the batch's metadata are stored as sent and answered back
    # (API reference: File.filename; Batch.metadata, 16 pairs, keys <= 64, values <= 512).
    keeps_owner_tags = True
    metadata_pairs = 16
    # The Batch API guide: one endpoint per file, 50,000 requests, 200 MB. The endpoints are
    # CreateBatchRequest.endpoint's in OpenAI's OpenAPI spec, each body's required fields its
    # request schema's (CreateChatCompletionRequest, CreateEmbeddingRequest, ...; images/edits
    # and videos in their JSON forms), body.model where those need it and for /v1/responses.
    batch_rules = BatchRules(
        frozenset(BATCH_REQUIRED),
        needs_model=False,
        required=BATCH_REQUIRED,
    )

    # The fine-tuning guide and API reference: chat examples (system, developer, user,
    # assistant, tool and the older function role), preference (DPO), reinforcement and
    # prompt/completion examples (babbage-002, davinci-002); at least 10 examples; files up
    # to 512 MB.
    tuning_rules: ClassVar[TuningRules | None] = TuningRules(
        frozenset(("system", "developer", "user", "assistant", "tool", "function")),
        frozenset(("supervised", "dpo", "reinforcement", "completions")),
    )

    def __init__(
        self,
        upstream: Upstream,
        dialect: Dialect | None = None,
        *,
        shared_store: str | None = None,
    ):
        self.upstream = upstream
        self.dialect = dialect or Dialect()
        self.shared_store = shared_store
        # Every call of the adapter: a 2xx answer in OpenAI's shape (the dialect's).
        self._call = partial(upstream.json, ok=self.dialect.normalise)

    # -- operations -------------------------------------------------------------------------
    async def create_file(self, http: aiohttp.ClientSession, upload: FileUpload) -> UpstreamReply:
        with aiohttp.MultipartWriter("form-data") as form:
            for name, value in self.dialect.upload_fields(upload):
                part = form.append(value, {"Content-Type": "text/plain; charset=utf-8"})
                part.set_content_disposition("form-data", name=name)
            payload = aiohttp.payload.AsyncIterablePayload(
                upload.guard(self.dialect.upload_chunks(upload)),
                content_type=upload.content_type,
            )
            part = form.append_payload(payload)
            # aiohttp's own quoting would percent-encode spaces and every non-ASCII byte,
            # which OpenAI then keeps as the file's name.
            part.headers[hdrs.CONTENT_DISPOSITION] = (
                f'form-data; name="file"; filename="{form_quoted(upload.filename)}"'
            )
            return await self._call(http, "POST", self.upstream.url("files"), data=form)

    async def retrieve_file(self, http: aiohttp.ClientSession, file_id: str) -> UpstreamReply:
        return await self._call(http, "GET", self.upstream.url("files", file_id))

    async def delete_file(self, http: aiohttp.ClientSession, file_id: str) -> UpstreamReply:
        return await self._call(http, "DELETE", self.upstream.url("files", file_id))

    async def list_files(
        self, http: aiohttp.ClientSession, query: Mapping[str, str]
    ) -> UpstreamReply:
        return await self._call(http, "GET", self.upstream.url("files"), params=query)

    @asynccontextmanager
    async def file_content(
        self, http: aiohttp.ClientSession, file_id: str, codings: Collection[str] = ()
    ) -> AsyncIterator[ContentStream]:
        url = self.upstream.url("files", file_id, "content")
        async with self.upstream.stream(http, url, codings=codings) as stream:
            yield stream

    async def create_batch(
        self, http: aiohttp.ClientSession, body: Mapping[str, Any]
    ) -> UpstreamReply:
        return await self._call(http, "POST", self.upstream.url("batches"), body=body)

    async def retrieve_batch(self, http: aiohttp.ClientSession, batch_id: str) -> UpstreamReply:
        return await self._call(http, "GET", self.upstream.url("batches", batch_id))

    async def cancel_batch(self, http: aiohttp.ClientSession, batch_id: str) -> UpstreamReply:
        return await self._call(http, "POST", self.upstream.url("batches", batch_id, "cancel"))

    async def list_batches(
        self, http: aiohttp.ClientSession, query: Mapping[str, str]
    ) -> UpstreamReply:
        return await self._call(http, "GET", self.upstream.url("batches"), params=query)

    # -- fine-tuning jobs -------------------------------------------------------------------
    async def create_fine_tuning_job(
        self, http: aiohttp.ClientSession, body: Mapping[str, Any]
    ) -> UpstreamReply:
        return await self._call(http, "POST", self.upstream.url("fine_tuning", "jobs"), body=body)

    async def list_fine_tuning_jobs(
        self, http: aiohttp.ClientSession, query: Mapping[str, str]
    ) -> UpstreamReply:
        return await self._call(http, "GET", self.upstream.url("fine_tuning", "jobs"), params=query)

    async def retrieve_fine_tuning_job(
        self, http: aiohttp.ClientSession, job_id: str
    ) -> UpstreamReply:
        return await self._call(http, "GET", self.upstream.url("fine_tuning", "jobs", job_id))

    async def _job_action(
        self, http: aiohttp.ClientSession, job_id: str, action: str
    ) -> UpstreamReply:
        return await self._call(
            http, "POST", self.upstream.url("fine_tuning", "jobs", job_id, action)
        )

    async def cancel_fine_tuning_job(
        self, http: aiohttp.ClientSession, job_id: str
    ) -> UpstreamReply:
        return await self._job_action(http, job_id, "cancel")

    async def pause_fine_tuning_job(
        self, http: aiohttp.ClientSession, job_id: str
    ) -> UpstreamReply:
        return await self._job_action(http, job_id, "pause")

    async def resume_fine_tuning_job(
        self, http: aiohttp.ClientSession, job_id: str
    ) -> UpstreamReply:
        return await self._job_action(http, job_id, "resume")

    async def list_fine_tuning_events(
        self, http: aiohttp.ClientSession, job_id: str, query: Mapping[str, str]
    ) -> UpstreamReply:
        url = self.upstream.url("fine_tuning", "jobs", job_id, "events")
        return await self._call(http, "GET", url, params=query)

    async def list_fine_tuning_checkpoints(
        self, http: aiohttp.ClientSession, job_id: str, query: Mapping[str, str]
    ) -> UpstreamReply:
        url = self.upstream.url("fine_tuning", "jobs", job_id, "checkpoints")
        return await self._call(http, "GET", url, params=query)


def _build(setup: AccountSetup[OpenAIParams]) -> Provider:
    params = setup.params
    headers: dict[str, str] = {}
    if params.api_key:
        headers["Authorization"] = f"Bearer {params.api_key}"
    if params.organization:
        headers["OpenAI-Organization"] = params.organization
    upstream = Upstream(
        setup.called(*REQUEST_ID_HEADERS),
        params.api_base or DEFAULT_API_BASE,
        setup.timeout,
        auth=StaticAuth(headers, setup.secrets()),
        retries=params.retries,
        wire=setup.wire,
    )
    # Files and batches belong to the organization (or project) behind the key, which
    # the key alone does not tell: the same organization, else the same key, shares.
    store = None
    if params.organization:
        store = f"{upstream.base}, organization {params.organization}"
    elif params.api_key:
        digest = hashlib.sha256(params.api_key.encode()).hexdigest()[:8]
        store = f"{upstream.base}, the same API key (sha256 {digest}...)"
    return OpenAIProvider(upstream, shared_store=store)


SPEC = ProviderSpec(
    name="openai",
    prefixes=("openai", "openai_compatible"),
    params=OpenAIParams,
    factory=_build,
    # The layout derived routes had before providers declared them: IDs issued stay valid.
    route_fields=("model", "api_base", "api_version", "organization", "", "", ""),
)
