"""The adapter protocol: what every provider account offers the handlers.

Handlers speak OpenAI; an adapter turns each operation into its provider's calls and hands
back OpenAI-shaped JSON (``UpstreamReply``) or a streamed body (``ContentStream``). A provider's
quirks live in its adapter and nowhere else.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import aiohttp

from ..errors import RouterError
from ..uploads import EXPIRY_SECONDS
from ..upstream import ContentStream, UpstreamReply

__all__ = ["BatchRules", "FileUpload", "Provider", "ProviderError"]

BATCH_MAX_LINES = 50_000
BATCH_MAX_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class BatchRules:
    """What a provider accepts in a batch input file, checked while the file streams in."""

    endpoints: frozenset[str]  # the row ``url`` values its batches run
    max_lines: int = BATCH_MAX_LINES
    max_bytes: int = BATCH_MAX_BYTES
    needs_model: bool = True  # rows must carry ``body.model`` (else the adapter sets it)

    def merge(self, other: BatchRules) -> BatchRules:
        """Rules a file must meet to be valid on both accounts (a fan-out upload)."""
        return BatchRules(
            self.endpoints & other.endpoints,
            min(self.max_lines, other.max_lines),
            min(self.max_bytes, other.max_bytes),
            self.needs_model or other.needs_model,
        )


class ProviderError(ValueError):
    """An account's configuration cannot be used; the message names what is wrong."""


@dataclass
class FileUpload:
    """A file being uploaded: small form fields plus the streamed file part.

    Whatever stops the stream on purpose (size cap, a malformed JSONL line) is kept in
    ``failure``: the upstream call then fails with a transport error, and the handler answers
    with this instead.
    """

    fields: Sequence[tuple[str, str]]  # forwarded form fields, in order (purpose first)
    filename: str
    content_type: str
    chunks: AsyncIterator[bytes]
    failure: RouterError | None = field(default=None, init=False)

    @property
    def purpose(self) -> str:
        return dict(self.fields).get("purpose", "")

    async def guard(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """``chunks``, remembering the RouterError that ends them early."""
        try:
            async for chunk in chunks:
                yield chunk
        except RouterError as err:
            self.failure = err
            raise


class Provider(abc.ABC):
    """One provider account. Every method may raise RouterError (502/504 on transport)."""

    _secrets: tuple[str, ...] = ()
    # A non-secret text naming the provider-side store (files, batches) this account reaches;
    # accounts with the same text see each other's objects. None: the router keeps this
    # account's objects in a namespace of its own.
    shared_store: str | None = None
    # The header that carries the router's request ID to this provider, where the provider
    # documents one, and the response header holding the provider's own request ID.
    client_request_id_header: ClassVar[str | None] = None
    upstream_request_id_header: ClassVar[str | None] = None
    # The batch input files this provider accepts (endpoints, limits, whether rows name a
    # model); the router checks an upload of purpose=batch against them as it streams.
    batch_rules: ClassVar[BatchRules] = BatchRules(frozenset())

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values scrubbed from anything passed back from this account (keys, tokens)."""
        return self._secrets

    def expiry_range(self, purpose: str) -> tuple[int, int]:
        """The ``expires_after[seconds]`` an upload of ``purpose`` may ask for (OpenAI's)."""
        return EXPIRY_SECONDS

    async def close(self) -> None:  # noqa: B027 - most adapters hold nothing of their own
        """Release what the adapter holds (its own sessions); called at app cleanup."""

    @abc.abstractmethod
    async def create_file(
        self, http: aiohttp.ClientSession, upload: FileUpload
    ) -> UpstreamReply: ...

    @abc.abstractmethod
    async def retrieve_file(self, http: aiohttp.ClientSession, file_id: str) -> UpstreamReply: ...

    @abc.abstractmethod
    async def delete_file(self, http: aiohttp.ClientSession, file_id: str) -> UpstreamReply: ...

    @abc.abstractmethod
    async def list_files(
        self, http: aiohttp.ClientSession, query: Mapping[str, str]
    ) -> UpstreamReply: ...

    @abc.abstractmethod
    def file_content(
        self, http: aiohttp.ClientSession, file_id: str, codings: Collection[str] = ()
    ) -> AbstractAsyncContextManager[ContentStream]:
        """The file's bytes; ``codings`` are the content codings the client takes as they
        are (a body in one of them may stream encoded, with its Content-Encoding)."""

    @abc.abstractmethod
    async def create_batch(
        self, http: aiohttp.ClientSession, body: Mapping[str, Any]
    ) -> UpstreamReply: ...

    @abc.abstractmethod
    async def retrieve_batch(self, http: aiohttp.ClientSession, batch_id: str) -> UpstreamReply: ...

    @abc.abstractmethod
    async def cancel_batch(self, http: aiohttp.ClientSession, batch_id: str) -> UpstreamReply: ...

    @abc.abstractmethod
    async def list_batches(
        self, http: aiohttp.ClientSession, query: Mapping[str, str]
    ) -> UpstreamReply: ...
