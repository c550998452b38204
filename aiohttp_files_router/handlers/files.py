"""/files: create (streamed), retrieve, delete, list, content (streamed)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from email.utils import encode_rfc2231

import aiohttp
import msgspec
from aiohttp import BodyPartReader, hdrs, web

from ..accounts import Account
from ..auth import authorize, write_tag
from ..context import stamp_request_id
from ..errors import BadRequest, DownloadCut, RouterError, for_log
from ..ids import Kind
from ..observe import client_gone
from ..ownership import tagged_filename, untag_filename
from ..providers import FileUpload, Provider
from ..rewrite import rewrite_object
from ..selection import LEGACY_FIELD, MODEL_FIELD, Target, choose, choose_if_any, selectors
from ..uploads import UploadReader, forwarded_fields
from ..upstream import STREAM_BUFFER, ContentStream, UpstreamReply, accepted_codings
from .common import (
    json_body,
    list_pages,
    owned,
    passthrough,
    prefixed,
    relaying,
    reply_object,
    request_selectors,
    router_state,
    target_for,
    upstream_tag,
)
from .copies import (
    TARGETS_FIELD,
    batch_checked,
    fan_out,
    holders_for,
    provider_id_of,
    target_accounts,
    to_the_end,
    unavailable,
)

__all__ = ["routes"]

logger = logging.getLogger(__package__)

FILE_ID = "file_id"


async def _send(
    request: web.Request,
    provider: Provider,
    fields: Sequence[tuple[str, str]],
    part: BodyPartReader,
    chunks: AsyncIterator[bytes],
) -> UpstreamReply:
    state = router_state(request)
    filename = part.filename or "upload"
    tag = upstream_tag(state, provider, "file")
    file = FileUpload(
        fields=fields,
        filename=filename if tag is None else tagged_filename(filename, tag),
        content_type=part.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream"),
        chunks=batch_checked(request, fields, [provider], chunks),
        spool_dir=router_state(request).config.files_router.spool_dir,
    )
    try:
        return await provider.create_file(router_state(request).http, file)
    except RouterError:
        if file.failure is not None:
            # The stream was stopped on purpose; the transport error is only its echo.
            raise file.failure from None
        raise


async def _forward(
    request: web.Request,
    account: Account,
    fields: dict[str, str],
    part: BodyPartReader,
    chunks: AsyncIterator[bytes],
) -> UpstreamReply:
    """The upload sent to ``account``, once the caller may use it and its fields are valid."""
    authorize(account)
    provider = account.require()
    forwarded = forwarded_fields(fields, provider.expiry_range)
    upload = asyncio.create_task(_send(request, provider, forwarded, part, chunks))
    try:
        return await asyncio.shield(upload)
    except asyncio.CancelledError:
        # The request was cancelled (the client gone under handler cancellation, a shutdown):
        # an upload whose whole body went may still be stored; it must not outlive the
        # request. Waited for (bounded by the account's timeouts), then removed.
        async def settle() -> None:
            try:
                reply = await upload
            except Exception:  # it failed (the client's stream cut it short): nothing stored
                return
            if reply.ok:
                await _discard(request, account, reply)

        await to_the_end(settle())
        raise


# This module's routes, each added by its handler's decorator; routes() serves them below a
# prefix.
_api = web.RouteTableDef()


@_api.post("/files")
async def create_file(request: web.Request) -> web.Response:
    state = router_state(request)
    settings = state.config.files_router
    upload = await UploadReader.open(
        request, settings.max_field_bytes, settings.max_upload_bytes, settings.spool_dir
    )
    part = await upload.fields_until_file()
    if part is None:
        raise BadRequest("Missing required parameter: 'file'.", param="file")
    early = {k: upload.fields.get(k) for k in (MODEL_FIELD, LEGACY_FIELD)}
    targets = upload.fields.get(TARGETS_FIELD) or request.query.get(TARGETS_FIELD)
    if targets and "purpose" in upload.fields:
        # One pass to several deployments: see handlers/copies.py.
        accounts = target_accounts(request, targets)
        fields = forwarded_fields(upload.fields)

        async def same_targets() -> None:
            await upload.trailing_fields()
            late = upload.fields.get(TARGETS_FIELD) or request.query.get(TARGETS_FIELD)
            if late != targets:
                raise BadRequest(
                    "'target_model_names' must come before the file part; it changed after it.",
                    param=TARGETS_FIELD,
                )

        return await fan_out(request, accounts, fields, part, upload.stream(part), same_targets)
    account = choose_if_any(
        state.registry, selectors(request, early[MODEL_FIELD], early[LEGACY_FIELD])
    )
    if account is not None and "purpose" in upload.fields:
        reply = await _create_streamed(request, upload, part, early, account)
        await _still_wanted(request, account, reply)
        return reply_object(state, account, reply, "file", owner=write_tag(state.config))
    return await _create_spooled(request, upload, part)


async def _create_streamed(
    request: web.Request,
    upload: UploadReader,
    part: BodyPartReader,
    early: dict[str, str | None],
    account: Account,
) -> UpstreamReply:
    """Everything needed is known before the file part: stream it straight to the account."""
    reply = await _forward(request, account, upload.fields, part, upload.stream(part))
    await _check_trailing(request, upload, early, account, reply)
    return reply


async def _create_spooled(
    request: web.Request, upload: UploadReader, part: BodyPartReader
) -> web.Response:
    """A routing field or the purpose may still follow: park the file on disk meanwhile."""
    spool = await upload.spool(part)
    try:
        await upload.trailing_fields()
        fields = upload.fields
        targets = fields.get(TARGETS_FIELD) or request.query.get(TARGETS_FIELD)
        if targets:
            accounts = target_accounts(request, targets)
            return await fan_out(request, accounts, forwarded_fields(fields), part, spool.chunks())
        sel = selectors(request, fields.get(MODEL_FIELD), fields.get(LEGACY_FIELD))
        state = router_state(request)
        account = choose(state.registry, sel)
        reply = await _forward(request, account, fields, part, spool.chunks())
        await _still_wanted(request, account, reply)
        return reply_object(state, account, reply, "file", owner=write_tag(state.config))
    finally:
        spool.close()


async def _check_trailing(
    request: web.Request,
    upload: UploadReader,
    early: dict[str, str | None],
    account: Account,
    reply: UpstreamReply,
) -> None:
    """A routing field after a streamed file must name the account already used."""
    try:
        await upload.trailing_fields()
        if upload.fields.get(TARGETS_FIELD):
            raise BadRequest(
                "'target_model_names' must come before the file part when the account is "
                "already chosen by the query or a header.",
                param=TARGETS_FIELD,
            )
        model, legacy = upload.fields.get(MODEL_FIELD), upload.fields.get(LEGACY_FIELD)
        if (model, legacy) == (early[MODEL_FIELD], early[LEGACY_FIELD]) or _names(
            account, model, legacy
        ):
            return
        raise BadRequest(
            "'model' and 'custom_llm_provider' must come before the file part when the account "
            "is already chosen by the query or a header; these disagree.",
            param=MODEL_FIELD,
        )
    except BaseException:
        # A refused form, or the client gone before the form's end (a reset connection, or
        # the handler cancelled): either way the client gets no ID, so no file stays.
        if reply.ok:
            await to_the_end(_discard(request, account, reply))
        raise


async def _still_wanted(request: web.Request, account: Account, reply: UpstreamReply) -> None:
    """A client gone before the answer never learns the new file's ID: the file must not stay
    (as for every copy of a fan-out)."""
    if reply.ok and client_gone(request):
        await to_the_end(_discard(request, account, reply))
        raise ConnectionResetError("the client left before the upload was answered")


def _names(account: Account, model: str | None, legacy: str | None) -> bool:
    if model is not None:
        return not account.legacy and model in (account.name, account.route)
    return legacy is not None and account.legacy and legacy == account.name


async def _discard(request: web.Request, account: Account, reply: UpstreamReply) -> None:
    try:
        file_id = msgspec.json.decode(reply.body, type=dict[str, object]).get("id")
        if isinstance(file_id, str):
            await account.require().delete_file(router_state(request).http, file_id)
    except (RouterError, msgspec.DecodeError, msgspec.ValidationError):
        logger.warning("account %s: could not remove a refused upload", account.route)


async def _copied_target(request: web.Request) -> tuple[Target, UpstreamReply | None]:
    """The authorized target of the path's file ID (``target.copies`` when it names several
    copies); the request's JSON body may name a raw ID's ``model``, as openai SDK 1.x sent it.
    With it, the file's answer when a raw ID's owner had to be read from it."""
    body = await json_body(request, required=False)
    value = request.match_info[FILE_ID]
    target = target_for(request, value, "file", request_selectors(request, body), param=FILE_ID)
    return await owned(request, target, "file", value, FILE_ID)


def _as_sent(
    request: web.Request, account: Account, reply: UpstreamReply, owner: str | None = None
) -> web.Response:
    """A copy's answer with its ``id`` shown as the ID the client sent (naming every copy)."""
    state = router_state(request)
    sent = request.match_info[FILE_ID]
    own = state.encoder(account, owner=owner)
    served = provider_id_of(reply)

    def encode(kind: Kind, provider_id: str) -> str:
        return sent if kind == "file" and provider_id == served else own(kind, provider_id)

    if not reply.ok:
        return passthrough(reply)
    tagged = account.provider is not None and account.provider.keeps_owner_tags
    with relaying(reply):
        return passthrough(reply, rewrite_object(reply.body, "file", encode, tagged=tagged))


@_api.get("/files/{file_id}")
async def retrieve_file(request: web.Request) -> web.Response:
    target, fetched = await _copied_target(request)
    state = router_state(request)
    if not target.copies:
        reply = fetched or await target.account.require().retrieve_file(
            state.http, target.provider_id
        )
        return reply_object(state, target.account, reply, "file", owner=target.owner)
    http = state.http
    holders = holders_for(target)
    for n, (account, provider_id) in enumerate(holders, 1):
        try:
            reply = await account.require().retrieve_file(http, provider_id)
        except RouterError as err:
            if n == len(holders) or not unavailable(None, err):
                raise
            logger.warning(
                "retrieve: copy on %s unavailable (%s)", account.route, for_log(err.message)
            )
            continue
        if n < len(holders) and unavailable(reply, None):
            logger.warning("retrieve: copy on %s answered %d", account.route, reply.status)
            continue
        return _as_sent(request, account, reply, target.owner)
    raise AssertionError("unreachable: the last copy answers or raises")


@_api.delete("/files/{file_id}")
async def delete_file(request: web.Request) -> web.Response:
    target, fetched = await _copied_target(request)
    if fetched is not None and not fetched.ok:
        return passthrough(fetched)
    state = router_state(request)
    if not target.copies:
        reply = await target.account.require().delete_file(state.http, target.provider_id)
        return reply_object(state, target.account, reply, "file", owner=target.owner)
    for account, _ in target.holders:
        authorize(account)  # deleting some copies but not others would strand them
    http = state.http

    async def one(account: Account, provider_id: str) -> UpstreamReply | RouterError:
        try:
            return await account.require().delete_file(http, provider_id)
        except RouterError as err:
            return err

    results = await asyncio.gather(*(one(a, pid) for a, pid in target.holders))
    gone = [
        (account, r)
        for (account, _), r in zip(target.holders, results, strict=True)
        if isinstance(r, UpstreamReply) and (r.ok or r.status == 404)
    ]
    for (account, provider_id), result in zip(target.holders, results, strict=True):
        if not any(account is a for a, _ in gone):
            logger.warning("delete: copy %s on %s remains", for_log(provider_id), account.route)
            # Every copy must be gone for deleted: true; a retry finds the others gone (404).
            if isinstance(result, RouterError):
                raise result
            return passthrough(result)
    deleted = [(account, r) for account, r in gone if r.ok]
    if not deleted:
        return passthrough(gone[0][1])  # every copy was gone already: the first 404
    return _as_sent(request, *deleted[0], target.owner)


@_api.get("/files")
async def list_files(request: web.Request) -> web.Response:
    return await list_pages(
        request, "file", lambda provider, http, query: provider.list_files(http, query)
    )


@_api.get("/files/{file_id}/content")
async def file_content(request: web.Request) -> web.StreamResponse:
    value = request.match_info[FILE_ID]
    target = target_for(request, value, "file", request_selectors(request, {}), param=FILE_ID)
    target, fetched = await owned(request, target, "file", value, FILE_ID)
    if fetched is not None and not fetched.ok:
        return passthrough(fetched)
    holders = holders_for(target)
    for n, (account, provider_id) in enumerate(holders, 1):
        try:
            return await _content(request, account, provider_id, last=n == len(holders))
        except _NextCopy as skip:
            logger.warning("content: copy on %s unavailable (%s)", account.route, for_log(skip))
    raise AssertionError("unreachable: the last copy answers or raises")


class _NextCopy(Exception):
    """This copy is unavailable before anything was sent: try the next one."""


async def _content(
    request: web.Request, account: Account, provider_id: str, *, last: bool
) -> web.StreamResponse:
    state = router_state(request)
    target = Target(account, provider_id)
    provider = target.account.require()
    codings = accepted_codings(request.headers.get(hdrs.ACCEPT_ENCODING, ""))
    # The file's name for Content-Disposition, asked for alongside the content.
    name = asyncio.create_task(_filename(state.http, provider, target.provider_id))
    try:
        async with provider.file_content(state.http, target.provider_id, codings) as stream:
            if stream.error is not None:
                if not last and unavailable(stream.error, None):
                    raise _NextCopy(f"answered {stream.error.status}")
                return passthrough(stream.error)
            return await _relay(request, target, stream, name)
    except RouterError as err:
        if last or not unavailable(None, err):
            raise
        raise _NextCopy(err.message) from None
    finally:
        name.cancel()


async def _filename(
    http: aiohttp.ClientSession, provider: Provider, provider_id: str
) -> str | None:
    """The file's own name, for a download the provider names not; None when unknown."""
    try:
        reply = await provider.retrieve_file(http, provider_id)
    except RouterError:
        return None
    if not reply.ok:
        return None
    try:
        name = msgspec.json.decode(reply.body, type=dict[str, object]).get("filename")
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    # The router's owner tag leads a stored filename: the client never sees it.
    return untag_filename(name) if isinstance(name, str) and name else None


def attachment(filename: str) -> str:
    """``Content-Disposition`` naming ``filename`` (RFC 6266): an ASCII ``filename`` for
    every client, and ``filename*`` in UTF-8 where the name is not ASCII."""
    plain = "".join(c if " " <= c < "\x7f" and c not in '"\\' else "_" for c in filename)
    value = f'attachment; filename="{plain}"'
    if plain != filename:
        value += "; filename*=" + encode_rfc2231(filename, "utf-8")
    return value


async def _relay(
    request: web.Request,
    target: Target,
    stream: ContentStream,
    filename: asyncio.Task[str | None],
) -> web.StreamResponse:
    resp = web.StreamResponse(status=stream.status)
    resp.headers.update(stream.headers)
    # A browser must never render a file someone uploaded as a page of this origin.
    resp.headers["X-Content-Type-Options"] = "nosniff"
    disposition = resp.headers.get(hdrs.CONTENT_DISPOSITION, "")
    if not disposition.lower().startswith("attachment") or "filename" not in disposition:
        # Clients save a download under the name it carries (LiteLLM sends one too).
        name = await filename
        resp.headers[hdrs.CONTENT_DISPOSITION] = attachment(name) if name else "attachment"
    if request.transport is not None:
        # Fewer, larger writes per drain: the copy loop is what a download costs us.
        request.transport.set_write_buffer_limits(high=STREAM_BUFFER)
    stamp_request_id(resp)
    await resp.prepare(request)
    try:
        async for chunk in stream.chunks:
            await resp.write(chunk)
    except RouterError as err:
        # Headers are gone already: the only honest signal left is a cut connection.
        logger.warning(
            "download of %s from %s cut: %s",
            for_log(target.provider_id),
            target.account.route,
            for_log(err.message),
        )
        if request.transport is not None:
            request.transport.abort()
        raise DownloadCut("upstream failed during download") from None
    await resp.write_eof()
    return resp


def routes(prefix: str) -> list[web.RouteDef]:
    return prefixed(prefix, _api)
