"""The OpenAI flavour of the fake upstream: /v1/files and /v1/batches, a key per account.

Other flavours (Azure) subclass it and change the hooks: ``credential``, ``refuse``,
``error``, ``answer``, ``check_rows``, ``validate``, ``file_added``, ``accept_input``,
``new_batch``, ``endpoints``, ``routes`` and the expiry form fields.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Final, Literal

from aiohttp import BodyPartReader, web

from .base import Answer, FakeService, RecordedRequest, client_gone
from .batches import ENDPOINTS, FakeBatch, validate_input
from .compress import Compression, middleware
from .store import FakeAccount, FileRecord, new_id

__all__ = ["Answer", "FakeOpenAI", "RecordedRequest", "mask"]

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
CHUNK = 256 * 1024
Kind = Literal[
    "file", "file_created", "batch", "batch_created", "file_list", "batch_list", "deleted"
]


async def _request_id(request: web.Request, response: web.StreamResponse) -> None:
    record = request.get(_RECORD)
    if record is not None:
        response.headers["x-request-id"] = record.response_request_id


# The account and record of the request being served (request keys need aiohttp >= 3.14).
_current: ContextVar[tuple[FakeAccount, RecordedRequest]] = ContextVar("fake_request")
_RECORD: Final = web.RequestKey("fake_record", RecordedRequest)


def mask(key: str) -> str:
    return key[:3] + "*" * 4 + key[-4:] if len(key) > 8 else "****"


class FakeOpenAI(FakeService):
    """A stateful OpenAI-compatible upstream with one account per API key.

    ``phase_seconds``/``cancel_seconds`` set the batch clock; ``clock`` may be replaced by a
    test to move time. ``delay`` makes every answer slow (for timeout tests).
    """

    expiry_range = (3600, 2592000)
    endpoints: tuple[str, ...] = ENDPOINTS

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
        super().__init__(
            storage=storage,
            phase_seconds=phase_seconds,
            cancel_seconds=cancel_seconds,
            clock=clock,
        )
        self.keys = dict(keys)
        self.accounts = {name: FakeAccount(name, self.root / name) for name in set(keys.values())}
        self.prefix = prefix.rstrip("/")
        self.delay = delay
        self.compression = Compression()

    # -- hooks ------------------------------------------------------------------------------
    def credential(self, request: web.Request) -> tuple[str | None, str | None]:
        """(credential presented, account it opens)."""
        header = request.headers.get("Authorization", "")
        key = header[7:] if header.startswith("Bearer ") else None
        return key, self.keys.get(key) if key else None

    def public(self, request: web.Request) -> bool:
        """Routes served without a credential (a token endpoint)."""
        return False

    def expiry_field(self, request: web.Request) -> str:
        """The form field carrying expires_after's seconds."""
        return "expires_after[seconds]"

    def refuse(self, request: web.Request, key: str | None, account: str | None) -> None:
        """Raise Answer to turn a request away before it is served."""
        if key is None:
            raise Answer(self.error(401, "You didn't provide an API key."))
        if account is None:
            raise Answer(
                self.error(401, f"Incorrect API key provided: {mask(key)}.", code="invalid_api_key")
            )

    def error(
        self, status: int, message: str, param: str | None = None, code: str | None = None
    ) -> web.Response:
        body = {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": param,
                "code": code,
            }
        }
        return web.json_response(body, status=status)

    def answer(self, obj: dict[str, Any], kind: Kind) -> web.Response:
        return web.json_response(obj)

    def check_rows(self, rows: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Extra per-row checks of a batch input file (beyond OpenAI's own)."""
        return []

    def validate(self, record: FileRecord, endpoint: str) -> tuple[list[dict[str, Any]], int]:
        """A batch input file's errors and request count."""
        return validate_input(record, endpoint, self.check_rows)

    def file_added(self, account: FakeAccount, record: FileRecord) -> None:
        """Called once an upload is stored, before it is answered."""

    def accept_input(self, account: FakeAccount, record: FileRecord, endpoint: str) -> None:
        """Raise Answer to refuse a batch create for its input file."""

    def new_batch(self, account: FakeAccount, batch: FakeBatch) -> None:
        """Adjust a batch just created, before it is stored and answered."""

    def routes(self, p: str) -> list[web.RouteDef]:
        return [
            web.post(f"{p}/files", self.create_file),
            web.get(f"{p}/files", self.list_files),
            web.get(f"{p}/files/{{file_id}}", self.retrieve_file),
            web.delete(f"{p}/files/{{file_id}}", self.delete_file),
            web.get(f"{p}/files/{{file_id}}/content", self.file_content),
            web.post(f"{p}/batches", self.create_batch),
            web.get(f"{p}/batches", self.list_batches),
            web.get(f"{p}/batches/{{batch_id}}", self.retrieve_batch),
            web.post(f"{p}/batches/{{batch_id}}/cancel", self.cancel_batch),
        ]

    # -- plumbing ---------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(
            middlewares=[client_gone, middleware(self), self._serve], client_max_size=1024**2
        )
        app.add_routes(self.routes(self.prefix))
        app.on_cleanup.append(self._cleanup)
        app.on_response_prepare.append(_request_id)
        return app

    @web.middleware
    async def _serve(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        key, account = self.credential(request)
        record = self.record(
            request,
            account=account,
            key=key,
            # "Debugging requests" in OpenAI's API reference: the caller's own ID comes in
            # X-Client-Request-Id, and every answer names OpenAI's in x-request-id.
            client_request_id=request.headers.get("X-Client-Request-Id"),
            response_request_id=new_id("req_"),
        )
        request[_RECORD] = record
        if self.delay:
            await asyncio.sleep(self.delay)
        response: web.StreamResponse
        try:
            if self.public(request):
                response = await handler(request)
            else:
                self.refuse(request, key, account)
                assert account is not None
                token = _current.set((self.accounts[account], record))
                try:
                    response = await handler(request)
                finally:
                    _current.reset(token)
        except Answer as answer:
            response = answer.response
        return response

    # -- files ------------------------------------------------------------------------------
    async def create_file(self, request: web.Request) -> web.Response:
        account, record = _current.get()
        if not request.content_type.startswith("multipart/"):
            return self.error(400, "Expected multipart/form-data.", "file")
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
                        if size < 4096:
                            record.file_head += chunk[: 4096 - size]
                        fh.write(chunk)
                        size += len(chunk)
            else:
                record.form[part.name or ""] = (await part.read()).decode()
        record.bytes = size
        purpose = record.form.get("purpose")
        if filename is None:
            return self.error(400, "Missing required parameter: 'file'.", "file")
        if purpose not in PURPOSES:
            account.new_file_path(file_id).unlink(missing_ok=True)
            return self.error(400, f"Invalid value for 'purpose': {purpose!r}.", "purpose")
        expiry = self.expiry_field(request)
        seconds = record.form.get(expiry)
        if seconds is not None:
            low, high = self.expiry_range
            if not seconds.isdigit() or not low <= int(seconds) <= high:
                account.new_file_path(file_id).unlink(missing_ok=True)
                return self.error(400, f"expires_after seconds must be {low} to {high}.", expiry)
        obj = account.add_file(file_id, filename, purpose, size, int(seconds) if seconds else None)
        self.file_added(account, obj)
        return self.answer(obj.to_json(), "file_created")

    async def list_files(self, request: web.Request) -> web.Response:
        account = _current.get()[0]
        query = request.query
        files = sorted(
            account.files.values(),
            key=lambda f: (f.created_at, f.seq),
            reverse=query.get("order", "desc") == "desc",
        )
        if "purpose" in query:
            files = [f for f in files if f.purpose == query["purpose"]]
        page = _page(
            [f.to_json() for f in files], query.get("after"), int(query.get("limit", "10000"))
        )
        return self.answer(page, "file_list")

    def _file(self, request: web.Request) -> FileRecord:
        file_id = request.match_info["file_id"]
        found = _current.get()[0].files.get(file_id)
        if found is None:
            raise Answer(self.error(404, f"No such File object: {file_id}", "id"))
        return found

    async def retrieve_file(self, request: web.Request) -> web.Response:
        return self.answer(self._file(request).to_json(), "file")

    async def delete_file(self, request: web.Request) -> web.Response:
        found = self._file(request)
        del _current.get()[0].files[found.id]
        found.path.unlink(missing_ok=True)
        return self.answer({"id": found.id, "object": "file", "deleted": True}, "deleted")

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
            return self.error(400, "We could not parse the JSON body of your request.")
        record.json = body
        if not isinstance(body, dict):
            return self.error(400, "The body must be a JSON object.")
        for name in ("input_file_id", "endpoint", "completion_window"):
            if not isinstance(body.get(name), str):
                return self.error(400, f"Missing required parameter: '{name}'.", name)
        unknown = sorted(
            set(body)
            - {"input_file_id", "endpoint", "completion_window", "metadata", "output_expires_after"}
        )
        if unknown:
            return self.error(
                400, f"Unrecognized request argument supplied: {unknown[0]}", unknown[0]
            )
        if body["endpoint"] not in self.endpoints:
            return self.error(
                400, f"Invalid value for 'endpoint': {body['endpoint']!r}.", "endpoint"
            )
        if body["completion_window"] != "24h":
            return self.error(
                400, "Invalid value for 'completion_window': expected '24h'.", "completion_window"
            )
        input_file = account.files.get(body["input_file_id"])
        if input_file is None:
            return self.error(404, f"No such File object: {body['input_file_id']}", "input_file_id")
        if input_file.purpose != "batch":
            return self.error(400, "The input file must have purpose 'batch'.", "input_file_id")
        self.accept_input(account, input_file, body["endpoint"])
        expires = body.get("output_expires_after")
        errors, total = self.validate(input_file, body["endpoint"])
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
        self.new_batch(account, batch)
        account.batches[batch.id] = batch
        obj = batch.to_json(
            batch.created, self.phase_seconds, self.cancel_seconds, status="validating"
        )
        return self.answer(obj, "batch_created")

    def _batch(self, request: web.Request) -> FakeBatch:
        batch_id = request.match_info["batch_id"]
        found: FakeBatch | None = _current.get()[0].batches.get(batch_id)
        if found is None:
            raise Answer(self.error(404, f"No such Batch object: {batch_id}", "batch_id"))
        return found

    async def retrieve_batch(self, request: web.Request) -> web.Response:
        return self.answer(self._batch_json(_current.get()[0], self._batch(request)), "batch")

    async def cancel_batch(self, request: web.Request) -> web.Response:
        found = self._batch(request)
        account = _current.get()[0]
        now = self.clock()
        status = found.advance(account, now, self.phase_seconds, self.cancel_seconds)
        if status in ("completed", "failed", "cancelled", "expired"):
            return self.error(409, f"Cannot cancel a batch with status '{status}'.")
        if found.cancel_at is not None:
            return self.answer(self._batch_json(account, found), "batch")
        found.cancel_at, found.cancel_phase = now, status
        # Like OpenAI, the answer to cancel always says "cancelling"; later looks move on.
        obj = found.to_json(now, self.phase_seconds, self.cancel_seconds, status="cancelling")
        return self.answer(obj, "batch")

    async def list_batches(self, request: web.Request) -> web.Response:
        account = _current.get()[0]
        batches = sorted(account.batches.values(), key=lambda b: b.created, reverse=True)
        items = [self._batch_json(account, b) for b in batches]
        page = _page(items, request.query.get("after"), int(request.query.get("limit", "20")))
        return self.answer(page, "batch_list")


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
