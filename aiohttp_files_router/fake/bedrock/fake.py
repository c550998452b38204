"""FakeBedrock: S3 and Bedrock's job API on one port, every request signed."""

from __future__ import annotations

import json
from contextlib import suppress

from aiohttp import web

from .common import BEDROCK_ROOTS, CHUNK, _br_error
from .jobs import Jobs
from .s3 import FakeS3


class FakeBedrock(Jobs, FakeS3):
    """S3 (path-style) and the Bedrock model invocation job API on one port.

    ``credentials`` maps access key IDs to an :class:`AwsCredential` (or just a secret key, for
    the default account). ``buckets`` maps bucket names to the account that owns them (a plain
    list is owned by the default account); only the owner reaches a bucket. ``phase_seconds``
    is how long a job spends in each of Submitted, Validating, Scheduled and InProgress;
    ``cancel_seconds`` how long it is Stopping at least (and in any case until an answer has
    shown it Stopping once; see ``_advance``); ``clock`` may be replaced by a test to move
    time. ``min_records`` is Bedrock's minimum records per job (100 by default, as documented).
    """

    # -- plumbing (app() is FakeS3's) ------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        raw_path, _, raw_query = request.raw_path.partition("?")
        bedrock = raw_path in BEDROCK_ROOTS or raw_path.startswith("/model-invocation-job/")
        record = self.record(request, account=None, key=None, raw_path=raw_path)
        body = b""
        if bedrock:
            body = await self._small_body(request)
        access_key, cred = self._authenticate(request, bedrock, raw_path, raw_query, body)
        record.key, record.account = access_key, cred.account
        # Jobs move on the clock whoever looks: a job's output is in S3 once it is done,
        # whether or not anyone has asked for the job since.
        for job in list(self.jobs.values()):
            self._advance(job)
        if bedrock:
            if body:
                with suppress(ValueError):
                    record.json = json.loads(body)
            return self._bedrock(request, cred, raw_path, body)
        return await self._s3(request, cred, raw_path, record)

    @staticmethod
    async def _small_body(request: web.Request) -> bytes:
        """A control-plane request body (JSON, small; its hash is part of the signature)."""
        data = b""
        async for chunk in request.content.iter_chunked(CHUNK):
            data += chunk
            if len(data) > 1024**2:
                raise _br_error(413, "ValidationException", "Request entity too large.")
        return data
