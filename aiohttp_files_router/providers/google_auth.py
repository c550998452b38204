"""Google service-account access tokens (JWT bearer grant), cached by tokens.CachedToken.

The signing and the grant are gcloud-aio-auth's ``Token.refresh()``: no crypto written here.
The cache is ours because the library's ``get()`` retries a failing grant with backoff for
up to a minute, where a router should answer 502 at once.
"""

from __future__ import annotations

import io
import json
from typing import Any

import aiohttp
from cryptography.hazmat.primitives import serialization
from gcloud.aio.auth import Token

from .base import ProviderError
from .tokens import CachedToken

__all__ = ["SCOPE", "GoogleToken", "load_service_account"]

SCOPE = "https://www.googleapis.com/auth/cloud-platform"


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


class GoogleToken(CachedToken):
    what = "a Google access token"

    def __init__(self, account: str, info: dict[str, Any], timeout: float):
        super().__init__(account)
        self.info = info
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._token: Token | None = None

    async def grant(self, http: aiohttp.ClientSession) -> tuple[str, float]:
        if self._token is None:
            # Its own session, which decodes compressed token answers for the library, and
            # never follows a redirect: a 307 would resend the signed grant to another host.
            self._session = aiohttp.ClientSession(middlewares=(_refuse_redirects,))
            self._token = Token(
                service_file=io.StringIO(json.dumps(self.info)),
                session=self._session,
                scopes=[SCOPE],
            )
        reply = await self._token.refresh(timeout=int(max(1, self.timeout)))
        return reply.value, float(reply.expires_in)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
