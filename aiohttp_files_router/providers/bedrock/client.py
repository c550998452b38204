"""Bedrock's control plane (rest-json, signed as ``bedrock``): the calls that create, read, list
and stop model invocation jobs, and its errors in OpenAI's shape. S3 calls are ``s3.S3Bucket``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from urllib.parse import quote

import msgspec
from yarl import URL

from ...errors import error_body as error_body_bytes
from ...jsoncodec import OBJECT as _decode
from ...upstream import Answer, Upstream, UpstreamReply, redact


class ControlPlane:
    """Calls to ``api`` (``https://bedrock.<region>.amazonaws.com``) through the account's
    Upstream: ``call`` is its JSON call, errors read in Bedrock's shape (``error``)."""

    def __init__(self, upstream: Upstream, api: str):
        self.upstream = upstream
        self.api = api
        self.call = partial(upstream.json, error=self.error)

    def url(self, path: str, query: Mapping[str, str] | None = None) -> URL:
        """``api`` + ``path``, with ``query`` sorted and quoted as SigV4 signs it."""
        url = self.api + path
        if query:
            url += "?" + "&".join(
                f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(query.items())
            )
        return URL(url, encoded=True)

    def error(self, answer: Answer, body: bytes, relay: Mapping[str, str]) -> UpstreamReply:
        """Bedrock's rest-json error ({"message"} or {"Message"}, its type in
        ``x-amzn-ErrorType``) in OpenAI's shape: AWS's message, the type as the code."""
        status = answer.status
        body = redact(body, self.upstream.secrets)
        try:
            raw = _decode.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raw = {}
        message = raw.get("message", raw.get("Message")) if isinstance(raw, dict) else None
        if not isinstance(message, str):
            return self.upstream.error(status, body, relay)
        code = answer.headers.get("x-amzn-ErrorType", "").split(":", 1)[0] or None
        return UpstreamReply(status, error_body_bytes(message, "upstream_error", None, code), relay)
