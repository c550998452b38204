"""The Google Cloud Storage JSON API, as the Vertex adapter uses it: objects are files."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec
from yarl import URL

from ..errors import NotFound, RouterError, UpstreamUnavailable
from ..jsoncodec import OBJECT as _decode
from ..upstream import RESUME_INCOMPLETE, Upstream, UpstreamReply
from .calls import undone_unless_ok
from .isotime import unix_seconds

__all__ = ["RESUMABLE_CHUNK", "Bucket", "file_object"]

# Resumable uploads take chunks in multiples of 256 KiB. 2 MiB: measured with 200 MiB uploads,
# 8 MiB chunks cost about 40 MiB of peak RSS (each chunk is held up to three times while it
# is sent) for no gain in speed, since the row transform is the slower part.
RESUMABLE_CHUNK = 8 * 256 * 1024
# 308 answers in a row that keep none of the bytes sent before the upload is given up.
MAX_STALLS = 3
_RANGE = re.compile(r"bytes=0-([0-9]+)")


def file_object(resource: Mapping[str, Any], bucket: str) -> dict[str, Any]:
    """An OpenAI File object for a GCS object resource."""
    name = str(resource.get("name", ""))
    meta = resource.get("metadata") or {}
    purpose = meta.get("purpose") or ("batch_output" if "/batch-output/" in name else "user_data")
    return {
        "id": f"gs://{bucket}/{name}",
        "object": "file",
        "bytes": int(resource.get("size", 0)),
        "created_at": unix_seconds(resource.get("timeCreated")) or 0,
        "filename": meta.get("filename") or name.rsplit("/", 1)[-1],
        "purpose": purpose,
        "status": "processed",
    }


def _persisted(header: str | None) -> int | None:
    """How many bytes a 308's ``Range`` says GCS kept: none without the header."""
    if header is None:
        return 0
    match = _RANGE.fullmatch(header.strip())
    return int(match[1]) + 1 if match else None


class Bucket:
    """One bucket (and object-name prefix), reached through one account's ``Upstream``."""

    def __init__(self, upstream: Upstream, api_base: str, bucket: str, prefix: str):
        self.upstream = upstream
        self.api = api_base.rstrip("/")
        self.name = bucket
        self.prefix = prefix
        self.account = upstream.deployment

    def uri(self, object_name: str) -> str:
        return f"gs://{self.name}/{object_name}"

    def object_name(self, file_id: str) -> str:
        """The object behind a ``gs://`` file ID; only this account's bucket and prefix."""
        head = f"gs://{self.name}/"
        name = file_id[len(head) :] if file_id.startswith(head) else ""
        if not name.startswith(self.prefix) or not name or name.endswith("/"):
            raise NotFound(
                f"No such file: '{file_id}' is not in this account's bucket.", param="file_id"
            )
        return name

    def object_url(self, name: str, **query: str) -> URL:
        url = f"{self.api}/storage/v1/b/{quote(self.name, safe='')}/o/{quote(name, safe='')}"
        return URL(url, encoded=True).with_query(query) if query else URL(url, encoded=True)

    def list_url(self) -> URL:
        return URL(f"{self.api}/storage/v1/b/{quote(self.name, safe='')}/o", encoded=True)

    async def upload(
        self,
        http: aiohttp.ClientSession,
        name: str,
        metadata: Mapping[str, str],
        content_type: str,
        chunks: AsyncIterator[bytes],
    ) -> UpstreamReply:
        """A resumable upload fed from ``chunks``; an upload that fails is cancelled."""
        start = URL(
            f"{self.api}/upload/storage/v1/b/{quote(self.name, safe='')}/o", encoded=True
        ).with_query(uploadType="resumable", name=name)
        body = msgspec.json.encode(
            {"name": name, "contentType": content_type, "metadata": dict(metadata)}
        )

        async def begin() -> tuple[str | None, UpstreamReply]:
            async with self.upstream.exchange(
                http,
                "POST",
                start,
                data=body,
                headers={"Content-Type": "application/json", "X-Upload-Content-Type": content_type},
            ) as resp:
                return resp.headers.get("Location"), await self.upstream.read(resp)

        starting = asyncio.ensure_future(begin())
        try:
            location, reply = await asyncio.shield(starting)
        except asyncio.CancelledError:
            # Cancelled while GCS may be opening the session: learn its URI and end it, so
            # no session is left open behind an upload nobody waits for.
            with contextlib.suppress(RouterError):
                late, _ = await starting
                if late is not None:
                    await self._cancel(http, URL(late, encoded=True))
            raise
        if not reply.ok:
            return reply
        if reply.status != 200 or location is None:
            # The session URI is the only way to send the bytes; without it there is no upload
            # (https://cloud.google.com/storage/docs/performing-resumable-uploads: a 200 OK
            # whose Location header holds the session URI).
            raise UpstreamUnavailable(
                f"The storage of account '{self.account}' started no resumable upload: it "
                f"answered HTTP {reply.status} without a session URI (Location header).",
                headers=reply.headers,
            )
        session_url = URL(location, encoded=True)
        return await undone_unless_ok(
            self._send(http, session_url, name, chunks), lambda: self._cancel(http, session_url)
        )

    async def _send(
        self,
        http: aiohttp.ClientSession,
        session_url: URL,
        name: str,
        chunks: AsyncIterator[bytes],
    ) -> UpstreamReply:
        """Send ``chunks`` in RESUMABLE_CHUNK pieces; ``buf`` holds what GCS has not kept.

        A 308 answers with the bytes GCS persisted (``Range: bytes=0-N``, none without the
        header), which may be fewer than were sent: the rest stays at the head of ``buf`` and
        goes again. https://cloud.google.com/storage/docs/performing-resumable-uploads
        """
        buf = bytearray()
        offset = 0  # the upload offset of buf[0]
        async for chunk in chunks:
            buf += chunk
            while len(buf) >= RESUMABLE_CHUNK:
                reply, offset = await self._send_piece(http, session_url, buf, offset, None)
                if reply is not None:
                    if reply.ok:
                        # An object of part of the file now exists: it must not stay.
                        await self._delete(http, name)
                        raise UpstreamUnavailable(
                            f"The storage of account '{self.account}' ended the upload before "
                            "every byte was sent.",
                            headers=reply.headers,
                        )
                    return reply
        total = offset + len(buf)
        while True:
            reply, offset = await self._send_piece(http, session_url, buf, offset, total)
            if reply is not None:
                return reply

    async def _send_piece(
        self,
        http: aiohttp.ClientSession,
        session_url: URL,
        buf: bytearray,
        offset: int,
        total: int | None,
    ) -> tuple[UpstreamReply | None, int]:
        """One PUT from the head of ``buf``; drops what GCS kept from ``buf``.

        Returns (the final answer, or None to go on; the new offset). ``total`` is set for the
        last piece, which carries everything left.
        """
        for _ in range(MAX_STALLS):
            size = len(buf) if total is not None else RESUMABLE_CHUNK
            with memoryview(buf) as view:
                piece = bytes(view[:size])  # one copy, not two
            if total is None:
                rng = f"bytes {offset}-{offset + size - 1}/*"
            else:
                rng = f"bytes {offset}-{total - 1}/{total}" if piece else f"bytes */{total}"
            reply, persisted = await self._put(http, session_url, piece, rng)
            if reply.status != 308:
                return reply, offset
            kept = _persisted(persisted)
            if kept is None or not offset <= kept <= offset + len(piece):
                # GCS claims bytes never sent, or forgot bytes no longer held: cannot go on.
                raise UpstreamUnavailable(
                    f"The storage of account '{self.account}' answered the upload with a "
                    "Range header that does not fit the bytes sent.",
                    headers=reply.headers,
                )
            del buf[: kept - offset]
            if kept > offset:
                return None, kept
        raise UpstreamUnavailable(
            f"The storage of account '{self.account}' keeps no bytes of the upload."
        )

    async def _put(
        self, http: aiohttp.ClientSession, url: URL, data: bytes, content_range: str
    ) -> tuple[UpstreamReply, str | None]:
        """The answer, and on a 308 its ``Range`` header (None when absent)."""
        # A BytesIO: aiohttp warns that a large raw bytes body could stall the loop. A chunk
        # lost to a stale connection is not sent again from here (a file object would resend
        # only its unread rest); the upload fails and is cancelled.
        async with self.upstream.exchange(
            http,
            "PUT",
            url,
            data=io.BytesIO(data),
            headers={"Content-Range": content_range},
            resumable=True,
        ) as resp:
            reply = await self.upstream.read(resp, also_ok=(RESUME_INCOMPLETE,))
            return reply, resp.headers.get("Range") if resp.status == RESUME_INCOMPLETE else None

    async def remove(self, http: aiohttp.ClientSession, name: str) -> None:
        """Delete an object, best effort (a clean-up after a failure being answered)."""
        await self._delete(http, name)

    async def _delete(self, http: aiohttp.ClientSession, name: str) -> None:
        try:
            async with self.upstream.exchange(http, "DELETE", self.object_url(name), retries=1):
                pass
        except RouterError:
            pass  # the upload's answer (a 502) is what the client needs to know

    async def _cancel(self, http: aiohttp.ClientSession, url: URL) -> None:
        try:
            async with self.upstream.exchange(http, "DELETE", url, retries=1):
                pass
        except RouterError:
            pass  # the unfinished upload expires on its own; no object was created

    def resource(self, reply: UpstreamReply) -> dict[str, Any]:
        """A JSON answer's object; malformed JSON is a 502."""
        return self.upstream.decode(_decode, reply.body)
