"""Microsoft Entra ID bearer tokens by client credentials, cached and refreshed early."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import msgspec
from yarl import URL

from ..errors import RouterError, UpstreamUnavailable
from ..upstream import exchange, read_body

__all__ = ["DEFAULT_AUTHORITY", "SCOPE", "EntraToken"]

logger = logging.getLogger(__package__)

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
SCOPE = "https://cognitiveservices.azure.com/.default"
REFRESH_MARGIN = 300.0  # seconds before expiry


class _TokenReply(msgspec.Struct):
    access_token: str
    expires_in: int | str


class EntraToken:
    """One account's token: fetched on first use, refreshed before it expires."""

    def __init__(
        self,
        account: str,
        authority: str,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        timeout: aiohttp.ClientTimeout,
    ):
        self.account = account
        self.url = f"{authority.rstrip('/')}/{tenant_id}/oauth2/v2.0/token"
        self._form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": SCOPE,
        }
        self.timeout = timeout
        self.token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    def _fresh(self) -> bool:
        return self.token is not None and time.monotonic() < self._refresh_at

    async def get(self, http: aiohttp.ClientSession) -> str:
        if self._fresh():
            assert self.token is not None
            return self.token
        async with self._lock:  # one fetch however many requests wait for it
            if not self._fresh():
                await self._fetch(http)
            assert self.token is not None
            return self.token

    async def _fetch(self, http: aiohttp.ClientSession) -> None:
        problem = f"Could not obtain a Microsoft Entra ID token for account '{self.account}'"
        try:
            async with exchange(
                http,
                "POST",
                URL(self.url),
                account=self.account,
                timeout=self.timeout,
                data=self._form,
            ) as resp:
                status = resp.status
                body = await read_body(resp, self.account)
        except RouterError as err:
            logger.warning(
                "account %s: token endpoint failed: %s", self.account, err.detail or err.message
            )
            raise UpstreamUnavailable(problem + ": the token endpoint is unreachable.") from None
        if status != 200:
            logger.warning("account %s: token endpoint answered HTTP %d", self.account, status)
            raise UpstreamUnavailable(f"{problem} (HTTP {status}).")
        try:
            reply = msgspec.json.decode(body, type=_TokenReply)
            lifetime = float(reply.expires_in)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
            raise UpstreamUnavailable(problem + ": unreadable answer.") from None
        self.token = reply.access_token
        self._refresh_at = time.monotonic() + max(lifetime - REFRESH_MARGIN, lifetime / 2)
