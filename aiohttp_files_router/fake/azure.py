"""The Azure OpenAI flavour of the fake: Azure's paths, auth, quirks and batch rules.

Built from Microsoft's documentation (cited beside each behaviour), never from the adapter;
where the documentation is silent the fake takes the least helpful reading and says so.

- dated paths ``/openai/files?api-version=...`` (required) and v1 paths ``/openai/v1/files``;
- ``api-key`` header, or a bearer token from its own Entra ID token endpoint
  (``POST /{tenant}/oauth2/v2.0/token``, client credentials);
- a new file is ``pending``, then ``running``, then ``processed`` (or ``error`` with
  ``status_details``) ``processing_seconds`` after its upload; batch create refuses a file
  that is not ``processed`` yet;
- batches as Azure answers them: statuses ``InProgress``, ISO timestamps
  (``2024-07-19T17:13:57.0000000+00:00``), ``""`` for absent files, ``endpoint`` null in the
  v1 create answer, absent on the dated API while validating, ``/chat/completions`` (no
  ``/v1``) otherwise, ``request_counts`` members null while validating (``completed`` and
  ``failed`` null once failed), output rows out of input order, an output and an error file
  (0 bytes when empty) on every finished batch;
- errors are ``{"error": {"code", "message"}}``;
- ``expires_after`` seconds: the v1 API takes 3600 to 2592000 (its current REST reference,
  learn.microsoft.com/azure/foundry/reference/rest/files-create-file); the dated API reads
  ``expires_after.seconds`` (dotted) and, the least helpful reading of the two sources, wants
  the batch guide's 14 to 30 days (how-to/batch: "a number between 1209600-2592000");
- fine-tuning jobs (dated ``/openai/fine_tuning/jobs`` and v1 ``/openai/v1/fine_tuning/jobs``)
  as Azure's REST reference shows them (``FineTuningJob``, ``FineTuningState`` and the
  examples of ``authoring/preview/2025-04-01-preview`` in Azure/azure-rest-api-specs): IDs
  ``ft-<32 hex>``, a new job ``pending`` (201 on the dated API), then ``running``,
  ``succeeded``; ``resuming`` in the answer to resume; unix timestamps; ``hyperparameters``
  with ``-1`` for what Azure picks; ``method`` as ``{"type"}`` only; null fields left out
  except ``organization_id`` and ``result_files``, which Azure sends as null; events and
  checkpoints oldest first; ``fine_tuned_model`` ``<model>.<job id>``; only the supervised
  and DPO methods; ``trainingType`` required; no ``metadata`` (not in Azure's schema: kept
  out of answers, the list filter ignored);
- batch rows must all name the same deployment of the resource in ``body.model`` and the
  same URL (Azure's own error codes: ``model_not_found``, ``model_mismatch``,
  ``url_mismatch``, ``duplicate_custom_id``, ``invalid_request``, ``empty_file``,
  ``too_many_tasks``).

Knobs (keyword arguments):

- ``processing_seconds: float = 0.3``: how long a new file stays unprocessed (``pending``
  for the first half, ``running`` for the second), in real time (``processing_clock``,
  ``time.monotonic`` unless a test replaces it; the batch ``clock`` is separate);
- ``token_limit: dict[str, "fail" | "fail_fast"]``, keyed by deployment: batches whose rows
  name that deployment exceed its enqueued token quota. ``"fail"`` accepts the batch, which
  then ends ``failed`` with ``errors.data[0].code == "token_limit_exceeded"`` (the old
  behaviour); ``"fail_fast"`` answers batch create with a 400 whose ``error.code`` is
  ``token_limit_exceeded`` (the regions with fail fast).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

from .base import DemoPlace, Option, flavour
from .batches import MAX_BATCH_BYTES, FakeBatch, error_entry, jsonl
from .finetuning import FakeFineTune
from .openai import Answer, FakeOpenAI, Kind, _current, mask
from .store import FakeAccount, FileRecord

__all__ = ["FakeAzure", "TokenLimitMode"]

TokenLimitMode = Literal["fail", "fail_fast"]

DATED_VERSIONS = ("2024-10-21", "2025-03-01-preview", "2025-04-01-preview")
_STATUS = {
    "validating": "Validating",
    "in_progress": "InProgress",
    "finalizing": "Finalizing",
    "completed": "Completed",
    "failed": "Failed",
    "cancelling": "Cancelling",
    "cancelled": "Cancelled",
    "expired": "Expired",
}
# The batch guide's input samples use both forms ("/chat/completions" in the 2024 samples,
# "/v1/chat/completions" and "/v1/responses" now), and batch create "reads your input file
# to determine if the chat completions or responses API is needed" (how-to/batch, Python,
# "Create batch job"). Embeddings are "currently not supported" (same guide, FAQ).
_ROW_URLS = {
    "/chat/completions": "/v1/chat/completions",
    "/v1/chat/completions": "/v1/chat/completions",
    "/responses": "/v1/responses",
    "/v1/responses": "/v1/responses",
}
MAX_TASKS = 100_000  # "Maximum requests per file" (includes/global-batch-limits.md)
# FineTuningState (2025-04-01-preview): Azure has no validating_files or queued; a job not
# yet running is "pending" ("not yet queued to be processed").
_FT_STATUS = {"validating_files": "pending", "queued": "pending"}
# The how-to's list of models that support fine-tuning, in Azure's spelling, per
# FineTuningMethodType ("dpo", "supervised"; no reinforcement in this API version).
_FT_SUPERVISED = frozenset(
    {
        "babbage-002",
        "davinci-002",
        "gpt-35-turbo-0613",
        "gpt-35-turbo-1106",
        "gpt-35-turbo-0125",
        "gpt-4o-2024-08-06",
        "gpt-4o-mini-2024-07-18",
        "gpt-4.1-2025-04-14",
        "gpt-4.1-mini-2025-04-14",
        "gpt-4.1-nano-2025-04-14",
    }
)
_FT_DPO = frozenset(
    {
        "gpt-4o-2024-08-06",
        "gpt-4o-mini-2024-07-18",
        "gpt-4.1-2025-04-14",
        "gpt-4.1-mini-2025-04-14",
        "gpt-4.1-nano-2025-04-14",
    }
)
# trainingType: LiteLLM (BerriAI/litellm#24687, tested against Azure) sends 1 and reports that
# without it Azure answers "The specified base model does not support fine-tuning"; the
# fine-tuning how-to's REST samples send the names ("globalstandard", "developerTier").
_TRAINING_TYPES = {1, 2, 3, "standard", "globalstandard", "developertier"}
_SUFFIX = re.compile(r"[A-Za-z0-9_-]{1,40}")


def _iso(value: int) -> str:
    # As in how-to/batch (REST), "Create batch job": "2024-07-19T17:13:57.2491382+00:00".
    return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0+00:00")


def _token_message(deployment: str) -> str:
    # Azure's text, as reported in Microsoft Q&A 2285577 ("Azure OpenAI Batch API -
    # token_limit_exceeded error despite splitting batches", 2025-06-19).
    return (
        "The number of enqueued tokens has surpassed the configured limit of 30K for the "
        f"deployment '{deployment}'. Please either increase the limit or try again once the "
        "current jobs have finished."
    )


def _first_model(record: FileRecord) -> Any:
    for _, _, row in jsonl(record.path):
        body = row.get("body") if isinstance(row, dict) else None
        return body.get("model") if isinstance(body, dict) else None
    return None


class FakeAzure(FakeOpenAI):
    """An Azure OpenAI resource: ``keys`` maps api-keys to accounts, ``clients`` maps
    (tenant, client_id, client_secret) to accounts for Entra ID tokens. See the module
    docstring for ``processing_seconds`` and ``token_limit``."""

    expiry_range = (1209600, 2592000)
    endpoints = tuple(_ROW_URLS)
    fine_tune_fields = frozenset({"trainingType"})
    fine_tune_models = {"supervised": _FT_SUPERVISED, "dpo": _FT_DPO}
    # The events and checkpoints examples list them oldest first.
    newest_first = False
    metadata_filter = False

    def __init__(
        self,
        keys: Mapping[str, str],
        *,
        deployments: Iterable[str],
        clients: Mapping[tuple[str, str, str], str] | None = None,
        token_seconds: int = 3600,
        processing_seconds: float = 0.3,
        token_limit: Mapping[str, TokenLimitMode] | None = None,
        **kwargs: Any,
    ):
        super().__init__(keys, prefix="/openai", **kwargs)
        self.deployments = set(deployments)
        self.clients = dict(clients or {})
        for name in self.clients.values():
            self.accounts.setdefault(name, FakeAccount(name, self.root / name))
        self.token_seconds = token_seconds
        self.tokens: dict[str, str] = {}
        self.token_requests = 0
        self.processing_seconds = processing_seconds
        # Real time, not the batch ``clock``: a test that steps batches through their phases
        # by hand still sees its uploads processed (replace it to step processing by hand).
        self.processing_clock: Callable[[], float] = time.monotonic
        self.token_limit: dict[str, TokenLimitMode] = dict(token_limit or {})
        # (account, file id) -> (uploaded at on processing_clock, why processing fails)
        self._uploads: dict[tuple[str, str], tuple[float, str | None]] = {}

    def routes(self, prefix: str = "") -> list[web.RouteDef]:
        return [
            *super().routes(prefix),
            *super().routes(f"{prefix}/v1"),
            web.post("/{tenant}/oauth2/v2.0/token", self.issue_token),
        ]

    def public(self, request: web.Request) -> bool:
        return request.path.endswith("/oauth2/v2.0/token")

    def _v1(self, request: web.Request) -> bool:
        return request.path.startswith("/openai/v1/")

    def credential(self, request: web.Request) -> tuple[str | None, str | None]:
        key = request.headers.get("api-key")
        if key is not None:
            return key, self.keys.get(key)
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else None
        return token, self.tokens.get(token) if token else None

    def refuse(self, request: web.Request, key: str | None, account: str | None) -> None:
        version = request.query.get("api-version")
        if self._v1(request):
            if version not in (None, "preview"):
                raise Answer(
                    self.error(
                        400,
                        f"api-version '{version}' is not valid for the v1 API.",
                        code="BadRequest",
                    )
                )
        elif version is None:
            raise Answer(self.error(404, "Resource not found", code="404"))
        elif version not in DATED_VERSIONS:
            raise Answer(self.error(400, "Unsupported api-version.", code="BadRequest"))
        if key is None:
            raise Answer(
                self.error(401, "Access denied due to missing subscription key.", code="401")
            )
        if account is None:
            raise Answer(
                self.error(
                    401, f"Access denied due to invalid subscription key {mask(key)}.", code="401"
                )
            )

    def error(
        self, status: int, message: str, param: str | None = None, code: str | None = None
    ) -> web.Response:
        return web.json_response(
            {"error": {"code": code or str(status), "message": message}}, status=status
        )

    def expiry_field(self, request: web.Request) -> str:
        return "expires_after[seconds]" if self._v1(request) else "expires_after.seconds"

    def expiry_bounds(self, request: web.Request) -> tuple[int, int]:
        return (3600, 2592000) if self._v1(request) else self.expiry_range

    # -- file processing --------------------------------------------------------------------
    def file_added(self, account: FakeAccount, record: FileRecord) -> None:
        error = self._processing_error(record)
        self._uploads[(account.name, record.id)] = (self.processing_clock(), error)

    @staticmethod
    def _processing_error(record: FileRecord) -> str | None:
        """Why Azure's processing of an upload ends in ``error``, if it does.

        Microsoft documents the ``error`` state and ``status_details`` ("The error message
        with details in case processing of this file failed", FileState / FileInfo in the
        Azure SDK reference) but not which checks a batch file gets at upload. The fake takes
        the check Azure makes of every JSONL upload, one JSON object per line (the
        ``invalid_json_line`` definition in how-to/batch "Error codes"; the "Validation of
        jsonl file failed: ..." upload errors quoted in MicrosoftDocs/azure-docs#108515);
        every other check waits for batch validation. Fine-tuning files get the same check:
        Files - Upload says purpose "fine-tune" "allows us to validate the format of the
        uploaded file"; the example checks wait for the job, as on OpenAI.
        """
        if record.purpose not in ("batch", "fine-tune"):
            return None
        if record.purpose == "batch" and record.bytes > MAX_BATCH_BYTES:
            return None  # too large for a batch: batch validation says so
        for number, _, row in jsonl(record.path):
            if not isinstance(row, dict):
                return (
                    f"Validation of jsonl file failed: line {number} could not be parsed as "
                    "a valid json object."
                )
        return None

    def file_state(self, account: str, file_id: str) -> tuple[str, str | None]:
        """(status, status_details) of a file now."""
        upload = self._uploads.get((account, file_id))
        if upload is None:  # written by the service itself (batch output): ready at once
            return "processed", None
        elapsed = self.processing_clock() - upload[0]
        # FileState "pending" then "running" (Azure SDK reference; the batch how-to's
        # "Track file upload status" polls until "processed"). The split is the fake's.
        if elapsed < self.processing_seconds / 2:
            return "pending", None
        if elapsed < self.processing_seconds:
            return "running", None
        return ("error", upload[1]) if upload[1] else ("processed", None)

    def _file_quirks(self, obj: dict[str, Any]) -> dict[str, Any]:
        status, details = self.file_state(_current.get()[0].name, obj["id"])
        return obj | {"status": status, "status_details": details}

    # -- batches ----------------------------------------------------------------------------
    def _processed(self, account: FakeAccount, record: FileRecord, refusal: str) -> None:
        """Refuses a file not yet processed: a 400 ``invalidPayload`` saying ``refusal``
        (``{id}`` and ``{status}`` stand for the file's)."""
        status, _ = self.file_state(account.name, record.id)
        if status != "processed":
            message = refusal.format(id=record.id, status=status)
            raise Answer(self.error(400, message, code="invalidPayload"))

    def accept_input(self, account: FakeAccount, record: FileRecord, endpoint: str) -> None:
        # The text is Azure's, as quoted in Microsoft Q&A 2203029 (2025-03-10) and
        # openai/openai-dotnet#312 ("Request fails" when a batch follows its upload at
        # once). Neither gives the status or code: the fake answers 400 with
        # "invalidPayload", the code Azure gives other refused payloads
        # (Azure/AI-in-a-Box#46, "Invalid value for purpose.").
        self._processed(
            account,
            record,
            "The input file '{id}' is in '{status}' state. Only files with status 'Processed' "
            "are accepted for batch inferencing. Please check the file status and try again",
        )
        deployment = _first_model(record)
        if isinstance(deployment, str) and self.token_limit.get(deployment) == "fail_fast":
            # how-to/batch "Queueing batch jobs": in fail-fast regions the token count is
            # compared at create and the create fails at once; Microsoft's sample catches
            # BadRequestError (400) and looks for 'token_limit_exceeded'. The message is the
            # one batches fail with (Q&A 2285577); the docs do not quote this one.
            raise Answer(self.error(400, _token_message(deployment), code="token_limit_exceeded"))

    def validate(self, record: FileRecord, endpoint: str) -> tuple[list[dict[str, Any]], int]:
        """Azure's batch validation, with the codes of how-to/batch "Error codes"."""
        if record.bytes > MAX_BATCH_BYTES:  # "Maximum input file size: 200 MB"
            return [error_entry("invalid_request", "The input file exceeds 200 MB.", None)], 0
        errors: list[dict[str, Any]] = []
        seen: set[str] = set()
        url: str | None = None
        model: Any = None
        count = 0
        for number, _, row in jsonl(record.path):
            count += 1
            if len(errors) >= 100:
                continue
            if not isinstance(row, dict):
                errors.append(
                    error_entry(
                        "invalid_json_line",
                        "A line in your input file wasn't able to be parsed as valid json.",
                        number,
                    )
                )
                continue
            errors.extend(self._row_errors(number, row, seen))
            body = row.get("body")
            row_model = body.get("model") if isinstance(body, dict) else None
            if url is None:
                url, model = row.get("url"), row_model
                if url not in _ROW_URLS:
                    errors.append(
                        error_entry(
                            "url_mismatch",
                            f"The URL '{url}' doesn't match the expected endpoint URL.",
                            number,
                            "url",
                        )
                    )
            elif row.get("url") != url:
                errors.append(
                    error_entry(
                        "url_mismatch",
                        "The URL of this request doesn't match the rest of the rows.",
                        number,
                        "url",
                    )
                )
            if row_model not in self.deployments:
                errors.append(
                    error_entry(
                        "model_not_found",
                        f"The Azure OpenAI model deployment name '{row_model}' that was "
                        "specified in the model property of the input file wasn't found.",
                        number,
                        "body.model",
                    )
                )
            elif row_model != model:
                # "The same Global Batch model deployment name must be present on each
                # line of the batch file" (how-to/batch, "Input format").
                errors.append(
                    error_entry(
                        "model_mismatch",
                        f"The model deployment name '{row_model}' doesn't match the rest "
                        "of the file.",
                        number,
                        "body.model",
                    )
                )
        if count == 0:
            errors.append(
                error_entry(
                    "empty_file",
                    "The input file is empty. Please ensure the batch contains at least one "
                    "request.",
                    None,
                )
            )
        if count > MAX_TASKS:
            errors.append(
                error_entry(
                    "too_many_tasks",
                    "The number of requests in the input file exceeds the maximum allowed "
                    f"value of {MAX_TASKS:,}.",
                    None,
                )
            )
        if not errors and isinstance(model, str) and self.token_limit.get(model) == "fail":
            # how-to/batch "Queueing batch jobs", old behaviour: the job goes into validation,
            # its token count is checked against the quota, and it fails with token limit
            # exceeded. Shape and text as in Microsoft Q&A 2285577.
            errors.append(error_entry("token_limit_exceeded", _token_message(model), None))
        return errors, count

    @staticmethod
    def _row_errors(number: int, row: dict[str, Any], seen: set[str]) -> list[dict[str, Any]]:
        custom_id = row.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            return [_invalid(number, "custom_id")]
        if custom_id in seen:
            return [
                error_entry(
                    "duplicate_custom_id",
                    f"The custom ID '{custom_id}' is a duplicate of the custom ID in another "
                    "request.",
                    number,
                    "custom_id",
                )
            ]
        seen.add(custom_id)
        if row.get("method") != "POST":
            return [_invalid(number, "method")]
        if not isinstance(row.get("body"), dict):
            return [_invalid(number, "body")]
        return []

    def new_batch(self, account: FakeAccount, batch: FakeBatch) -> None:
        if not batch.errors:
            record = account.files[batch.input_file_id]
            with record.path.open("rb") as fh:
                first = next(line for line in fh if line.strip())
            # The rows decide the API (see _ROW_URLS); the mock answers in its shape.
            batch.endpoint = _ROW_URLS[json.loads(first)["url"]]
        # "Responses won't be returned in identical order to the order defined in the
        # .jsonl batch file" (how-to/batch, "Input format").
        batch.arrange = _shuffle(batch.id)
        # "Successful jobs will still generate an error_file_id, but it will be associated
        # with an empty file with zero bytes" (how-to/batch, "Troubleshooting"); the failed
        # batch in the same section carries both an output_file_id and an error_file_id.
        batch.always_files = True

    # -- fine-tuning ------------------------------------------------------------------------
    def fine_tune_id(self) -> str:
        return "ft-" + secrets.token_hex(16)

    def accept_training_file(self, account: FakeAccount, record: FileRecord, param: str) -> None:
        # The docs say nothing of a fine-tuning job on a file still being processed; the fake
        # refuses it as batch create does (least helpful reading).
        self._processed(
            account,
            record,
            "The file '{id}' is in '{status}' state. Only files with status 'processed' can be "
            "used for fine-tuning.",
        )

    def new_fine_tune(self, account: FakeAccount, job: FakeFineTune, body: dict[str, Any]) -> None:
        kind = body.get("trainingType")
        if isinstance(kind, str):
            kind = kind.lower()
        if kind not in _TRAINING_TYPES or isinstance(kind, bool):
            raise Answer(
                self.error(
                    400,
                    "The specified base model does not support fine-tuning.",
                    code="invalidPayload",
                )
            )
        if job.suffix is not None and not _SUFFIX.fullmatch(job.suffix):
            # FineTuningJobCreation.suffix: "up to 40 characters (a-z, A-Z, 0-9,- and _)".
            raise Answer(
                self.error(
                    400,
                    "The suffix can contain up to 40 characters (a-z, A-Z, 0-9, - and _).",
                    code="invalidPayload",
                )
            )
        job.organization = ""
        job.metadata = None

    def _fine_tune_quirks(self, obj: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in obj.items() if v is not None}
        status = _FT_STATUS.get(obj["status"], obj["status"])
        if _current.get()[1].path.endswith("/resume"):
            status = "resuming"  # resume_finetuning_job.json
        out["status"] = status
        out.pop("metadata", None)
        # Null, not absent: what Azure sends (BerriAI/litellm#24687 normalises exactly these).
        out["organization_id"] = None
        out["result_files"] = obj["result_files"] or None
        kind = obj["method"]["type"]
        out["method"] = {"type": kind}
        asked = _current.get()[0].fine_tunes[obj["id"]].hyperparameters(resolved=False)
        # "n_epochs": -1 in every example, running or done: Azure reports what was asked.
        hyper = {"n_epochs": -1 if asked.get("n_epochs", "auto") == "auto" else asked["n_epochs"]}
        hyper |= {k: v for k, v in asked.items() if k != "n_epochs" and v != "auto"}
        out["hyperparameters"] = hyper
        if obj.get("fine_tuned_model"):
            out["fine_tuned_model"] = f"{obj['model']}.{obj['id']}"  # get_finetuning_job.json
        return out

    def _checkpoint_quirks(self, obj: dict[str, Any]) -> dict[str, Any]:
        job = _current.get()[0].fine_tunes[obj["fine_tuning_job_id"]]
        step = obj["step_number"]
        return obj | {"fine_tuned_model_checkpoint": f"{job.model}.{job.id}:ckpt-step-{step}"}

    def answer(self, obj: dict[str, Any], kind: Kind) -> web.Response:
        status = 200
        if kind in ("ftjob", "ftjob_created"):
            obj = self._fine_tune_quirks(obj)
            # Fine-tuning - Create answers 201 (post_finetuning_job.json); v1 keeps 200.
            status = 201 if kind == "ftjob_created" and self._dated() else 200
        elif kind == "ftjob_list":
            obj = obj | {"data": [self._fine_tune_quirks(j) for j in obj["data"]]}
        elif kind == "ftcheckpoint_list":
            obj = {
                "object": "list",
                "data": [self._checkpoint_quirks(c) for c in obj["data"]],
                "has_more": obj["has_more"],
            }
        elif kind in ("file", "file_created"):
            obj = self._file_quirks(obj)
            # Files - Upload answers "201 Created" (REST reference, api-version 2024-10-21);
            # the v1 reference does not say, so v1 keeps 200.
            if kind == "file_created" and not _current.get()[1].path.startswith("/openai/v1/"):
                status = 201
        elif kind == "file_list":
            obj = obj | {"data": [self._file_quirks(f) for f in obj["data"]]}
        elif kind in ("batch", "batch_created"):
            obj = self._batch_quirks(obj, kind == "batch_created", self._dated())
        elif kind == "batch_list":
            obj = obj | {"data": [self._batch_quirks(b, False, self._dated()) for b in obj["data"]]}
        return web.json_response(obj, status=status)

    @staticmethod
    def _dated() -> bool:
        return not _current.get()[1].path.startswith("/openai/v1/")

    @staticmethod
    def _batch_quirks(obj: dict[str, Any], created: bool, dated: bool) -> dict[str, Any]:
        out = dict(obj)
        out["status"] = _STATUS.get(obj["status"], obj["status"])
        # Every time of Azure's Batch (its "..._at" fields) is an ISO 8601 string (see _iso).
        for name, value in obj.items():
            if name.endswith("_at") and isinstance(value, int):
                out[name] = _iso(value)
        for name in ("output_file_id", "error_file_id"):
            out.setdefault(name, "")
        # Azure echoes "/chat/completions" (Batch - Create sample response, REST reference
        # 2024-10-21; the list sample in how-to/batch). The create answer in the batch
        # how-to's Python sample (v1 client) has "endpoint": null; the REST samples of a
        # "Validating" batch (create and retrieve, from the dated API's days) have no
        # "endpoint" at all. The fake splits them by API: v1 null at create, dated absent
        # while validating.
        out["endpoint"] = None if created else obj["endpoint"].removeprefix("/v1")
        if dated and obj["status"] == "validating":
            del out["endpoint"]
        counts = obj["request_counts"]
        if obj["status"] == "validating":
            # how-to/batch REST, "Create batch job" and "Track batch job progress": all
            # three null while "Validating".
            out["request_counts"] = {"total": None, "completed": None, "failed": None}
        elif obj["status"] == "failed":
            # how-to/batch "Troubleshooting": a failed batch has "total": 10 with
            # "completed" and "failed" null.
            out["request_counts"] = {"total": counts["total"], "completed": None, "failed": None}
        return out

    async def issue_token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = await request.post()
        creds = (
            request.match_info["tenant"],
            str(form.get("client_id")),
            str(form.get("client_secret")),
        )
        account = self.clients.get(creds)
        if form.get("grant_type") != "client_credentials" or account is None:
            return web.json_response(
                {"error": "invalid_client", "error_description": "Invalid client secret provided."},
                status=401,
            )
        token = "fake-entra-" + secrets.token_hex(16)
        self.tokens[token] = account
        return web.json_response(
            {"token_type": "Bearer", "expires_in": self.token_seconds, "access_token": token}
        )


def _invalid(number: int, param: str) -> dict[str, Any]:
    return error_entry(
        "invalid_request",
        "The schema of the input line is invalid. Please ensure the properties of the request "
        "in your input file match the expected input properties.",
        number,
        param,
    )


def _shuffle(batch_id: str) -> Callable[[list[str]], list[str]]:
    """A fixed, batch-specific order that is never the input order (for two rows or more)."""

    def arrange(rows: list[str]) -> list[str]:
        key = [hashlib.sha256(f"{batch_id}\x00{row}".encode()).digest() for row in rows]
        order = sorted(range(len(rows)), key=key.__getitem__)
        if order == sorted(order):
            order.reverse()
        return [rows[i] for i in order]

    return arrange


# -- the fake as the command line and --demo see it (fake/__init__.py lists it) -------------
DEMO_KEY = "fake-azure-key"
DEMO_DEPLOYMENT = "demo-batch-deployment"
DEMO_MODEL = "gpt-4o-azure"


def _build(args: argparse.Namespace, keys: dict[str, str], error: Callable[[str], Any]) -> Any:
    token_limit: dict[str, TokenLimitMode] = {}
    for item in args.token_limit:
        deployment, _, mode = item.partition("=")
        if mode not in ("fail", "fail_fast"):
            error(f"--token-limit {item!r}: the mode is 'fail' or 'fail_fast'")
        token_limit[deployment] = "fail" if mode == "fail" else "fail_fast"
    return FakeAzure(
        keys,
        deployments=args.deployment,
        storage=args.storage,
        phase_seconds=args.phase_seconds,
        processing_seconds=args.processing_seconds,
        token_limit=token_limit,
    )


def _demo(place: DemoPlace) -> tuple[FakeAzure, dict[str, dict[str, Any]]]:
    fake = FakeAzure(
        {DEMO_KEY: "azure"}, deployments=[DEMO_DEPLOYMENT], phase_seconds=place.phase_seconds
    )
    params = {
        "model": f"azure/{DEMO_DEPLOYMENT}",
        "api_key": DEMO_KEY,
        "api_base": place.base,
        "api_version": "2024-10-21",
        # Azure needs a training type for a fine-tuning job: sent unless given.
        "fine_tuning_training_type": "GlobalStandard",
    }
    return fake, {DEMO_MODEL: params}


FLAVOUR = flavour(
    "azure",
    _build,
    _demo,
    Option("--deployment", "azure: a deployment batch rows may name (repeatable)", repeated=True),
    Option(
        "--processing-seconds",
        "azure: seconds a new file stays pending/running before it is processed",
        default=0.3,
        type=float,
    ),
    Option(
        "--token-limit",
        "azure: batches of this deployment exceed its enqueued token quota (repeatable)",
        metavar="DEPLOYMENT=fail|fail_fast",
        repeated=True,
    ),
    models=(DEMO_MODEL,),
    described="an Azure OpenAI deployment",
    hints=(f"A fine-tuning job: {{python}} examples/fine_tuning_example.py --model {DEMO_MODEL}",),
)
