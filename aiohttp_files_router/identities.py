"""Where identities come from besides proxy keys: JWT bearer tokens, and a host's own auth.

- ``files_router.jwt``: a bearer token signed by the organisation's identity provider, checked
  against its JWKS (fetched through an ``Upstream``, cached, refetched at most once a minute
  when a token names an unknown ``kid``), with ``exp``, ``nbf``, ``iss`` and ``aud``. The team,
  the models and admin come from claims. Refusals are 401s saying why, never echoing the token.
- ``setup(..., authenticate=fn)``: the host's callable returns an ``Identity``; its
  ``HTTPUnauthorized`` / ``HTTPForbidden`` become the same status in OpenAI's error shape, any
  other exception a 500 that leaks nothing.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import jwt
import msgspec
from aiohttp import web
from yarl import URL

from .auth import Identity
from .config import JwtSettings
from .errors import PermissionDenied, RouterError, Unauthorized, UpstreamUnavailable
from .upstream import Upstream

__all__ = ["Authenticate", "InternalError", "JwtVerifier", "host_identity"]

logger = logging.getLogger(__package__)

Authenticate = Callable[[web.Request], "Identity | Awaitable[Identity]"]

# At most one JWKS fetch per this many seconds for a token naming an unknown key: a flood of
# tokens with made-up kids must not become a flood of calls to the identity provider.
REFETCH_SECONDS = 60.0
FAILED_RETRY_SECONDS = 5.0
_jwks = msgspec.json.Decoder(dict[str, Any])


class InternalError(RouterError):
    status = 500
    type = "server_error"
    default_code = "internal_error"


async def host_identity(fn: Authenticate, request: web.Request) -> Identity:
    """The identity the host's ``authenticate`` gives ``request``."""
    try:
        result = fn(request)
        if inspect.isawaitable(result):
            result = await result
    except web.HTTPUnauthorized as exc:
        raise Unauthorized(exc.reason or "Unauthorized.", code="unauthorized") from None
    except web.HTTPForbidden as exc:
        raise PermissionDenied(exc.reason or "Forbidden.", code="forbidden") from None
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        # The type only: the text or the frames could carry the host's secrets.
        logger.error("authenticate() raised %s", type(exc).__name__)
        raise InternalError("The router failed unexpectedly; the error is in its log.") from None
    if not isinstance(result, Identity):
        logger.error("authenticate() returned %s, not an Identity", type(result).__name__)
        raise InternalError("The router failed unexpectedly; the error is in its log.")
    return result


class JwtVerifier:
    """Checks bearer tokens against one issuer's JWKS."""

    def __init__(self, settings: JwtSettings, timeout: aiohttp.ClientTimeout) -> None:
        self.settings = settings
        self.url = URL(settings.jwks_url)
        self.upstream = Upstream("jwks", str(self.url.origin()), timeout, retries=1)
        self._keys: dict[str, jwt.PyJWK] = {}
        # Seconds between two fetches of the JWKS for unknown kids (a deployment whose
        # issuer rotates keys more often may lower it).
        self.refetch_seconds = REFETCH_SECONDS
        self._fetched = -REFETCH_SECONDS
        self._lock = asyncio.Lock()

    @staticmethod
    def looks_like(token: str) -> bool:
        return token.count(".") == 2

    async def _refresh(self, http: aiohttp.ClientSession) -> None:
        async with self._lock:
            now = time.monotonic()
            if now - self._fetched < self.refetch_seconds:
                return  # fetched meanwhile, or too recently
            self._fetched = now
            try:
                reply = await self.upstream.json(http, "GET", self.url)
                if not reply.ok:
                    logger.warning("JWKS %s answered %d", self.url.host, reply.status)
                    raise UpstreamUnavailable("The identity provider's keys could not be fetched.")
                try:
                    found = jwt.PyJWKSet.from_dict(_jwks.decode(reply.body))
                except (msgspec.DecodeError, jwt.PyJWTError):
                    raise UpstreamUnavailable(
                        "The identity provider's keys are unreadable."
                    ) from None
            except RouterError:
                # Try again within seconds, not a minute: no key at all refuses every token.
                self._fetched = now - self.refetch_seconds + FAILED_RETRY_SECONDS
                raise
            self._keys = {key.key_id or "": key for key in found.keys}

    async def _key(self, http: aiohttp.ClientSession, kid: str | None) -> jwt.PyJWK:
        if not self._keys:
            await self._refresh(http)
            if not self._keys:
                raise UpstreamUnavailable("The identity provider's keys could not be fetched.")
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        key = self._keys.get(kid or "")
        if key is None:
            await self._refresh(http)
            key = self._keys.get(kid or "")
        if key is None:
            raise Unauthorized("Invalid token: it is signed with an unknown key.")
        return key

    async def identify(self, http: aiohttp.ClientSession, token: str) -> Identity:
        s = self.settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("Invalid token: it is not a well-formed JWT.") from None
        alg = header.get("alg")
        if alg not in s.algorithms:
            raise Unauthorized(f"Invalid token: algorithm {str(alg)[:16]!r} is not accepted.")
        kid = header.get("kid")
        key = await self._key(http, kid if isinstance(kid, str) else None)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=s.algorithms,
                audience=s.audience,
                issuer=s.issuer,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("Invalid token: it has expired.") from None
        except jwt.ImmatureSignatureError:
            raise Unauthorized("Invalid token: it is not valid yet (nbf or iat).") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized("Invalid token: it is for another audience.") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized("Invalid token: it is from another issuer.") from None
        except jwt.MissingRequiredClaimError as err:
            raise Unauthorized(f"Invalid token: it has no '{err.claim}' claim.") from None
        except jwt.InvalidSignatureError:
            raise Unauthorized("Invalid token: its signature does not verify.") from None
        except jwt.PyJWTError:
            raise Unauthorized("Invalid token: it cannot be verified.") from None
        return self._identity(claims)

    def _identity(self, claims: dict[str, Any]) -> Identity:
        s = self.settings
        admin = s.admin_claim is not None and claims.get(s.admin_claim) is True
        team = claims.get(s.team_claim)
        if team is not None and (not isinstance(team, str) or not team or ";" in team):
            raise Unauthorized(f"Invalid token: its '{s.team_claim}' claim is not a team name.")
        if team is None and not admin:
            raise Unauthorized(f"Invalid token: it has no '{s.team_claim}' claim.")
        models: frozenset[str] | None = None
        if s.models_claim is not None:
            value = claims.get(s.models_claim)
            if isinstance(value, str):
                models = frozenset(value.split())
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                models = frozenset(value)
            else:
                # No claim, no models: a token that says nothing reaches nothing.
                models = frozenset()
        return Identity(team, models, admin)
