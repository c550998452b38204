"""Which account serves a request.

Order: an encoded ID -> ``model`` (JSON body or form field) -> ``?model=`` ->
``x-litellm-model`` -> legacy ``custom-llm-provider`` with ``files_settings`` -> the default
(the only account, or ``files_router.default_model``) -> 400 saying how to choose.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from .accounts import Account, Registry
from .errors import BadRequest, NotFound, clip
from .ids import InvalidId, Kind, RoutedId, decode_id

__all__ = ["Selectors", "Target", "choose", "resolve_id", "selectors"]

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

    @property
    def holders(self) -> tuple[tuple[Account, str], ...]:
        return ((self.account, self.provider_id), *self.copies)


def selectors(
    request: web.BaseRequest,
    body_model: str | None = None,
    body_legacy: str | None = None,
) -> Selectors:
    if body_model:
        model, param = body_model, MODEL_FIELD
    elif request.query.get(MODEL_FIELD):
        model, param = request.query[MODEL_FIELD], MODEL_FIELD
    elif request.headers.get(MODEL_HEADER):
        model, param = request.headers[MODEL_HEADER], MODEL_HEADER
    else:
        model, param = None, MODEL_FIELD
    legacy = (
        body_legacy
        or request.headers.get(LEGACY_HEADER)
        or request.query.get(LEGACY_FIELD)
        or request.query.get(LEGACY_HEADER)
    )
    return Selectors(model, param, legacy)


def choose(registry: Registry, sel: Selectors, *, required: bool = True) -> Account | None:
    if sel.model is not None:
        account = registry.pick(sel.model)
        if account is None:
            raise BadRequest(
                f"Unknown model '{clip(sel.model)}': it is not in this router's model_list.",
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
    account = registry.default()
    if account is None and required:
        raise BadRequest(HOW_TO_CHOOSE, param=MODEL_FIELD, code="model_required")
    return account


def resolve_id(
    registry: Registry,
    value: str,
    kind: Kind,
    sel: Selectors,
    *,
    param: str,
    in_body: bool = False,
) -> Target:
    """The account and provider ID behind an ID a client sent.

    A raw ID nothing routes is a 404 in a path, a 400 saying how to choose in a body.
    """
    config = registry.config
    try:
        decoded = decode_id(
            value, kind, config.id_secrets, allow_unsigned=config.files_router.allow_unsigned_ids
        )
    except InvalidId as err:
        raise NotFound(f"No such {kind}: '{clip(value)}' ({err}).", param=param) from None
    if isinstance(decoded, RoutedId):
        account = registry.for_route(decoded.deployment)
        if account is None:
            raise NotFound(
                f"No such {kind}: '{clip(value)}' names an account this router does not have.",
                param=param,
            )
        provider_id = decoded.provider_id
        copies: list[tuple[Account, str]] = []
        for route, copy_id in decoded.copies:
            holder = registry.for_route(route)
            if holder is None:
                raise NotFound(
                    f"No such {kind}: '{clip(value)}' names an account this router does not have.",
                    param=param,
                )
            copies.append((holder, copy_id))
        if provider_id.strip(".") == "" or any(c.strip(".") == "" for _, c in copies):
            raise NotFound(f"No such {kind}: '{clip(value)}'.", param=param)
        return Target(account, provider_id, tuple(copies))
    else:
        chosen = choose(registry, sel, required=in_body)
        if chosen is None:
            raise NotFound(
                f"No such {kind}: '{clip(value)}' was not issued by this router. To use a "
                "provider's own ID, also pass 'model' to pick its account.",
                param=param,
            )
        account, provider_id = chosen, decoded.provider_id
    if provider_id.strip(".") == "":
        raise NotFound(f"No such {kind}: '{clip(value)}'.", param=param)
    return Target(account, provider_id)
