"""The typed config structs every section shares, and the base of each provider's params.

A provider declares its own ``litellm_params`` struct (a subclass of ``ProviderParams`` in its
module under ``providers/``) holding only its own fields; what lives here is what LiteLLM
accepts for any deployment. Secrets are named per struct in ``secret_fields`` and never shown
by ``repr``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec

__all__ = ["ConfigStruct", "LenientParams", "ProviderParams"]


class ConfigStruct(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A config section: unknown keys are errors; ``secret_fields`` are hidden in ``repr``."""

    secret_fields: ClassVar[frozenset[str]] = frozenset()

    def __repr__(self) -> str:
        parts = []
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if name in self.secret_fields and value is not None:
                value = "***"
            parts.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


class ProviderParams(ConfigStruct, kw_only=True, frozen=True):
    """What every deployment's ``litellm_params`` may hold, whatever its provider.

    ``model`` is required in ``model_list`` and ``custom_llm_provider`` in ``files_settings``;
    config.py checks both with msgspec's own wording, since one struct serves both sections.
    """

    model: str | None = None
    custom_llm_provider: str | None = None
    timeout: Annotated[float, msgspec.Meta(gt=0)] | None = None
    # How many times a request a lost connection took is sent again when it is safe to repeat
    # (default 1; a POST never is): LiteLLM's num_retries, else its max_retries.
    num_retries: Annotated[int, msgspec.Meta(ge=0)] | None = None
    max_retries: Annotated[int, msgspec.Meta(ge=0)] | None = None

    @property
    def retries(self) -> int:
        """Repeats of a request lost to a stale connection (docs/upstreams.md)."""
        for value in (self.num_retries, self.max_retries):
            if value is not None:
                return value
        return 1


class LenientParams(ProviderParams, kw_only=True, frozen=True, forbid_unknown_fields=False):
    """The params of a provider this router does not serve: loaded, never used.

    LiteLLM configs list chat deployments of every provider; their keys are not ours to
    judge, and the account reports itself unusable when it is asked for.
    """
