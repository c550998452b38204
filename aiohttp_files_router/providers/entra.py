"""Microsoft Entra ID bearer tokens by client credentials (cached by tokens.CachedToken)."""

from __future__ import annotations

import aiohttp
import msgspec
from yarl import URL

from ..upstream import exchange, read_body
from .tokens import CachedToken, GrantRefused

__all__ = ["DEFAULT_AUTHORITY", "SCOPE", "EntraToken"]

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
SCOPE = "https://cognitiveservices.azure.com/.default"


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
