"""Provider adapters, chosen by the ``provider/`` prefix of ``litellm_params.model``."""

from __future__ import annotations

import aiohttp

from ..config import ProviderParams
from .azure import AzureProvider
from .base import FileUpload, Provider, ProviderError
from .openai import OpenAIProvider
from .vertex import VertexProvider

__all__ = ["FileUpload", "Provider", "ProviderError", "build_provider", "provider_name"]


def provider_name(model: str, custom_llm_provider: str | None = None) -> str:
    """LiteLLM's rule: an explicit custom_llm_provider, else the model's prefix, else openai."""
    if custom_llm_provider:
        return custom_llm_provider
    prefix, sep, _ = model.partition("/")
    return prefix if sep else "openai"


def build_provider(
    kind: str,
    name: str,
    params: ProviderParams,
    timeout: aiohttp.ClientTimeout,
    model: str | None = None,
    route: str | None = None,
    *,
    file_ready_timeout: float = 120.0,
) -> Provider:
    """The adapter for one account; ``model`` is litellm_params.model (None for legacy).

    ``route`` is the deployment's name in IDs: providers whose objects the router names
    itself keep each deployment's objects under it. ``file_ready_timeout`` bounds how long an
    adapter may wait for an input file its account is still processing.
    """
    if kind in ("openai", "openai_compatible"):
        return OpenAIProvider(name, params, timeout)
    if kind in ("vertex_ai", "vertex_ai_beta"):
        return VertexProvider(name, params, timeout, model, route=route or name)
    if kind == "azure":
        deployment = model.split("/", 1)[1] if model and "/" in model else model
        return AzureProvider(
            name, params, timeout, deployment, file_ready_timeout=file_ready_timeout
        )
    raise ProviderError(f"provider '{kind}' is not supported for files and batches yet")
