"""Bearer tokens fetched on first use and again before they expire: one helper for all.

A subclass says only how to obtain a token (``grant``); the cache, the single fetch however
many requests wait, the early refresh and the error mapping (a token endpoint that does not
answer in time is a 504, one that fails otherwise a 502) are here.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from collections.abc import Mapping

import aiohttp

from ..errors import RouterError, UpstreamTimeout, UpstreamUnavailable

__all__ = ["REFRESH_MARGIN", "CachedToken", "GrantRefused"]

logger = logging.getLogger(__package__)

# Refreshed this many seconds before it expires; a short-lived token at half its lifetime.
REFRESH_MARGIN = 300.0


class GrantRefused(Exception):
    """The token endpoint answered, but with no token; the message says how (502)."""


class CachedToken(abc.ABC):
    """One account's bearer token; an ``upstream.Auth`` (``headers``, ``secrets``)."""

    #: How the provider calls its tokens in error messages ("a Google access token").
    what = "an access token"

    def __init__(self, account: str):
        self.account = account
        self.value: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    @abc.abstractmethod
    async def grant(self, http: aiohttp.ClientSession) -> tuple[str, float]:
        """A new token and its lifetime in seconds.

        Raises GrantRefused (502, its message appended), a transport RouterError from
        upstream.py (timeout 504, else 502), TimeoutError (504), or aiohttp.ClientError,
        KeyError, ValueError (502)."""

    async def close(self) -> None:  # noqa: B027 - most grants hold nothing of their own
        """Release what the grant holds (its own session)."""

    def _fresh(self) -> bool:
        return self.value is not None and time.monotonic() < self._refresh_at

    async def get(self, http: aiohttp.ClientSession) -> str:
        value = self.value
        if value is None or not self._fresh():
            async with self._lock:  # one grant however many requests wait for it
                if not self._fresh():
                    await self._refresh(http)
                value = self.value
        if value is None:  # pragma: no cover - _refresh sets it or raises
            raise UpstreamUnavailable(f"Could not obtain {self.what} for '{self.account}'.")
        return value

    async def _refresh(self, http: aiohttp.ClientSession) -> None:
        problem = f"Could not obtain {self.what} for account '{self.account}'"
        try:
            value, lifetime = await self.grant(http)
        except GrantRefused as err:
            logger.warning("account %s: token grant refused: %s", self.account, err)
            raise UpstreamUnavailable(f"{problem} {err}.") from None
        except (UpstreamTimeout, TimeoutError) as err:
            logger.warning("account %s: token endpoint timed out: %r", self.account, err)
            raise UpstreamTimeout(
                f"{problem}: the token endpoint did not answer in time."
            ) from None
        except RouterError as err:
            logger.warning(
                "account %s: token endpoint failed: %s", self.account, err.detail or err.message
            )
            raise UpstreamUnavailable(f"{problem}: the token endpoint is unreachable.") from None
        except (aiohttp.ClientError, KeyError, ValueError) as err:
            logger.warning("account %s: token grant failed: %s", self.account, type(err).__name__)
            raise UpstreamUnavailable(f"{problem}.") from None
        self.value = value
        self._refresh_at = time.monotonic() + max(lifetime - REFRESH_MARGIN, lifetime / 2)

    async def headers(self, http: aiohttp.ClientSession) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {await self.get(http)}"}

    def secrets(self) -> tuple[str, ...]:
        return (self.value,) if self.value else ()
