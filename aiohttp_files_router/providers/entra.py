"""Microsoft Entra ID bearer tokens: one given, or one granted for client credentials (cached
by tokens.CachedToken), from the ``litellm_params`` keys LiteLLM reads for them."""

from __future__ import annotations

import aiohttp
import msgspec
from yarl import URL

from ..params import ProviderParams
from ..upstream import Auth, StaticAuth, exchange, read_body
from .tokens import CachedToken, GrantRefused

__all__ = ["DEFAULT_AUTHORITY", "SCOPE", "EntraParams", "EntraToken", "entra_auth"]

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
SCOPE = "https://cognitiveservices.azure.com/.default"


class EntraParams(ProviderParams, kw_only=True, frozen=True):
    """The Entra ID keys of a deployment's ``litellm_params``: a given token, or client
    credentials (LiteLLM's names); a provider's params struct that takes them derives from
    this one."""

    secret_fields = frozenset({"azure_ad_token", "client_secret"})

    azure_ad_token: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    azure_authority_host: str | None = None


def entra_auth(
    params: EntraParams, account: str, timeout: aiohttp.ClientTimeout, secrets: tuple[str, ...]
) -> Auth | None:
    """The auth ``params`` set up: the token given, else one granted for the client
    credentials; None when they set up neither. ``secrets``: the values scrubbed from
    answers."""
    if params.azure_ad_token:
        return StaticAuth({"Authorization": f"Bearer {params.azure_ad_token}"}, secrets)
    if params.tenant_id and params.client_id and params.client_secret:
        return EntraToken(
            account,
            params.azure_authority_host or DEFAULT_AUTHORITY,
            params.tenant_id,
            params.client_id,
            params.client_secret,
            timeout,
        )
    return None


class _TokenReply(msgspec.Struct):
    access_token: str
    expires_in: int | str


_reply = msgspec.json.Decoder(_TokenReply)


class EntraToken(CachedToken):
    """One account's token by the client credentials grant."""

    what = "a Microsoft Entra ID token"

    def __init__(
        self,
        account: str,
        authority: str,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        timeout: aiohttp.ClientTimeout,
    ):
        super().__init__(account)
        self.url = f"{authority.rstrip('/')}/{tenant_id}/oauth2/v2.0/token"
        self._form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": SCOPE,
        }
        self.timeout = timeout

    async def grant(self, http: aiohttp.ClientSession) -> tuple[str, float]:
        async with exchange(
            http, "POST", URL(self.url), account=self.account, timeout=self.timeout, data=self._form
        ) as resp:
            status = resp.status
            body = await read_body(resp, self.account)
        if status != 200:
            raise GrantRefused(f"(HTTP {status})")
        try:
            reply = _reply.decode(body)
            return reply.access_token, float(reply.expires_in)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
            raise GrantRefused("(an unreadable answer)") from None
