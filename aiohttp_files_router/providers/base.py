"""The adapter contract: what every provider account offers the handlers, and what a
provider module declares about itself (``ProviderSpec``).

Handlers speak OpenAI; an adapter (``Provider``) turns each operation into its provider's calls
and hands back OpenAI-shaped JSON (``UpstreamReply``) or a streamed body (``ContentStream``). A
provider's quirks live in its module and nowhere else. See providers/__init__.py for how to
add one.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Generic, TypeVar

import aiohttp
import msgspec

from ..errors import BadRequest, RouterError
from ..params import ProviderParams
from ..transport import Wire
from ..uploads import EXPIRY_SECONDS
from ..upstream import Called, ContentStream, Upstream, UpstreamReply

__all__ = [
    "AccountSetup",
    "BatchRules",
    "FileUpload",
    "Provider",
    "ProviderError",
    "ProviderSpec",
    "TuningRules",
]


P = TypeVar("P", bound=ProviderParams)

BATCH_MAX_LINES = 50_000
BATCH_MAX_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class BatchRules:
    """What a provider accepts in a batch input file, checked while the file streams in."""

    endpoints: frozenset[str]  # the row ``url`` values its batches run
    max_lines: int = BATCH_MAX_LINES
    max_bytes: int = BATCH_MAX_BYTES
    needs_model: bool = True  # rows must carry ``body.model`` (else the adapter sets it)
    # The ``body`` fields a row of each endpoint must have (the provider's request schema).
    required: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def merge(self, other: BatchRules) -> BatchRules:
        """Rules a file must meet to be valid on both accounts (a fan-out upload)."""
        endpoints = self.endpoints & other.endpoints
        return BatchRules(
            endpoints,
            min(self.max_lines, other.max_lines),
            min(self.max_bytes, other.max_bytes),
            self.needs_model or other.needs_model,
            {
                url: tuple(
                    dict.fromkeys((*self.required.get(url, ()), *other.required.get(url, ())))
                )
                for url in endpoints
            },
        )


# OpenAI's fine-tuning guide: at least 10 examples; a file is at most 512 MB.
TUNING_MIN_EXAMPLES = 10
TUNING_MAX_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class TuningRules:
    """What a provider accepts in a fine-tuning file, checked while the file streams in.

    ``formats``: the line formats its jobs train on: ``supervised`` (chat ``messages`` with an
    assistant turn), ``dpo`` (``input``, ``preferred_output``, ``non_preferred_output``),
    ``reinforcement`` (``messages`` ending in a user turn, no assistant answer),
    ``completions`` (``prompt`` and ``completion``, for the older base models).
    """

    roles: frozenset[str]  # the message roles a line may use
    formats: frozenset[str] = frozenset(("supervised",))
    min_examples: int = TUNING_MIN_EXAMPLES
    max_bytes: int = TUNING_MAX_BYTES
    max_lines: int | None = None

    def merge(self, other: TuningRules) -> TuningRules:
        """Rules a file must meet to be valid on both accounts (a fan-out upload)."""
        limits = [n for n in (self.max_lines, other.max_lines) if n is not None]
        return TuningRules(
            self.roles & other.roles,
            self.formats & other.formats,
            max(self.min_examples, other.min_examples),
            min(self.max_bytes, other.max_bytes),
            min(limits) if limits else None,
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
    # Where an adapter that must spool the upload (to learn its size first) puts its temp
    # file: files_router.spool_dir, None for the system's temp directory.
    spool_dir: str | None = None
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
    """One provider account, as the handlers see it: OpenAI's files and batches operations.

    An adapter speaks OpenAI outward and its provider's API inward. Every upstream call goes
    through ``self.upstream`` (the account's one ``upstream.Upstream``: base URL, auth,
    timeouts, retries, scrubbing, the 502/504 mapping). Every JSON answer is an
    ``UpstreamReply`` holding OpenAI's shape (errors normalised and scrubbed); IDs in it are
    the provider's own (the handlers encode them). Every method may raise RouterError:
    BadRequest / NotFound for what the provider cannot do or find, 502/504 on transport.
    IDs reach an adapter already decoded and checked for this account; an adapter still
    quotes them into URLs (``Upstream.url``) and refuses IDs outside its own namespace.
    """

    upstream: Upstream
    # The provider's name (its ProviderSpec's), set when the account is built.
    provider_name: str = "this provider's"
    # A non-secret text naming the provider-side store (files, batches) this account reaches;
    # accounts with the same text see each other's objects. None: the router keeps this
    # account's objects in a namespace of its own.
    shared_store: str | None = None
    # The batch input files this provider accepts (endpoints, limits, whether rows name a
    # model); the router checks an upload of purpose=batch against them as it streams.
    batch_rules: ClassVar[BatchRules] = BatchRules(frozenset())
    # Owner tags (ownership.py): whether this adapter stores the ones the router gives it
    # (an upload's ``filename`` prefix, a create body's ``metadata[OWNER_KEY]``, as the
    # handlers set them) with the object upstream and gives them back in its answers (the
    # same places; the handlers strip them). An adapter may keep them where its provider
    # keeps something per object (a label, a name: owner_tags.py).
    # Without them, a non-admin under private ownership reaches this account's objects only
    # through the router's signed IDs: raw provider IDs are 404s and listings show none of
    # its objects. A kind whose tag an adapter does not keep (a batch, say) is treated so.
    keeps_owner_tags: ClassVar[bool] = False
    # Kinds whose owner tags this adapter cannot keep although it keeps the others (its
    # provider stores nothing per object of that kind): treated as above for that kind.
    untagged_kinds: ClassVar[frozenset[str]] = frozenset()
    # How many metadata pairs a batch may carry here (None: no limit the router knows).
    metadata_pairs: ClassVar[int | None] = None
    # The fine-tuning files this provider accepts; None: its accounts run no fine-tuning jobs
    # (every fine-tuning operation is a 400 saying so, and merged job listings skip them).
    tuning_rules: ClassVar[TuningRules | None] = None

    def keeps_tags(self, kind: str) -> bool:
        """Whether objects of ``kind`` carry the router's owner tag upstream here."""
        return self.keeps_owner_tags and kind not in self.untagged_kinds

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values scrubbed from anything passed back from this account (keys, tokens)."""
        return self.upstream.secrets

    def expiry_range(self, purpose: str) -> tuple[int, int]:
        """The ``expires_after[seconds]`` an upload of ``purpose`` may ask for (OpenAI's)."""
        return EXPIRY_SECONDS

    async def close(self) -> None:  # noqa: B027 - most adapters hold nothing of their own
        """Release what the adapter holds (its own sessions); called at app cleanup."""

    @abc.abstractmethod
    async def create_file(self, http: aiohttp.ClientSession, upload: FileUpload) -> UpstreamReply:
        """Store ``upload`` (streamed, never read whole); answer an OpenAI File object.

        ``purpose=batch`` rows may be rewritten line by line on the way (jsonl.map_lines);
        a row the provider cannot take is a BadRequest naming its line."""

    @abc.abstractmethod
    async def retrieve_file(self, http: aiohttp.ClientSession, file_id: str) -> UpstreamReply:
        """An OpenAI File object for ``file_id``; a missing file is a 404."""

    @abc.abstractmethod
    async def delete_file(self, http: aiohttp.ClientSession, file_id: str) -> UpstreamReply:
        """Delete ``file_id``; answer ``{"id", "object": "file", "deleted": true}``."""

    @abc.abstractmethod
    async def list_files(
        self, http: aiohttp.ClientSession, query: Mapping[str, str]
    ) -> UpstreamReply:
        """An OpenAI list of File objects; ``query`` holds OpenAI's ``limit``, ``after``,
        ``order``, ``purpose`` (``after`` already decoded to a provider ID)."""

    @abc.abstractmethod
    def file_content(
        self, http: aiohttp.ClientSession, file_id: str, codings: Collection[str] = ()
    ) -> AbstractAsyncContextManager[ContentStream]:
        """The file's bytes, streamed; ``codings`` are the content codings the client takes
        as they are (a body in one of them may stream encoded, with its Content-Encoding).
        Batch results leave as OpenAI batch output rows. An upstream refusal is in
        ``ContentStream.error``."""

    @abc.abstractmethod
    async def create_batch(
        self, http: aiohttp.ClientSession, body: Mapping[str, Any]
    ) -> UpstreamReply:
        """Start a batch from OpenAI's create body (``input_file_id`` already decoded);
        answer an OpenAI Batch object."""

    @abc.abstractmethod
    async def retrieve_batch(self, http: aiohttp.ClientSession, batch_id: str) -> UpstreamReply:
        """An OpenAI Batch object: status, request_counts, unix times, output/error files."""

    @abc.abstractmethod
    async def cancel_batch(self, http: aiohttp.ClientSession, batch_id: str) -> UpstreamReply:
        """Ask the provider to cancel; answer the Batch object as it now stands."""

    @abc.abstractmethod
    async def list_batches(
        self, http: aiohttp.ClientSession, query: Mapping[str, str]
    ) -> UpstreamReply:
        """An OpenAI list of Batch objects (``limit``, ``after`` as for list_files)."""

    # -- fine-tuning jobs: OpenAI's /fine_tuning/jobs; by default not offered -----------------
    def _no_tuning(self) -> RouterError:
        return BadRequest(
            f"fine-tuning is not supported on {self.provider_name} accounts.",
            code="fine_tuning_not_supported",
        )

    async def create_fine_tuning_job(
        self, http: aiohttp.ClientSession, body: Mapping[str, Any]
    ) -> UpstreamReply:
        """Start a job from OpenAI's create body (``training_file`` and ``validation_file``
        already decoded, both on this account); answer an OpenAI FineTuningJob."""
        raise self._no_tuning()

    async def list_fine_tuning_jobs(
        self, http: aiohttp.ClientSession, query: Mapping[str, str]
    ) -> UpstreamReply:
        """An OpenAI list of FineTuningJob objects (``limit``, ``after`` decoded)."""
        raise self._no_tuning()

    async def _job_not_offered(self, http: aiohttp.ClientSession, job_id: str) -> UpstreamReply:
        """One job's call. ``retrieve_``: an OpenAI FineTuningJob, a missing job a 404;
        ``cancel_``: ask the provider to cancel, answer the job as it now stands; ``pause_``
        and ``resume_``: the same for a running or paused job (a 400 where the provider
        cannot)."""
        raise self._no_tuning()

    retrieve_fine_tuning_job = cancel_fine_tuning_job = _job_not_offered
    pause_fine_tuning_job = resume_fine_tuning_job = _job_not_offered

    async def _job_list_not_offered(
        self, http: aiohttp.ClientSession, job_id: str, query: Mapping[str, str]
    ) -> UpstreamReply:
        """An OpenAI list of one job's ``fine_tuning.job.event`` objects (``_events``, newest
        first) or ``fine_tuning.job.checkpoint`` objects (``_checkpoints``)."""
        raise self._no_tuning()

    list_fine_tuning_events = list_fine_tuning_checkpoints = _job_list_not_offered


@dataclass(frozen=True)
class AccountSetup(Generic[P]):
    """What an adapter factory gets: one account's settings, environment fallbacks applied."""

    name: str  # the model_name, or the provider name of a legacy files_settings account
    params: P
    timeout: aiohttp.ClientTimeout
    # How long an adapter may wait for an input file its account is still processing.
    file_ready_timeout: float = 120.0
    # The deployment's name in IDs; providers whose objects the router names itself keep
    # each deployment's objects under it. Defaults to ``name``.
    route: str | None = None
    # The router's transport, filled when its session is set up: pass it to every
    # ``Upstream`` the account makes (``wire=setup.wire``).
    wire: Wire | None = None

    def called(self, client_id_header: str | None = None, *upstream_id_headers: str) -> Called:
        """Who this account's calls go to (``Upstream``'s first argument): the deployment's
        route and model_name, and the request-ID headers its provider documents (the one
        that carries ours to it, those that hold its own)."""
        return Called(self.route or self.name, self.name, client_id_header, upstream_id_headers)

    @property
    def model(self) -> str:
        """litellm_params.model without its provider prefix ("" for a legacy account)."""
        return (self.params.model or "").partition("/")[2] or (self.params.model or "")

    def secrets(self) -> tuple[str, ...]:
        """The values of the params' secret fields that are set (scrubbed from answers)."""
        values = (getattr(self.params, f, None) for f in sorted(self.params.secret_fields))
        return tuple(v for v in values if isinstance(v, str) and v)


@dataclass(frozen=True)
class ProviderSpec(Generic[P]):
    """Everything the core knows of one provider, declared in the provider's own module.

    - ``name``: what logs and /health call it.
    - ``prefixes``: the ``provider/`` prefixes of ``litellm_params.model`` (and the
      ``custom_llm_provider`` values) that pick it.
    - ``params``: its ``litellm_params`` struct (its own fields only; unknown keys are config
      errors). Its ``secret_fields`` are hidden in repr and scrubbed from every answer.
    - ``route_fields``: the non-secret fields that tell its deployments apart; a derived
      route (a shared model_name without model_info.id) is a hash of their values, so they
      must never include a secret. Fields the struct lacks count as empty.
    - ``env``: environment fallbacks, field -> variable (or variables, the first set wins),
      used when the field is unset.
    - ``factory``: builds the adapter; raises ProviderError when the account cannot work.
    """

    name: str
    prefixes: tuple[str, ...]
    params: type[P]
    factory: Callable[[AccountSetup[P]], Provider]
    route_fields: tuple[str, ...] = ("model", "api_base")
    env: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)

    def route_values(self, params: ProviderParams) -> tuple[str, ...]:
        return tuple(str(getattr(params, f, None) or "") for f in self.route_fields)

    def build(self, setup: AccountSetup[Any], environ: Mapping[str, str]) -> Provider:
        """The adapter for one account; ``setup.params`` must be of this spec's struct."""
        params = setup.params
        if not isinstance(params, self.params):
            raise ProviderError(f"the settings are not {self.name}'s")
        fallbacks = {}
        for f, names in self.env.items():
            if getattr(params, f, None):
                continue
            value = next(
                (
                    environ[v]
                    for v in ((names,) if isinstance(names, str) else names)
                    if environ.get(v)
                ),
                None,
            )
            if value is not None:
                fallbacks[f] = value
        if fallbacks:
            setup = replace(setup, params=msgspec.structs.replace(params, **fallbacks))
        provider = self.factory(setup)
        provider.provider_name = self.name
        return provider
