"""Vertex AI supervised tuning jobs for the Vertex fake, from Google's documentation.

Sources: the ``projects.locations.tuningJobs`` REST reference (``TuningJob``,
``SupervisedTuningSpec``, ``SupervisedHyperParameters``, ``TunedModel``,
``SupervisedTuningDataStats``, ``tuningJobs.cancel``); "Prepare supervised fine-tuning data
for Gemini models" (the dataset format); google-genai's ``tunings`` module (what the official
client sends and reads).

- create takes ``baseModel``, ``supervisedTuningSpec`` (``trainingDatasetUri``,
  ``validationDatasetUri``, ``hyperParameters`` with ``epochCount``,
  ``learningRateMultiplier`` and ``adapterSize``, ``exportLastCheckpointOnly``),
  ``tunedModelDisplayName``, ``description`` and ``labels``; an unknown field is a 400, as
  Google's JSON APIs answer ("Invalid JSON payload received. Unknown name");
- a job is ``JOB_STATE_PENDING`` while its data is validated, then ``JOB_STATE_RUNNING`` and
  ``JOB_STATE_SUCCEEDED``, one ``phase_seconds`` each on the fake's clock; a bad dataset fails
  it (``JOB_STATE_FAILED``, ``error`` a google.rpc.Status with code 3 naming the file and the
  line); cancel goes through ``JOB_STATE_CANCELLING`` to ``JOB_STATE_CANCELLED`` with ``error``
  code 1 ("the TuningJob ... becomes a job with a TuningJob.error value with a
  google.rpc.Status.code of 1, corresponding to Code.CANCELLED");
- once validated a job has ``tuningDataStats.supervisedTuningDataStats``; once succeeded a
  ``tunedModel`` with ``model`` and ``endpoint`` and, unless ``exportLastCheckpointOnly``, one
  checkpoint per epoch.

Resource names carry the project *number*, as Vertex answers them (the docs' samples write
PROJECT_ID where the service puts the number); requests may name either.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .batches import NOT_JSON, jsonl
from .store import JobRun

__all__ = ["ADAPTER_SIZES", "TUNABLE_MODELS", "TuningJob", "check_dataset", "parse_tuning_job"]

# "Supported models" of "About supervised fine-tuning for Gemini models".
TUNABLE_MODELS = frozenset(
    {
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "gemini-2.5-flash-lite",
        "gemini-2.0-flash-001",
        "gemini-2.0-flash-lite-001",
    }
)
# SupervisedHyperParameters.adapterSize (AdapterSize enum; google-genai types.AdapterSize).
ADAPTER_SIZES = (
    "ADAPTER_SIZE_ONE",
    "ADAPTER_SIZE_TWO",
    "ADAPTER_SIZE_FOUR",
    "ADAPTER_SIZE_EIGHT",
    "ADAPTER_SIZE_SIXTEEN",
    "ADAPTER_SIZE_THIRTY_TWO",
)
# What the fake serves of TuningJob's writable fields; the other tuning specs (preference,
# distillation, ...) are Vertex's but not served here.
JOB_FIELDS = frozenset(
    {"baseModel", "supervisedTuningSpec", "tunedModelDisplayName", "description", "labels"}
)
SPEC_FIELDS = frozenset(
    {"trainingDatasetUri", "validationDatasetUri", "hyperParameters", "exportLastCheckpointOnly"}
)
HYPER_FIELDS = frozenset({"epochCount", "learningRateMultiplier", "adapterSize"})
# The fake's own choices where the job picks (the docs give no defaults).
DEFAULT_EPOCHS = 3
DEFAULT_ADAPTER = "ADAPTER_SIZE_FOUR"
DEFAULT_MULTIPLIER = 1.0
# The dataset format's ``contents[].parts[]`` union ("Union field data can be only one of the
# following: text, fileData"), and function calling from the same page's ``tools``.
PART_FIELDS = frozenset({"text", "fileData", "functionCall", "functionResponse"})
EXAMPLE_FIELDS = frozenset({"systemInstruction", "contents", "tools"})


class TuningError(ValueError):
    """A 400 INVALID_ARGUMENT for a create request."""


def _unknown(obj: dict[str, Any], known: frozenset[str], where: str) -> None:
    extra = sorted(set(obj) - known)
    if extra:
        raise TuningError(
            f"Invalid JSON payload received. Unknown name \"{extra[0]}\" at '{where}': "
            "Cannot find field."
        )


def _int64(value: Any, name: str) -> int:
    # int64 fields come as JSON numbers or strings (proto3 JSON mapping).
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise TuningError(f"{name} must be an integer.") from None
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise TuningError(f"{name} must be an integer.")
    return number


def parse_tuning_job(body: Any) -> dict[str, Any]:
    """The checked create request, or TuningError."""
    if not isinstance(body, dict):
        raise TuningError("The request body must be a TuningJob object.")
    _unknown(body, JOB_FIELDS, "tuning_job")
    model = body.get("baseModel")
    if not isinstance(model, str) or not model:
        raise TuningError("baseModel is required.")
    if model not in TUNABLE_MODELS:
        raise TuningError(f"Base model {model} is not supported for supervised tuning.")
    spec = body.get("supervisedTuningSpec")
    if not isinstance(spec, dict):
        raise TuningError("supervisedTuningSpec is required.")
    _unknown(spec, SPEC_FIELDS, "tuning_job.supervised_tuning_spec")
    for name in ("trainingDatasetUri", "validationDatasetUri"):
        uri = spec.get(name)
        if (name == "trainingDatasetUri" or uri is not None) and (
            not isinstance(uri, str) or not uri.startswith("gs://") or "/" not in uri[5:]
        ):
            raise TuningError(f"supervisedTuningSpec.{name} must be a gs:// URI of a JSONL file.")
    hyper = spec.get("hyperParameters") or {}
    if not isinstance(hyper, dict):
        raise TuningError("supervisedTuningSpec.hyperParameters must be an object.")
    _unknown(hyper, HYPER_FIELDS, "tuning_job.supervised_tuning_spec.hyper_parameters")
    epochs = DEFAULT_EPOCHS
    if "epochCount" in hyper:
        epochs = _int64(hyper["epochCount"], "hyperParameters.epochCount")
        if epochs < 1:
            raise TuningError("hyperParameters.epochCount must be positive.")
    multiplier = hyper.get("learningRateMultiplier", DEFAULT_MULTIPLIER)
    if isinstance(multiplier, bool) or not isinstance(multiplier, int | float) or multiplier <= 0:
        raise TuningError("hyperParameters.learningRateMultiplier must be a positive number.")
    adapter = hyper.get("adapterSize", DEFAULT_ADAPTER)
    if adapter not in ADAPTER_SIZES:
        raise TuningError(f"hyperParameters.adapterSize {adapter!r} is not an AdapterSize.")
    display = body.get("tunedModelDisplayName")
    # TuningJob.tunedModelDisplayName: "can consist of any UTF-8 characters, up to 128".
    if display is not None and (not isinstance(display, str) or len(display) > 128):
        raise TuningError("tunedModelDisplayName must be a string of at most 128 characters.")
    return {
        "hyper": {k: str(epochs) if k == "epochCount" else v for k, v in hyper.items()},
        "model": model,
        "training": spec["trainingDatasetUri"],
        "validation": spec.get("validationDatasetUri"),
        "epochs": epochs,
        "multiplier": float(multiplier),
        "adapter": adapter,
        "last_only": bool(spec.get("exportLastCheckpointOnly", False)),
        "display_name": display,
        "description": body.get("description"),
    }


def _content_problem(content: Any, where: str, roles: tuple[str, ...] | None) -> str | None:
    if not isinstance(content, dict):
        return f"{where} must be a Content object."
    _extra = sorted(set(content) - {"role", "parts"})
    if _extra:
        return f"{where} has an unknown field '{_extra[0]}'."
    if roles is not None and content.get("role") not in roles:
        return f"{where}.role must be one of {', '.join(repr(r) for r in roles)}."
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        return f"{where}.parts must be a non-empty list."
    for index, part in enumerate(parts):
        if not isinstance(part, dict) or len(part) != 1 or next(iter(part)) not in PART_FIELDS:
            return f"{where}.parts[{index}] must hold exactly one of text or fileData."
        if "text" in part and not isinstance(part["text"], str):
            return f"{where}.parts[{index}].text must be a string."
    return None


def example_problem(row: Any) -> str | None:
    """Why one line is not a Gemini supervised tuning example ("Dataset format")."""
    if not isinstance(row, dict):
        return "the line must be a JSON object."
    extra = sorted(set(row) - EXAMPLE_FIELDS)
    if extra:
        return f"unknown field '{extra[0]}'."
    if "systemInstruction" in row:
        # "The role field of systemInstruction is ignored": any role, or none.
        problem = _content_problem(row["systemInstruction"], "systemInstruction", None)
        if problem:
            return problem
    contents = row.get("contents")
    if not isinstance(contents, list) or not contents:
        return "contents is required and must not be empty."
    for index, content in enumerate(contents):
        # Content.role: "user" or "model"; the docs allow it unset only outside multi-turn
        # chats, and a tuning example is one: the fake wants it set (least helpful reading).
        problem = _content_problem(content, f"contents[{index}]", ("user", "model"))
        if problem:
            return problem
    if contents[-1]["role"] != "model":
        return "the last content must be the model's answer (role 'model')."
    return None


def check_dataset(path: Path, uri: str) -> tuple[str | None, dict[str, Any]]:
    """(why the dataset is refused or None, supervisedTuningDataStats)."""
    examples = characters = 0
    inputs: list[int] = []
    outputs: list[int] = []
    turns: list[int] = []
    samples: list[Any] = []
    for number, line, row in jsonl(path):
        if row is NOT_JSON:
            return f"{uri}: line {number} is not valid JSON.", {}
        problem = example_problem(row)
        if problem:
            return f"{uri}: line {number}: {problem}", {}
        examples += 1
        characters += len(line)
        contents = row["contents"]
        said = [json.dumps(c["parts"]) for c in contents]
        inputs.append(
            sum(len(s) for s, c in zip(said, contents, strict=True) if c["role"] == "user") // 4
        )
        outputs.append(
            sum(len(s) for s, c in zip(said, contents, strict=True) if c["role"] == "model") // 4
        )
        turns.append(sum(1 for c in contents if c["role"] == "user"))
        if len(samples) < 3:
            samples.append(contents[0])
    if examples == 0:
        return f"{uri}: the dataset has no examples.", {}
    billable = sum(inputs) + sum(outputs)
    stats = {
        "tuningDatasetExampleCount": str(examples),
        "totalTuningCharacterCount": str(characters),
        "totalBillableTokenCount": str(billable),
        "userInputTokenDistribution": _distribution(inputs),
        "userOutputTokenDistribution": _distribution(outputs),
        "userMessagePerExampleDistribution": _distribution(turns),
        "userDatasetExamples": samples,
    }
    return None, stats


def _distribution(values: list[int]) -> dict[str, Any]:
    # SupervisedTuningDatasetDistribution: int64 sums as strings, the rest numbers.
    ordered = sorted(values)

    def pick(q: float) -> float:
        return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])

    return {
        "sum": str(sum(values)),
        "billableSum": str(sum(values)),
        "min": float(ordered[0]),
        "max": float(ordered[-1]),
        "mean": sum(values) / len(values),
        "median": pick(0.5),
        "p5": pick(0.05),
        "p95": pick(0.95),
    }


@dataclass
class TuningJob(JobRun):
    id: str
    model: str
    training: str
    validation: str | None
    epochs: int
    multiplier: float
    adapter: str
    last_only: bool
    display_name: str | None
    description: str | None
    created: float
    hyper: dict[str, Any] = field(default_factory=dict)  # hyperParameters as sent
    labels: dict[str, str] = field(default_factory=dict)
    problem: str | None = None  # why validation fails the job
    stats: dict[str, Any] = field(default_factory=dict)
    model_id: str = field(default_factory=lambda: str(secrets.randbelow(10**18) + 10**18))
    endpoint_id: str = field(default_factory=lambda: str(secrets.randbelow(10**18) + 10**18))
