"""The OpenAI flavour of the fake upstream: /v1/files and /v1/batches, a key per account."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from .batches import ENDPOINTS, FakeBatch, validate_input
from .store import FakeAccount, FileRecord, make_root, new_id, remove_root

__all__ = ["FakeOpenAI", "RecordedRequest"]

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
CHUNK = 256 * 1024
# The account and record of the request being served (request keys need aiohttp >= 3.14).
_current: ContextVar[tuple[FakeAccount, RecordedRequest]] = ContextVar("fake_openai_request")


@dataclass
class RecordedRequest:
    """What the fake saw of one request, for tests to assert on."""

    method: str
    path: str
    raw_path: str  # as sent, before percent-decoding
    query: dict[str, str]
    account: str | None  # the account whose key was used, None if no valid key
    key: str | None
    chunked: bool
    content_type: str
    bytes: int = 0  # file bytes received on upload
    form: dict[str, str] = field(default_factory=dict)  # text fields of an upload
    json: Any = None  # JSON body, if any


def _error(status: int, message: str, param: str | None = None, code: str | None = None,
           type: str = "invalid_request_error") -> web.Response:
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return web.json_response(body, status=status)


def _not_found(kind: str, object_id: str, param: str) -> web.HTTPNotFound:
    body = {"error": {"message": f"No such {kind} object: {object_id}",
                      "type": "invalid_request_error", "param": param, "code": None}}
    return web.HTTPNotFound(text=json.dumps(body), content_type="application/json")


def _mask(key: str) -> str:
    return key[:3] + "*" * 4 + key[-4:] if len(key) > 8 else "****"


class FakeOpenAI:
    """A stateful OpenAI-compatible upstream with one account per API key.

    ``phase_seconds``/``cancel_seconds`` set the batch clock; ``clock`` may be replaced by a
    test to move time. ``delay`` makes every answer slow (for timeout tests).
    """

    def __init__(
        self,
        keys: Mapping[str, str],
        *,
        storage: Path | None = None,
        prefix: str = "/v1",
        phase_seconds: float = 0.0,
        cancel_seconds: float = 0.0,
        clock: Callable[[], float] = time.time,
        delay: float = 0.0,
    ):
        self.root, self._owns_root = make_root(storage)
        self.accounts = {name: FakeAccount(name, self.root / name) for name in set(keys.values())}
        self.keys = dict(keys)
        self.prefix = prefix.rstrip("/")
        self.phase_seconds = phase_seconds
        self.cancel_seconds = cancel_seconds
        self.clock = clock
        self.delay = delay
        self.requests: list[RecordedRequest] = []

    # -- plumbing -------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth], client_max_size=1024**2)
        p = self.prefix
        app.add_routes([
            web.post(f"{p}/files", self.create_file),
            web.get(f"{p}/files", self.list_files),
            web.get(f"{p}/files/{{file_id}}", self.retrieve_file),
            web.delete(f"{p}/files/{{file_id}}", self.delete_file),
            web.get(f"{p}/files/{{file_id}}/content", self.file_content),
            web.post(f"{p}/batches", self.create_batch),
            web.get(f"{p}/batches", self.list_batches),
            web.get(f"{p}/batches/{{batch_id}}", self.retrieve_batch),
            web.post(f"{p}/batches/{{batch_id}}/cancel", self.cancel_batch),
        ])
        app.on_cleanup.append(self._cleanup)
        return app

    async def _cleanup(self, app: web.Application) -> None:
        if self._owns_root:
            remove_root(self.root)

    def requests_to(self, account: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.account == account]

    @web.middleware
    async def _auth(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        key = header[7:] if header.startswith("Bearer ") else None
        account = self.keys.get(key) if key else None
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            raw_path=request.raw_path.split("?", 1)[0],
            query=dict(request.query),
            account=account,
            key=key,
            chunked="chunked" in request.headers.get("Transfer-Encoding", "").lower(),
            content_type=request.content_type,
        )
        self.requests.append(record)
        if self.delay:
            await asyncio.sleep(self.delay)
        if key is None:
            return _error(401, "You didn't provide an API key.")
        if account is None:
            return _error(401, f"Incorrect API key provided: {_mask(key)}.",
                          code="invalid_api_key")
        token = _current.set((self.accounts[account], record))
        try:
            response: web.StreamResponse = await handler(request)
        finally:
            _current.reset(token)
        return response

    # -- files ------------------------------------------------------------------------------
    async def create_file(self, request: web.Request) -> web.Response:
        account, record = _current.get()
        if not request.content_type.startswith("multipart/"):
            return _error(400, "Expected multipart/form-data.", "file")
        reader = await request.multipart()
        file_id = new_id("file-")
        filename: str | None = None
        size = 0
        async for part in _parts(reader):
            if part.filename is not None and part.name == "file":
                filename = part.filename
                path = account.new_file_path(file_id)
                with path.open("wb") as fh:
                    while chunk := await part.read_chunk(CHUNK):
                        fh.write(chunk)
                        size += len(chunk)
            else:
                record.form[part.name or ""] = (await part.read()).decode()
        record.bytes = size
        purpose = record.form.get("purpose")
        if filename is None:
            return _error(400, "Missing required parameter: 'file'.", "file")
        if purpose not in PURPOSES:
            account.new_file_path(file_id).unlink(missing_ok=True)
            return _error(400, f"Invalid value for 'purpose': {purpose!r}.", "purpose")
        expires = record.form.get("expires_after[seconds]")
        obj = account.add_file(file_id, filename, purpose, size, int(expires) if expires else None)
        return web.json_response(obj.to_json())

    async def list_files(self, request: web.Request) -> web.Response:
        account = _current.get()[0]
        query = request.query
        files = sorted(account.files.values(), key=lambda f: (f.created_at, f.seq),
                       reverse=query.get("order", "desc") == "desc")
        if "purpose" in query:
            files = [f for f in files if f.purpose == query["purpose"]]
        page = _page([f.to_json() for f in files], query.get("after"),
                     int(query.get("limit", "10000")))
        return web.json_response(page)

    def _file(self, request: web.Request) -> FileRecord:
        file_id = request.match_info["file_id"]
        found = _current.get()[0].files.get(file_id)
        if found is None:
            raise _not_found("File", file_id, "id")
        return found

    async def retrieve_file(self, request: web.Request) -> web.Response:
        return web.json_response(self._file(request).to_json())

    async def delete_file(self, request: web.Request) -> web.Response:
        found = self._file(request)
        del _current.get()[0].files[found.id]
        found.path.unlink(missing_ok=True)
        return web.json_response({"id": found.id, "object": "file", "deleted": True})

    async def file_content(self, request: web.Request) -> web.StreamResponse:
        found = self._file(request)
        return web.FileResponse(found.path, headers={"Content-Type": "application/octet-stream"})

    # -- batches ----------------------------------------------------------------------------
    def _batch_json(self, account: FakeAccount, batch: FakeBatch) -> dict[str, Any]:
        now = self.clock()
        batch.advance(account, now, self.phase_seconds, self.cancel_seconds)
        return batch.to_json(now, self.phase_seconds, self.cancel_seconds)

    async def create_batch(self, request: web.Request) -> web.Response:
        account, record = _current.get()
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.")
        record.json = body
        if not isinstance(body, dict):
            return _error(400, "The body must be a JSON object.")
        for name in ("input_file_id", "endpoint", "completion_window"):
            if not isinstance(body.get(name), str):
                return _error(400, f"Missing required parameter: '{name}'.", name)
        unknown = set(body) - {"input_file_id", "endpoint", "completion_window", "metadata",
                               "output_expires_after"}
        if unknown:
            return _error(400, f"Unrecognized request argument supplied: {sorted(unknown)[0]}",
                          sorted(unknown)[0])
        if body["endpoint"] not in ENDPOINTS:
            return _error(400, f"Invalid value for 'endpoint': {body['endpoint']!r}.", "endpoint")
        if body["completion_window"] != "24h":
            return _error(400, "Invalid value for 'completion_window': expected '24h'.",
                          "completion_window")
        input_file = account.files.get(body["input_file_id"])
        if input_file is None:
            return _error(404, f"No such File object: {body['input_file_id']}", "input_file_id")
        if input_file.purpose != "batch":
            return _error(400, "The input file must have purpose 'batch'.", "input_file_id")
        expires = body.get("output_expires_after")
        errors, total = validate_input(input_file, body["endpoint"])
        batch = FakeBatch(
            id=new_id("batch_"),
            endpoint=body["endpoint"],
            input_file_id=input_file.id,
            completion_window="24h",
            created=self.clock(),
            total=0 if errors else total,
            errors=errors,
            metadata=body.get("metadata"),
            output_expires_after=expires.get("seconds") if isinstance(expires, dict) else None,
        )
        account.batches[batch.id] = batch
        return web.json_response(batch.to_json(
            batch.created, self.phase_seconds, self.cancel_seconds, status="validating"
        ))

    def _batch(self, request: web.Request) -> FakeBatch:
        batch_id = request.match_info["batch_id"]
        found: FakeBatch | None = _current.get()[0].batches.get(batch_id)
        if found is None:
            raise _not_found("Batch", batch_id, "batch_id")
        return found

    async def retrieve_batch(self, request: web.Request) -> web.Response:
        return web.json_response(self._batch_json(_current.get()[0], self._batch(request)))

    async def cancel_batch(self, request: web.Request) -> web.Response:
        found = self._batch(request)
        account = _current.get()[0]
        now = self.clock()
        status = found.advance(account, now, self.phase_seconds, self.cancel_seconds)
        if status in ("completed", "failed", "cancelled", "expired"):
            return _error(409, f"Cannot cancel a batch with status '{status}'.")
        if found.cancel_at is not None:
            return web.json_response(self._batch_json(account, found))
        found.cancel_at, found.cancel_phase = now, status
        # Like OpenAI, the answer to cancel always says "cancelling"; later looks move on.
        obj = found.to_json(now, self.phase_seconds, self.cancel_seconds, status="cancelling")
        return web.json_response(obj)

    async def list_batches(self, request: web.Request) -> web.Response:
        account = _current.get()[0]
        batches = sorted(account.batches.values(), key=lambda b: b.created, reverse=True)
        items = [self._batch_json(account, b) for b in batches]
        page = _page(items, request.query.get("after"), int(request.query.get("limit", "20")))
        return web.json_response(page)


async def _parts(reader: Any) -> AsyncIterator[BodyPartReader]:
    while (part := await reader.next()) is not None:
        yield part


def _page(items: list[dict[str, Any]], after: str | None, limit: int) -> dict[str, Any]:
    if after is not None:
        ids = [i["id"] for i in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    page, rest = items[:limit], items[limit:]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": bool(rest),
    }


