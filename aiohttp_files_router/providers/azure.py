"""Azure OpenAI accounts: OpenAI's API with Azure's paths, auth and quirks.

- Paths: dated ``{api_base}/openai/files?api-version=2024-10-21``, or the v1 API
  ``{api_base}/openai/v1/files`` for ``api_version`` ``v1``/``latest``/``preview``.
- Auth: ``api-key``; a given Entra ID token; or Entra ID client credentials.
- Answers: empty-string file IDs become null, ISO timestamps unix seconds, ``InProgress``
  ``in_progress``, file ``pending`` ``uploaded``; errors get OpenAI's shape upstream.py-wide.
- Uploads of ``purpose=batch`` get every row's ``body.model`` set to the deployment, streamed.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from ..params import ProviderParams
from ..rewrite import FILE_ID_FIELDS
from ..upstream import Auth, StaticAuth, Upstream
from .base import AccountSetup, FileUpload, Provider, ProviderError, ProviderSpec
from .entra import DEFAULT_AUTHORITY, EntraToken
from .jsonl import map_lines, set_body_model
from .openai import Dialect, OpenAIProvider

__all__ = ["SPEC", "V1_VERSIONS", "AzureDialect", "AzureParams", "normalise_azure"]

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
)
_FILE_STATUS = {
    "pending": "uploaded",
    "running": "uploaded",
    "deleting": "processed",
    "deleted": "processed",
}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

_object = msgspec.json.Decoder(dict[str, msgspec.Raw])
_items = msgspec.json.Decoder(list[msgspec.Raw])
_value = msgspec.json.Decoder()
_json = msgspec.json.Encoder()


def _unix(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


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
            if "object" in obj and _value.decode(obj["object"]) == "file":
                snake = _FILE_STATUS.get(snake, snake)
            if snake != status:
                changes["status"] = snake
    for name, value in changes.items():
        obj[name] = msgspec.Raw(_json.encode(value))


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


class AzureParams(ProviderParams, kw_only=True, frozen=True):
    """``litellm_params`` of an Azure OpenAI deployment (``model: azure/<deployment>``)."""

    secret_fields = frozenset({"api_key", "azure_ad_token", "client_secret"})

    api_key: str | None = None
    api_base: str | None = None
    api_version: str | None = None
    # Entra ID: a given token, or client credentials.
    azure_ad_token: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    azure_authority_host: str | None = None


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


def _auth(setup: AccountSetup[AzureParams]) -> Auth:
    params = setup.params
    if params.azure_ad_token:
        return StaticAuth({"Authorization": f"Bearer {params.azure_ad_token}"}, setup.secrets())
    if params.tenant_id and params.client_id and params.client_secret:
        return EntraToken(
            setup.name,
            params.azure_authority_host or DEFAULT_AUTHORITY,
            params.tenant_id,
            params.client_id,
            params.client_secret,
            setup.timeout,
        )
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
        setup.name,
        params.api_base.rstrip("/") + ("/openai/v1" if v1 else "/openai"),
        setup.timeout,
        auth=_auth(setup),
        retries=params.retries,
        query=query,
        secrets=setup.secrets(),
    )
    return OpenAIProvider(upstream, AzureDialect(v1, setup.model or None))


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
