"""/files: create (streamed), retrieve, delete, list, content (streamed)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence

import msgspec
from aiohttp import BodyPartReader, hdrs, web

from ..accounts import Account
from ..auth import authorize
from ..errors import BadRequest, DownloadCut, RouterError, for_log
from ..providers import FileUpload, Provider
from ..selection import LEGACY_FIELD, MODEL_FIELD, choose, choose_if_any, selectors
from ..uploads import UploadReader, forwarded_fields
from ..upstream import STREAM_BUFFER, UpstreamReply, accepted_codings
from .common import (
    by_path_id,
    list_pages,
    passthrough,
    reply_object,
    request_selectors,
    router_state,
    target_for,
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
    file = FileUpload(
        fields=fields,
        filename=part.filename or "upload",
        content_type=part.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream"),
        chunks=chunks,
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
    return await _send(request, provider, forwarded, part, chunks)


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
    account = choose_if_any(
        state.registry, selectors(request, early[MODEL_FIELD], early[LEGACY_FIELD])
    )
    if account is not None and "purpose" in upload.fields:
        reply = await _create_streamed(request, upload, part, early, account)
    else:
        account, reply = await _create_spooled(request, upload, part)
    return reply_object(state, account, reply, "file")


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
) -> tuple[Account, UpstreamReply]:
    """A routing field or the purpose may still follow: park the file on disk meanwhile."""
    spool = await upload.spool(part)
    try:
        await upload.trailing_fields()
        fields = upload.fields
        sel = selectors(request, fields.get(MODEL_FIELD), fields.get(LEGACY_FIELD))
        account = choose(router_state(request).registry, sel)
        return account, await _forward(request, account, fields, part, spool.chunks())
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
    except RouterError:
        if reply.ok:
            await _discard(request, account, reply)
        raise


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
        logger.warning("account %s: could not remove a refused upload", account.name)


async def retrieve_file(request: web.Request) -> web.Response:
    return await by_path_id(
        request, "file", FILE_ID, lambda provider, http, pid: provider.retrieve_file(http, pid)
    )


async def delete_file(request: web.Request) -> web.Response:
    return await by_path_id(
        request, "file", FILE_ID, lambda provider, http, pid: provider.delete_file(http, pid)
    )


async def list_files(request: web.Request) -> web.Response:
    return await list_pages(
        request,
        "file",
        lambda provider, http, query: provider.list_files(http, query),
        forwarded=("after", "limit", "order", "purpose"),
        limit_range=(1, 10000),
    )


async def file_content(request: web.Request) -> web.StreamResponse:
    state = router_state(request)
    target = target_for(
        request, request.match_info[FILE_ID], "file", request_selectors(request, {}), param=FILE_ID
    )
    provider = target.account.require()
    codings = accepted_codings(request.headers.get(hdrs.ACCEPT_ENCODING, ""))
    async with provider.file_content(state.http, target.provider_id, codings) as stream:
        if stream.error is not None:
            return passthrough(stream.error)
        resp = web.StreamResponse(status=stream.status)
        resp.headers.update(stream.headers)
        # A browser must never render a file someone uploaded as a page of this origin.
        resp.headers["X-Content-Type-Options"] = "nosniff"
        disposition = resp.headers.get(hdrs.CONTENT_DISPOSITION, "")
        if not disposition.lower().startswith("attachment"):
            resp.headers[hdrs.CONTENT_DISPOSITION] = "attachment"
        if request.transport is not None:
            # Fewer, larger writes per drain: the copy loop is what a download costs us.
            request.transport.set_write_buffer_limits(high=STREAM_BUFFER)
        await resp.prepare(request)
        try:
            async for chunk in stream.chunks:
                await resp.write(chunk)
        except RouterError as err:
            # Headers are gone already: the only honest signal left is a cut connection.
            logger.warning(
                "download of %s from %s cut: %s",
                for_log(target.provider_id),
                target.account.name,
                for_log(err.message),
            )
            if request.transport is not None:
                request.transport.abort()
            raise DownloadCut("upstream failed during download") from None
        await resp.write_eof()
        return resp


def routes(prefix: str) -> list[web.RouteDef]:
    return [
        web.post(f"{prefix}/files", create_file),
        web.get(f"{prefix}/files", list_files),
        web.get(f"{prefix}/files/{{{FILE_ID}}}", retrieve_file),
        web.delete(f"{prefix}/files/{{{FILE_ID}}}", delete_file),
        web.get(f"{prefix}/files/{{{FILE_ID}}}/content", file_content),
    ]
