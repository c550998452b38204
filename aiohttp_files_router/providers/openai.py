"""OpenAI and OpenAI-compatible accounts: the API is ours already, so calls pass through.

Subclasses (Azure) change the hooks only: ``auth_headers``, ``query``, ``normalise``,
``upload_fields`` and ``upload_chunks``.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec
from yarl import URL

from ..config import ProviderParams
from ..upstream import ContentStream, UpstreamReply, fetch_json, open_stream
from .base import BatchRules, FileUpload, Provider

__all__ = ["OpenAIProvider"]

DEFAULT_API_BASE = "https://api.openai.com/v1"
_json = msgspec.json.Encoder()


class OpenAIProvider(Provider):
    # Documented in the API reference ("Debugging requests"): the client may send its own ID
    # in X-Client-Request-Id; every answer carries OpenAI's ID in x-request-id. Azure OpenAI
    # documents both the same way.
    client_request_id_header = "X-Client-Request-Id"
    upstream_request_id_header = "x-request-id"
    # The Batch API guide: one endpoint per file, 50,000 requests, 200 MB, body.model required.
    batch_rules = BatchRules(
        frozenset(("/v1/responses", "/v1/chat/completions", "/v1/embeddings", "/v1/completions"))
    )

    def __init__(self, name: str, params: ProviderParams, timeout: aiohttp.ClientTimeout):
        self.name = name
        self.base = (params.api_base or DEFAULT_API_BASE).rstrip("/")
        self.timeout = timeout
        self.retries = params.retries
        self.headers: dict[str, str] = {}
        if params.api_key:
            self.headers["Authorization"] = f"Bearer {params.api_key}"
            self._secrets = (params.api_key,)
        if params.organization:
            self.headers["OpenAI-Organization"] = params.organization
        # Files and batches belong to the organization (or project) behind the key, which
        # the key alone does not tell: the same organization, else the same key, shares.
        if params.organization:
            self.shared_store = f"{self.base}, organization {params.organization}"
        elif params.api_key:
            digest = hashlib.sha256(params.api_key.encode()).hexdigest()[:8]
            self.shared_store = f"{self.base}, the same API key (sha256 {digest}...)"

    # -- hooks ------------------------------------------------------------------------------
    async def auth_headers(self, http: aiohttp.ClientSession) -> Mapping[str, str]:
        return self.headers

    def query(self) -> Mapping[str, str]:
        """Query parameters every call carries."""
        return {}

    def normalise(self, body: bytes) -> bytes:
        """A successful JSON answer, turned into OpenAI's shape."""
        return body

    def upload_fields(self, upload: FileUpload) -> Sequence[tuple[str, str]]:
        return upload.fields

    def upload_chunks(self, upload: FileUpload) -> AsyncIterator[bytes]:
        return upload.chunks

    # -- plumbing ---------------------------------------------------------------------------
    def url(self, *segments: str) -> URL:
        # Every segment is quoted whole: an ID can never add a path, query or host.
        path = "/".join(quote(s, safe="") for s in segments)
        return URL(f"{self.base}/{path}", encoded=True)

    async def _call(
        self,
        http: aiohttp.ClientSession,
        method: str,
        url: URL,
        *,
        params: Mapping[str, str] | None = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> UpstreamReply:
        reply = await fetch_json(
            http,
            method,
            url,
            account=self.name,
            secrets=self.secrets,
            headers={**await self.auth_headers(http), **(headers or {})},
            timeout=self.timeout,
            params={**self.query(), **(params or {})},
            data=data,
            retries=self.retries,
        )
        if reply.ok:
            reply.body = self.normalise(reply.body)
        return reply

    # -- operations -------------------------------------------------------------------------
    async def create_file(self, http: aiohttp.ClientSession, upload: FileUpload) -> UpstreamReply:
        with aiohttp.MultipartWriter("form-data") as form:
            for name, value in self.upload_fields(upload):
                part = form.append(value, {"Content-Type": "text/plain; charset=utf-8"})
                part.set_content_disposition("form-data", name=name)
            payload = aiohttp.payload.AsyncIterablePayload(
                upload.guard(self.upload_chunks(upload)), content_type=upload.content_type
            )
            part = form.append_payload(payload)
            part.set_content_disposition("form-data", name="file", filename=upload.filename)
            return await self._call(http, "POST", self.url("files"), data=form)

    async def retrieve_file(self, http: aiohttp.ClientSession, file_id: str) -> UpstreamReply:
        return await self._call(http, "GET", self.url("files", file_id))

    async def delete_file(self, http: aiohttp.ClientSession, file_id: str) -> UpstreamReply:
        return await self._call(http, "DELETE", self.url("files", file_id))

    async def list_files(
        self, http: aiohttp.ClientSession, query: Mapping[str, str]
    ) -> UpstreamReply:
        return await self._call(http, "GET", self.url("files"), params=query)

    @asynccontextmanager
    async def file_content(
        self, http: aiohttp.ClientSession, file_id: str, codings: Collection[str] = ()
    ) -> AsyncIterator[ContentStream]:
        async with open_stream(
            http,
            self.url("files", file_id, "content"),
            account=self.name,
            secrets=self.secrets,
            headers=await self.auth_headers(http),
            timeout=self.timeout,
            params=self.query(),
            codings=codings,
            retries=self.retries,
        ) as stream:
            yield stream

    async def create_batch(
        self, http: aiohttp.ClientSession, body: Mapping[str, Any]
    ) -> UpstreamReply:
        return await self._call(
            http,
            "POST",
            self.url("batches"),
            data=_json.encode(body),
            headers={"Content-Type": "application/json"},
        )

    async def retrieve_batch(self, http: aiohttp.ClientSession, batch_id: str) -> UpstreamReply:
        return await self._call(http, "GET", self.url("batches", batch_id))

    async def cancel_batch(self, http: aiohttp.ClientSession, batch_id: str) -> UpstreamReply:
        return await self._call(http, "POST", self.url("batches", batch_id, "cancel"))

    async def list_batches(
        self, http: aiohttp.ClientSession, query: Mapping[str, str]
    ) -> UpstreamReply:
        return await self._call(http, "GET", self.url("batches"), params=query)
