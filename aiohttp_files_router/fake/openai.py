"""The OpenAI flavour of the fake upstream: /v1/files, /v1/batches and /v1/fine_tuning/jobs,
a key per account.

Other flavours (Azure) subclass it and change the hooks: ``credential``, ``refuse``,
``error``, ``answer``, ``check_rows``, ``validate``, ``file_added``, ``accept_input``,
``new_batch``, ``endpoints``, ``routes``, the expiry form fields, and for fine-tuning
``fine_tune_fields``, ``fine_tune_models``, ``accept_training_file`` and ``new_fine_tune``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextvars import ContextVar
from typing import Any, Final, Literal, Unpack

from aiohttp import BodyPartReader, web

from .base import (
    Answer,
    DemoPlace,
    KeyedService,
    RecordedRequest,
    ServiceOptions,
    bearer,
    flavour,
    keyed_build,
    route,
)
from .batches import ENDPOINTS, FakeBatch, validate_input
from .compress import Compression, middleware
from .finetuning import CreateError, FakeFineTune, check_training_file, parse_create
from .store import FakeAccount, FileRecord, new_id

__all__ = ["Answer", "FakeOpenAI", "RecordedRequest", "mask"]

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
CHUNK = 256 * 1024
JOBS = "/fine_tuning/jobs"
Kind = Literal[
    "file",
    "file_created",
    "batch",
    "batch_created",
    "file_list",
    "batch_list",
    "deleted",
    "ftjob",
    "ftjob_created",
    "ftjob_list",
    "ftevent_list",
    "ftcheckpoint_list",
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


class FakeOpenAI(KeyedService[FakeAccount]):
    """A stateful OpenAI-compatible upstream with one account per API key.

    ``phase_seconds``/``cancel_seconds`` set the batch clock; ``clock`` may be replaced by a
    test to move time. ``delay`` makes every answer slow (for timeout tests).
    """

    expiry_range = (3600, 2592000)
    endpoints: tuple[str, ...] = ENDPOINTS
    # A flavour's own create fields, and its tunable models per method (None: OpenAI's).
    fine_tune_fields: frozenset[str] = frozenset()
    fine_tune_models: dict[str, frozenset[str]] | None = None
    # Events and checkpoints come newest first (the list examples in OpenAI's reference).
    newest_first = True
    metadata_filter = True  # list's metadata[k]=v / metadata=null (a flavour may ignore it)

    def __init__(
        self,
        keys: Mapping[str, str],
        *,
        prefix: str = "/v1",
        delay: float = 0.0,
        **service: Unpack[ServiceOptions],
    ):
        super().__init__(keys, FakeAccount, **service)
        self.prefix = prefix.rstrip("/")
        self.delay = delay
        self.compression = Compression()

    # -- hooks ------------------------------------------------------------------------------
    def credential(self, request: web.Request) -> tuple[str | None, str | None]:
        """(credential presented, account it opens)."""
        key = bearer(request)
        return key, self.account_of(key)

    def public(self, request: web.Request) -> bool:
        """Routes served without a credential (a token endpoint)."""
        return False

    def expiry_field(self, request: web.Request) -> str:
        """The form field carrying expires_after's seconds."""
        return "expires_after[seconds]"

    def expiry_bounds(self, request: web.Request) -> tuple[int, int]:
        """The expires_after seconds an upload may ask for."""
        return self.expiry_range

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

    def accept_training_file(self, account: FakeAccount, record: FileRecord, param: str) -> None:
        """Raise Answer to refuse a fine-tuning create for one of its files."""

    def fine_tune_id(self) -> str:
        return new_id("ftjob-")

    def new_fine_tune(self, account: FakeAccount, job: FakeFineTune, body: dict[str, Any]) -> None:
        """Adjust a fine-tuning job just created (a flavour's own fields), or raise Answer."""

    # -- plumbing ---------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = self.make_app(middleware(self), self._serve, routes=self.routes(self.prefix))
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
        if self.public(request):
            response = await handler(request)
            return response
        self.refuse(request, key, account)
        assert account is not None
        token = _current.set((self.accounts[account], record))
        try:
            response = await handler(request)
        finally:
            _current.reset(token)
        return response

    async def _json_body(self, request: web.Request) -> Any:
        """The request's JSON body, kept in its record (a 400 if it is not JSON)."""
        try:
            body = await request.json()
        except ValueError:
            raise Answer(
                self.error(400, "We could not parse the JSON body of your request.")
            ) from None
        _current.get()[1].json = body
        return body

    # -- files ------------------------------------------------------------------------------
    @route("POST", "/files")
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
        if purpose == "fine-tune" and not filename.endswith(".jsonl"):
            # createFile: "The Fine-tuning API only supports `.jsonl` files."
            account.new_file_path(file_id).unlink(missing_ok=True)
            return self.error(
                400, "Invalid file format for Fine-Tuning API. Must be .jsonl", "file"
            )
        expiry = self.expiry_field(request)
        seconds = record.form.get(expiry)
        if seconds is not None:
            low, high = self.expiry_bounds(request)
            if not seconds.isdigit() or not low <= int(seconds) <= high:
                account.new_file_path(file_id).unlink(missing_ok=True)
                return self.error(400, f"expires_after seconds must be {low} to {high}.", expiry)
        obj = account.add_file(file_id, filename, purpose, size, int(seconds) if seconds else None)
        self.file_added(account, obj)
        return self.answer(obj.to_json(), "file_created")

    @route("GET", "/files")
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

    @route("GET", "/files/{file_id}")
    async def retrieve_file(self, request: web.Request) -> web.Response:
        return self.answer(self._file(request).to_json(), "file")

    @route("DELETE", "/files/{file_id}")
    async def delete_file(self, request: web.Request) -> web.Response:
        found = self._file(request)
        del _current.get()[0].files[found.id]
        found.path.unlink(missing_ok=True)
        return self.answer({"id": found.id, "object": "file", "deleted": True}, "deleted")

    @route("GET", "/files/{file_id}/content")
    async def file_content(self, request: web.Request) -> web.StreamResponse:
        found = self._file(request)
        return web.FileResponse(found.path, headers={"Content-Type": "application/octet-stream"})

    # -- batches ----------------------------------------------------------------------------
    def _batch_json(self, account: FakeAccount, batch: FakeBatch) -> dict[str, Any]:
        now = self.clock()
        batch.advance(account, now, self.phase_seconds, self.cancel_seconds)
        return batch.to_json(now, self.phase_seconds, self.cancel_seconds)

    @route("POST", "/batches")
    async def create_batch(self, request: web.Request) -> web.Response:
        account = _current.get()[0]
        body = await self._json_body(request)
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

    @route("GET", "/batches/{batch_id}")
    async def retrieve_batch(self, request: web.Request) -> web.Response:
        return self.answer(self._batch_json(_current.get()[0], self._batch(request)), "batch")

    @route("POST", "/batches/{batch_id}/cancel")
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

    @route("GET", "/batches")
    async def list_batches(self, request: web.Request) -> web.Response:
        account = _current.get()[0]
        batches = sorted(account.batches.values(), key=lambda b: b.created, reverse=True)
        items = [self._batch_json(account, b) for b in batches]
        page = _page(items, request.query.get("after"), int(request.query.get("limit", "20")))
        return self.answer(page, "batch_list")

    # -- fine-tuning jobs -------------------------------------------------------------------
    def _fine_tune_json(
        self, account: FakeAccount, job: FakeFineTune, status: str | None = None
    ) -> dict[str, Any]:
        now = self.clock()
        job.advance(account, now, self.phase_seconds)
        return job.to_json(now, self.phase_seconds, status)

    def _training_file(self, account: FakeAccount, file_id: str, param: str) -> FileRecord:
        record = account.files.get(file_id)
        if record is None:
            raise Answer(self.error(400, f"Invalid file ID: {file_id}.", param, f"invalid_{param}"))
        if record.purpose != "fine-tune":
            # CreateFineTuningJobRequest.training_file/validation_file: "You must upload your
            # file with the purpose `fine-tune`."
            raise Answer(
                self.error(
                    400,
                    f"File {file_id} has purpose '{record.purpose}'; fine-tuning needs a file "
                    "uploaded with purpose 'fine-tune'.",
                    param,
                    f"invalid_{param}",
                )
            )
        self.accept_training_file(account, record, param)
        return record

    @route("POST", JOBS)
    async def create_fine_tune(self, request: web.Request) -> web.Response:
        account = _current.get()[0]
        body = await self._json_body(request)
        try:
            fields = parse_create(body, self.fine_tune_fields, self.fine_tune_models)
        except CreateError as err:
            return self.error(400, err.message, err.param, err.code)
        kind = fields["method"]["type"]
        training = self._training_file(account, fields["training_file"], "training_file")
        validation = None
        if fields["validation_file"] is not None:
            validation = self._training_file(account, fields["validation_file"], "validation_file")
        job = FakeFineTune(
            id=self.fine_tune_id(),
            created=self.clock(),
            organization=account.name,
            **fields,
        )
        # OpenAI validates the files after create: a bad file fails the job (FineTuningJob.error
        # "param: ... usually training_file or validation_file"), the create itself succeeds.
        job.error, job.examples, job.tokens = check_training_file(
            training, kind, job.model, "training_file"
        )
        if job.error is None and validation is not None:
            job.error = check_training_file(validation, kind, job.model, "validation_file")[0]
        self.new_fine_tune(account, job, body)
        account.fine_tunes[job.id] = job
        obj = job.to_json(job.created, self.phase_seconds, status="validating_files")
        return self.answer(obj, "ftjob_created")

    def _fine_tune(self, request: web.Request) -> FakeFineTune:
        job_id = request.match_info["job_id"]
        found: FakeFineTune | None = _current.get()[0].fine_tunes.get(job_id)
        if found is None:
            raise Answer(
                self.error(404, f"Could not find fine-tune job: {job_id}", "fine_tuning_job_id")
            )
        return found

    @route("GET", JOBS + "/{job_id}")
    async def retrieve_fine_tune(self, request: web.Request) -> web.Response:
        job = self._fine_tune(request)
        return self.answer(self._fine_tune_json(_current.get()[0], job), "ftjob")

    @route("POST", JOBS + "/{job_id}/{action:cancel|pause|resume}")
    async def fine_tune_action(self, request: web.Request) -> web.Response:
        """``POST .../fine_tuning/jobs/{job_id}/<action>`` (``_FT_ACTIONS``)."""
        allowed, refusal, act = _FT_ACTIONS[request.match_info["action"]]
        account, job = _current.get()[0], self._fine_tune(request)
        now = self.clock()
        status = job.advance(account, now, self.phase_seconds)
        if not allowed(status):
            return self.error(400, f"Job {job.id} {refusal.format(status=status)}")
        act(job, now, self.phase_seconds)
        return self.answer(self._fine_tune_json(account, job), "ftjob")

    @route("GET", JOBS)
    async def list_fine_tunes(self, request: web.Request) -> web.Response:
        account = _current.get()[0]
        query: Mapping[str, str] = request.query
        wanted = {
            k[9:-1]: v for k, v in query.items() if k.startswith("metadata[") and k[-1] == "]"
        }
        if not self.metadata_filter:
            wanted, query = {}, {k: v for k, v in query.items() if k != "metadata"}
        if "metadata" in query and (wanted or query["metadata"] != "null"):
            # JobListParams.metadata: "metadata=null" selects jobs without metadata; "Do not
            # combine the two query forms."
            return self.error(400, "Invalid metadata filter.", "metadata")
        # Newest first; jobs created in the same second keep their creation order (reversed).
        ordered = sorted(
            enumerate(account.fine_tunes.values()),
            key=lambda pair: (pair[1].created, pair[0]),
            reverse=True,
        )
        jobs = [job for _, job in ordered]
        if "metadata" in query:
            jobs = [j for j in jobs if j.metadata is None]
        elif wanted:
            jobs = [
                j for j in jobs if all((j.metadata or {}).get(k) == v for k, v in wanted.items())
            ]
        items = [self._fine_tune_json(account, j) for j in jobs]
        page = _cursor_page(items, query.get("after"), _limit(self, query, 20))
        return self.answer(page, "ftjob_list")

    @route("GET", JOBS + "/{job_id}/events")
    async def list_fine_tune_events(self, request: web.Request) -> web.Response:
        account, job = _current.get()[0], self._fine_tune(request)
        job.advance(account, self.clock(), self.phase_seconds)
        order = sorted(
            enumerate(job.events),
            key=lambda pair: (pair[1]["created_at"], pair[0]),
            reverse=self.newest_first,
        )
        items = [event for _, event in order]
        page = _cursor_page(items, request.query.get("after"), _limit(self, request.query, 20))
        return self.answer(page, "ftevent_list")

    @route("GET", JOBS + "/{job_id}/checkpoints")
    async def list_fine_tune_checkpoints(self, request: web.Request) -> web.Response:
        account, job = _current.get()[0], self._fine_tune(request)
        job.advance(account, self.clock(), self.phase_seconds)
        checkpoints = job.checkpoints if self.newest_first else job.checkpoints[::-1]
        page = _page(checkpoints, request.query.get("after"), _limit(self, request.query, 10))
        return self.answer(page, "ftcheckpoint_list")


# Each action on a fine-tuning job: the statuses it is taken in, the refusal otherwise (a 400;
# ``{status}`` stands for the job's), and what it does (given the time and the phase length).
# The docs do not say which jobs pause or resume: only a running one pauses and only a paused
# one resumes, here.
_FT_ACTIONS: dict[
    str, tuple[Callable[[str], bool], str, Callable[[FakeFineTune, float, float], None]]
] = {
    "cancel": (
        lambda status: status not in ("succeeded", "failed", "cancelled"),
        "has already {status}; it cannot be cancelled.",
        lambda job, now, phase: job.cancel(now),
    ),
    "pause": (
        lambda status: status == "running",
        "is {status}; only a running job can be paused.",
        lambda job, now, phase: job.pause(now),
    ),
    "resume": (
        lambda status: status == "paused",
        "is {status}; only a paused job can be resumed.",
        FakeFineTune.resume,
    ),
}


def _limit(fake: FakeOpenAI, query: Mapping[str, str], default: int) -> int:
    text = query.get("limit")
    if text is None:
        return default
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise Answer(fake.error(400, "'limit' must be an integer from 1 to 100.", "limit"))
    return int(text)


def _cursor_page(items: list[dict[str, Any]], after: str | None, limit: int) -> dict[str, Any]:
    """A list with only ``object``, ``data`` and ``has_more``: the fine-tuning job and event
    lists (ListPaginatedFineTuningJobsResponse, ListFineTuningJobEventsResponse) have no
    ``first_id``/``last_id``."""
    page = _page(items, after, limit)
    return {"object": "list", "data": page["data"], "has_more": page["has_more"]}


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


# -- the fake as the command line and --demo see it (fake/__init__.py lists it) -------------
# --demo: two accounts, so a key's model picks one and IDs from one fail on the other.
DEMO_ACCOUNTS = {"gpt-4o-litellm": "sk-fake-account-a", "gpt-4o-mini-litellm": "sk-fake-account-b"}


def _demo(place: DemoPlace) -> tuple[FakeOpenAI, dict[str, dict[str, Any]]]:
    fake = FakeOpenAI(
        {key: name for name, key in DEMO_ACCOUNTS.items()}, phase_seconds=place.phase_seconds
    )
    params = {
        name: {
            "model": f"openai/{name.removesuffix('-litellm')}",
            "api_key": key,
            "api_base": f"{place.base}/v1",
        }
        for name, key in DEMO_ACCOUNTS.items()
    }
    return fake, params


FLAVOUR = flavour(
    "openai",
    keyed_build(FakeOpenAI),
    _demo,
    models=tuple(DEMO_ACCOUNTS),
    described="two OpenAI accounts",
)
