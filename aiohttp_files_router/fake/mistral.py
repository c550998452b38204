"""The Mistral flavour of the fake: the Files API and the Batch API.

Built from Mistral's documentation (docs.mistral.ai/capabilities/batch,
docs.mistral.ai/api/endpoint/batch and /files, docs.mistral.ai/resources/error-glossary) and
the official ``mistralai`` SDK (``client/files.py``, ``client/jobs.py``, ``client/models/*``,
and ``extra/batch/client.py``, the SDK's own reader of batch results), never from our adapter.
Where the sources are silent the fake takes the least helpful reading, and the comment says
so.

- Auth: ``Authorization: Bearer <key>``; each key opens one workspace, which sees only its
  own files and jobs.
- Files: ``POST /v1/files`` (multipart ``file``, ``purpose``, ``expiry`` in hours,
  ``visibility``; streamed to disk, 512 MB at most), ``GET /v1/files`` (``page``,
  ``page_size``, filters), ``GET/DELETE /v1/files/{id}``, ``GET /v1/files/{id}/content``.
- Jobs: ``POST /v1/batch/jobs`` (``input_files``, ``model``, ``endpoint``, ``metadata``,
  ``timeout_hours``), ``GET /v1/batch/jobs`` (``page``, ``page_size``, ``status``, ``model``,
  metadata keys, ``created_after``, ``order_by``), ``GET /v1/batch/jobs/{id}``,
  ``POST /v1/batch/jobs/{id}/cancel``, ``DELETE /v1/batch/jobs/{id}``. A job is ``QUEUED``
  for ``phase_seconds``, ``RUNNING`` as long, then ``SUCCESS`` (or ``FAILED`` when its input
  is malformed, ``TIMEOUT_EXCEEDED`` past ``timeout_hours``); a cancel is
  ``CANCELLATION_REQUESTED`` for ``cancel_seconds``, then ``CANCELLED``.
- Results: an output file of ``{"custom_id", "response": {"status_code", "body"}, "error":
  null}`` rows and an error file of failed requests (``extra/batch/client.py``: "the line
  envelope (custom_id/body on input, custom_id/response.body/error on output)"), each only
  when it has rows, in an order other than the input's.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
import uuid
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Unpack

from aiohttp import BodyPartReader, web
from aiohttp.typedefs import Handler

from .base import (
    Answer,
    KeyedOptions,
    KeyedService,
    RecordedRequest,
    bearer,
    check_rows,
    keyed_flavour,
    route,
)
from .store import FileRecord, JobRun, Workspace, file_object

_ALNUM = string.ascii_letters + string.digits

__all__ = ["FakeMistral"]

CHUNK = 256 * 1024
# files.upload in the SDK: "The size of individual files can be a maximum of 512 MB."
MAX_FILE_BYTES = 512 * 1024 * 1024
PURPOSES = ("fine-tune", "batch", "ocr", "agentic_safety")  # models/filepurpose.py
# capabilities/batch FAQ: "a maximum limit of 1 million pending requests per workspace".
PENDING_LIMIT = 1_000_000
# models/apiendpoint.py lists the endpoints a job may name; the fake answers two of them.
ENDPOINTS = (
    "/v1/chat/completions", "/v1/embeddings", "/v1/fim/completions", "/v1/moderations",
    "/v1/chat/moderations", "/v1/ocr", "/v1/classifications", "/v1/chat/classifications",
    "/v1/conversations", "/v1/audio/transcriptions",
)  # fmt: skip
SERVED = ("/v1/chat/completions", "/v1/embeddings")
STATUSES = (
    "QUEUED", "RUNNING", "SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLATION_REQUESTED",
    "CANCELLED",
)  # fmt: skip
TERMINAL = ("SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED")
# models/chatcompletionrequest.py and models/embeddingrequest.py: the body fields each
# endpoint takes; the API refuses others (least helpful: the request fails).
CHAT_FIELDS = frozenset(
    {
        "model", "messages", "temperature", "top_p", "max_tokens", "stream", "stop",
        "random_seed", "metadata", "response_format", "tools", "tool_choice",
        "presence_penalty", "frequency_penalty", "min_tokens", "repetition_penalty", "top_k",
        "logprobs", "top_logprobs", "prompt_logprobs", "top_prompt_logprobs", "n", "prediction",
        "parallel_tool_calls", "reasoning_effort", "prompt_mode", "guardrails",
        "prompt_cache_key", "service_tier", "safe_prompt",
    }
)  # fmt: skip
EMBEDDING_FIELDS = frozenset(
    {"model", "input", "metadata", "output_dimension", "output_dtype", "encoding_format"}
)
# Mistral's model families; ``models=None`` accepts any name starting with one of them.
FAMILIES = (
    "mistral-", "codestral-", "pixtral-", "ministral-", "magistral-", "devstral-", "voxtral-",
    "open-mistral-", "open-mixtral-",
)  # fmt: skip

# The record of the request being served (request keys need aiohttp >= 3.14).
_record: ContextVar[RecordedRequest] = ContextVar("fake_mistral_request")


# resources/error-glossary names the error types (invalid_request_error,
# authentication_error, rate_limit_error, server_error) beside the statuses: a 401 is an
# authentication error, a 429 a rate limit, every other refusal here an invalid request.
_KINDS = {401: "authentication_error", 429: "rate_limit_error"}


def _error(status: int, message: str, code: str | None = None, param: str | None = None) -> Answer:
    # resources/error-glossary, "Error response format": object, message, type, param, code.
    kind = _KINDS.get(status, "invalid_request_error")
    body = {"object": "error", "message": message, "type": kind, "param": param, "code": code}
    return Answer(web.json_response(body, status=status))


def _invalid(message: str, param: str | None = None) -> Answer:
    """A request body the schema refuses: 422 (the SDK's HTTPValidationError shape)."""
    loc: list[str | int] = ["body"]
    if param:
        loc.append(param)
    detail = [{"loc": loc, "msg": message, "type": "value_error"}]
    return Answer(web.json_response({"detail": detail}, status=422))


@dataclass(kw_only=True)
class MistralFile(FileRecord):
    """A stored file: the OpenAI-style record Mistral's ``FileSchema`` follows, and Mistral's
    own fields."""

    sample_type: str
    source: str
    lines: int | None = None
    visibility: str = "workspace"

    def to_json(self) -> dict[str, Any]:
        # models/createfileresponse.py and getfileresponse.py; the optional mimetype and
        # signature are left out (least helpful). The size's wire name is ``bytes``: the SDK's
        # ``size_bytes`` is only its Python name (models/fileschema.py: ``size_bytes:
        # Annotated[int, pydantic.Field(alias="bytes")]``), as in Mistral's OpenAPI.
        return {
            **file_object(self.id, self.bytes, self.created_at, self.filename, self.purpose),
            "sample_type": self.sample_type,
            "source": self.source,
            "num_lines": self.lines,
            "expires_at": self.expires_at,
            "visibility": self.visibility,
        }


@dataclass
class MistralJob(JobRun):
    id: str
    input_files: list[str]
    endpoint: str
    model: str
    metadata: dict[str, str] | None
    timeout_hours: int
    created: float
    seq: int
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    output_file: str | None = None
    error_file: str | None = None


@dataclass
class _Account(Workspace):
    files: dict[str, MistralFile] = field(default_factory=dict)
    jobs: dict[str, MistralJob] = field(default_factory=dict)


def _int(query: Mapping[str, str], name: str, default: int, low: int = 0) -> int:
    text = query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise _invalid(f"Input should be a valid integer: {name}", name) from None
    if value < low:
        raise _invalid(f"Input should be greater than or equal to {low}: {name}", name)
    return value


def _paging(query: Mapping[str, str]) -> slice:
    """The part of a list that ``page`` and ``page_size`` ask for (files.list and jobs.list
    take both)."""
    page = _int(query, "page", 0)
    size = _int(query, "page_size", 100, 1)
    return slice(page * size, (page + 1) * size)


class FakeMistral(KeyedService[_Account]):
    """Mistral's Files and Batch APIs for the workspaces ``keys`` maps API keys to.

    ``phase_seconds`` is how long a job stays ``QUEUED`` and then ``RUNNING``,
    ``cancel_seconds`` how long ``CANCELLATION_REQUESTED`` lasts; ``clock`` may be replaced
    by a test to move time. ``models``: the models a job may name (``None``: any name of a
    Mistral model family). ``pending_limit``: requests a workspace may have in unfinished
    jobs. ``max_file_bytes``: the largest upload (512 MB).
    """

    families = FAMILIES

    def __init__(
        self,
        keys: Mapping[str, str],
        *,
        pending_limit: int = PENDING_LIMIT,
        max_file_bytes: int = MAX_FILE_BYTES,
        **options: Unpack[KeyedOptions],
    ):
        super().__init__(keys, _Account, **options)
        self.pending_limit = pending_limit
        self.max_file_bytes = max_file_bytes

    # -- plumbing ---------------------------------------------------------------------------
    def app(self) -> web.Application:
        return self.make_app(self._serve)

    @web.middleware
    async def _serve(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # error-glossary, 401: "Ensure the header format is Authorization: Bearer
        # YOUR_API_KEY."
        key = bearer(request)
        record = self.record(request, account=self.account_of(key), key=key)
        token = _record.set(record)
        try:
            if record.account is None:
                raise _error(401, "Unauthorized")
            response: web.StreamResponse = await handler(request)
        finally:
            _record.reset(token)
        return response

    def _account(self) -> _Account:
        account = _record.get().account
        assert account is not None  # _serve refused the request otherwise
        return self.accounts[account]

    # -- files ------------------------------------------------------------------------------
    def _add_file(
        self,
        account: _Account,
        filename: str,
        purpose: str,
        path: Path,
        sample_type: str,
        source: str,
        expiry_hours: int | None = None,
    ) -> MistralFile:
        size = path.stat().st_size
        lines = None
        if filename.endswith(".jsonl") or purpose == "batch":
            with path.open("rb") as fh:
                lines = sum(1 for line in fh if line.strip())
        now = int(self.clock())
        found = MistralFile(
            path.name,
            filename,
            purpose,
            size,
            now,
            path,
            account.next_seq(),
            now + expiry_hours * 3600 if expiry_hours is not None else None,
            sample_type=sample_type,
            source=source,
            lines=lines,
        )
        account.files[found.id] = found
        return found

    def add_file(self, account: str, data: bytes, filename: str = "in.jsonl") -> MistralFile:
        """Store a batch file directly (for tests that need one without uploading it)."""
        acc = self.accounts[account]
        acc.root.mkdir(parents=True, exist_ok=True)
        path = acc.root / str(uuid.uuid4())
        path.write_bytes(data)
        return self._add_file(acc, filename, "batch", path, "batch_request", "upload")

    @route("POST", "/v1/files")
    async def upload(self, request: web.Request) -> web.Response:
        account = self._account()
        record = _record.get()
        if not request.content_type.startswith("multipart/"):
            raise _invalid("Expected multipart/form-data", "file")
        reader = await request.multipart()
        account.root.mkdir(parents=True, exist_ok=True)
        path = account.root / str(uuid.uuid4())
        filename: str | None = None
        size = 0
        try:
            while (part := await reader.next()) is not None:
                assert isinstance(part, BodyPartReader)
                if part.name == "file" and part.filename is not None:
                    filename = part.filename
                    with path.open("wb") as fh:
                        while chunk := await part.read_chunk(CHUNK):
                            size += len(chunk)
                            if size > self.max_file_bytes:
                                raise _error(
                                    400,
                                    f"File size exceeds the maximum of {self.max_file_bytes} "
                                    "bytes.",
                                )
                            if len(record.file_head) < 4096:
                                record.file_head += chunk[: 4096 - len(record.file_head)]
                            fh.write(chunk)
                else:
                    record.form[part.name or ""] = (await part.read()).decode()
            record.bytes = size
            if filename is None:
                raise _invalid("Field required", "file")
            # The SDK sends no purpose when none is given; what the API assumes then is
            # undocumented, so the fake takes fine-tune (not batch: least helpful).
            purpose = record.form.get("purpose", "fine-tune")
            if purpose not in PURPOSES:
                raise _invalid(f"Input should be one of {', '.join(PURPOSES)}", "purpose")
            visibility = record.form.get("visibility", "workspace")
            if visibility not in ("workspace", "user"):
                raise _invalid("Input should be 'workspace' or 'user'", "visibility")
            expiry_text = record.form.get("expiry")
            expiry = None
            if expiry_text:
                # extra/batch/client.py passes ``expiry_hours`` as ``expiry``.
                if not expiry_text.isdigit() or int(expiry_text) < 1:
                    raise _invalid("Input should be a positive integer", "expiry")
                expiry = int(expiry_text)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        sample_type = "batch_request" if purpose == "batch" else "instruct"
        found = self._add_file(account, filename, purpose, path, sample_type, "upload", expiry)
        found.visibility = visibility
        return web.json_response(found.to_json())

    def _file(self, request: web.Request, account: _Account) -> MistralFile:
        file_id = request.match_info["file_id"]
        found = account.files.get(file_id)
        if found is not None and found.expires_at is not None and self.clock() >= found.expires_at:
            del account.files[found.id]
            found.path.unlink(missing_ok=True)
            found = None
        if found is None:
            raise _error(404, f"File {file_id} not found.", code="not_found")
        return found

    @route("GET", "/v1/files/{file_id}")
    async def retrieve_file(self, request: web.Request) -> web.Response:
        obj = self._file(request, self._account()).to_json()
        obj["deleted"] = False  # models/getfileresponse.py
        return web.json_response(obj)

    @route("DELETE", "/v1/files/{file_id}")
    async def delete_file(self, request: web.Request) -> web.Response:
        account = self._account()
        found = self._file(request, account)
        del account.files[found.id]
        found.path.unlink(missing_ok=True)
        return web.json_response({"id": found.id, "object": "file", "deleted": True})

    @route("GET", "/v1/files/{file_id}/content")
    async def file_content(self, request: web.Request) -> web.StreamResponse:
        found = self._file(request, self._account())
        # files.download asks for application/octet-stream.
        return web.FileResponse(found.path, headers={"Content-Type": "application/octet-stream"})

    @route("GET", "/v1/files")
    async def list_files(self, request: web.Request) -> web.Response:
        account = self._account()
        query = request.query
        paging = _paging(query)
        now = self.clock()
        files = [f for f in account.files.values() if f.expires_at is None or now < f.expires_at]
        if "purpose" in query:
            files = [f for f in files if f.purpose == query["purpose"]]
        for name, attr in (("sample_type", "sample_type"), ("source", "source")):
            wanted = query.getall(name, [])
            if wanted:
                files = [f for f in files if getattr(f, attr) in wanted]
        if query.get("search"):
            files = [f for f in files if query["search"] in f.filename]
        # The order is undocumented; newest first.
        files.sort(key=lambda f: (f.created_at, f.seq), reverse=True)
        body: dict[str, Any] = {
            "data": [f.to_json() for f in files[paging]],
            "object": "list",
        }
        if query.get("include_total", "true") != "false":
            body["total"] = len(files)
        return web.json_response(body)

    # -- jobs -------------------------------------------------------------------------------
    @route("POST", "/v1/batch/jobs")
    async def create_job(self, request: web.Request) -> web.Response:
        account = self._account()
        try:
            body = await request.json()
        except ValueError:
            raise _invalid("JSON decode error") from None
        _record.get().json = body
        if not isinstance(body, dict):
            raise _invalid("Input should be a valid dictionary")
        known = {"input_files", "requests", "endpoint", "model", "agent_id", "metadata"}
        extra = sorted(set(body) - known - {"timeout_hours"})
        if extra:
            raise _invalid("Extra inputs are not permitted", extra[0])
        endpoint = body.get("endpoint")
        if endpoint not in ENDPOINTS:
            raise _invalid(f"Input should be one of {', '.join(ENDPOINTS)}", "endpoint")
        if endpoint not in SERVED:
            raise _error(400, f"This fake answers only {' and '.join(SERVED)}.")
        if body.get("requests") is not None or body.get("agent_id") is not None:
            # Inline requests and agents are in the SDK; this fake serves input files only.
            raise _error(400, "This fake serves jobs with input_files and a model only.")
        input_files = body.get("input_files")
        if not isinstance(input_files, list) or not input_files:
            raise _invalid("Field required", "input_files")
        if not all(isinstance(f, str) for f in input_files):
            raise _invalid("Input should be a valid UUID", "input_files")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            # capabilities/batch: "you can only use one model ... per batch".
            raise _error(400, "A model or an agent_id is required.")
        if not self.serves(model):
            # The error glossary's own example is an unknown model (param model, code
            # unknown_model).
            raise _error(400, f"Invalid model: {model}", code="unknown_model", param="model")
        metadata = body.get("metadata")
        if metadata is not None and (
            not isinstance(metadata, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
        ):
            raise _invalid("Input should be a valid dictionary of strings", "metadata")
        timeout = body.get("timeout_hours", 24)
        # capabilities/batch FAQ: timeout_hours "defaults to 24 hours and should be lower
        # than 7 days".
        if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout < 168:
            raise _invalid("Input should be between 1 and 167", "timeout_hours")
        total = 0
        for file_id in input_files:
            found = account.files.get(file_id)
            if found is None:
                raise _error(404, f"File {file_id} not found.", code="not_found")
            if found.purpose != "batch":
                raise _error(400, f"File {file_id} does not have purpose 'batch'.")
            total += found.lines or 0
        pending = sum(
            j.total or self._lines_of(account, j)
            for j in account.jobs.values()
            if self._status(j, self.clock()) not in TERMINAL
        )
        if pending + total > self.pending_limit:
            # capabilities/batch FAQ: at most pending_limit requests pending per workspace.
            raise _error(
                429,
                f"Too many pending batch requests: at most {self.pending_limit} per workspace.",
            )
        job = MistralJob(
            str(uuid.uuid4()),
            list(input_files),
            endpoint,
            model,
            metadata,
            timeout,
            self.clock(),
            account.next_seq(),
        )
        account.jobs[job.id] = job
        return web.json_response(self._job_json(job, "QUEUED"))

    def _lines_of(self, account: _Account, job: MistralJob) -> int:
        return sum((account.files[f].lines or 0) for f in job.input_files if f in account.files)

    def _status(self, job: MistralJob, now: float) -> str:
        if job.finished:
            return job.finished
        if job.cancel_at is not None:
            done = now >= job.cancel_at + self.cancel_seconds
            return "CANCELLED" if done else "CANCELLATION_REQUESTED"
        elapsed = now - job.created
        if (
            elapsed >= job.timeout_hours * 3600
            and job.timeout_hours * 3600 < 2 * self.phase_seconds
        ):
            return "TIMEOUT_EXCEEDED"
        return self.phase(elapsed, "QUEUED", "RUNNING", "SUCCESS")

    def _advance(self, account: _Account, job: MistralJob) -> str:
        now = self.clock()
        status = self._status(job, now)
        if job.finished:
            return status
        started = job.cancel_at is None or job.cancel_at >= job.created + self.phase_seconds
        if status != "QUEUED" and not job.total and not job.errors and started:
            self._check(account, job)
            if job.errors:
                job.finished, job.ended = "FAILED", job.created + self.phase_seconds
                return job.finished
        if status in TERMINAL:
            if status == "SUCCESS":
                job.ended = job.created + 2 * self.phase_seconds
                self._run(account, job, job.total)
            elif status == "CANCELLED":
                assert job.cancel_at is not None
                job.ended = job.cancel_at + self.cancel_seconds
                # No source says what a cancelled job keeps; the requests that ran before
                # the cancel (half of a running job) come back, the rest nowhere.
                self._run(account, job, job.total // 2 if started else 0)
            else:
                job.ended = job.created + job.timeout_hours * 3600
            job.finished = status
        return status

    def _rows(self, account: _Account, job: MistralJob) -> Iterator[tuple[int, bytes]]:
        number = 0
        for file_id in job.input_files:
            found = account.files.get(file_id)
            if found is None:
                continue
            with found.path.open("rb") as fh:
                for line in fh:
                    number += 1
                    if line.strip():
                        yield number, line

    def _check(self, account: _Account, job: MistralJob) -> None:
        """A malformed input line fails the job, named in ``errors``.

        capabilities/batch: each line is ``{"custom_id", "body"}`` and "Mistral's lines
        carry no method or url"; what the API does with anything else is undocumented, so
        the least helpful reading fails the job. custom_id is unique across a job's output
        "by contract" (extra/batch/client.py), so a repeated one fails it too.
        """
        missing = [f for f in job.input_files if f not in account.files]
        if missing:
            job.errors = [{"message": f"Input file {missing[0]} not found.", "count": 1}]
            return
        seen: set[str] = set()

        def problem(row: dict[str, Any]) -> str | None:
            custom_id = row.get("custom_id")
            if set(row) - {"custom_id", "body"}:
                return f"has an unexpected field {sorted(set(row) - {'custom_id', 'body'})[0]!r}"
            if custom_id is not None and not isinstance(custom_id, str):
                return "has a custom_id that is not a string"
            if custom_id in seen:
                return f"repeats custom_id {custom_id!r}"
            if custom_id is not None:
                seen.add(custom_id)
            return None

        count, bad = check_rows(self._rows(account, job), "body", problem)
        if bad:
            job.errors = [{"message": f"Invalid input: {bad}.", "count": 1}]
            return
        if count == 0:
            job.errors = [{"message": "The input files hold no requests.", "count": 1}]
            return
        job.total = count

    def _run(self, account: _Account, job: MistralJob, done: int) -> None:
        """Answer the first ``done`` requests into an output and an error file.

        No source promises the input order ("No ordering or completeness guarantee",
        extra/batch/client.py BatchOutput), so odd-numbered requests are written first.
        """
        if done == 0:
            return
        out_path = account.root / str(uuid.uuid4())
        err_path = account.root / str(uuid.uuid4())
        ok = failed = 0
        with out_path.open("w") as out, err_path.open("w") as err:
            for wanted in (1, 0):
                for index, (_, line) in enumerate(self._rows(account, job)):
                    if index >= done or index % 2 != wanted:
                        continue
                    row = json.loads(line)
                    status, answer = self._answer(job, row["body"])
                    result: dict[str, Any] = {"custom_id": row.get("custom_id")}
                    if status == 200:
                        result["response"] = {"status_code": 200, "body": answer}
                        result["error"] = None
                        out.write(json.dumps(result) + "\n")
                        ok += 1
                    else:
                        # The SDK's tests write a failed line as a status_code >= 400, a
                        # null body and the error as a message (extra/tests/test_batch.py).
                        result["response"] = {"status_code": status, "body": None}
                        result["error"] = answer["message"]
                        err.write(json.dumps(result) + "\n")
                        failed += 1
        job.succeeded, job.failed = ok, failed
        for path, rows, kind in ((out_path, ok, "output"), (err_path, failed, "error")):
            if not rows:
                path.unlink()
                continue
            sample = "batch_result" if kind == "output" else "batch_error"
            found = self._add_file(
                account, f"{job.id}_{kind}.jsonl", "batch", path, sample, "mistral"
            )
            if kind == "output":
                job.output_file = found.id
            else:
                job.error_file = found.id

    def _answer(self, job: MistralJob, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """(status, answer) for one request: a Mistral response body or an error."""
        fields = CHAT_FIELDS if job.endpoint == "/v1/chat/completions" else EMBEDDING_FIELDS
        unknown = sorted(set(body) - fields)
        if unknown:
            return 422, {"message": f"{unknown[0]}: Extra inputs are not permitted"}
        model = body.get("model", job.model)
        if model != job.model:
            # capabilities/batch: "you can only use one model ... per batch"; a line naming
            # another is refused (least helpful).
            return 400, {"message": f"model {model!r} differs from the job's model {job.model!r}"}
        digest = hashlib.sha256(json.dumps([job.model, body], sort_keys=True).encode()).hexdigest()
        created = int(self.clock())
        if job.endpoint == "/v1/embeddings":
            inputs = body.get("input")
            if not isinstance(inputs, str | list) or not inputs:
                return 422, {"message": "input: Field required"}
            count = len(inputs) if isinstance(inputs, list) else 1
            prompt = max(1, len(json.dumps(inputs)) // 4)
            data = [
                {
                    "object": "embedding",
                    "embedding": [round(b / 255 - 0.5, 6) for b in bytes.fromhex(digest[:16])],
                    "index": i,
                }
                for i in range(count)
            ]
            return 200, {
                "id": uuid.uuid4().hex,
                "object": "list",
                "model": job.model,
                "data": data,
                "usage": {"prompt_tokens": prompt, "total_tokens": prompt, "completion_tokens": 0},
            }
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return 422, {"message": "messages: Field required"}
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in (
                "system", "user", "assistant", "tool"
            ):  # fmt: skip
                return 422, {"message": f"messages.{index}.role: Input should be a valid role"}
        tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
        choice = body.get("tool_choice")
        prompt = max(1, len(json.dumps(messages)) // 4)
        message_out: dict[str, Any] = {"role": "assistant", "tool_calls": None}
        if tools and choice in ("any", "required"):
            function = tools[0].get("function", {})
            message_out["content"] = ""
            message_out["tool_calls"] = [
                {
                    # Mistral's tool call IDs are 9 letters and digits (its docs' examples,
                    # e.g. "D681PevKs"), fresh each answer: the content derives from the
                    # request, the IDs never.
                    "id": "".join(secrets.choice(_ALNUM) for _ in range(9)),
                    "type": "function",
                    "function": {
                        "name": function.get("name"),
                        "arguments": json.dumps({"q": digest[9:21]}),
                    },
                }
            ]
            finish, completion = "tool_calls", 12
        elif body.get("max_tokens") == 1:
            message_out["content"], finish, completion = "mock", "length", 1
        else:
            message_out["content"] = f"mock mistral reply {digest[:12]}"
            finish, completion = "stop", 6
        return 200, {
            "id": uuid.uuid4().hex,  # a fresh ID per answer, as the API reference's examples
            "object": "chat.completion",
            "model": job.model,
            "created": created,
            "choices": [{"index": 0, "message": message_out, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }

    def _job_json(self, job: MistralJob, status: str) -> dict[str, Any]:
        """models/batchjob.py; ``agent_id`` and ``outputs`` (inline jobs) are left out."""
        started = None
        if status not in ("QUEUED",) and not (
            job.cancel_at is not None and job.cancel_at < job.created + self.phase_seconds
        ):
            started = int(job.created + self.phase_seconds)
        done = job.succeeded + job.failed if status in TERMINAL else 0
        return {
            "id": job.id,
            "object": "batch",
            "input_files": job.input_files,
            "metadata": job.metadata,
            "endpoint": job.endpoint,
            "model": job.model,
            "output_file": job.output_file,
            "error_file": job.error_file,
            "errors": job.errors,
            "status": status,
            "created_at": int(job.created),
            # Counted once the job runs: 0 while QUEUED (least helpful).
            "total_requests": job.total,
            "completed_requests": done,
            "succeeded_requests": job.succeeded if status in TERMINAL else 0,
            "failed_requests": job.failed if status in TERMINAL else 0,
            "started_at": started,
            "completed_at": int(job.ended) if status in TERMINAL and job.ended else None,
        }

    def _job(self, request: web.Request, account: _Account) -> MistralJob:
        job_id = request.match_info["job_id"]
        job = account.jobs.get(job_id)
        if job is None:
            raise _error(404, f"Batch job {job_id} not found.", code="not_found")
        return job

    @route("GET", "/v1/batch/jobs/{job_id}")
    async def get_job(self, request: web.Request) -> web.Response:
        account = self._account()
        job = self._job(request, account)
        return web.json_response(self._job_json(job, self._advance(account, job)))

    @route("POST", "/v1/batch/jobs/{job_id}/cancel")
    async def cancel_job(self, request: web.Request) -> web.Response:
        account = self._account()
        job = self._job(request, account)
        status = self._advance(account, job)
        if status in TERMINAL:
            # Undocumented; cancelling a finished job is refused (least helpful).
            raise _error(400, f"Batch job {job.id} is {status} and cannot be cancelled.")
        if job.cancel_at is None:
            job.cancel_at = self.clock()
        # extra/batch/client.py cancel: "the job first moves to CANCELLATION_REQUESTED".
        return web.json_response(self._job_json(job, "CANCELLATION_REQUESTED"))

    @route("DELETE", "/v1/batch/jobs/{job_id}")
    async def delete_job(self, request: web.Request) -> web.Response:
        account = self._account()
        job = self._job(request, account)
        if self._advance(account, job) not in TERMINAL:
            # Undocumented; deleting a job still in flight is refused (least helpful).
            raise _error(400, f"Batch job {job.id} has not finished; cancel it first.")
        del account.jobs[job.id]
        return web.json_response({"id": job.id, "object": "batch", "deleted": True})

    @route("GET", "/v1/batch/jobs")
    async def list_jobs(self, request: web.Request) -> web.Response:
        account = self._account()
        query = request.query
        paging = _paging(query)
        order = query.get("order_by", "-created")
        if order not in ("created", "-created"):
            raise _invalid("Input should be 'created' or '-created'", "order_by")
        statuses = query.getall("status", [])
        unknown = [s for s in statuses if s not in STATUSES]
        if unknown:
            raise _invalid(f"Input should be one of {', '.join(STATUSES)}", "status")
        after = None
        if query.get("created_after"):
            try:
                after = datetime.fromisoformat(query["created_after"])
            except ValueError:
                raise _invalid("Input should be a valid datetime", "created_after") from None
            if after.tzinfo is None:
                after = after.replace(tzinfo=UTC)
        # jobs.list sends metadata exploded as its own query keys (form style, explode:
        # models/jobs_api_routes_batch_get_batch_jobsop.py; the guide's curl:
        # ?status=RUNNING&job_type=testing): any other key is a metadata filter.
        named = {"page", "page_size", "model", "agent_id", "created_after", "created_by_me",
                 "status", "order_by"}  # fmt: skip
        wanted_meta = {k: v for k, v in query.items() if k not in named}
        jobs = []
        for job in account.jobs.values():
            status = self._advance(account, job)
            if statuses and status not in statuses:
                continue
            if query.get("model") and job.model != query["model"]:
                continue
            if after is not None and datetime.fromtimestamp(job.created, tz=UTC) <= after:
                continue
            meta = job.metadata or {}
            if any(meta.get(k) != v for k, v in wanted_meta.items()):
                continue
            jobs.append((job, status))
        jobs.sort(key=lambda js: (js[0].created, js[0].seq), reverse=order == "-created")
        data = [self._job_json(j, s) for j, s in jobs[paging]]
        return web.json_response({"data": data, "object": "list", "total": len(jobs)})


# -- the fake as the command line and --demo see it (fake/__init__.py lists it) -------------
DEMO_MODEL = "mistral-batch"


FLAVOUR = keyed_flavour(
    "mistral",
    FakeMistral,
    described="a Mistral model",
    model_name=DEMO_MODEL,
    # A file store, so the demo serves uploads back as they were sent (docs/providers/mistral.md).
    params=lambda place: {
        "model": "mistral/mistral-small-latest",
        "api_base": f"{place.base}/v1",
        "file_store": f"file://{place.store}",
    },
)
