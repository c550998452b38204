"""Pieces the files, batches and fine-tuning handlers share."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import quote

import aiohttp
import msgspec
from aiohttp import web

from ..accounts import Account
from ..auth import authorize, current_principal, reaches, sees_all, tags_of, write_tag
from ..config import RouterConfig
from ..errors import (
    BadRequest,
    NotFound,
    RouterError,
    UpstreamTimeout,
    UpstreamUnavailable,
    clip,
    for_log,
)
from ..ids import Kind, kind_prefix
from ..jsoncodec import OBJECT as _body_decoder
from ..jsonlimits import MAX_JSON_DEPTH, too_deep
from ..keys import state_of
from ..ownership import NO_OWNER, is_sealed, open_cursor, seal_cursor
from ..providers import Provider
from ..rewrite import Encoder, ListPage, rewrite_list, rewrite_object, tag_of
from ..selection import Selectors, Target, choose, resolve_body_id, resolve_id, selectors
from ..state import RouterState
from ..upstream import UpstreamReply

__all__ = [
    "OWNED_KINDS",
    "SKIPPED_HEADER",
    "TARGETS_FIELD",
    "IdCall",
    "by_path_id",
    "check_limit",
    "id_owner",
    "json_body",
    "list_pages",
    "named_deployments",
    "owned",
    "passthrough",
    "path_target",
    "prefixed",
    "relaying",
    "reply_object",
    "request_selectors",
    "router_state",
    "target_for",
    "upstream_tag",
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


# How to fetch one object of each kind that has owners: the call a raw provider ID's owner
# tag is read from. A kind added here gets the same checks as files and batches.
OWNED_KINDS: dict[str, IdCall] = {
    "file": lambda provider, http, pid: provider.retrieve_file(http, pid),
    "batch": lambda provider, http, pid: provider.retrieve_batch(http, pid),
    "fine_tuning_job": lambda provider, http, pid: provider.retrieve_fine_tuning_job(http, pid),
}


def upstream_tag(state: RouterState, provider: Provider, kind: Kind) -> str | None:
    """The owner tag a new object of the caller's gets upstream (ownership.py); None: none
    is written (no id_secret, or an adapter that keeps no tags for ``kind``)."""
    if not provider.keeps_tags(kind) or not state.config.id_secrets:
        return None
    return write_tag(state.config) or NO_OWNER


def id_owner(tag: str | None) -> str | None:
    """The owner an ID carries for an object tagged ``tag`` upstream."""
    return None if tag is None or tag == NO_OWNER else tag


async def owned(
    request: web.Request, target: Target, kind: Kind, value: str, param: str
) -> tuple[Target, UpstreamReply | None]:
    """``target`` once the caller may have it, and the object's answer when it was fetched.

    A raw provider ID from a caller who does not see every object is looked up upstream:
    served only when the object's owner tag is the caller's, else a 404 like a missing one.
    Signed IDs were checked already (selection.py), with no upstream call.
    """
    state = router_state(request)
    if not target.raw or sees_all(state.config):
        return target, None
    provider = target.account.require()
    fetch = OWNED_KINDS.get(kind)
    if fetch is None or not provider.keeps_tags(kind):
        raise NotFound(f"No such {kind}: '{clip(value)}'.", param=param)
    reply = await fetch(provider, state.http, target.provider_id)
    if not reply.ok:
        if reply.status == 404:
            raise NotFound(f"No such {kind}: '{clip(value)}'.", param=param)
        return target, reply
    with relaying(reply):
        tag = tag_of(reply.body, kind)
    if not reaches(state.config, tag):
        raise NotFound(f"No such {kind}: '{clip(value)}'.", param=param)
    owner = id_owner(tag)
    return Target(target.account, target.provider_id, target.copies, owner, raw=True), reply


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
    request: web.Request,
    value: str,
    kind: Kind,
    sel: Selectors,
    *,
    param: str,
    in_body: bool = False,
) -> Target:
    """The authorized target of an ID in the path (selection.resolve_id) or, ``in_body``, in a
    JSON body (selection.resolve_body_id: a raw ID with no account named is a 400, not a 404)."""
    resolve = resolve_body_id if in_body else resolve_id
    target = resolve(router_state(request).registry, value, kind, sel, param=param)
    authorize(target.account)
    return target


async def path_target(
    request: web.Request, kind: Kind, param: str
) -> tuple[Target, UpstreamReply | None]:
    """The target of the ID in the path's ``param`` once the caller may have it (``owned``),
    picked with the selectors of the query, headers or JSON body."""
    body = await json_body(request, required=False)
    value = request.match_info[param]
    target = target_for(request, value, kind, request_selectors(request, body), param=param)
    return await owned(request, target, kind, value, param)


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

    A class rather than ``@contextmanager``, whose generator costs more per answer
    (benchmarks/README.md).
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
    owner: str | None = None,
) -> web.Response:
    """``reply`` with its IDs encoded for ``account`` (and a file's further ``copies``), each
    carrying ``owner``; the router's owner tag removed."""
    if not reply.ok:
        return passthrough(reply)
    with relaying(reply):
        encoder = state.encoder(account, copies, owner)
        provider = account.provider
        tagged = provider is not None and provider.keeps_tags(kind)
        return passthrough(reply, rewrite_object(reply.body, kind, encoder, tagged=tagged))


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
    target, fetched = await path_target(request, kind, param)
    if fetched is not None and not fetched.ok:
        return passthrough(fetched)
    provider = target.account.require()
    reply = await call(provider, state.http, target.provider_id)
    owner = target.owner
    if target.raw and fetched is None and reply.ok and provider.keeps_tags(kind):
        # A caller who sees everything sent a raw ID: its answer names the owner, as a
        # listing's items do, so the ID handed back is the one the owner holds.
        with relaying(reply):
            owner = id_owner(tag_of(reply.body, kind))
    return reply_object(state, target.account, reply, kind, owner=owner)


def _merged(
    state: RouterState, sel: Selectors, usable: Callable[[Provider], bool] | None = None
) -> list[Account]:
    """The accounts a listing with no selector walks: every one the key may use (and, given
    ``usable``, whose provider offers the objects listed), in config order, when nothing
    picks one (no model, no legacy selector, no single default)."""
    registry = state.registry
    if sel.model is not None or sel.legacy is not None:
        return []
    if (
        state.config.files_router.default_model is not None
        or len(registry.accounts) == 1
        or registry.default_legacy is not None
    ):
        return []
    allowed = current_principal().models
    return [
        a
        for a in registry.accounts
        if not a.legacy
        and a.provider is not None
        and (allowed is None or a.name in allowed or a.route in allowed)
        and (usable is None or usable(a.provider))
    ]


# LiteLLM's managed files: an upload to, or a listing of, several models' deployments.
TARGETS_FIELD = "target_model_names"


def named_deployments(state: RouterState, names: str) -> list[Account]:
    """The deployments a ``target_model_names`` value (``a,b``) covers, in order, each once."""
    accounts: list[Account] = []
    for name in (n.strip() for n in names.split(",")):
        if not name:
            continue
        found = state.registry.deployments(name)
        if not found:
            raise BadRequest(
                # "not found in model_list" is LiteLLM's wording, which its tests match on.
                f"Unknown model '{clip(name)}' in '{TARGETS_FIELD}': not found in model_list "
                "of this router.",
                param=TARGETS_FIELD,
                code="model_not_found",
            )
        accounts.extend(a for a in found if a not in accounts)
    if not accounts:
        raise BadRequest(f"'{TARGETS_FIELD}' names no model.", param=TARGETS_FIELD)
    return accounts


def check_limit(query: Mapping[str, str], low: int, high: int) -> None:
    """A 400 unless the query's ``limit``, if any, is an integer from ``low`` to ``high``."""
    value = query.get("limit")
    if value is None:
        return
    if not value.isdigit() or not low <= int(value) <= high:
        raise BadRequest(
            f"Invalid 'limit': expected an integer from {low} to {high}.", param="limit"
        )


class _Listing(NamedTuple):
    # The query parameters passed on; a name ending in "[" forwards every deepObject key
    # under it (metadata[k]).
    forwarded: tuple[str, ...]
    limits: tuple[int, int]  # the 'limit' accepted
    page: int  # a filtered page's size when the query sets no 'limit'


# How the objects of each kind are listed, as OpenAI's API lists them.
_LISTINGS: dict[Kind, _Listing] = {
    "file": _Listing(("after", "limit", "order", "purpose"), (1, 10000), 10000),
    "batch": _Listing(("after", "limit"), (1, 100), 20),
    "fine_tuning_job": _Listing(("after", "limit", "metadata", "metadata["), (1, 100), 20),
}


async def list_pages(
    request: web.Request,
    kind: Kind,
    call: ListCall,
    usable: Callable[[Provider], bool] | None = None,
) -> web.Response:
    """One page of a listing, walking the accounts of a shared model_name one after another.

    The ``after`` cursor is an ID we issued, so it pins the account to continue from; when an
    account runs out, the next in the group starts from its beginning. A caller who does not
    see every object gets its own only (``_filtered``).
    """
    state = router_state(request)
    query = request.query
    spec = _LISTINGS[kind]
    check_limit(query, *spec.limits)
    if query.get("order") not in (None, "asc", "desc"):
        raise BadRequest("Invalid 'order': expected 'asc' or 'desc'.", param="order")
    body = await json_body(request, required=False)
    sel = request_selectors(request, body)
    after = query.get("after")
    targets = query.get(TARGETS_FIELD)
    merged = (
        named_deployments(state, targets) if targets is not None else _merged(state, sel, usable)
    )
    if not after and not merged and usable is not None and _merged(state, sel):
        # Several accounts, none offering these objects: nothing to list, nothing to choose.
        empty: dict[str, Any] = {"object": "list", "data": [], "first_id": None, "last_id": None}
        return web.json_response({**empty, "has_more": False})
    filtering = not sees_all(state.config)
    prefix = kind_prefix(kind)
    if after and filtering and is_sealed(after, prefix):
        found = open_cursor(
            after, prefix, state.config.id_secrets, tags_of(state.config, current_principal())
        )
        account_or_none = None if found is None else state.registry.for_route(found[0])
        if found is None or account_or_none is None:
            raise NotFound(f"No such {kind}: '{clip(after)}'.", param="after")
        account, cursor = account_or_none, found[1] or None
    elif after:
        target = resolve_id(state.registry, after, kind, sel, param="after")
        target, fetched = await owned(request, target, kind, after, "after")
        if fetched is not None and not fetched.ok:
            return passthrough(fetched)
        account, cursor = target.account, target.provider_id
    elif merged:
        account, cursor = merged[0], None
    else:
        account, cursor = choose(state.registry, sel), None
    in_merged = bool(merged) and account in merged
    group = merged if in_merged else state.registry.group_of(sel.model, account)
    forwarded = spec.forwarded
    prefixes = tuple(k for k in forwarded if k.endswith("["))
    params = {
        k: query[k]
        for k in query
        if k != "after" and (k in forwarded or (prefixes and k.startswith(prefixes)))
    }
    if filtering:
        limit = int(query.get("limit") or spec.page)
        return await _filtered(
            request, kind, call, group, account, cursor, params, limit, in_merged
        )
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
            _skip(kind, account, err, skipped)
            if not more_accounts:
                return _skipping(web.json_response(EMPTY_LIST), skipped)
            account, cursor = group[position + 1], None
            continue
        if not reply.ok:
            return passthrough(reply)
        with relaying(reply):
            listing = rewrite_list(
                reply.body, kind, state.encoder(account), _all_owners(state, account, kind)
            )
        if listing.count == 0 and not listing.has_more and more_accounts:
            account, cursor = group[position + 1], None
            continue
        if more_accounts and not listing.has_more:
            listing.set("has_more", True)
        if listing.kept_ids is not None:
            _ends(listing)
        return _skipping(passthrough(reply, listing.encode()), skipped)


def _all_owners(
    state: RouterState, account: Account, kind: Kind
) -> Callable[[str | None], Encoder | None] | None:
    """For a caller who sees every object: each item's IDs carry the item's own owner."""
    provider = account.provider
    if provider is None or not provider.keeps_tags(kind):
        return None
    return lambda tag: state.encoder(account, owner=id_owner(tag))


def _ends(listing: ListPage) -> None:
    """first_id and last_id: the page's own first and last items (IDs encoded already)."""
    ids = listing.kept_ids or []
    listing.set("first_id", ids[0] if ids else None)
    listing.set("last_id", ids[-1] if ids else None)


async def _filtered(
    request: web.Request,
    kind: Kind,
    call: ListCall,
    group: Sequence[Account],
    account: Account,
    cursor: str | None,
    params: Mapping[str, str],
    limit: int,
    in_merged: bool = False,
) -> web.Response:
    """A page of the caller's own objects, filled from upstream pages by their owner tags.

    At most ``files_router.list_scan_pages`` upstream pages per request: when the bound is
    hit the page may be short (``has_more: true``). ``first_id``/``last_id`` name only items
    on the page; an empty page that must go on carries a sealed cursor (ownership.py) that
    names no object. Accounts whose adapter keeps no owner tags show no objects here.
    """
    state = router_state(request)
    config = state.config
    mine = set(tags_of(config, current_principal()))
    bound = config.files_router.list_scan_pages
    kept: list[msgspec.Raw] = []
    kept_ids: list[str] = []
    last: ListPage | None = None
    last_reply: UpstreamReply | None = None
    scans = 0
    more = False
    position = cursor  # where the scan stands in ``account`` (None: its start)
    skipped: list[Account] = []
    while True:
        authorize(account)
        provider = account.require()
        listing: ListPage | None = None
        if provider.keeps_tags(kind) and mine:
            page = dict(params)
            if position is not None:
                page["after"] = position
            scans += 1
            try:
                reply = await call(provider, state.http, page)
            except (UpstreamUnavailable, UpstreamTimeout) as err:
                if not in_merged or len(skipped) + 1 == len(group):
                    raise
                _skip(kind, account, err, skipped)
                reply = None
            if reply is not None:
                if not reply.ok:
                    return passthrough(reply)

                def choose_item(tag: str | None, account: Account = account) -> Encoder | None:
                    return state.encoder(account, owner=tag) if tag in mine else None

                with relaying(reply):
                    listing = rewrite_list(reply.body, kind, state.encoder(account), choose_item)
                last, last_reply = listing, reply
                room = limit - len(kept)
                items, ids = listing.items or [], listing.kept_ids or []
                kept += items[:room]
                kept_ids += ids[:room]
                if len(items) > room or (len(items) == room and listing.has_more):
                    more = True
                    break
                if listing.has_more and listing.upstream_last is not None:
                    position = listing.upstream_last
                    if scans >= bound:
                        more = True
                        break
                    continue
        index = group.index(account)
        if index + 1 >= len(group):
            break
        if kept:
            more = True  # the next account starts on the next page: cursors name this one's
            break
        account, position = group[index + 1], None
        if scans >= bound:
            more = True
            break
    obj: dict[str, msgspec.Raw] = {} if last is None else last.obj
    result = ListPage(obj, len(kept), more)
    result.set("object", "list")
    result.set("data", kept)
    first = kept_ids[0] if kept_ids else None
    final = kept_ids[-1] if kept_ids else None
    if not kept and more:
        secret = config.id_secrets[0]
        prefix = kind_prefix(kind)
        final = seal_cursor(prefix, secret, _written(config), account.route, position or "")
    result.set("first_id", first)
    result.set("last_id", final)
    result.set("has_more", more)
    if last_reply is None:
        response = web.Response(body=result.encode(), content_type="application/json")
        return _skipping(response, skipped)
    return _skipping(passthrough(last_reply, result.encode()), skipped)


def _written(config: RouterConfig) -> str:
    tags = tags_of(config, current_principal())
    return tags[0]


def _skip(
    kind: Kind, account: Account, err: UpstreamUnavailable | UpstreamTimeout, skipped: list[Account]
) -> None:
    """A merged listing lists the accounts it can reach: ``account`` is left out, and said."""
    logger.warning(
        "merged %s listing: account %s skipped, unreachable (%s)",
        kind,
        account.route,
        for_log(err.message),
    )
    skipped.append(account)


def _skipping(response: web.Response, skipped: Sequence[Account]) -> web.Response:
    if skipped:
        response.headers[SKIPPED_HEADER] = ", ".join(quote(a.route, safe="") for a in skipped)
    return response


def prefixed(prefix: str, table: web.RouteTableDef) -> list[web.RouteDef]:
    """The routes ``table`` declares, each path below ``prefix`` (the app serves the API
    below each of its prefixes)."""
    return [
        web.RouteDef(route.method, prefix + route.path, route.handler, route.kwargs)
        for route in table
        if isinstance(route, web.RouteDef)
    ]
