"""Vertex AI supervised tuning jobs (``tuningJobs``) in OpenAI's fine-tuning shapes.

- Training files: OpenAI chat examples become Vertex tuning examples at upload, line by line
  (``systemInstruction``, ``contents`` with ``user`` and ``model`` roles, ``tools``), stored in
  the deployment's GCS namespace like batch rows (vertex.py).
- Jobs: ``baseModel`` is the job's ``model``; ``supervisedTuningSpec`` carries the training and
  validation URIs and the hyperparameters Vertex has (``n_epochs`` -> ``epochCount``,
  ``learning_rate_multiplier`` -> ``learningRateMultiplier``); ``suffix`` becomes
  ``tunedModelDisplayName``. What Vertex has no field for (``batch_size``, ``seed``,
  ``integrations``, ``metadata``, a ``dpo`` or ``reinforcement`` method) is a 400 naming it.
  Every job carries the deployment's label, so one deployment never sees another's.
- States map to OpenAI's statuses; ``tunedModel.endpoint`` (else ``.model``) is
  ``fine_tuned_model``, both kept under ``tuned_model``. Vertex writes no result file:
  ``result_files`` is empty. Pause and resume are 400s (Vertex offers neither).
- Events: Vertex keeps none; the job's own times give them (created, started, ended, with
  the error if it failed). Checkpoints: ``tunedModel.checkpoints`` (jobs that keep
  intermediate checkpoints), else an empty list.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from yarl import URL

from ..errors import BadRequest, NotFound
from ..jsoncodec import ANY as _decode_any
from ..jsoncodec import ENCODER as _json
from .base import TuningRules
from .genai_rows import RowError, chat_to_generate_content
from .isotime import unix_seconds
from .shapes import list_page

__all__ = [
    "TUNING_RULES",
    "job_body",
    "job_checkpoints",
    "job_events",
    "job_url",
    "openai_job",
    "tuning_line",
    "tuning_url",
]

# Vertex's supervised tuning data: system instructions, user and model turns, function calls
# and responses; the guide recommends 100 examples and sets no minimum; a JSONL training
# file is at most 1 GB ("About supervised fine-tuning for Gemini models", Limitations).
TUNING_RULES = TuningRules(
    frozenset(("system", "developer", "user", "assistant", "tool")),
    frozenset(("supervised",)),
    min_examples=1,
    max_bytes=1024 * 1024 * 1024,
)

STATES = {
    "JOB_STATE_QUEUED": "queued",
    "JOB_STATE_PENDING": "validating_files",
    "JOB_STATE_RUNNING": "running",
    "JOB_STATE_UPDATING": "running",
    "JOB_STATE_PAUSED": "queued",
    "JOB_STATE_SUCCEEDED": "succeeded",
    "JOB_STATE_PARTIALLY_SUCCEEDED": "succeeded",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_EXPIRED": "failed",
    # OpenAI answers a cancel with "cancelled" at once; Vertex passes through this first.
    "JOB_STATE_CANCELLING": "cancelled",
    "JOB_STATE_CANCELLED": "cancelled",
}
FINAL = frozenset(("succeeded", "failed", "cancelled"))


def tuning_url(batch_jobs_url: str) -> str:
    """The ``tuningJobs`` collection beside a location's ``batchPredictionJobs``."""
    return batch_jobs_url.rsplit("/", 1)[0] + "/tuningJobs"


def job_url(jobs_url: str, job_id: str, suffix: str = "") -> URL:
    if not job_id.isdigit():
        raise NotFound(f"No such fine-tuning job: '{job_id}'.", param="fine_tuning_job_id")
    return URL(f"{jobs_url}/{job_id}{suffix}", encoded=True)


def _bad_line(number: int, what: str) -> BadRequest:
    return BadRequest(
        f"Line {number} of the fine-tuning file {what}.",
        param="file",
        code="invalid_fine_tuning_line",
    )


def tuning_line(number: int, line: bytes) -> bytes | None:
    """An OpenAI chat example as a Vertex supervised tuning example."""
    if not line.strip():
        return None
    try:
        row = _decode_any.decode(line)
    except ValueError:
        raise _bad_line(number, "is not JSON") from None
    if not isinstance(row, dict) or not isinstance(row.get("messages"), list):
        raise _bad_line(number, "is not a chat example ('messages')")
    try:
        request = chat_to_generate_content({"messages": row["messages"], "tools": row.get("tools")})
    except (RowError, AttributeError, TypeError, KeyError, ValueError) as err:
        reason = str(err) if isinstance(err, RowError) else "it is not a chat example"
        raise _bad_line(number, f"cannot be a Vertex AI tuning example: {reason}") from None
    example = {k: request[k] for k in ("systemInstruction", "contents", "tools") if k in request}
    if "systemInstruction" in example:
        example["systemInstruction"] = {"role": "system", **example["systemInstruction"]}
    return _json.encode(example)


def _auto(value: Any) -> bool:
    return value is None or value == "auto"


def _hyperparameters(body: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """The OpenAI hyperparameters (``method.supervised`` or the older top-level ones) and
    the name of the field they came from."""
    method = body.get("method")
    if method is not None:
        if not isinstance(method, dict):
            raise BadRequest("'method' must be an object.", param="method")
        kind = method.get("type", "supervised")
        if kind != "supervised":
            raise BadRequest(
                f"Vertex AI accounts run only supervised tuning; 'method.type' {kind!r} has no "
                "Vertex AI equivalent here.",
                param="method.type",
            )
        found = (method.get("supervised") or {}).get("hyperparameters")
        if found:
            return dict(found), "method.supervised.hyperparameters"
    found = body.get("hyperparameters")
    return (dict(found) if isinstance(found, dict) else {}), "hyperparameters"


def job_body(
    body: Mapping[str, Any], training_uri: str, validation_uri: str | None, labels: dict[str, str]
) -> dict[str, Any]:
    """A Vertex TuningJob from OpenAI's create body; a 400 names what Vertex cannot take."""
    for name in ("seed", "integrations"):
        if body.get(name) not in (None, [], {}):
            raise BadRequest(f"'{name}' has no Vertex AI tuning equivalent.", param=name)
    if body.get("metadata"):
        raise BadRequest(
            "'metadata' has no Vertex AI tuning equivalent (jobs carry the router's labels).",
            param="metadata",
        )
    hyper, where = _hyperparameters(body)
    vertex: dict[str, Any] = {}
    for name, value in hyper.items():
        if _auto(value):
            continue
        if name == "n_epochs":
            vertex["epochCount"] = value
        elif name == "learning_rate_multiplier":
            vertex["learningRateMultiplier"] = value
        else:
            raise BadRequest(
                f"'{where}.{name}' has no Vertex AI supervised tuning equivalent.",
                param=f"{where}.{name}",
            )
    spec: dict[str, Any] = {"trainingDatasetUri": training_uri}
    if validation_uri:
        spec["validationDatasetUri"] = validation_uri
    if vertex:
        spec["hyperParameters"] = vertex
    job: dict[str, Any] = {
        "baseModel": body["model"],
        "supervisedTuningSpec": spec,
        "labels": labels,
    }
    if body.get("suffix"):
        job["tunedModelDisplayName"] = str(body["suffix"])
    return job


def _id(job: Mapping[str, Any]) -> str:
    return str(job.get("name", "")).rsplit("/", 1)[-1]


def openai_job(job: Mapping[str, Any]) -> dict[str, Any]:
    """A Vertex TuningJob as an OpenAI ``fine_tuning.job``."""
    status = STATES.get(str(job.get("state")), "queued")
    spec = job.get("supervisedTuningSpec") or {}
    hyper = spec.get("hyperParameters") or {}
    tuned = job.get("tunedModel") or {}
    stats = (job.get("tuningDataStats") or {}).get("supervisedTuningDataStats") or {}
    tokens = stats.get("totalBillableTokenCount")
    hyperparameters = {
        "n_epochs": int(hyper["epochCount"]) if hyper.get("epochCount") else "auto",
        "batch_size": "auto",
        "learning_rate_multiplier": hyper.get("learningRateMultiplier", "auto"),
    }
    error = job.get("error")
    obj: dict[str, Any] = {
        "id": _id(job),
        "object": "fine_tuning.job",
        "model": str(job.get("baseModel", "")),
        "created_at": unix_seconds(job.get("createTime")) or 0,
        "finished_at": unix_seconds(job.get("endTime")) if status in FINAL else None,
        "status": status,
        "fine_tuned_model": tuned.get("endpoint") or tuned.get("model") or None,
        "tuned_model": {"model": tuned.get("model"), "endpoint": tuned.get("endpoint")}
        if tuned
        else None,
        "training_file": spec.get("trainingDatasetUri", ""),
        "validation_file": spec.get("validationDatasetUri") or None,
        "result_files": [],
        "hyperparameters": hyperparameters,
        "method": {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
        "trained_tokens": int(tokens) if tokens is not None else None,
        "organization_id": "",
        "seed": 0,
        "error": None,
        "metadata": None,
        "integrations": None,
        "estimated_finish": None,
        "user_provided_suffix": job.get("tunedModelDisplayName"),
    }
    # A cancelled job carries error code 1 (CANCELLED) on Vertex; OpenAI's has no error.
    if status == "failed" and isinstance(error, dict) and error.get("message"):
        obj["error"] = {
            "code": str(error.get("code", "")),
            "message": str(error["message"]),
            "param": None,
        }
    return obj


def _event(job_id: str, what: str, at: Any, level: str, message: str) -> dict[str, Any]:
    digest = hashlib.sha256(f"{job_id}\x00{what}".encode()).hexdigest()[:24]
    return {
        "object": "fine_tuning.job.event",
        "id": f"ftevent-{digest}",
        "created_at": unix_seconds(at) or 0,
        "level": level,
        "message": message,
        "data": {},
        "type": "message",
    }


def _page(items: list[dict[str, Any]], query: Mapping[str, str]) -> dict[str, Any]:
    """OpenAI's ``after``/``limit`` over a list held whole (a job's few events)."""
    after = query.get("after")
    if after:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    limit = int(query.get("limit", "20"))
    return list_page(items[:limit], len(items) > limit)


def job_events(job: Mapping[str, Any], query: Mapping[str, str]) -> dict[str, Any]:
    """The job's state changes as OpenAI events, newest first."""
    job_id = _id(job)
    obj = openai_job(job)
    events = [_event(job_id, "created", job.get("createTime"), "info", "Created fine-tuning job")]
    if job.get("startTime"):
        events.append(_event(job_id, "started", job["startTime"], "info", "Fine-tuning started"))
    if obj["status"] in FINAL and job.get("endTime"):
        status = obj["status"]
        if status == "failed":
            message = "Fine-tuning job failed: " + (obj["error"] or {}).get("message", "")
        elif status == "succeeded":
            message = "The job has successfully completed"
        else:
            message = "Fine-tuning job cancelled"
        level = "error" if status == "failed" else "info"
        events.append(_event(job_id, status, job["endTime"], level, message))
    events.reverse()
    return _page(events, query)


def job_checkpoints(job: Mapping[str, Any], query: Mapping[str, str]) -> dict[str, Any]:
    """``tunedModel.checkpoints`` as OpenAI checkpoints, newest first."""
    job_id = _id(job)
    tuned = job.get("tunedModel") or {}
    found = tuned.get("checkpoints") or []
    at = unix_seconds(job.get("endTime") or job.get("updateTime")) or 0
    out: list[tuple[int, dict[str, Any]]] = []
    for checkpoint in found:
        if not isinstance(checkpoint, dict):
            continue
        step = int(checkpoint.get("step") or 0)
        name = checkpoint.get("endpoint") or (
            f"{tuned.get('model', '')}#checkpoint-{checkpoint.get('checkpointId', step)}"
        )
        out.append(
            (
                step,
                {
                    "object": "fine_tuning.job.checkpoint",
                    "id": f"ftckpt-{checkpoint.get('checkpointId', step)}",
                    "created_at": at,
                    "fine_tuned_model_checkpoint": name,
                    "fine_tuning_job_id": job_id,
                    "step_number": step,
                    "metrics": {"step": step},
                },
            )
        )
    out.sort(key=lambda pair: -pair[0])
    return _page([c for _, c in out], query)
