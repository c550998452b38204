"""The fake's batch runner: validates input JSONL like OpenAI and writes output/error files.

A batch moves ``validating -> in_progress -> finalizing -> completed`` on the fake's clock
(``phase_seconds`` per phase; 0 finishes at the first look after creation). Cancel goes
``cancelling -> cancelled`` after ``cancel_seconds`` with the output of what had run.

Like OpenAI, a batch writes its output rows in input order and attaches an output or error
file only when it has rows for it; a flavour may set ``arrange`` (the order rows are written
in) and ``always_files`` (both files, empty ones too, on every finished batch).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from .store import FakeAccount, FileRecord, JobRun, new_id

__all__ = [
    "ENDPOINTS",
    "MAX_BATCH_BYTES",
    "MAX_REQUESTS",
    "NOT_JSON",
    "FakeBatch",
    "RowCheck",
    "error_entry",
    "jsonl",
    "validate_input",
]

MAX_REQUESTS = 50_000
MAX_BATCH_BYTES = 200 * 1024 * 1024
TERMINAL = ("completed", "failed", "cancelled", "expired")
# How the fake answers one row of a batch: (status, body), given the endpoint, the row's body
# and the batch's creation time.
_Answer = Callable[[str, dict[str, Any], int], tuple[int, dict[str, Any]]]


def error_entry(
    code: str, message: str, line: int | None, param: str | None = None
) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": line}


# What ``jsonl`` gives for a line that is not JSON.
NOT_JSON: Final = object()


def jsonl(path: Path) -> Iterator[tuple[int, bytes, Any]]:
    """The lines of a JSONL file that are not blank: each one's number (from 1), its bytes and
    its JSON value (``NOT_JSON`` if it has none)."""
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    value = json.loads(line)
                except ValueError:
                    value = NOT_JSON
                yield number, line, value


RowCheck = Callable[[list[tuple[int, dict[str, Any]]]], list[dict[str, Any]]]


def validate_input(
    record: FileRecord, endpoint: str, extra: RowCheck | None = None
) -> tuple[list[dict[str, Any]], int]:
    """OpenAI's structural checks (plus ``extra``); returns (errors, request count).

    Any error fails the batch.
    """
    if record.bytes > MAX_BATCH_BYTES:
        return [error_entry("file_too_large", "The input file exceeds 200 MB.", None)], 0
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    rows: list[tuple[int, dict[str, Any]]] = []
    count = 0
    for number, _, row in jsonl(record.path):
        count += 1
        if row is NOT_JSON:
            errors.append(error_entry("invalid_json_line", "This line is not valid JSON.", number))
            continue
        if not isinstance(row, dict):
            errors.append(
                error_entry("invalid_request", "Each line must be a JSON object.", number)
            )
            continue
        rows.append((number, row))
        custom_id = row.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            errors.append(
                error_entry("missing_required_parameter", "Missing custom_id.", number, "custom_id")
            )
        elif custom_id in seen:
            errors.append(
                error_entry(
                    "duplicate_custom_id",
                    f"The custom_id '{custom_id}' is not unique.",
                    number,
                    "custom_id",
                )
            )
        else:
            seen.add(custom_id)
        if row.get("method") != "POST":
            errors.append(
                error_entry("invalid_method", "Only POST is supported.", number, "method")
            )
        if row.get("url") != endpoint:
            errors.append(
                error_entry(
                    "mismatched_url",
                    f"The url must match the batch endpoint '{endpoint}'.",
                    number,
                    "url",
                )
            )
        if not isinstance(row.get("body"), dict):
            errors.append(
                error_entry("missing_required_parameter", "Missing body.", number, "body")
            )
        if len(errors) >= 100:
            break
    if count == 0:
        errors.append(error_entry("empty_file", "The input file has no requests.", None))
    if extra is not None and not errors:
        errors.extend(extra(rows))
    if count > MAX_REQUESTS:
        errors.append(
            error_entry(
                "too_many_requests", f"A batch holds at most {MAX_REQUESTS} requests.", None
            )
        )
    return errors, count


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def _tokens(value: Any) -> int:
    return max(1, len(json.dumps(value)) // 4)


def _refused(message: str, param: str | None) -> tuple[int, dict[str, Any]]:
    return 400, {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": None,
        }
    }


def mock_response(endpoint: str, body: dict[str, Any], created: int) -> tuple[int, dict[str, Any]]:
    """A deterministic, spec-shaped answer to one batch request (or a 400 error body)."""
    required, answer = _ENDPOINTS.get(endpoint, ((), _completion))
    for name in required:
        if body.get(name) is None:
            return _refused(f"Missing required parameter: '{name}'.", name)
    if body.get("stream") is True:
        # Undocumented for batch rows; the least helpful reading: the row fails.
        return _refused("Streaming is not supported in the Batch API.", "stream")
    return answer(endpoint, body, created)


def _no_model(body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    model = body.get("model")
    if isinstance(model, str) and model:
        return None
    return 400, {
        "error": {
            "message": "you must provide a model parameter",
            "type": "invalid_request_error",
            "param": "model",
            "code": None,
        }
    }


def _embedding(endpoint: str, body: dict[str, Any], created: int) -> tuple[int, dict[str, Any]]:
    """CreateEmbeddingResponse."""
    refused = _no_model(body)
    if refused is not None:
        return refused
    model = body["model"]
    text = json.dumps(body.get("input"))
    seed = bytes.fromhex(_digest(model, text))
    vector = [round(b / 255 - 0.5, 6) for b in seed[:8]]
    usage = _tokens(body.get("input"))
    return 200, {
        "object": "list",
        "model": model,
        "data": [{"object": "embedding", "index": 0, "embedding": vector}],
        "usage": {"prompt_tokens": usage, "total_tokens": usage},
    }


def _completion(endpoint: str, body: dict[str, Any], created: int) -> tuple[int, dict[str, Any]]:
    """A chat completion: the fake's answer on the chat, completions and responses endpoints."""
    refused = _no_model(body)
    if refused is not None:
        return refused
    model = body["model"]
    messages = body.get("messages")
    if endpoint == "/v1/chat/completions" and not isinstance(messages, list):
        return 400, {
            "error": {
                "message": "'messages' is a required property",
                "type": "invalid_request_error",
                "param": "messages",
                "code": None,
            }
        }
    prompt = _tokens(messages if messages is not None else body.get("prompt"))
    content = "mock reply " + _digest(model, json.dumps(messages))[:12]
    return 200, {
        "id": "chatcmpl-" + _digest(content, str(created))[:24],
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "logprobs": None,
                "message": {"role": "assistant", "content": content, "refusal": None},
            }
        ],
        "usage": {"prompt_tokens": prompt, "completion_tokens": 4, "total_tokens": prompt + 4},
    }


def _seed(endpoint: str, body: dict[str, Any]) -> str:
    return _digest(endpoint, json.dumps(body, sort_keys=True))


def _moderation(endpoint: str, body: dict[str, Any], created: int) -> tuple[int, dict[str, Any]]:
    """CreateModerationResponse."""
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    flagged = "kill" in json.dumps(inputs).lower()
    return 200, {
        "id": "modr-" + _seed(endpoint, body)[:24],
        "model": body.get("model") or "omni-moderation-latest",
        "results": [
            {
                "flagged": flagged,
                "categories": {"violence": flagged, "harassment": False},
                "category_scores": {"violence": 0.9 if flagged else 0.01, "harassment": 0.01},
            }
            for _ in inputs
        ],
    }


def _image(endpoint: str, body: dict[str, Any], created: int) -> tuple[int, dict[str, Any]]:
    """ImagesResponse."""
    image = base64.b64encode(bytes.fromhex(_seed(endpoint, body)[:16])).decode()
    return 200, {"created": created, "data": [{"b64_json": image}]}


def _video(endpoint: str, body: dict[str, Any], created: int) -> tuple[int, dict[str, Any]]:
    """VideoResource."""
    return 200, {
        "id": "video_" + _seed(endpoint, body)[:24],
        "object": "video",
        "model": body.get("model") or "sora-2",
        "status": "queued",
        "progress": 0,
        "created_at": created,
        "completed_at": None,
        "expires_at": None,
        "prompt": body["prompt"],
        "size": body.get("size") or "720x1280",
        "seconds": str(body.get("seconds") or "4"),
        "remixed_from_video_id": None,
        "error": None,
    }


# CreateBatchRequest.endpoint in OpenAI's OpenAPI spec: the fields its request schema requires
# (the JSON forms of images/edits and videos) and how the fake answers a row.
_ENDPOINTS: dict[str, tuple[tuple[str, ...], _Answer]] = {
    "/v1/responses": ((), _completion),
    "/v1/chat/completions": (("model", "messages"), _completion),
    "/v1/embeddings": (("model", "input"), _embedding),
    "/v1/completions": (("model", "prompt"), _completion),
    "/v1/moderations": (("input",), _moderation),
    "/v1/images/generations": (("prompt",), _image),
    "/v1/images/edits": (("images", "prompt"), _image),
    "/v1/videos": (("prompt",), _video),
}
ENDPOINTS = tuple(_ENDPOINTS)


@dataclass
class FakeBatch(JobRun):
    id: str
    endpoint: str
    input_file_id: str
    completion_window: str
    created: float
    total: int
    errors: list[dict[str, Any]]
    metadata: dict[str, str] | None = None
    output_expires_after: int | None = None
    model: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"completed": 0, "failed": 0})
    arrange: Callable[[list[str]], list[str]] | None = None
    always_files: bool = False

    def status(self, now: float, phase: float, cancel: float) -> str:
        if self.finished:
            return self.finished
        if self.cancel_at is not None:
            return "cancelled" if now >= self.cancel_at + cancel else "cancelling"
        elapsed = now - self.created
        if self.errors:
            return "failed" if elapsed >= phase else "validating"
        if elapsed < phase:
            return "validating"
        if elapsed < 2 * phase:
            return "in_progress"
        if elapsed < 3 * phase:
            return "finalizing"
        return "completed"

    def advance(self, account: FakeAccount, now: float, phase: float, cancel: float) -> str:
        status = self.status(now, phase, cancel)
        if status in TERMINAL and not self.finished:
            if status == "completed":
                self._run(account, None)
            elif status == "cancelled":
                done = {"validating": 0, "in_progress": self.total // 2}.get(
                    self.cancel_phase or "", self.total
                )
                self._run(account, done)
            elif self.always_files:
                self.output_file_id = _write(account, self, [], "output")
                self.error_file_id = _write(account, self, [], "error")
            self.finished = status
        return status

    def _run(self, account: FakeAccount, limit: int | None) -> None:
        record = account.files.get(self.input_file_id)
        if record is None:
            return
        created = int(self.created)
        out_rows: list[str] = []
        err_rows: list[str] = []
        for index, (_, _, row) in enumerate(jsonl(record.path)):
            if limit is not None and index >= limit:
                break
            body = row["body"]
            self.model = self.model or body.get("model")
            status, answer = mock_response(self.endpoint, body, created)
            # Each row is a request of its own, with its own request and completion IDs
            # (the batch guide's output example): never the same in two batches.
            if status == 200 and "id" in answer:
                answer["id"] = "chatcmpl-" + _digest(self.id, row["custom_id"], "answer")[:24]
            result = {
                "id": "batch_req_" + _digest(self.id, row["custom_id"])[:24],
                "custom_id": row["custom_id"],
                "response": {
                    "status_code": status,
                    "request_id": "req_" + _digest(self.id, row["custom_id"], "request")[:24],
                    "body": answer,
                },
                "error": None,
            }
            (out_rows if status == 200 else err_rows).append(json.dumps(result))
        self.counts = {"completed": len(out_rows), "failed": len(err_rows)}
        if self.arrange is not None:
            out_rows, err_rows = self.arrange(out_rows), self.arrange(err_rows)
        if out_rows or self.always_files:
            self.output_file_id = _write(account, self, out_rows, "output")
        if err_rows or self.always_files:
            self.error_file_id = _write(account, self, err_rows, "error")

    def to_json(
        self, now: float, phase: float, cancel: float, status: str | None = None
    ) -> dict[str, Any]:
        """The Batch object; ``status`` pins the status an answer reports (create, cancel)."""
        status = status or self.status(now, phase, cancel)
        created = int(self.created)
        obj: dict[str, Any] = {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "errors": None,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": status,
            "created_at": created,
            "expires_at": created + 24 * 3600,
            "request_counts": {"total": self.total, **self.counts},
            "metadata": self.metadata,
        }
        if self.model:
            obj["model"] = self.model
        if self.errors:
            obj["errors"] = {"object": "list", "data": self.errors}
            if status == "failed":
                obj["failed_at"] = int(self.created + phase)
        else:
            del obj["errors"]
            steps = {"in_progress_at": 1, "finalizing_at": 2, "completed_at": 3}
            for name, step in steps.items():
                at = self.created + step * phase
                if (self.cancel_at is None or at <= self.cancel_at) and now >= at:
                    obj[name] = int(at)
        if self.cancel_at is not None:
            obj["cancelling_at"] = int(self.cancel_at)
            if status == "cancelled":
                obj["cancelled_at"] = int(self.cancel_at + cancel)
        for name in ("output_file_id", "error_file_id"):
            value = getattr(self, name)
            if value is not None:
                obj[name] = value
        return obj


def _write(account: FakeAccount, batch: FakeBatch, rows: list[str], kind: str) -> str:
    file_id = new_id("file-")
    path = account.new_file_path(file_id)
    data = "".join(row + "\n" for row in rows).encode()
    path.write_bytes(data)
    account.add_file(
        file_id, f"{batch.id}_{kind}.jsonl", "batch_output", len(data), batch.output_expires_after
    )
    return file_id
