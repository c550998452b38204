"""/fine_tuning/jobs: create (routed by the training file's ID), list, retrieve, cancel, pause,
resume, events, checkpoints."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import aiohttp
from aiohttp import web

from ..accounts import Account
from ..auth import write_tag
from ..errors import BadRequest, RouterError, clip
from ..ids import Kind
from ..providers import Provider
from ..rewrite import rewrite_list
from ..selection import LEGACY_FIELD, Selectors, Target, selectors
from ..upstream import UpstreamReply
from .batches import _while_connected, reserved_metadata, tagged_body
from .common import (
    IdCall,
    by_path_id,
    check_limit,
    json_body,
    list_pages,
    owned,
    passthrough,
    path_target,
    prefixed,
    relaying,
    reply_object,
    router_state,
    target_for,
)
from .copies import holders_for

__all__ = ["routes"]

JOB_ID = "fine_tuning_job_id"
KIND: Final[Kind] = "fine_tuning_job"
REQUIRED = ("model", "training_file")
LIMITS = (1, 100)  # of a job's events and checkpoints

SubListCall = Callable[
    [Provider, aiohttp.ClientSession, str, Mapping[str, str]], Awaitable[UpstreamReply]
]


def _text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise BadRequest(f"'{name}' must be a non-empty string.", param=name)
    return value


def _job_selectors(request: web.Request, body: Mapping[str, Any]) -> Selectors:
    """The account selectors of a create: ``?model=`` and ``x-litellm-model`` only, since the
    body's ``model`` is the base model to tune, as in OpenAI's API."""
    return selectors(request, None, _text(body, LEGACY_FIELD))


def _holder(target: Target, sel: Selectors, validation: Target | None) -> tuple[Account, str]:
    """The copy of the training file the job runs on: one the key may use, on the
    deployment the selectors name (if any) and holding the validation file (if any)."""
    holders = holders_for(target)
    if sel.model is not None and target.copies:
        holders = [(a, pid) for a, pid in holders if sel.model in (a.name, a.route)]
        if not holders:
            raise BadRequest(
                f"'{sel.model_param}' {clip(sel.model)!r} names no deployment that holds the "
                "training file.",
                param=sel.model_param,
            )
    if validation is not None:
        places = {a for a, _ in validation.holders}
        holders = [(a, pid) for a, pid in holders if a in places] or holders
    return holders[0]


# This module's routes, each added by its handler's decorator; routes() serves them below a
# prefix.
_api = web.RouteTableDef()
JOB = f"/fine_tuning/jobs/{{{JOB_ID}}}"


@_api.post("/fine_tuning/jobs")
async def create_job(request: web.Request) -> web.Response:
    state = router_state(request)
    body = await json_body(request, required=True)
    for name in REQUIRED:
        if _text(body, name) is None:
            raise BadRequest(f"Missing required parameter: '{name}'.", param=name)
    validation_id = _text(body, "validation_file")
    reserved_metadata(body.get("metadata"), "job")
    sel = _job_selectors(request, body)
    training, fetched = await _file(request, body["training_file"], sel, "training_file")
    if fetched is not None:
        return passthrough(fetched)
    validation = None
    if validation_id is not None:
        validation, fetched = await _file(request, validation_id, sel, "validation_file")
        if fetched is not None:
            return passthrough(fetched)
    account, training_pid = _holder(training, sel, validation)
    forwarded = {k: v for k, v in body.items() if k != LEGACY_FIELD}
    forwarded["training_file"] = training_pid
    names = {training_pid: body["training_file"]}
    if validation is not None and validation_id is not None:
        found = [pid for a, pid in validation.holders if a is account]
        if not found:
            raise BadRequest(
                "'validation_file' is not on the deployment that holds 'training_file' "
                f"('{clip(account.name)}'); upload both to the same deployment.",
                param="validation_file",
            )
        forwarded["validation_file"] = found[0]
        names[found[0]] = validation_id
    try:
        provider = account.require()
        forwarded = tagged_body(request, provider, forwarded, KIND)
        reply = await _while_connected(
            request, provider.create_fine_tuning_job(state.http, forwarded)
        )
    except RouterError as err:
        # An adapter names files by their provider IDs; the client knows them by ours.
        for provider_id, ours in names.items():
            err.message = err.message.replace(provider_id, ours)
        raise
    return reply_object(state, account, reply, KIND, owner=write_tag(state.config))


async def _file(
    request: web.Request, value: str, sel: Selectors, param: str
) -> tuple[Target, UpstreamReply | None]:
    """A job's file, once the caller may train on it: another team's is a 404 (a raw
    provider ID is looked up for its owner tag, as a batch's input file); with the
    upstream's failed answer to that look-up, if it failed."""
    target = target_for(request, value, "file", sel, param=param, in_body=True)
    target, fetched = await owned(request, target, "file", value, param)
    return target, (fetched if fetched is not None and not fetched.ok else None)


@_api.get("/fine_tuning/jobs")
async def list_jobs(request: web.Request) -> web.Response:
    return await list_pages(
        request,
        KIND,
        lambda provider, http, query: provider.list_fine_tuning_jobs(http, query),
        usable=lambda provider: provider.tuning_rules is not None,
    )


def _on_job(name: str, method: str, path: str, call: IdCall) -> None:
    """Serves ``method`` on ``path`` below the job the path names: ``call`` on that job,
    answered with the job. ``name`` names the handler, as the metrics' operation
    (observe.operation_of)."""

    async def handler(request: web.Request) -> web.Response:
        return await by_path_id(request, KIND, JOB_ID, call)

    handler.__name__ = handler.__qualname__ = name
    _api.route(method, JOB + path)(handler)


_on_job("retrieve_job", "GET", "", lambda p, http, pid: p.retrieve_fine_tuning_job(http, pid))
_on_job("cancel_job", "POST", "/cancel", lambda p, http, pid: p.cancel_fine_tuning_job(http, pid))
_on_job("pause_job", "POST", "/pause", lambda p, http, pid: p.pause_fine_tuning_job(http, pid))
_on_job("resume_job", "POST", "/resume", lambda p, http, pid: p.resume_fine_tuning_job(http, pid))


async def _job_list(request: web.Request, call: SubListCall) -> web.Response:
    """A list under one job (events, checkpoints): the job's ID picks the account; item IDs
    and cursors stay the provider's (they only mean something next to that job)."""
    state = router_state(request)
    query = request.query
    check_limit(query, *LIMITS)
    target, fetched = await path_target(request, KIND, JOB_ID)
    if fetched is not None and not fetched.ok:
        return passthrough(fetched)
    page = {k: query[k] for k in ("after", "limit") if k in query}
    reply = await call(target.account.require(), state.http, target.provider_id, page)
    if not reply.ok:
        return passthrough(reply)
    with relaying(reply):
        # A checkpoint names its job: with the job's owner, as the job's own ID.
        encoder = state.encoder(target.account, owner=target.owner)
        listing = rewrite_list(reply.body, None, encoder)
    return passthrough(reply, listing.encode())


@_api.get(f"{JOB}/events")
async def list_events(request: web.Request) -> web.Response:
    return await _job_list(
        request, lambda p, http, pid, query: p.list_fine_tuning_events(http, pid, query)
    )


@_api.get(f"{JOB}/checkpoints")
async def list_checkpoints(request: web.Request) -> web.Response:
    return await _job_list(
        request, lambda p, http, pid, query: p.list_fine_tuning_checkpoints(http, pid, query)
    )


def routes(prefix: str) -> list[web.RouteDef]:
    return prefixed(prefix, _api)
