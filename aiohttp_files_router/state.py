"""What one mounted router holds for its life: config, accounts, keys, the client session."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import aiohttp
from aiohttp import web

from .accounts import Account, Registry
from .auth import Identity, KeyRing, presented_key
from .config import RouterConfig
from .errors import PermissionDenied, Unauthorized
from .identities import Authenticate, JwtVerifier, host_identity
from .ids import Kind, encode_id
from .rewrite import Encoder

__all__ = ["RouterState"]

logger = logging.getLogger(__package__)

# The same object is answered for again and again (a client polling a file or a batch):
# its ID's text, base64 and signature are the same work each time. IDs of at most 1 KiB.
_CACHED_ID_CHARS = 1024
_encode_id_cached = lru_cache(maxsize=1024)(encode_id)


@dataclass
class RouterState:
    config: RouterConfig
    registry: Registry
    keyring: KeyRing
    _http: aiohttp.ClientSession | None = field(default=None, repr=False)
    draining: bool = False  # shutdown has begun: readiness answers 503
    in_flight: int = 0  # requests inside the router's middleware now
    idle: asyncio.Event = field(default_factory=asyncio.Event, repr=False)  # in_flight == 0
    _encoders: dict[tuple[Account, str | None], Encoder] = field(default_factory=dict, repr=False)
    # Identities from elsewhere than proxy keys: a host's callable, JWT bearer tokens.
    authenticate: Authenticate | None = None
    jwt: JwtVerifier | None = None

    @classmethod
    def from_config(
        cls, config: RouterConfig, authenticate: Authenticate | None = None
    ) -> RouterState:
        registry = Registry.from_config(config)
        _warn_shared_stores(config, registry)
        state = cls(config, registry, KeyRing.from_config(config), authenticate=authenticate)
        settings = config.files_router
        if settings.jwt is not None:
            timeout = aiohttp.ClientTimeout(
                total=settings.connect_timeout + 30.0, connect=settings.connect_timeout
            )
            state.jwt = JwtVerifier(settings.jwt, timeout)
        return state

    @property
    def keys_only(self) -> bool:
        """Whether proxy keys alone say who calls (the synchronous path)."""
        return self.authenticate is None and self.jwt is None

    async def identify(self, request: web.Request) -> Identity:
        """Who calls, when a host's callable or JWTs say so (else ``keyring.authenticate``)."""
        if self.authenticate is not None:
            identity = await host_identity(self.authenticate, request)
        else:
            token = presented_key(request)
            if self.jwt is not None and token is not None and self.jwt.looks_like(token):
                identity = await self.jwt.identify(self.http, token)
            elif not self.keyring.enabled:
                # JWTs are configured: no token is no access, even with no proxy key.
                raise Unauthorized(
                    "Missing or incorrect bearer token: send 'Authorization: Bearer <JWT>'."
                )
            else:
                identity = self.keyring.authenticate(request)
        if (
            self.config.files_router.ownership == "private"
            and not identity.admin
            and identity.owner is None
        ):
            raise PermissionDenied(
                "This identity has no team: under private ownership, it could own nothing.",
                code="no_team",
            )
        return identity

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise RuntimeError(
                "aiohttp_files_router: the application has not started; mount it with setup() "
                "or run it with web.run_app()."
            )
        return self._http

    def attach_http(self, http: aiohttp.ClientSession) -> None:
        """The session every upstream call uses, from app start-up to ``close``, and the
        transport chosen for it once, here (``transport.py``)."""
        self._http = http
        self.registry.wire.attach(http)

    async def close(self) -> None:
        """Close the session and what each account's adapter holds (app cleanup)."""
        http, self._http = self._http, None
        if http is not None:
            bound = self.registry.wire.detach()
            if bound is not None:
                await bound.close()
            await http.close()
        for account in self.registry.accounts:  # legacy accounts are among them
            if account.provider is not None:
                await account.provider.close()

    def encoder(
        self,
        account: Account,
        copies: Sequence[tuple[Account, str]] = (),
        owner: str | None = None,
    ) -> Encoder:
        """How IDs from ``account`` leave the router: encoded with its route, or raw (legacy).

        ``copies`` are the same file's further (account, provider ID) copies, carried along;
        ``owner`` is the owner tag the IDs carry (ownership.py), None for no owner.
        """
        if account.legacy:
            return _keep
        if copies:
            return self._encoder(account.route, tuple([(a.route, pid) for a, pid in copies]), owner)
        key = (account, owner)
        found = self._encoders.get(key)  # most answers name no copies
        if found is None:
            if len(self._encoders) > 4096:  # one per (account, team): bounded all the same
                self._encoders.clear()
            found = self._encoders[key] = self._encoder(account.route, (), owner)
        return found

    def _encoder(
        self, route: str, routes: tuple[tuple[str, str], ...], owner: str | None
    ) -> Encoder:
        secrets = self.config.id_secrets
        secret = secrets[0] if secrets else None

        def encode(kind: Kind, provider_id: str) -> str:
            if len(provider_id) > _CACHED_ID_CHARS:
                return encode_id(kind, provider_id, route, secret, routes, owner)
            return _encode_id_cached(kind, provider_id, route, secret, routes, owner)

        return encode


def _warn_shared_stores(config: RouterConfig, registry: Registry) -> None:
    """Say at start where key scoping cannot hold: deployments that share a provider store.

    A key scoped to one of them sees (lists, reads, deletes) the other's files and batches,
    because the provider keeps them in one place and offers no namespace to split it.
    """
    stores: dict[str, list[Account]] = {}
    for account in registry.accounts:
        store = account.provider.shared_store if account.provider else None
        if store is not None:
            stores.setdefault(store, []).append(account)
    scopes = [frozenset(k.models) for k in config.files_router.keys if k.models is not None]
    for store, accounts in stores.items():
        if len(accounts) < 2:
            continue
        # Some key reaches one of them and not another.
        split = any(len({a.name in s or a.route in s for a in accounts}) > 1 for s in scopes)
        if split:
            logger.warning(
                "deployments %s share one provider store (%s) but not one key scope: a key "
                "scoped to one of them can see the others' files and batches; see "
                "docs/security.md",
                ", ".join(sorted(a.route for a in accounts)),
                store,
            )


def _keep(kind: Kind, provider_id: str) -> str:
    return provider_id
