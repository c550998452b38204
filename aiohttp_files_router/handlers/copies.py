"""One file on several deployments: the fan-out upload and the calls that read its copies.

``target_model_names`` uploads to every deployment of every named model in one pass (the
client's stream read once, ``Fanout`` handing it to each account at the pace of the slowest).
All or nothing: when one copy fails (or the client leaves), the others stop reading, those
still in flight are waited for, and every stored copy is deleted before the answer. The answer's ID
carries every (deployment, provider ID) pair (``ids.encode_id`` copies).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from functools import reduce
from typing import Any

import msgspec
from aiohttp import BodyPartReader, hdrs, web

from ..accounts import Account
from ..auth import authorize, write_tag
from ..batchcheck import check_batch_file
from ..errors import (
    BadRequest,
    RouterError,
    UpstreamTimeout,
    UpstreamUnavailable,
    for_log,
)
from ..fanout import Fanout
from ..ids import MAX_COPIES
from ..observe import client_gone
from ..ownership import tagged_filename
from ..providers import FileUpload, Provider
from ..providers.base import BatchRules, TuningRules
from ..selection import Target
from ..tuningcheck import check_tuning_file
from ..upstream import UpstreamReply
from .common import (
    TARGETS_FIELD,
    named_deployments,
    passthrough,
    reply_object,
    router_state,
    upstream_tag,
)

__all__ = [
    "TARGETS_FIELD",
    "batch_checked",
    "fan_out",
    "holders_for",
    "provider_id_of",
    "target_accounts",
    "to_the_end",
    "unavailable",
]

logger = logging.getLogger(__package__)

_id_of = msgspec.json.Decoder(dict[str, msgspec.Raw])
_value = msgspec.json.Decoder()


def target_accounts(request: web.Request, names: str) -> list[Account]:
    """The deployments ``target_model_names`` covers, each allowed for the caller."""
    accounts = named_deployments(router_state(request), names)
    if len(accounts) > MAX_COPIES:
        raise BadRequest(
            f"'target_model_names' covers {len(accounts)} deployments; at most {MAX_COPIES} "
            "may hold one file.",
            param=TARGETS_FIELD,
        )
    for account in accounts:
        authorize(account)
    return accounts


def batch_checked(
    request: web.Request,
    fields: Sequence[tuple[str, str]],
    providers: Sequence[Provider],
    chunks: AsyncIterator[bytes],
) -> AsyncIterator[bytes]:
    """``chunks``, checked line by line when they are a batch or fine-tuning file that every
    one of ``providers`` has rules for, and checks are on."""
    settings = router_state(request).config.files_router
    purpose = dict(fields).get("purpose")
    if purpose == "batch" and settings.validate_batch_files:
        return check_batch_file(
            chunks, reduce(BatchRules.merge, [p.batch_rules for p in providers])
        )
    tuning = [p.tuning_rules for p in providers]
    if purpose == "fine-tune" and settings.validate_tuning_files and tuning:
        known = [r for r in tuning if r is not None]
        if len(known) == len(tuning):
            return check_tuning_file(chunks, reduce(TuningRules.merge, known))
    return chunks


def provider_id_of(reply: UpstreamReply) -> str | None:
    try:
        raw = _id_of.decode(reply.body).get("id")
        value = _value.decode(raw) if raw is not None else None
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return value if isinstance(value, str) and value else None


async def _remove(request: web.Request, account: Account, reply: UpstreamReply) -> None:
    file_id = provider_id_of(reply)
    try:
        if file_id is None:
            raise UpstreamUnavailable("no file ID in the answer")
        gone = await account.require().delete_file(router_state(request).http, file_id)
        if not gone.ok and gone.status != 404:
            raise UpstreamUnavailable(f"delete answered {gone.status}")
        logger.info(
            "account %s: removed copy %s of a failed fan-out upload",
            account.route,
            for_log(file_id),
        )
    except RouterError as err:
        logger.warning(
            "account %s: could not remove copy %s of a failed fan-out upload: %s",
            account.route,
            for_log(file_id),
            for_log(err.message),
        )


# Removals whose request was cancelled while they ran, kept referenced until they finish.
_cleanups: set[asyncio.Task[None]] = set()


def _stored(tasks: Sequence[asyncio.Task[UpstreamReply]]) -> list[tuple[int, UpstreamReply]]:
    return [
        (i, t.result())
        for i, t in enumerate(tasks)
        if t.done() and not t.cancelled() and t.exception() is None and t.result().ok
    ]


async def _discard(
    request: web.Request,
    accounts: Sequence[Account],
    stored: Sequence[tuple[int, UpstreamReply]],
) -> None:
    """Remove the ``stored`` copies. The removal runs to its end even when the request is
    cancelled while it waits (the client gone, a shutdown): the client never got the ID."""
    if not stored:
        return

    async def remove_all() -> None:
        await asyncio.gather(*(_remove(request, accounts[i], reply) for i, reply in stored))

    await to_the_end(remove_all())


async def to_the_end(cleanup: Coroutine[Any, Any, None]) -> None:
    """Await ``cleanup``, which goes on to its end if the caller is cancelled meanwhile."""
    task = asyncio.create_task(cleanup)
    _cleanups.add(task)
    task.add_done_callback(_cleanups.discard)
    await asyncio.shield(task)


async def fan_out(
    request: web.Request,
    accounts: Sequence[Account],
    fields: Sequence[tuple[str, str]],
    part: BodyPartReader,
    chunks: AsyncIterator[bytes],
    then: Callable[[], Awaitable[None]] | None = None,
) -> web.Response:
    """Upload one stream to every account at once; answer with an ID naming every copy.

    ``then`` runs once every copy is stored (reading the form's trailing fields); if it
    raises, the copies are removed and its error is the answer.
    """
    state = router_state(request)
    providers = [a.require() for a in accounts]
    chunks = batch_checked(request, fields, providers, chunks)
    fan = Fanout(chunks, len(accounts))
    filename = part.filename or "upload"
    tags = [upstream_tag(state, p, "file") for p in providers]
    uploads = [
        FileUpload(
            fields=fields,
            filename=filename if tag is None else tagged_filename(filename, tag),
            content_type=part.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream"),
            chunks=branch,
            spool_dir=state.config.files_router.spool_dir,
        )
        for branch, tag in zip(fan.branches(), tags, strict=True)
    ]
    tasks = [
        asyncio.create_task(provider.create_file(state.http, upload))
        for provider, upload in zip(providers, uploads, strict=True)
    ]
    fan.start()

    async def settle() -> None:
        # No copy may be stored after the answer: the others stop reading, those whose
        # whole body went already are waited for (each bounded by its account's timeouts),
        # and every stored copy is deleted.
        await fan.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        await _discard(request, accounts, _stored(tasks))

    failed: int | None = None
    try:
        pending: set[asyncio.Task[UpstreamReply]] = set(tasks)
        while pending and failed is None:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.exception() is not None or not task.result().ok:
                    failed = tasks.index(task)
                    break
    except asyncio.CancelledError:
        # The request was cancelled (shutdown, or the client gone under handler_cancellation):
        # copies stored so far, or still on their way, must not outlive it.
        await to_the_end(settle())
        raise
    if failed is not None:
        await to_the_end(settle())
        return _failure(accounts[failed], uploads[failed], tasks[failed], client_gone(request))
    await fan.close()
    stored = _stored(tasks)
    ids = [(accounts[i], provider_id_of(reply)) for i, reply in stored]
    if any(pid is None or ";" in pid for _, pid in ids[1:]):
        failed = -1
    if failed is None and then is not None:
        try:
            await then()
        except BaseException:
            # A refused form, or the client gone before the form's end (a reset connection,
            # or the handler cancelled): either way the client gets no ID.
            await _discard(request, accounts, stored)
            raise
    if failed is not None:
        await _discard(request, accounts, stored)
        raise UpstreamUnavailable("An account answered an upload with an unusable file ID.")
    if client_gone(request):
        # Nobody is left to learn the ID: no copy may stay behind it.
        await _discard(request, accounts, stored)
        raise ConnectionResetError("the client left before the upload was answered")
    first, first_reply = accounts[0], stored[0][1]
    copies = [(a, pid) for a, pid in ids[1:] if pid is not None]
    logger.info(
        "fan-out upload stored on %s", ", ".join(f"{a.route} ({for_log(pid)})" for a, pid in ids)
    )
    return reply_object(state, first, first_reply, "file", copies, write_tag(state.config))


def _failure(
    account: Account, upload: FileUpload, task: asyncio.Task[UpstreamReply], gone: bool
) -> web.Response:
    err = task.exception()
    if err is None:
        reply = task.result()
        logger.warning("fan-out upload refused by %s: %d", account.route, reply.status)
        return passthrough(reply)
    if upload.failure is not None:
        raise upload.failure from None  # the client's stream was stopped on purpose
    if isinstance(err, RouterError) and not gone:
        # With the client gone, the account only saw the body stop: not its fault, and the
        # middleware logs the disconnect.
        logger.warning("fan-out upload to %s failed: %s", account.route, for_log(err.message))
    raise err


def unavailable(reply: UpstreamReply | None, err: RouterError | None) -> bool:
    """Whether a holder's answer means "try the next copy": 5xx, a timeout, no connection."""
    if err is not None:
        return isinstance(err, (UpstreamUnavailable, UpstreamTimeout))
    return reply is not None and reply.status >= 500


def holders_for(target: Target) -> list[tuple[Account, str]]:
    """The copies the caller's key may use, the first copy first."""
    allowed: list[tuple[Account, str]] = []
    denied: RouterError | None = None
    for account, provider_id in target.holders:
        try:
            authorize(account)
        except RouterError as err:
            denied = err
            continue
        allowed.append((account, provider_id))
    if not allowed and denied is not None:
        raise denied
    return allowed
