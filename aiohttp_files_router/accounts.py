"""The accounts a router serves, built once from the config.

Each ``model_list`` entry is a deployment; entries sharing a ``model_name`` form a group that
new uploads are spread across. The name an ID carries (its *route*) is the model_name when it is
unique, else ``model_info.id``, else a stable name derived from the deployment's non-secret
settings. ``files_settings`` entries are legacy accounts picked by ``custom-llm-provider``.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import aiohttp

from .config import RouterConfig
from .errors import AccountUnavailable
from .params import ProviderParams
from .providers import Provider, ProviderError, build_provider, provider_name, route_values
from .transport import Wire

__all__ = ["Account", "Registry"]

logger = logging.getLogger(__package__)


@dataclass(eq=False)
class Account:
    name: str  # the model_name (or, for a legacy account, the provider name)
    route: str  # what IDs issued for this account carry
    provider_kind: str
    legacy: bool
    provider: Provider | None
    problem: str | None = None  # why the account cannot serve, if it cannot
    params: ProviderParams | None = None  # its litellm_params (for resolve())

    def require(self) -> Provider:
        if self.provider is None:
            raise AccountUnavailable(f"The account for '{self.name}' is not usable: {self.problem}")
        return self.provider


@dataclass
class Registry:
    config: RouterConfig
    accounts: list[Account] = field(default_factory=list)
    by_route: dict[str, Account] = field(default_factory=dict)
    groups: dict[str, list[Account]] = field(default_factory=dict)
    legacy: dict[str, Account] = field(default_factory=dict)
    # The transport every account's calls take, set once the router's session is set up.
    wire: Wire = field(default_factory=Wire)
    _turns: dict[str, Iterator[int]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: RouterConfig) -> Registry:
        reg = cls(config)
        counts = Counter(e.model_name for e in config.model_list)
        fallback_names: Counter[str] = Counter()
        for i, entry in enumerate(config.model_list):
            params = entry.litellm_params
            route = entry.model_info.id if entry.model_info and entry.model_info.id else None
            if route is None and counts[entry.model_name] == 1:
                route = entry.model_name
            if route is None:
                kind = provider_name(params.model, params.custom_llm_provider)
                route = f"{entry.model_name}-{_fingerprint(route_values(kind, params))}"
                fallback_names[route] += 1
                if fallback_names[route] > 1:
                    route = f"{route}-{fallback_names[route]}"
                logger.warning(
                    "model_list[%d] (%s) shares its model_name: IDs name it %r; "
                    "set model_info.id to keep IDs stable when the config changes",
                    i,
                    entry.model_name,
                    route,
                )
            kind = provider_name(params.model, params.custom_llm_provider)
            account = reg._build(
                entry.model_name, route, kind, params, f"$.model_list[{i}]", legacy=False
            )
            reg.by_route[route] = account
            reg.groups.setdefault(entry.model_name, []).append(account)
        for i, setting in enumerate(config.files_settings):
            kind = setting.custom_llm_provider or ""
            account = reg._build(kind, kind, kind, setting, f"$.files_settings[{i}]", legacy=True)
            reg.legacy.setdefault(kind, account)
        return reg

    def _build(
        self,
        name: str,
        route: str,
        kind: str,
        params: ProviderParams,
        path: str,
        *,
        legacy: bool,
    ) -> Account:
        missing = self.config.missing_under(path + ".")
        problem: str | None = None
        provider: Provider | None = None
        if missing:
            problem = "environment variable " + ", ".join(missing) + " is not set"
        else:
            read = params.timeout or self.config.files_router.read_timeout
            timeout = aiohttp.ClientTimeout(
                total=None, connect=self.config.files_router.connect_timeout, sock_read=read
            )
            try:
                provider = build_provider(
                    kind,
                    name,
                    params,
                    timeout,
                    os.environ,
                    route,
                    file_ready_timeout=self.config.files_router.file_ready_timeout,
                    wire=self.wire,
                )
            except ProviderError as err:
                problem = str(err)
        if problem:
            logger.warning("account %s (%s) is not usable: %s", name, path, problem)
        account = Account(name, route, kind, legacy, provider, problem, params)
        self.accounts.append(account)
        return account

    def pick(self, model: str) -> Account | None:
        """The account a ``model`` selector names: a deployment route or a group (spread)."""
        account = self.by_route.get(model)
        if account is not None and account.name != model:
            return account  # a model_info.id or derived route pins one deployment
        group = self.groups.get(model)
        if not group:
            return account
        if len(group) == 1:
            return group[0]
        turn = self._turns.setdefault(model, itertools.count())
        return group[next(turn) % len(group)]

    def turn(self, key: str, count: int) -> int:
        """The next position in a per-process round robin over ``count`` choices."""
        return next(self._turns.setdefault(key, itertools.count())) % count

    def deployments(self, model: str) -> list[Account]:
        """Every deployment a model name covers: its group, or the one a route pins."""
        group = self.groups.get(model)
        if group:
            return list(group)
        account = self.by_route.get(model)
        return [account] if account is not None else []

    def group_of(self, model: str | None, account: Account) -> list[Account]:
        """The accounts a listing walks: the named group when it holds ``account``."""
        if model is not None and account in self.groups.get(model, ()):
            return self.groups[model]
        return [account]

    def for_route(self, route: str) -> Account | None:
        """The account an ID names; a model_name shared by several resolves to the first."""
        account = self.by_route.get(route)
        if account is None and route in self.groups:
            account = self.groups[route][0]
        return account

    @property
    def default_legacy(self) -> Account | None:
        """The ``files_settings`` entry of LiteLLM's default provider, if the config has one.

        LiteLLM sends a files or batches call that names no model and no provider to its
        default ``custom_llm_provider`` (``provider_name(None)``) with that entry's settings.
        """
        return self.legacy.get(provider_name(None))

    def default(self) -> Account | None:
        default = self.config.files_router.default_model
        if default is not None:
            return self.pick(default)
        if len(self.accounts) == 1:
            return self.accounts[0]
        return self.default_legacy


def _fingerprint(values: tuple[str, ...]) -> str:
    # Only non-secret settings (the provider's route_fields): the result is visible in IDs.
    return hashlib.sha256("\x00".join(values).encode()).hexdigest()[:8]
