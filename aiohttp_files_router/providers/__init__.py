"""Provider adapters, chosen by the ``provider/`` prefix of ``litellm_params.model``.

The registry below is the only list of providers: the core (config, accounts, handlers) asks it
for a provider's params struct, its route fields and its adapter, and names no provider itself.

How to add a provider
---------------------
1. Write ``providers/<name>.py`` holding everything about it:
   - ``<Name>Params(ProviderParams)``: its own ``litellm_params`` fields only (the shared
     LiteLLM keys, ``model``, ``timeout``, ``num_retries``, ``rpm``... come from
     ``params.ProviderParams``), with ``secret_fields`` naming the ones that hold keys,
     tokens or credentials (hidden in repr, scrubbed from answers);
   - the adapter: a ``Provider`` (providers/base.py) implementing its nine operations
     (``create_file``, ``retrieve_file``, ``delete_file``, ``list_files``, ``file_content``,
     ``create_batch``, ``retrieve_batch``, ``cancel_batch``, ``list_batches``), ``close`` if
     it holds sessions, ``shared_store`` when deployments share one provider-side
     store (the router warns where key scopes split one), and ``expiry_range`` when its
     uploads' ``expires_after`` differs from OpenAI's. Objects the router names itself go
     under the deployment's ``AccountSetup.route`` (``filestore.router_namespace``); rows
     that name storage the account could read go through ``file_refs.FileRefCheck``.
     ``keeps_owner_tags`` when it stores the owner tags the router gives it (an upload's
     filename, a batch create's ``metadata[OWNER_KEY]``: ``owner_tags.owner_tag_of``) where
     the provider keeps something per object, and answers them back
     (``owner_tags.owner_metadata``): teams then list their own objects there
     (docs/security.md, "Teams"). It makes every call through
     ``self.upstream``, one ``upstream.Upstream`` per account (``setup.called(...)`` naming
     the deployment and the request-ID headers its provider documents, ``wire=setup.wire``
     for the router's transport, base URL, ``Auth`` (``s3.SigV4`` for a signing one), query,
     timeouts, retries, secrets; ``json``, ``stream``, ``exchange`` + ``read``, ``error``,
     ``decode``), which maps refused/reset to 502, timeouts to 504, malformed JSON to 502;
   - a factory ``(AccountSetup) -> Provider`` raising ProviderError for unusable settings, and
     ``SPEC = ProviderSpec(name=, prefixes=, params=, factory=, route_fields=, env=)``.
   Shared pieces to compose rather than copy: ``openai.OpenAIProvider`` + a ``Dialect`` for
   OpenAI-shaped APIs; ``jsonl.map_lines`` (streamed row transforms); ``gcs.Bucket``;
   ``genai_rows`` (OpenAI chat rows <-> GenerateContentRequest/Response, pure; see how
   ``vertex_rows`` wraps it with Vertex's row shape and custom_id transport);
   ``claude_rows`` (OpenAI chat rows <-> Anthropic Messages, pure; Bedrock and Anthropic);
   ``filestore.open_store`` for files a provider cannot keep itself (``anthropic``);
   ``openai.v1_base`` for an ``api_base`` given with or without ``/v1``;
   ``tokens.CachedToken`` for bearer tokens (``grant`` only; ``entra`` and ``google_auth``
   are examples); ``upstream.StaticAuth`` for fixed key headers; ``isotime.unix_seconds``;
   ``jsoncodec`` for the shared msgspec decoders; ``chat_rows.chat_row`` (an OpenAI batch row
   checked and converted, with the 400s naming the line); ``paging`` (walking provider pages
   to an ``after`` cursor); ``result_views`` (``#succeeded``/``#failed`` result files);
   ``shapes`` (list pages, batch ``errors``).
2. Register: import the module below and add its ``SPEC`` to ``PROVIDERS``.
3. The fake: ``fake/<name>.py``, a ``fake.base.FakeService`` (storage root, batch clock,
   ``record()`` of each request, ``Answer``) built from the provider's documentation (not
   from the adapter), exported from ``fake/__init__.py``, with a ``FLAVOUR``
   (``fake.base.FakeFlavour``: its command-line options and how ``--demo`` builds its
   account and config entry) added to ``fake.FLAVOURS``, one line (docs/fakes.md, "Adding a
   fake"). Nothing outside providers/ and fake/ names a provider, ``demo.py`` included.
4. Tests: ``tests/test_<name>.py`` driving the router with the ``openai`` SDK against the fake
   (files, content, batches, errors, isolation between accounts), ``tests/test_fake_<name>.py``
   driving the fake with the provider's official client, a ``Case`` (its fake and a
   deployment entry) in ``tests/test_contract.py``'s seed flow, and a config case in
   ``tests/test_config.py`` (unknown key path, secrets hidden in repr). What several test
   files need of a provider (keys the fake knows, a deployment entry) goes in
   ``tests/<name>_fixtures.py``; the clock and free ports are ``tests/common.py``'s, not
   another test file's.
   ``tests/test_seam.py`` fails if a core module names the provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from ..params import LenientParams, ProviderParams
from ..transport import Wire
from . import anthropic, azure, bedrock, gemini, mistral, openai, vertex
from .base import AccountSetup, FileUpload, Provider, ProviderError, ProviderSpec
from .litellm_keys import LITELLM_PARAMS, LITELLM_VERSION

__all__ = [
    "LITELLM_PARAMS",
    "LITELLM_VERSION",
    "PROVIDERS",
    "AccountSetup",
    "FileUpload",
    "Provider",
    "ProviderError",
    "ProviderSpec",
    "build_provider",
    "params_type",
    "provider_name",
    "route_values",
    "spec_for",
]

PROVIDERS: tuple[ProviderSpec[Any], ...] = (
    openai.SPEC,
    azure.SPEC,
    vertex.SPEC,
    gemini.SPEC,
    bedrock.SPEC,
    mistral.SPEC,
    anthropic.SPEC,
)
_BY_PREFIX: dict[str, ProviderSpec[Any]] = {p: s for s in PROVIDERS for p in s.prefixes}
if len(_BY_PREFIX) != sum(len(s.prefixes) for s in PROVIDERS):
    raise RuntimeError("two providers claim one model prefix")


def provider_name(model: str | None, custom_llm_provider: str | None = None) -> str:
    """LiteLLM's rule: an explicit custom_llm_provider, else the model's prefix, else openai."""
    if custom_llm_provider:
        return custom_llm_provider
    prefix, sep, _ = (model or "").partition("/")
    return prefix if sep else openai.SPEC.prefixes[0]


def spec_for(kind: str) -> ProviderSpec[Any] | None:
    """The provider a ``provider_name`` picks, or None when the router does not serve it."""
    return _BY_PREFIX.get(kind)


def params_type(kind: str) -> type[ProviderParams]:
    """The ``litellm_params`` struct of a provider (a lenient one for providers not served)."""
    spec = spec_for(kind)
    return spec.params if spec is not None else LenientParams


def route_values(kind: str, params: ProviderParams) -> tuple[str, ...]:
    """The non-secret settings that tell a provider's deployments apart."""
    spec = spec_for(kind)
    if spec is None:
        return (params.model or "",)
    return spec.route_values(params)


def build_provider(
    kind: str,
    name: str,
    params: ProviderParams,
    timeout: aiohttp.ClientTimeout,
    environ: Mapping[str, str],
    route: str | None = None,
    *,
    file_ready_timeout: float = 120.0,
    wire: Wire | None = None,
) -> Provider:
    """The adapter for one account; ProviderError says why the account cannot work.

    ``route`` is the deployment's name in IDs: providers whose objects the router names
    itself keep each deployment's objects under it. ``file_ready_timeout`` bounds how long an
    adapter may wait for an input file its account is still processing. ``wire``: the
    router's transport, filled when its client session is set up.
    """
    spec = spec_for(kind)
    if spec is None:
        raise ProviderError(f"provider '{kind}' is not supported for files and batches yet")
    setup = AccountSetup(name, params, timeout, file_ready_timeout, route or name, wire)
    return spec.build(setup, environ)
