"""Pieces both the files and the batches handlers use."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec
from aiohttp import web

from ..accounts import Account
from ..auth import authorize, current_principal
from ..errors import BadRequest, RouterError, UpstreamTimeout, UpstreamUnavailable, for_log
from ..ids import Kind
from ..jsoncodec import OBJECT as _body_decoder
from ..jsonlimits import MAX_JSON_DEPTH, too_deep
from ..keys import state_of
from ..providers import Provider
from ..rewrite import rewrite_list, rewrite_object
from ..selection import Selectors, Target, choose, resolve_body_id, resolve_id, selectors
from ..state import RouterState
from ..upstream import UpstreamReply

__all__ = [
    "SKIPPED_HEADER",
    "by_path_id",
    "json_body",
    "list_pages",
    "passthrough",
    "relaying",
    "reply_object",
    "request_selectors",
    "router_state",
    "target_for",
]

logger = logging.getLogger(__package__)

JSON_BODY_LIMIT = 1024 * 1024
# On a merged listing (no model): the deployments left out because they could not be reached,
# comma-separated (each name percent-encoded).
SKIPPED_HEADER = "x-files-router-skipped"
EMPTY_LIST: dict[str, Any] = {
    "object": "list",
    "data": [],
    "first_id": None,
    "last_id": None,
    "has_more": False,
}

ListCall = Callable[[Provider, aiohttp.ClientSession, Mapping[str, str]], Awaitable[UpstreamReply]]
IdCall = Callable[[Provider, aiohttp.ClientSession, str], Awaitable[UpstreamReply]]


def router_state(request: web.Request) -> RouterState:
    return state_of(request)


async def json_body(request: web.Request, *, required: bool) -> dict[str, Any]:
    """The JSON object a request carries ({} when it carries none and none is required)."""
    if not request.body_exists:
        if required:
            raise BadRequest("Expected a JSON object in the request body.")
        return {}
    if request.content_type not in ("application/json", "application/octet-stream", ""):
        if required:
            raise BadRequest("Expected 'Content-Type: application/json'.")
        return {}
    if request.content_length is not None and request.content_length > JSON_BODY_LIMIT:
        raise BadRequest(f"The JSON body is larger than {JSON_BODY_LIMIT} bytes.")
    raw = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        raw += chunk
        if len(raw) > JSON_BODY_LIMIT:
            raise BadRequest(f"The JSON body is larger than {JSON_BODY_LIMIT} bytes.")
    if not raw.strip():
        if required:
            raise BadRequest("Expected a JSON object in the request body.")
        return {}
    if too_deep(raw):
        raise BadRequest(f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels.")
    try:
        return _body_decoder.decode(raw)
    except msgspec.ValidationError:
        raise BadRequest("The request body must be a JSON object.") from None
    except msgspec.DecodeError:
        raise BadRequest("We could not parse the JSON body of your request.") from None


def _text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' must be a string.", param=name)
    return value


def request_selectors(request: web.Request, body: Mapping[str, Any]) -> Selectors:
    return selectors(request, _text(body, "model"), _text(body, "custom_llm_provider"))


def target_for(
    request: web.Request, value: str, kind: Kind, sel: Selectors, *, param: str
) -> Target:
    """The authorized target of an ID in the path (selection.resolve_id)."""
    target = resolve_id(router_state(request).registry, value, kind, sel, param=param)
    authorize(target.account)
    return target


def body_target_for(
    request: web.Request, value: str, kind: Kind, sel: Selectors, *, param: str
) -> Target:
    """The authorized target of an ID in a JSON body (selection.resolve_body_id)."""
    target = resolve_body_id(router_state(request).registry, value, kind, sel, param=param)
    authorize(target.account)
    return target


def passthrough(reply: UpstreamReply, body: bytes | None = None) -> web.Response:
    """An account's answer as ours: its status, ``body`` (else its own), its relayed headers."""
    return web.Response(
        status=reply.status,
        body=reply.body if body is None else body,
        content_type="application/json",
        headers=reply.headers,
    )


class relaying:  # lower case: used as the function it was, ``with relaying(reply):``
    """An error the router raises over an account's answer carries that answer's headers.

    A class rather than ``@contextmanager``, whose generator costs about 1 us per answer.
    """

    __slots__ = ("_reply",)

    def __init__(self, reply: UpstreamReply) -> None:
        self._reply = reply

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(err, RouterError):
            err.headers = {**self._reply.headers, **err.headers}


def reply_object(
    state: RouterState,
    account: Account,
    reply: UpstreamReply,
    kind: Kind,
    copies: Sequence[tuple[Account, str]] = (),
) -> web.Response:
    """``reply`` with its IDs encoded for ``account`` (and a file's further ``copies``)."""
    if not reply.ok:
        return passthrough(reply)
    with relaying(reply):
        encoder = state.encoder(account, copies)
        return passthrough(reply, rewrite_object(reply.body, kind, encoder))


async def by_path_id(
    request: web.Request,
    kind: Kind,
    param: str,
    call: IdCall,
) -> web.Response:
    """One operation on the object a path ID names, answered with its IDs rewritten.

    A JSON body may carry ``model`` for a raw ID, as openai SDK 1.x sent ``extra_body``.
    """
    state = router_state(request)
    body = await json_body(request, required=False)
    sel = request_selectors(request, body)
    target = target_for(request, request.match_info[param], kind, sel, param=param)
    reply = await call(target.account.require(), state.http, target.provider_id)
    return reply_object(state, target.account, reply, kind)


def _merged(state: RouterState, sel: Selectors) -> list[Account]:
    """The accounts a listing with no selector walks: every one the key may use, in config
    order, when nothing picks one (no model, no legacy selector, no single default)."""
    registry = state.registry
    if sel.model is not None or sel.legacy is not None:
        return []
    if state.config.files_router.default_model is not None or len(registry.accounts) == 1:
        return []
    allowed = current_principal().models
    return [
        a
        for a in registry.accounts
        if not a.legacy
        and a.provider is not None
        and (allowed is None or a.name in allowed or a.route in allowed)
    ]


def _limit(query: Mapping[str, str], low: int, high: int) -> None:
    value = query.get("limit")
    if value is None:
        return
    if not value.isdigit() or not low <= int(value) <= high:
        raise BadRequest(
            f"Invalid 'limit': expected an integer from {low} to {high}.", param="limit"
        )


async def list_pages(
    request: web.Request,
    kind: Kind,
    call: ListCall,
    forwarded: tuple[str, ...],
    limit_range: tuple[int, int],
) -> web.Response:
    """One page of a listing, walking the accounts of a shared model_name one after another.

    The ``after`` cursor is an ID we issued, so it pins the account to continue from; when an
    account runs out, the next in the group starts from its beginning.
    """
    state = router_state(request)
    query = request.query
    _limit(query, *limit_range)
    if query.get("order") not in (None, "asc", "desc"):
        raise BadRequest("Invalid 'order': expected 'asc' or 'desc'.", param="order")
    body = await json_body(request, required=False)
    sel = request_selectors(request, body)
    after = query.get("after")
    merged = _merged(state, sel)
    if after:
        target = resolve_id(state.registry, after, kind, sel, param="after")
        account, cursor = target.account, target.provider_id
    elif merged:
        account, cursor = merged[0], None
    else:
        account, cursor = choose(state.registry, sel), None
    in_merged = bool(merged) and account in merged
    group = merged if in_merged else state.registry.group_of(sel.model, account)
    params = {k: query[k] for k in forwarded if k in query and k != "after"}
    skipped: list[Account] = []
    while True:
        authorize(account)
        page = dict(params)
        if cursor is not None:
            page["after"] = cursor
        position = group.index(account)
        more_accounts = position + 1 < len(group)
        try:
            reply = await call(account.require(), state.http, page)
        except (UpstreamUnavailable, UpstreamTimeout) as err:
            # A merged listing lists the accounts it can reach; one named account fails.
            if not in_merged or len(skipped) + 1 == len(group):
                raise
            logger.warning(
                "merged %s listing: account %s skipped, unreachable (%s)",
                kind,
                account.name,
                for_log(err.message),
            )
            skipped.append(account)
            if not more_accounts:
                return _skipping(web.json_response(EMPTY_LIST), skipped)
            account, cursor = group[position + 1], None
            continue
        if not reply.ok:
            return passthrough(reply)
        with relaying(reply):
            listing = rewrite_list(reply.body, kind, state.encoder(account))
        if listing.count == 0 and not listing.has_more and more_accounts:
            account, cursor = group[position + 1], None
            continue
        if more_accounts and not listing.has_more:
            listing.set("has_more", True)
        return _skipping(passthrough(reply, listing.encode()), skipped)


def _skipping(response: web.Response, skipped: Sequence[Account]) -> web.Response:
    if skipped:
        response.headers[SKIPPED_HEADER] = ", ".join(quote(a.name, safe="") for a in skipped)
    return response
