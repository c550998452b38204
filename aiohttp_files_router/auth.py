"""Proxy keys: who may call the router, and which models each key may reach."""

from __future__ import annotations

import hmac
from contextvars import ContextVar
from dataclasses import dataclass

from aiohttp import web

from .accounts import Account
from .config import RouterConfig
from .errors import PermissionDenied, Unauthorized

__all__ = [
    "KeyRing",
    "Principal",
    "authorize",
    "bind_principal",
    "current_principal",
]


@dataclass(frozen=True)
class Principal:
    models: frozenset[str] | None  # None: every model


ANONYMOUS = Principal(None)
# The middleware authenticates once per request; handlers read the result here (a request
# key would need aiohttp >= 3.14; a context var is per task on every version).
_principal: ContextVar[Principal] = ContextVar("aiohttp_files_router.principal", default=ANONYMOUS)


def current_principal() -> Principal:
    return _principal.get()


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[tuple[bytes, Principal], ...]
    master: bytes | None = None

    @classmethod
    def from_config(cls, config: RouterConfig) -> KeyRing:
        keys: list[tuple[bytes, Principal]] = []
        master = config.general_settings.master_key
        if master:
            keys.append((master.encode(), ANONYMOUS))
        for k in config.files_router.keys:
            models = None if k.models is None else frozenset(k.models)
            keys.append((k.key.encode(), Principal(models)))
        return cls(tuple(keys), master.encode() if master else None)

    @property
    def enabled(self) -> bool:
        """Whether any proxy key is configured (else every caller is let in)."""
        return bool(self.keys)

    def is_master(self, request: web.BaseRequest) -> bool:
        """Whether the caller may see operational detail: the master key, or an open router."""
        if not self.keys:
            return True
        presented = _presented_key(request)
        if presented is None or self.master is None:
            return False
        return hmac.compare_digest(presented.encode(), self.master)

    def authenticate(self, request: web.BaseRequest) -> Principal:
        if not self.keys:
            return ANONYMOUS
        presented = _presented_key(request)
        if presented is None:
            raise Unauthorized(
                "Missing API key: send 'Authorization: Bearer <key>' or 'x-litellm-api-key'."
            )
        found: Principal | None = None
        given = presented.encode()
        for key, principal in self.keys:
            # Compare against every key: the time taken says nothing about which matched.
            if hmac.compare_digest(given, key) and found is None:
                found = principal
        if found is None:
            raise Unauthorized("Incorrect API key provided.")
        return found


def bind_principal(principal: Principal) -> None:
    """For the rest of the request: its task's context ends with it.

    A request's task starts with nothing bound, which reads as ANONYMOUS, so the master key
    (or an open router) sets nothing: a context variable set is a measurable cost per request
    (benchmarks/README.md).
    Were anything bound already, it would be a key's scope: never more than ANONYMOUS allows.
    """
    if principal is not ANONYMOUS:
        _principal.set(principal)


def _presented_key(request: web.BaseRequest) -> str | None:
    for header in ("Authorization", "x-litellm-api-key"):
        value = request.headers.get(header)
        if value:
            scheme, _, rest = value.strip().partition(" ")
            if scheme.lower() == "bearer" and rest.strip():
                return rest.strip()
            if header != "Authorization":
                return value.strip()
    return None


def authorize(account: Account) -> None:
    """403 unless the caller's key may use this account (however it was chosen). No side
    effect: the deployment a call goes to is recorded where the call is made (upstream.py)."""
    allowed = current_principal().models
    if allowed is None or account.name in allowed or account.route in allowed:
        return
    raise PermissionDenied(f"This API key is not allowed to use model '{account.name}'.")
