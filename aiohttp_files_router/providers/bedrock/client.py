"""Bedrock's control plane (rest-json, signed as ``bedrock``): the calls that create, read, list
and stop model invocation jobs, and its errors in OpenAI's shape. S3 calls are ``s3.S3Bucket``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec
from yarl import URL

from ...errors import error_body as error_body_bytes
from ...jsoncodec import ENCODER as _json
from ...jsoncodec import OBJECT as _decode
from ...upstream import Upstream, UpstreamReply, read_body, redact


class ControlPlane:
    """Calls to ``api`` (``https://bedrock.<region>.amazonaws.com``) through the account's
    Upstream."""

    def __init__(self, upstream: Upstream, api: str):
        self.upstream = upstream
        self.api = api

    async def call(
        self,
        http: aiohttp.ClientSession,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> UpstreamReply:
        url = self.api + path
        if query:
            url += "?" + "&".join(
                f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(query.items())
            )
        data = _json.encode(body) if body is not None else b""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        async with self.upstream.exchange(
            http, method, URL(url, encoded=True), headers=headers, data=data or None
        ) as resp:
            relay = self.upstream.relayed(resp)
            body = await read_body(resp, self.upstream.deployment, relay)
            status = resp.status
            error_type = resp.headers.get("x-amzn-ErrorType", "")
        if 200 <= status < 300:
            return UpstreamReply(status, body, relay)
        return self.error(status, body, relay, error_type)

    def error(
        self, status: int, body: bytes, relay: Mapping[str, str], error_type: str
    ) -> UpstreamReply:
        """Bedrock's rest-json error ({"message"} or {"Message"}, its type in
        ``x-amzn-ErrorType``) in OpenAI's shape: AWS's message, the type as the code."""
        body = redact(body, self.upstream.secrets)
        try:
            raw = _decode.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raw = {}
        message = raw.get("message", raw.get("Message")) if isinstance(raw, dict) else None
        if not isinstance(message, str):
            return self.upstream.error(status, body, relay)
        code = error_type.split(":", 1)[0] or None
        return UpstreamReply(status, error_body_bytes(message, "upstream_error", None, code), relay)
