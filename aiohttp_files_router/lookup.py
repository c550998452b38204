"""``resolve``: one of the router's IDs, for a host's own routes (a chat route taking our file
IDs), after the same signature, scope and ownership checks as the router's own calls."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from .auth import Identity, _principal, authorize
from .errors import RouterError
from .ids import Kind
from .keys import STATE_KEY
from .params import ProviderParams
from .selection import Selectors, resolve_id

__all__ = ["Resolved", "resolve"]

_NO_SELECTORS = Selectors(None, "model", None)


@dataclass(frozen=True)
class Resolved:
    """The object an ID names: where it lives and the provider's own ID for it."""

    kind: Kind
    deployment: str  # the route the ID names (model_info.id, or the model_name)
    model_name: str
    provider_id: str
    litellm_params: ProviderParams  # secrets hidden in its repr, present in its fields


def _kind_of(object_id: str) -> Kind:
    if object_id.startswith("batch_"):
        return "batch"
    if object_id.startswith("file-"):
        return "file"
    if object_id.startswith("ftjob-"):
        return "fine_tuning_job"
    raise LookupError("not an ID this router issues")


async def resolve(sub_app: web.Application, object_id: str, identity: Identity) -> Resolved:
    """What ``object_id`` names, when ``identity`` may have it; ``LookupError`` otherwise.

    ``sub_app`` is what ``setup()`` returned. The reason is never told apart (forged, another
    team's, a model out of scope, a provider's own ID): a LookupError each time.
    """
    state = sub_app.get(STATE_KEY)
    if state is None:
        raise RuntimeError("resolve() takes the application setup() returned")
    if not isinstance(identity, Identity):
        raise TypeError("resolve() takes an aiohttp_files_router.Identity")
    kind = _kind_of(object_id)
    token = _principal.set(identity)
    try:
        target = resolve_id(state.registry, object_id, kind, _NO_SELECTORS, param="id")
        if target.raw:
            raise LookupError("not an ID this router issued")
        authorize(target.account)
    except RouterError:
        raise LookupError("no such object for this identity") from None
    finally:
        _principal.reset(token)
    account = target.account
    if account.params is None:
        raise LookupError("no such object for this identity")
    return Resolved(kind, account.route, account.name, target.provider_id, account.params)
