"""Which account serves a request.

Order: an encoded ID -> ``model`` (JSON body or form field) -> ``?model=`` ->
``x-litellm-model`` -> legacy ``custom-llm-provider`` with ``files_settings`` -> the default
(``files_router.default_model``, else the only account, else the ``files_settings`` entry of
LiteLLM's default provider, answering with that provider's own IDs) -> 400 saying how to choose.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from aiohttp import web

from .accounts import Account, Registry
from .auth import reaches
from .errors import BadRequest, NotFound, clip
from .ids import InvalidId, Kind, RoutedId, decode_id

__all__ = [
    "Selectors",
    "Target",
    "choose",
    "choose_if_any",
    "resolve_body_id",
    "resolve_id",
    "selectors",
]

MODEL_FIELD = "model"
LEGACY_FIELD = "custom_llm_provider"
MODEL_HEADER = "x-litellm-model"
LEGACY_HEADER = "custom-llm-provider"

HOW_TO_CHOOSE = (
    "No account chosen: pass 'model' (JSON body or multipart field, '?model=' query, e.g. "
    "extra_query={'model': ...} in the openai SDK, or the 'x-litellm-model' header), or use an ID "
    "this router issued."
)


@dataclass(frozen=True)
class Selectors:
    model: str | None
    model_param: str  # where the model came from, for error messages
    legacy: str | None


@dataclass(frozen=True)
class Target:
    account: Account
    provider_id: str
    # Further copies of the same file (an upload to several deployments), in upload order.
    copies: tuple[tuple[Account, str], ...] = ()
    # The owner tag the (signed) ID carries; None: no owner, or a raw ID.
    owner: str | None = None
    # A provider's own ID: its owner is known only from the object upstream.
    raw: bool = False

    @property
    def holders(self) -> tuple[tuple[Account, str], ...]:
        return ((self.account, self.provider_id), *self.copies)


def selectors(
    request: web.BaseRequest,
    body_model: str | None = None,
    body_legacy: str | None = None,
) -> Selectors:
    query, headers = request.query, request.headers
    if body_model:
        model, param = body_model, MODEL_FIELD
    elif query.get(MODEL_FIELD):
        model, param = query[MODEL_FIELD], MODEL_FIELD
    elif headers.get(MODEL_HEADER):
        model, param = headers[MODEL_HEADER], MODEL_HEADER
    else:
        model, param = None, MODEL_FIELD
    legacy = (
        body_legacy
        or headers.get(LEGACY_HEADER)
        or query.get(LEGACY_FIELD)
        or query.get(LEGACY_HEADER)
    )
    return Selectors(model, param, legacy)


def choose_if_any(registry: Registry, sel: Selectors) -> Account | None:
    """The account the selectors (or the default) name; None when nothing names one.

    A selector naming no account is a 400.
    """
    if sel.model is not None:
        account = registry.pick(sel.model)
        if account is None:
            raise BadRequest(
                # "not found in model_list" is LiteLLM's wording, which its tests match on.
                f"Unknown model '{clip(sel.model)}': not found in model_list of this router.",
                param=sel.model_param,
                code="model_not_found",
            )
        return account
    if sel.legacy is not None:
        account = registry.legacy.get(sel.legacy)
        if account is None:
            raise BadRequest(
                f"custom-llm-provider '{clip(sel.legacy)}' has no entry in files_settings.",
                param=LEGACY_FIELD,
            )
        return account
    return registry.default()


def choose(registry: Registry, sel: Selectors) -> Account:
    """The account the selectors (or the default) name; a 400 saying how to choose if none."""
    account = choose_if_any(registry, sel)
    if account is None:
        raise BadRequest(HOW_TO_CHOOSE, param=MODEL_FIELD, code="model_required")
    return account


Copies = tuple[tuple[Account, str], ...]


# Decoding an ID (base64, canonical-form check, HMAC) is the same work for the same ID on
# every request; a client usually asks about the same few. Valid IDs only (an InvalidId is
# not cached), up to 1024 of them of at most 1 KiB.
_CACHED_ID_CHARS = 1024
_decode_id_cached = lru_cache(maxsize=1024)(decode_id)


def _decode(
    registry: Registry, value: str, kind: Kind, param: str
) -> tuple[Account | None, str, Copies, str | None]:
    """The account an ID routes to (None for a provider's own ID), the provider ID, the
    further copies a multi-copy ID names, and the owner tag it carries.

    An ID of an object the caller does not own is a 404 like an ID that names nothing.
    """
    config = registry.config
    try:
        decoded = (_decode_id_cached if len(value) <= _CACHED_ID_CHARS else decode_id)(
            value, kind, config.id_secrets, allow_unsigned=config.files_router.allow_unsigned_ids
        )
    except InvalidId as err:
        raise NotFound(f"No such {kind}: '{clip(value)}' ({err}).", param=param) from None
    if not isinstance(decoded, RoutedId):
        return None, decoded.provider_id, (), None
    owner = decoded.owner if decoded.signed else None
    if not reaches(config, owner):
        raise NotFound(f"No such {kind}: '{clip(value)}'.", param=param)
    account = registry.for_route(decoded.deployment)
    if account is None:
        raise NotFound(
            f"No such {kind}: '{clip(value)}' names an account this router does not have.",
            param=param,
        )
    copies: list[tuple[Account, str]] = []
    for route, copy_id in decoded.copies:
        holder = registry.for_route(route)
        if holder is None:
            raise NotFound(
                f"No such {kind}: '{clip(value)}' names an account this router does not have.",
                param=param,
            )
        copies.append((holder, copy_id))
    return account, decoded.provider_id, tuple(copies), owner


def _target(
    account: Account,
    provider_id: str,
    value: str,
    kind: Kind,
    param: str,
    copies: Copies = (),
    owner: str | None = None,
    *,
    raw: bool,
) -> Target:
    if provider_id.strip(".") == "" or (copies and any(c.strip(".") == "" for _, c in copies)):
        raise NotFound(f"No such {kind}: '{clip(value)}'.", param=param)
    return Target(account, provider_id, copies, owner, raw)


def resolve_id(registry: Registry, value: str, kind: Kind, sel: Selectors, *, param: str) -> Target:
    """The account and provider ID behind an ID in a path or cursor.

    A provider's own ID needs an account named by the selectors (or a default): else 404.
    """
    account, provider_id, copies, owner = _decode(registry, value, kind, param)
    raw = account is None
    if account is None:
        account = choose_if_any(registry, sel)
        if account is None:
            raise NotFound(
                f"No such {kind}: '{clip(value)}' was not issued by this router. To use a "
                "provider's own ID, also pass 'model' to pick its account.",
                param=param,
            )
    return _target(account, provider_id, value, kind, param, copies, owner, raw=raw)


def resolve_body_id(
    registry: Registry, value: str, kind: Kind, sel: Selectors, *, param: str
) -> Target:
    """The account and provider ID behind an ID in a JSON body (``input_file_id``).

    A provider's own ID with no account named is a 400 saying how to choose one.
    """
    account, provider_id, copies, owner = _decode(registry, value, kind, param)
    raw = account is None
    if account is None:
        account = choose(registry, sel)
    return _target(account, provider_id, value, kind, param, copies, owner, raw=raw)
