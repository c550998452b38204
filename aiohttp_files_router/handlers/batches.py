"""/batches: create (routed by the input file's ID), retrieve, cancel, list."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from aiohttp import web

from ..errors import BadRequest, RouterError
from ..selection import LEGACY_FIELD, MODEL_FIELD
from .common import (
    body_target_for,
    by_path_id,
    json_body,
    list_pages,
    reply_object,
    request_selectors,
    router_state,
)

__all__ = ["routes"]

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
    target = body_target_for(request, body["input_file_id"], "file", sel, param="input_file_id")
    forwarded = {k: v for k, v in body.items() if k not in (MODEL_FIELD, LEGACY_FIELD)}
    forwarded["input_file_id"] = target.provider_id
    try:
        provider = target.account.require()
        reply = await _while_connected(request, provider.create_batch(state.http, forwarded))
    except RouterError as err:
        # An adapter names the input file by its provider ID; the client knows it by ours.
        err.message = err.message.replace(target.provider_id, body["input_file_id"])
        raise
    return reply_object(state, target.account, reply, "batch")


async def retrieve_batch(request: web.Request) -> web.Response:
    return await by_path_id(
        request, "batch", BATCH_ID, lambda provider, http, pid: provider.retrieve_batch(http, pid)
    )


async def cancel_batch(request: web.Request) -> web.Response:
    return await by_path_id(
        request, "batch", BATCH_ID, lambda provider, http, pid: provider.cancel_batch(http, pid)
    )


async def list_batches(request: web.Request) -> web.Response:
    return await list_pages(
        request,
        "batch",
        lambda provider, http, query: provider.list_batches(http, query),
        forwarded=("after", "limit"),
        limit_range=(1, 100),
    )


def routes(prefix: str) -> list[web.RouteDef]:
    return [
        web.post(f"{prefix}/batches", create_batch),
        web.get(f"{prefix}/batches", list_batches),
        web.get(f"{prefix}/batches/{{{BATCH_ID}}}", retrieve_batch),
        web.post(f"{prefix}/batches/{{{BATCH_ID}}}/cancel", cancel_batch),
    ]
