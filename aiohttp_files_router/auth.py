"""Who is calling: proxy keys (and the identities JWTs or a host give), their models, their team.

An identity is ``(team, models, admin)``. ``models`` bounds the deployments it may use;
``team`` owns what it creates (ownership.py); ``admin`` reaches every object.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache

from aiohttp import web

from .accounts import Account
from .config import RouterConfig
from .errors import PermissionDenied, Unauthorized
from .ownership import NO_OWNER, owner_tags

__all__ = [
    "ANONYMOUS",
    "Identity",
    "KeyRing",
    "authorize",
    "bind_principal",
    "current_principal",
    "presented_key",
    "reaches",
    "sees_all",
    "tags_of",
    "write_tag",
]


@dataclass(frozen=True)
class Identity:
    """A caller: its team (which owns what it creates), its models (None: every model), and
    whether it is an admin (reaches every object of every team)."""

    team: str | None = None
    models: Collection[str] | None = None  # kept as a frozenset
    admin: bool = False
    # A key without a team owns its objects alone: a digest of the key, never the key.
    subject: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        models: Iterable[str] | None = self.models
        if models is not None and not isinstance(models, frozenset):
            if isinstance(models, str):
                raise TypeError("Identity(models=...) takes a collection of model names")
            object.__setattr__(self, "models", frozenset(models))

    @property
    def owner(self) -> str | None:
        """The name its objects are tagged with (never written anywhere as it is)."""
        if self.team is not None:
            return "team\x00" + self.team
        if self.subject is not None:
            return "key\x00" + self.subject
        return None


# What the master key and an open router are: every model, every object.
ANONYMOUS = Identity(admin=True)
# The middleware authenticates once per request; handlers read the result here (a request
# key would need aiohttp >= 3.14; a context var is per task on every version).
_principal: ContextVar[Identity] = ContextVar("aiohttp_files_router.principal", default=ANONYMOUS)


def current_principal() -> Identity:
    return _principal.get()


@lru_cache(maxsize=4096)
def _tags(owner: str, secrets: tuple[str, ...]) -> tuple[str, ...]:
    return owner_tags(owner, secrets)


def tags_of(config: RouterConfig, identity: Identity) -> tuple[str, ...]:
    """The owner tags ``identity``'s objects carry (one per secret; the first is written)."""
    owner = identity.owner
    if owner is None or not config.id_secrets:
        return ()
    return _tags(owner, config.id_secrets)


def write_tag(config: RouterConfig) -> str | None:
    """The owner tag new objects of the current caller get; None: they have no owner."""
    tags = tags_of(config, current_principal())
    return tags[0] if tags else None


def sees_all(config: RouterConfig) -> bool:
    """Whether the current caller reaches every object (of the deployments it may use)."""
    return config.files_router.ownership == "shared" or current_principal().admin


def reaches(config: RouterConfig, tag: str | None) -> bool:
    """Whether the current caller may reach an object whose owner tag is ``tag``.

    None (or the no-owner tag): an object from before owners, or from the master key: admins
    only.
    """
    if sees_all(config):
        return True
    if tag is None or tag == NO_OWNER:
        return False
    return tag in tags_of(config, current_principal())


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[tuple[bytes, Identity], ...]
    master: bytes | None = None
    # Callers are identified otherwise (JWTs): no key is no access, not an open router.
    closed: bool = False

    @classmethod
    def from_config(cls, config: RouterConfig) -> KeyRing:
        keys: list[tuple[bytes, Identity]] = []
        master = config.general_settings.master_key
        if master:
            keys.append((master.encode(), ANONYMOUS))
        for k in config.files_router.keys:
            models = None if k.models is None else frozenset(k.models)
            # A key alone owns by a digest of itself: a rotated key no longer reaches them.
            subject = None if k.team else hashlib.sha256(k.key.encode()).hexdigest()
            keys.append((k.key.encode(), Identity(k.team, models, k.admin, subject)))
        closed = config.files_router.jwt is not None
        return cls(tuple(keys), master.encode() if master else None, closed)

    @property
    def enabled(self) -> bool:
        """Whether any proxy key is configured (else every caller is let in)."""
        return bool(self.keys)

    def is_master(self, request: web.BaseRequest) -> bool:
        """Whether the caller may see operational detail: the master key, or an open router."""
        if not self.keys:
            return not self.closed
        presented = _presented_key(request)
        if presented is None or self.master is None:
            return False
        return hmac.compare_digest(presented.encode(), self.master)

    def authenticate(self, request: web.BaseRequest) -> Identity:
        if not self.keys:
            return ANONYMOUS
        presented = _presented_key(request)
        if presented is None:
            raise Unauthorized(
                "Missing API key: send 'Authorization: Bearer <key>' or 'x-litellm-api-key'."
            )
        found: Identity | None = None
        given = presented.encode()
        for key, principal in self.keys:
            # Compare against every key: the time taken says nothing about which matched.
            if hmac.compare_digest(given, key) and found is None:
                found = principal
        if found is None:
            raise Unauthorized("Incorrect API key provided.")
        return found


def bind_principal(principal: Identity) -> None:
    """For the rest of the request: its task's context ends with it.

    A request's task starts with nothing bound, which reads as ANONYMOUS, so the master key
    (or an open router) sets nothing: a context variable set is a measurable cost per request
    (benchmarks/README.md).
    Were anything bound already, it would be a key's scope: never more than ANONYMOUS allows.
    """
    if principal is not ANONYMOUS:
        _principal.set(principal)


def presented_key(request: web.BaseRequest) -> str | None:
    """The bearer token or key a request carries."""
    return _presented_key(request)


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
