"""The Anthropic flavour of the fake: the Message Batches API.

Built from Anthropic's API reference (platform.claude.com/docs/en/api/messages/batches: create,
retrieve, list, cancel, delete, results), its guides (build-with-claude/batch-processing,
api/errors, api/rate-limits, api/versioning, api/migration-2026-10-21) and the official
``anthropic`` SDK (``resources/messages/batches.py``, ``types/messages/*``,
``types/message.py``, ``types/usage.py``, ``pagination.py``, ``_client.py``), never from our
adapter. Where the sources are silent the fake takes the least helpful reading, and the
comment says so.

- Auth: ``x-api-key`` (the reference's curl examples) or ``Authorization: Bearer`` (how the
  SDK from 2.0 sends an API key, ``_client.Anthropic._api_key_auth``); each key opens one
  account (a workspace), which sees only its own batches. ``anthropic-version`` is required.
- ``POST /v1/messages/batches`` takes the requests inline; the request's shape (custom_id,
  params an object, 1 to 100,000 requests, 256 MB) is checked at once, each ``params`` only
  when the batch runs ("validation of the params object ... is performed asynchronously";
  a bad one becomes an ``errored`` result).
- A batch is ``in_progress`` for ``phase_seconds``, then ``ended``; a cancel makes it
  ``canceling`` for ``cancel_seconds``; one still running at ``expire_seconds`` (24 hours)
  ends with its requests ``expired``; ``archive_seconds`` (29 days) after creation its
  results are gone.
- Results are JSONL at the batch's ``results_url``, in an order other than the requests'
  ("Results are not guaranteed to be in the same order as requests").
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import string
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Unpack

from aiohttp import web
from aiohttp.typedefs import Handler

from .base import (
    Answer,
    KeyedOptions,
    KeyedService,
    RecordedRequest,
    bearer,
    keyed_flavour,
    route,
)
from .store import JobRun, Workspace

__all__ = ["FakeAnthropic"]

API = "/v1/messages/batches"
# build-with-claude/batch-processing, "Batch limitations": 100,000 requests or 256 MB,
# whichever comes first; a batch not done within 24 hours expires; results are available
# for 29 days after creation.
MAX_REQUESTS = 100_000
MAX_BATCH_BYTES = 256 * 1024 * 1024
EXPIRE_SECONDS = 24 * 3600
ARCHIVE_SECONDS = 29 * 24 * 3600
# The create reference: custom_id "minLength: 1, maxLength: 64, pattern: ^[a-zA-Z0-9_-]{1,64}$".
CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
# api/versioning: the versions there are. 2026-10-21 is what the SDK from 2.0 sends
# (_constants.ANTHROPIC_API_VERSION).
VERSIONS = ("2023-01-01", "2023-06-01", "2026-10-21")
# api/errors, "HTTP errors": the error type of each status.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
# MessageCreateParams in the SDK (types/message_create_params.py) and the Messages API
# reference: the body fields a Messages request may carry. The SDK's batch request type is
# MessageCreateParamsNonStreaming: ``stream`` may only be false.
PARAMS = frozenset(
    {
        "model", "messages", "max_tokens", "cache_control", "container", "diagnostics",
        "inference_geo", "metadata", "output_config", "service_tier", "speed",
        "stop_sequences", "system", "thinking", "tool_choice", "tools", "stream",
        "user_profile_id",
    }
)  # fmt: skip
# api/versioning: 2026-10-21 removed temperature, top_p and top_k ("A request that sends any
# of them returns a 400"); under the earlier versions they are Messages parameters.
SAMPLING = ("temperature", "top_p", "top_k")
_ID_CHARS = string.ascii_letters + string.digits

# The record of the request being served (request keys need aiohttp >= 3.14).
_record: ContextVar[RecordedRequest] = ContextVar("fake_anthropic_request")
_RECORD: Final = web.RequestKey("fake_anthropic_record", RecordedRequest)


def _new_id(prefix: str) -> str:
    # IDs as in the reference's examples (msgbatch_013Zva2CMHLNnXjNJJKqJ2EF): a prefix and
    # 24 alphanumerics. "The format and length of IDs may change over time."
    return prefix + "".join(secrets.choice(_ID_CHARS) for _ in range(24))


def _timestamp(ts: float) -> str:
    # "RFC 3339 datetime string", as in the examples: 2024-08-20T18:37:24.100435Z.
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _error_body(status: int, message: str, kind: str | None = None) -> dict[str, Any]:
    # api/errors, "Error shapes": a top-level error object with type and message, and a
    # request_id field beside it.
    return {
        "type": "error",
        "error": {
            "type": kind or ERROR_TYPES.get(status, "invalid_request_error"),
            "message": message,
        },
        "request_id": _record.get().response_request_id,
    }


def _error(
    status: int, message: str, kind: str | None = None, headers: Mapping[str, str] | None = None
) -> Answer:
    return Answer(
        web.json_response(_error_body(status, message, kind), status=status, headers=headers)
    )


async def _request_id(request: web.Request, response: web.StreamResponse) -> None:
    # api/errors, "Request id": every API response includes a unique request-id header.
    record = request.get(_RECORD)
    if record is not None:
        response.headers["request-id"] = record.response_request_id


@dataclass
class AnthropicBatch(JobRun):
    id: str
    created: float
    total: int
    path: Path  # the requests, one JSON line each, as received
    version: str
    seq: int
    results: Path | None = None
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class _Account(Workspace):
    batches: dict[str, AnthropicBatch] = field(default_factory=dict)
    cached: set[str] = field(default_factory=set)  # prompt-cache prefixes written so far


class FakeAnthropic(KeyedService[_Account]):
    """The Message Batches API for the accounts ``keys`` maps API keys to.

    ``phase_seconds`` is how long a batch stays ``in_progress``, ``cancel_seconds`` how long
    ``canceling`` lasts, ``expire_seconds`` when an unfinished batch expires and
    ``archive_seconds`` when results stop being served; ``clock`` may be replaced by a test
    to move time. ``models``: the models params may name (``None``: any ``claude-`` name).
    ``queue_limit``: requests an account may have waiting in unfinished batches before a
    create is refused with 429. ``max_request_bytes``: the largest create body (256 MB).
    ``fail_next``: statuses (429, 500, 529, ...) to answer the next requests with, one each.
    """

    families = ("claude-",)  # ``models=None``: any Claude model name

    def __init__(
        self,
        keys: Mapping[str, str],
        *,
        expire_seconds: float = EXPIRE_SECONDS,
        archive_seconds: float = ARCHIVE_SECONDS,
        queue_limit: int | None = None,
        max_request_bytes: int = MAX_BATCH_BYTES,
        **options: Unpack[KeyedOptions],
    ):
        super().__init__(keys, _Account, **options)
        self.expire_seconds = expire_seconds
        self.archive_seconds = archive_seconds
        self.queue_limit = queue_limit
        self.max_request_bytes = max_request_bytes
        self.fail_next: list[int] = []

    # -- plumbing ---------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = self.make_app(self._serve)
        app.on_response_prepare.append(_request_id)
        return app

    def credential(self, request: web.Request) -> str | None:
        key = request.headers.get("x-api-key")
        return key if key is not None else bearer(request)

    @web.middleware
    async def _serve(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        key = self.credential(request)
        record = self.record(
            request,
            account=self.account_of(key),
            key=key,
            response_request_id=_new_id("req_"),
        )
        version = request.headers.get("anthropic-version")
        if version is not None:
            record.headers["anthropic-version"] = version
        for name in ("anthropic-beta", "Accept"):
            if name in request.headers:
                record.headers[name] = request.headers[name]
        request[_RECORD] = record
        token = _record.set(record)
        try:
            if self.fail_next:
                self._fail(self.fail_next.pop(0))
            self._refuse(key, record.account, version)
            response: web.StreamResponse = await handler(request)
        finally:
            _record.reset(token)
        return response

    def _fail(self, status: int) -> None:
        headers: dict[str, str] = {}
        if status == 429:
            # api/rate-limits: a 429 comes with retry-after, the seconds to wait.
            headers["retry-after"] = "1"
        messages = {
            429: "Number of requests has exceeded your rate limit.",
            529: "Overloaded",
            500: "Internal server error",
        }
        raise _error(status, messages.get(status, "Error"), headers=headers)

    def _refuse(self, key: str | None, account: str | None, version: str | None) -> None:
        if key is None:
            raise _error(401, "x-api-key header is required")
        if account is None:
            raise _error(401, "invalid x-api-key")
        # api/versioning: "When making API requests, you must send an anthropic-version
        # request header."
        if version is None:
            raise _error(400, "anthropic-version: header is required")
        if version not in VERSIONS:
            raise _error(400, f"anthropic-version: invalid version {version!r}")

    def _account(self) -> _Account:
        account = _record.get().account
        assert account is not None  # _serve refused the request otherwise
        return self.accounts[account]

    # -- the batch's life -------------------------------------------------------------------
    def _status(self, batch: AnthropicBatch, now: float) -> str:
        if batch.ended is not None:
            return "ended"
        if batch.cancel_at is not None:
            return "ended" if now >= batch.cancel_at + self.cancel_seconds else "canceling"
        if now >= batch.created + min(self.phase_seconds, self.expire_seconds):
            return "ended"
        return "in_progress"

    def _advance(self, account: _Account, batch: AnthropicBatch) -> str:
        now = self.clock()
        status = self._status(batch, now)
        if status == "ended" and batch.ended is None:
            if batch.cancel_at is not None:
                batch.ended = batch.cancel_at + self.cancel_seconds
                # cancel: "the system may complete any in-progress, non-interruptible
                # requests before finalizing cancellation"; half of them ran.
                self._run(account, batch, done=batch.total // 2, rest="canceled")
            elif self.expire_seconds < self.phase_seconds:
                batch.ended = batch.created + self.expire_seconds
                self._run(account, batch, done=0, rest="expired")
            else:
                batch.ended = batch.created + self.phase_seconds
                self._run(account, batch, done=batch.total, rest="expired")
        return status

    def _requests(self, batch: AnthropicBatch) -> Iterator[tuple[int, dict[str, Any]]]:
        with batch.path.open("rb") as fh:
            for index, line in enumerate(fh):
                yield index, json.loads(line)

    def _run(self, account: _Account, batch: AnthropicBatch, *, done: int, rest: str) -> None:
        """Answer the batch into its results file, odd-numbered requests first.

        "Results in the file are not guaranteed to be in the same order as requests", so
        they are not: two passes over the stored requests, nothing held in memory.
        """
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        path = account.root / f"{batch.id}.results.jsonl"
        with path.open("w") as out:
            for wanted in (1, 0):
                for index, item in self._requests(batch):
                    if index % 2 != wanted:
                        continue
                    result: dict[str, Any]
                    if index >= done:
                        result = {"type": rest}
                    else:
                        result = self._answer(account, batch, item["params"])
                    counts[result["type"]] += 1
                    out.write(json.dumps({"custom_id": item["custom_id"], "result": result}) + "\n")
        batch.results, batch.counts = path, counts

    def _answer(
        self, account: _Account, batch: AnthropicBatch, params: dict[str, Any]
    ) -> dict[str, Any]:
        problem = self._invalid(params, batch.version)
        if problem is not None:
            status, message = problem
            # MessageBatchErroredResult: {"type": "errored", "error": ErrorResponse}; the
            # row carries no request_id (ErrorResponse.request_id is optional).
            body = {"type": "error", "error": {"type": ERROR_TYPES[status], "message": message}}
            return {"type": "errored", "error": body}
        return {"type": "succeeded", "message": self._message(account, params)}

    def _invalid(self, params: dict[str, Any], version: str) -> tuple[int, str] | None:
        """Why the Messages API would refuse ``params``, as (status, message), or None."""
        allowed = PARAMS if version == "2026-10-21" else PARAMS | set(SAMPLING)
        for name in params:
            if name not in allowed:
                if name in SAMPLING:
                    return 400, f"{name}: is not supported on API version {version}"
                return 400, f"{name}: Extra inputs are not permitted"
        for name in ("max_tokens", "messages", "model"):
            if name not in params:
                return 400, f"{name}: Field required"
        model = params["model"]
        if not isinstance(model, str) or not model:
            return 400, "model: Input should be a valid string"
        max_tokens = params["max_tokens"]
        # batch-processing: a batch request needs max_tokens of at least 1.
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            return 400, "max_tokens: Input should be greater than or equal to 1"
        if params.get("stream") not in (None, False):
            return 400, "stream: streaming is not supported in a Message Batch"
        temperature = params.get("temperature")
        if temperature is not None and (
            isinstance(temperature, bool)
            or not isinstance(temperature, int | float)
            or not 0 <= temperature <= 1
        ):
            return 400, "temperature: Input should be less than or equal to 1"
        messages = params["messages"]
        if not isinstance(messages, list) or not messages:
            return 400, "messages: at least one message is required"
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
                return 400, f"messages.{index}.role: Input should be 'user' or 'assistant'"
            content = message.get("content")
            if not isinstance(content, str | list):
                return 400, f"messages.{index}.content: Field required"
            for block_index, block in enumerate(content if isinstance(content, list) else []):
                if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                    return 400, f"messages.{index}.content.{block_index}.type: Field required"
        system = params.get("system")
        if system is not None and not isinstance(system, str | list):
            return 400, "system: Input should be a valid string or list"
        if not self.serves(model):
            return 404, f"model: {model}"
        return None

    def _message(self, account: _Account, params: dict[str, Any]) -> dict[str, Any]:
        """A deterministic Message (types/message.py) answering ``params``."""
        text = json.dumps([params.get("system"), params["messages"]], sort_keys=True)
        digest = hashlib.sha256(f"{params['model']}\x00{text}".encode()).hexdigest()
        stop_sequence = None
        tools = [t for t in params.get("tools") or [] if isinstance(t, dict) and "name" in t]
        choice = params.get("tool_choice") or {}
        content: list[dict[str, Any]]
        if tools and choice.get("type") in ("any", "tool"):
            name = choice.get("name") if choice.get("type") == "tool" else tools[0]["name"]
            content = [
                {
                    "type": "tool_use",
                    # A fresh ID each answer, as the Messages API gives (and the Bedrock
                    # fake's Claude does): the content derives from the request, IDs never.
                    "id": "toolu_" + secrets.token_hex(12),
                    "name": name,
                    "input": {"q": digest[24:36]},
                }
            ]
            stop_reason = "tool_use"
            output = 12
        elif params["max_tokens"] == 1:
            content, stop_reason, output = [{"type": "text", "text": "mock"}], "max_tokens", 1
        elif params.get("stop_sequences"):
            stop_sequence = params["stop_sequences"][0]
            content = [{"type": "text", "text": f"mock claude reply {digest[:12]}"}]
            stop_reason, output = "stop_sequence", 6
        else:
            content = [{"type": "text", "text": f"mock claude reply {digest[:12]}"}]
            stop_reason, output = "end_turn", 6
        prompt = max(1, len(text) // 4)
        created, read = self._cache(account, params)
        return {
            "id": "msg_" + _new_id("")[:24],
            "type": "message",
            "role": "assistant",
            "model": params["model"],
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": stop_sequence,
            "usage": {
                # types/usage.py: input_tokens counts what was neither written to nor read
                # from the cache; the cache counts are reported beside it.
                "input_tokens": max(1, prompt - created - read),
                "cache_creation_input_tokens": created,
                "cache_read_input_tokens": read,
                "output_tokens": output,
                "service_tier": "batch",
            },
        }

    @staticmethod
    def _cache(account: _Account, params: dict[str, Any]) -> tuple[int, int]:
        """(tokens written to, tokens read from) the prompt cache.

        build-with-claude/prompt-caching: the prefix up to a block with ``cache_control`` is
        cached; the first request writes it, later ones with the same prefix read it.
        """
        prefix: list[Any] = []
        marked: list[Any] | None = None
        for part in ("tools", "system", "messages"):
            value = params.get(part)
            blocks: list[Any] = []
            if isinstance(value, list):
                for item in value:
                    content = item.get("content") if isinstance(item, dict) else None
                    blocks.extend(content if isinstance(content, list) else [item])
            for block in blocks:
                prefix.append(block)
                if isinstance(block, dict) and block.get("cache_control"):
                    marked = list(prefix)
        if marked is None:
            return 0, 0
        text = json.dumps(marked, sort_keys=True)
        key = hashlib.sha256(f"{params['model']}\x00{text}".encode()).hexdigest()
        tokens = max(1, len(text) // 4)
        if key in account.cached:
            return 0, tokens
        account.cached.add(key)
        return tokens, 0

    def _batch_json(
        self, request: web.Request, batch: AnthropicBatch, status: str
    ) -> dict[str, Any]:
        """MessageBatch (types/messages/message_batch.py)."""
        now = self.clock()
        ended = status == "ended"
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        if ended:
            counts.update(batch.counts)
        else:
            # "Requests start as processing and move to one of the other statuses only once
            # processing of the entire batch ends."
            counts["processing"] = batch.total
        archived = now >= batch.created + self.archive_seconds
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "ended_at": _timestamp(batch.ended) if ended and batch.ended is not None else None,
            "created_at": _timestamp(batch.created),
            "expires_at": _timestamp(batch.created + self.expire_seconds),
            "archived_at": _timestamp(batch.created + self.archive_seconds) if archived else None,
            "cancel_initiated_at": _timestamp(batch.cancel_at)
            if batch.cancel_at is not None
            else None,
            # "Specified only once processing ends."
            "results_url": f"{request.scheme}://{request.host}{API}/{batch.id}/results"
            if ended
            else None,
        }

    # -- handlers ---------------------------------------------------------------------------
    async def _body(self, request: web.Request) -> Any:
        # api/errors: a request over the size limit is a 413 request_too_large.
        declared = request.content_length
        if declared is not None and declared > self.max_request_bytes:
            raise _error(
                413, f"Request exceeds the maximum size of {self.max_request_bytes} bytes."
            )
        chunks = []
        size = 0
        while chunk := await request.content.read(256 * 1024):
            size += len(chunk)
            if size > self.max_request_bytes:
                raise _error(
                    413, f"Request exceeds the maximum size of {self.max_request_bytes} bytes."
                )
            chunks.append(chunk)
        try:
            return json.loads(b"".join(chunks))
        except ValueError:
            raise _error(
                400, "There was an issue with the format of your request: invalid JSON."
            ) from None

    @route("POST", API)
    async def create_batch(self, request: web.Request) -> web.Response:
        account = self._account()
        body = await self._body(request)
        record = _record.get()
        record.json = body
        if not isinstance(body, dict):
            raise _error(400, "Input should be a valid dictionary")
        extra = sorted(set(body) - {"requests"})
        if extra:
            raise _error(400, f"{extra[0]}: Extra inputs are not permitted")
        items = body.get("requests")
        if not isinstance(items, list):
            raise _error(400, "requests: Field required")
        # The create reference: "minItems: 1, maxItems: 100000".
        if not items:
            raise _error(400, "requests: List should have at least 1 item after validation, not 0")
        if len(items) > MAX_REQUESTS:
            raise _error(
                400,
                f"requests: List should have at most {MAX_REQUESTS} items after validation, "
                f"not {len(items)}",
            )
        seen: set[str] = set()
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise _error(400, f"requests.{index}: Input should be a valid dictionary")
            extra = sorted(set(item) - {"custom_id", "params"})
            if extra:
                raise _error(400, f"requests.{index}.{extra[0]}: Extra inputs are not permitted")
            custom_id = item.get("custom_id")
            if not isinstance(custom_id, str):
                raise _error(400, f"requests.{index}.custom_id: Field required")
            if not CUSTOM_ID.fullmatch(custom_id):
                raise _error(
                    400,
                    f"requests.{index}.custom_id: String should match pattern "
                    "'^[a-zA-Z0-9_-]{1,64}$'",
                )
            # "Must be unique for each request within the Message Batch."
            if custom_id in seen:
                raise _error(400, f"requests.{index}.custom_id: Duplicate custom_id {custom_id!r}")
            seen.add(custom_id)
            if not isinstance(item.get("params"), dict):
                raise _error(400, f"requests.{index}.params: Input should be a valid dictionary")
        if self.queue_limit is not None:
            waiting = sum(
                b.total
                for b in account.batches.values()
                if self._status(b, self.clock()) != "ended"
            )
            if waiting + len(items) > self.queue_limit:
                # batch-processing: "Rate limits apply to both Batches API HTTP requests and
                # the number of requests within a batch waiting to be processed."
                raise _error(
                    429,
                    "Number of batch requests waiting to be processed exceeds your rate limit.",
                    headers={"retry-after": "60"},
                )
        batch_id = _new_id("msgbatch_")
        account.root.mkdir(parents=True, exist_ok=True)
        path = account.root / f"{batch_id}.requests.jsonl"
        with path.open("w") as fh:
            for item in items:
                fh.write(json.dumps(item) + "\n")
        version = record.headers["anthropic-version"]
        seq = account.next_seq()
        batch = AnthropicBatch(batch_id, self.clock(), len(items), path, version, seq)
        account.batches[batch_id] = batch
        # "Once a Message Batch is created, it begins processing immediately."
        return web.json_response(self._batch_json(request, batch, "in_progress"))

    def _batch(self, request: web.Request, account: _Account) -> AnthropicBatch:
        batch_id = request.match_info["batch_id"]
        batch = account.batches.get(batch_id)
        if batch is None:
            raise _error(404, f"Message Batch {batch_id} not found.")
        return batch

    @route("GET", API + "/{batch_id}")
    async def retrieve_batch(self, request: web.Request) -> web.Response:
        account = self._account()
        batch = self._batch(request, account)
        return web.json_response(self._batch_json(request, batch, self._advance(account, batch)))

    @route("POST", API + "/{batch_id}/cancel")
    async def cancel_batch(self, request: web.Request) -> web.Response:
        account = self._account()
        batch = self._batch(request, account)
        status = self._advance(account, batch)
        if status == "ended":
            # "Batches may be canceled any time before processing ends." What the service
            # answers after is undocumented; the least helpful reading refuses.
            raise _error(400, f"Message Batch {batch.id} has already ended and cannot be canceled.")
        if batch.cancel_at is None:
            batch.cancel_at = self.clock()
            # "Once cancellation is initiated, the batch enters a canceling state": the
            # answer to the cancel says so even when canceling is over at once.
            return web.json_response(self._batch_json(request, batch, "canceling"))
        return web.json_response(self._batch_json(request, batch, status))

    @route("DELETE", API + "/{batch_id}")
    async def delete_batch(self, request: web.Request) -> web.Response:
        account = self._account()
        batch = self._batch(request, account)
        # "Message Batches can only be deleted once they've finished processing. If you'd
        # like to delete an in-progress batch, you must first cancel it."
        if self._advance(account, batch) != "ended":
            raise _error(
                400,
                f"Message Batch {batch.id} cannot be deleted while it is processing; "
                "cancel it first.",
            )
        del account.batches[batch.id]
        batch.path.unlink(missing_ok=True)
        if batch.results is not None:
            batch.results.unlink(missing_ok=True)
        return web.json_response({"id": batch.id, "type": "message_batch_deleted"})

    @route("GET", API + "/{batch_id}/results")
    async def results(self, request: web.Request) -> web.StreamResponse:
        account = self._account()
        batch = self._batch(request, account)
        if self._advance(account, batch) != "ended" or batch.results is None:
            # results_url is "Specified only once processing ends"; asking before is
            # undocumented, so it is refused.
            raise _error(400, f"Message Batch {batch.id} has not finished processing.")
        if self.clock() >= batch.created + self.archive_seconds:
            # "Batch results are available for 29 days after creation. After that, you may
            # still view the Batch, but its results will no longer be available."
            raise _error(404, f"The results of Message Batch {batch.id} are no longer available.")
        # The SDK asks for Accept: application/binary (batches.results) and reads JSON lines.
        return web.FileResponse(batch.results, headers={"Content-Type": "application/binary"})

    @route("GET", API)
    async def list_batches(self, request: web.Request) -> web.Response:
        account = self._account()
        query = request.query
        try:
            limit = int(query.get("limit", "20"))
        except ValueError:
            raise _error(400, "limit: Input should be a valid integer") from None
        # The list reference: "Defaults to 20. Ranges from 1 to 1000."
        if not 1 <= limit <= 1000:
            raise _error(400, "limit: Input should be between 1 and 1000")
        if "after_id" in query and "before_id" in query:
            raise _error(400, "after_id and before_id cannot both be given")
        # "Most recently created batches are returned first."
        batches = sorted(account.batches.values(), key=lambda b: (b.created, b.seq), reverse=True)
        ids = [b.id for b in batches]
        cursor = query.get("after_id") or query.get("before_id")
        if cursor is not None and cursor not in ids:
            # An unknown cursor is undocumented; the least helpful reading refuses it.
            raise _error(400, f"Message Batch {cursor} not found.")
        if "before_id" in query:
            # "the page of results immediately before this object"
            before = batches[: ids.index(query["before_id"])]
            page, more = before[-limit:], len(before) > limit
        else:
            start = ids.index(query["after_id"]) + 1 if "after_id" in query else 0
            page, more = batches[start : start + limit], len(batches) > start + limit
        data = [self._batch_json(request, b, self._advance(account, b)) for b in page]
        return web.json_response(
            {
                "data": data,
                "has_more": more,
                "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None,
            }
        )


# -- the fake as the command line and --demo see it (fake/__init__.py lists it) -------------
DEMO_KEY = "sk-ant-fake-demo-key"
DEMO_MODEL = "claude-batch"


FLAVOUR = keyed_flavour(
    "anthropic",
    FakeAnthropic,
    described="an Anthropic model",
    model_name=DEMO_MODEL,
    key=DEMO_KEY,
    params=lambda place: {
        "model": "anthropic/claude-sonnet-4-5",
        "api_base": place.base,
        # One host: a local directory (several hosts need s3:// or gs://).
        "file_store": f"file://{place.store}",
    },
)
