"""/batches: create (routed by the input file's ID), retrieve, cancel, list."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from ..auth import write_tag
from ..errors import BadRequest, RouterError, clip, for_log
from ..ids import Kind
from ..ownership import OWNER_KEY
from ..providers import Provider
from ..selection import LEGACY_FIELD, MODEL_FIELD, Target
from ..upstream import UpstreamReply
from .common import (
    by_path_id,
    json_body,
    list_pages,
    owned,
    passthrough,
    prefixed,
    reply_object,
    request_selectors,
    router_state,
    target_for,
    upstream_tag,
)
from .copies import holders_for, unavailable

__all__ = ["routes"]

logger = logging.getLogger(__package__)

BATCH_ID = "batch_id"
REQUIRED = ("input_file_id", "endpoint", "completion_window")
CLIENT_CHECK_SECONDS = 0.5

T = TypeVar("T")


async def _while_connected(request: web.Request, call: Awaitable[T]) -> T:
    """``call``'s result, or its cancellation once the client has hung up.

    An adapter may wait long before it creates the batch (one waits for its input file to
    be processed): a
    client that gave up and retries must not end up with two batches.
    """
    task = asyncio.ensure_future(call)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=CLIENT_CHECK_SECONDS)
            if done:
                return task.result()
            if request.transport is None or request.transport.is_closing():
                raise ConnectionResetError("the client left before the batch was created")
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


# This module's routes, each added by its handler's decorator; routes() serves them below a
# prefix.
_api = web.RouteTableDef()


@_api.post("/batches")
async def create_batch(request: web.Request) -> web.Response:
    state = router_state(request)
    body = await json_body(request, required=True)
    for name in REQUIRED:
        value = body.get(name)
        if value is None or value == "":
            raise BadRequest(f"Missing required parameter: '{name}'.", param=name)
        if not isinstance(value, str):
            raise BadRequest(f"'{name}' must be a string.", param=name)
    sel = request_selectors(request, body)
    metadata = body.get("metadata")
    reserved_metadata(metadata, "batch")
    value = body["input_file_id"]
    target = target_for(request, value, "file", sel, param="input_file_id", in_body=True)
    target, fetched = await owned(request, target, "file", value, "input_file_id")
    if fetched is not None and not fetched.ok:
        return passthrough(fetched)
    forwarded = {k: v for k, v in body.items() if k not in (MODEL_FIELD, LEGACY_FIELD)}
    if target.copies:
        return await _spread(request, target, sel.model, forwarded)
    forwarded["input_file_id"] = target.provider_id
    try:
        provider = target.account.require()
        forwarded = tagged_body(request, provider, forwarded, "batch")
        reply = await _while_connected(request, provider.create_batch(state.http, forwarded))
    except RouterError as err:
        # An adapter names the input file by its provider ID; the client knows it by ours.
        err.message = err.message.replace(target.provider_id, body["input_file_id"])
        raise
    return reply_object(state, target.account, reply, "batch", owner=write_tag(state.config))


def reserved_metadata(metadata: Any, what: str) -> None:
    """A create body's ``metadata``: an object, without the router's owner key."""
    if metadata is not None and not isinstance(metadata, dict):
        raise BadRequest("'metadata' must be an object of strings.", param="metadata")
    if metadata and OWNER_KEY in metadata:
        raise BadRequest(
            f"'metadata' key '{OWNER_KEY}' is reserved: the router keeps the {what}'s owner there.",
            param="metadata",
        )


def tagged_body(
    request: web.Request, provider: Provider, body: dict[str, Any], kind: Kind
) -> dict[str, Any]:
    """The create body with the caller's owner tag in its metadata (ownership.py)."""
    tag = upstream_tag(router_state(request), provider, kind)
    if tag is None:
        return body
    metadata = dict(body.get("metadata") or {})
    room = provider.metadata_pairs
    if room is not None and len(metadata) >= room:
        what = "batch" if kind == "batch" else "job"
        raise BadRequest(
            f"'metadata' holds at most {room - 1} pairs here: the router keeps the {what}'s "
            "owner in one more.",
            param="metadata",
        )
    metadata[OWNER_KEY] = tag
    return {**body, "metadata": metadata}


async def _spread(
    request: web.Request, target: Target, model: str | None, body: dict[str, Any]
) -> web.Response:
    """A batch on one of the deployments holding the file: the next in turn, then the others.

    The turn is kept per router process (round robin); a refusal that says "not now" (rate or
    quota, 5xx, timeout, no connection) moves on to the next holder.
    """
    state = router_state(request)
    holders = holders_for(target)
    if model is not None:
        holders = [(a, pid) for a, pid in holders if model in (a.name, a.route)]
        if not holders:
            raise BadRequest(
                f"'model' {clip(model)!r} names no deployment that holds this file.",
                param=MODEL_FIELD,
            )
    key = "batch:" + ",".join(a.route for a, _ in holders)
    start = state.registry.turn(key, len(holders))
    order = holders[start:] + holders[:start]
    for n, (account, provider_id) in enumerate(order, 1):
        last = n == len(order)
        try:
            reply = await _while_connected(
                request,
                account.require().create_batch(
                    state.http,
                    tagged_body(
                        request,
                        account.require(),
                        {**body, "input_file_id": provider_id},
                        "batch",
                    ),
                ),
            )
        except RouterError as err:
            # An adapter names the input file by its provider ID; the client knows it by ours.
            err.message = err.message.replace(provider_id, body["input_file_id"])
            logger.warning(
                "batch create: attempt %d/%d on %s failed: %s",
                n,
                len(order),
                account.route,
                for_log(err.message),
            )
            if last or not unavailable(None, err):
                raise
            continue
        if not reply.ok and not last and _refusal(reply):
            logger.warning(
                "batch create: attempt %d/%d on %s refused (%d), trying the next holder",
                n,
                len(order),
                account.route,
                reply.status,
            )
            continue
        logger.info(
            "batch create: attempt %d/%d on %s answered %d",
            n,
            len(order),
            account.route,
            reply.status,
        )
        return reply_object(state, account, reply, "batch", owner=write_tag(state.config))
    raise AssertionError("unreachable: the last holder answers or raises")


_QUOTA_CODES = frozenset(
    (
        "rate_limit_exceeded",
        "insufficient_quota",
        "quota_exceeded",
        "token_limit_exceeded",
        "billing_hard_limit_reached",
        "RESOURCE_EXHAUSTED",
    )
)
_error = msgspec.json.Decoder(dict[str, Any])


def _refusal(reply: UpstreamReply) -> bool:
    """A "not now, not here" answer: worth trying another holder of the file."""
    if reply.status == 429 or unavailable(reply, None):
        return True
    try:
        err = _error.decode(reply.body).get("error")
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False
    if not isinstance(err, dict):
        return False
    return err.get("code") in _QUOTA_CODES or err.get("type") in _QUOTA_CODES


@_api.get("/batches/{batch_id}")
async def retrieve_batch(request: web.Request) -> web.Response:
    return await by_path_id(
        request, "batch", BATCH_ID, lambda provider, http, pid: provider.retrieve_batch(http, pid)
    )


@_api.post("/batches/{batch_id}/cancel")
async def cancel_batch(request: web.Request) -> web.Response:
    return await by_path_id(
        request, "batch", BATCH_ID, lambda provider, http, pid: provider.cancel_batch(http, pid)
    )


@_api.get("/batches")
async def list_batches(request: web.Request) -> web.Response:
    return await list_pages(
        request, "batch", lambda provider, http, query: provider.list_batches(http, query)
    )


def routes(prefix: str) -> list[web.RouteDef]:
    return prefixed(prefix, _api)
