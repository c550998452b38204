"""Google service-account access tokens (JWT bearer grant), cached and refreshed early.

The signing and the grant are gcloud-aio-auth's ``Token.refresh()``: no crypto written here.
The cache is ours because the library's ``get()`` retries a failing grant with backoff for
up to a minute, where a router should answer 502 at once.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from typing import Any

import aiohttp
from cryptography.hazmat.primitives import serialization
from gcloud.aio.auth import Token

from ..errors import UpstreamUnavailable
from .base import ProviderError

__all__ = ["SCOPE", "GoogleToken", "load_service_account"]

logger = logging.getLogger(__package__)

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
REFRESH_MARGIN = 300.0


def load_service_account(value: str) -> dict[str, Any]:
    """A service-account key from its JSON text or a path to it; checked now, not on use."""
    text = value
    if not value.lstrip().startswith("{"):
        try:
            with open(value, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as err:
            raise ProviderError(f"cannot read vertex_credentials file: {err.strerror}") from None
    try:
        info = json.loads(text)
    except ValueError:
        raise ProviderError("vertex_credentials is not valid JSON") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ProviderError("vertex_credentials must be a service-account key")
    for name in ("client_email", "private_key"):
        if not isinstance(info.get(name), str):
            raise ProviderError(f"vertex_credentials has no {name}")
    try:
        serialization.load_pem_private_key(info["private_key"].encode(), password=None)
    except (ValueError, TypeError):
        raise ProviderError("vertex_credentials has an unreadable private_key") from None
    info.setdefault("token_uri", "https://oauth2.googleapis.com/token")
    return info


async def _refuse_redirects(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    response = await handler(request)
    if 300 <= response.status < 400:
        response.release()
        raise aiohttp.TooManyRedirects(
            response.request_info, (), status=response.status, message="not followed"
        )
    return response


class GoogleToken:
    def __init__(self, account: str, info: dict[str, Any], timeout: float):
        self.account = account
        self.info = info
        self.timeout = timeout
        self.value: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None
        self._token: Token | None = None

    def _fresh(self) -> bool:
        return self.value is not None and time.monotonic() < self._refresh_at

    async def get(self) -> str:
        if not self._fresh():
            async with self._lock:
                if not self._fresh():
                    await self._fetch()
        assert self.value is not None
        return self.value

    async def _fetch(self) -> None:
        if self._token is None:
            # Its own session, which decodes compressed token answers for the library, and
            # never follows a redirect: a 307 would resend the signed grant to another host.
            self._session = aiohttp.ClientSession(middlewares=(_refuse_redirects,))
            self._token = Token(
                service_file=io.StringIO(json.dumps(self.info)),
                session=self._session,
                scopes=[SCOPE],
            )
        try:
            reply = await self._token.refresh(timeout=int(max(1, self.timeout)))
        except (TimeoutError, aiohttp.ClientError, KeyError, ValueError) as err:
            logger.warning("account %s: token grant failed: %s", self.account, type(err).__name__)
            raise UpstreamUnavailable(
                f"Could not obtain a Google access token for account '{self.account}'."
            ) from None
        self.value = reply.value
        lifetime = float(reply.expires_in)
        self._refresh_at = time.monotonic() + max(lifetime - REFRESH_MARGIN, lifetime / 2)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
