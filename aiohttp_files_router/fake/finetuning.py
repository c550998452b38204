"""The fake's fine-tuning jobs, as OpenAI documents them (the Azure flavour reshapes them).

Sources: ``/fine_tuning/jobs`` and its sub-paths, ``CreateFineTuningJobRequest``,
``FineTuningJob``, ``FineTuningJobEvent`` and ``FineTuningJobCheckpoint`` in OpenAI's OpenAPI
spec (``openai-openapi.yaml``); the ``openai`` SDK's ``fine_tuning.jobs`` resources; the
supervised fine-tuning guide ("The minimum number of examples you can provide for
fine-tuning is 10"); the cookbook's "Data preparation and analysis for chat model
fine-tuning" (the format checks: a ``messages`` list, each message with a known ``role`` and
a ``content``, no unknown keys, an assistant message in every example); the DPO guide (the
preference format ``input`` / ``preferred_output`` / ``non_preferred_output``).

A job moves ``validating_files -> queued -> running -> succeeded`` on the fake's clock, one
``phase_seconds`` per step (0 finishes at the first look after creation). The training file
is checked at create time like OpenAI's validation and a bad file fails the job once
``validating_files`` ends, with ``error.param`` naming the file and the message the line.
Cancel is immediate ("Immediately cancel a fine-tune job"); pause stops a running job until
resume, which puts it back in ``queued`` (the resume example answers ``"queued"``). A
succeeded job has a ``fine-tune-results`` file (a CSV of step metrics), checkpoints for its
last three epochs, and events, newest first.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .store import FakeAccount, FileRecord, new_id

__all__ = [
    "MIN_EXAMPLES",
    "CreateError",
    "FakeFineTune",
    "check_training_file",
    "parse_create",
]

# Supervised fine-tuning guide, "Right number of examples".
MIN_EXAMPLES = 10
TERMINAL = ("succeeded", "failed", "cancelled")
# The fake's own resolution of "auto" (the docs do not say what auto becomes): the job
# object shows numbers once the job runs, as the retrieve example of a succeeded job does.
AUTO = {
    "n_epochs": 3,
    "batch_size": 1,
    "learning_rate_multiplier": 1.8,
    "beta": 0.1,
    "reasoning_effort": "medium",
    "compute_multiplier": 1.0,
    "eval_interval": 1,
    "eval_samples": 1,
}
# CreateFineTuningJobRequest.method.<type>.hyperparameters: name -> (kind, low, high, low
# exclusive). "auto" is accepted for all but reasoning_effort (an enum).
_HYPER: dict[str, dict[str, tuple[type, float, float | None, bool]]] = {
    "supervised": {
        "batch_size": (int, 1, 256, False),
        "learning_rate_multiplier": (float, 0, None, True),
        "n_epochs": (int, 1, 50, False),
    },
    "dpo": {
        "beta": (float, 0, 2, True),
        "batch_size": (int, 1, 256, False),
        "learning_rate_multiplier": (float, 0, None, True),
        "n_epochs": (int, 1, 50, False),
    },
    "reinforcement": {
        "batch_size": (int, 1, 256, False),
        "learning_rate_multiplier": (float, 0, None, True),
        "n_epochs": (int, 1, 50, False),
        "compute_multiplier": (float, 0.00001, 10, True),
        "eval_interval": (int, 1, None, False),
        "eval_samples": (int, 1, None, False),
    },
}
REASONING_EFFORTS = ("default", "low", "medium", "high")
FIELDS = frozenset(
    {
        "model",
        "training_file",
        "hyperparameters",
        "suffix",
        "validation_file",
        "integrations",
        "seed",
        "method",
        "metadata",
    }
)
# The model-optimization guide's table of fine-tunable models per method; a fine-tuned model
# (``ft:...``) may be tuned again. babbage-002 and davinci-002 take the completions format.
SUPERVISED_MODELS = frozenset(
    {
        "gpt-4.1-2025-04-14",
        "gpt-4.1-mini-2025-04-14",
        "gpt-4.1-nano-2025-04-14",
        "gpt-4o-2024-08-06",
        "gpt-4o-mini-2024-07-18",
        "gpt-4o-mini",
        "gpt-3.5-turbo",
        "gpt-3.5-turbo-0125",
        "gpt-3.5-turbo-1106",
        "gpt-3.5-turbo-0613",
        "babbage-002",
        "davinci-002",
    }
)
COMPLETIONS_MODELS = frozenset({"babbage-002", "davinci-002"})
DPO_MODELS = frozenset(
    {
        "gpt-4.1-2025-04-14",
        "gpt-4.1-mini-2025-04-14",
        "gpt-4.1-nano-2025-04-14",
        "gpt-4o-2024-08-06",
        "gpt-4o-mini-2024-07-18",
    }
)
REINFORCEMENT_MODELS = frozenset({"o4-mini-2025-04-16"})
MODELS = {
    "supervised": SUPERVISED_MODELS,
    "dpo": DPO_MODELS,
    "reinforcement": REINFORCEMENT_MODELS,
}
# The cookbook's chat checks: "unrecognized_role" and "message_unrecognized_key", widened by
# the tool-calling and weight fields the fine-tuning chat input reference documents.
ROLES = ("system", "developer", "user", "assistant", "tool", "function")
MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call"}
)
CHAT_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})


class CreateError(ValueError):
    """A 400 for a create request: (message, param, code)."""

    def __init__(self, message: str, param: str | None, code: str | None = None):
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def _check_hyper(method: str, values: Any, where: str) -> dict[str, Any]:
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise CreateError(f"'{where}' must be an object.", where)
    known = _HYPER[method]
    out: dict[str, Any] = {}
    for name, value in values.items():
        param = f"{where}.{name}"
        if name == "reasoning_effort" and method == "reinforcement":
            if value not in REASONING_EFFORTS:
                raise CreateError(f"Invalid value for '{param}': {value!r}.", param)
            out[name] = value
            continue
        if name not in known:
            raise CreateError(f"Unrecognized hyperparameter: '{param}'.", param)
        if value == "auto":
            out[name] = value
            continue
        kind, low, high, exclusive = known[name]
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if kind is int:
            ok = ok and float(value).is_integer()
        if ok and (value < low or (exclusive and value == low) or (high and value > high)):
            ok = False
        if not ok:
            bounds = f"{'>' if exclusive else '>='} {low}" + (f" and <= {high}" if high else "")
            raise CreateError(
                f"Invalid value for '{param}': expected 'auto' or a number {bounds}.", param
            )
        out[name] = int(value) if kind is int else value
    for name in known:
        out.setdefault(name, "auto")
    if method == "reinforcement":
        out.setdefault("reasoning_effort", "default")
    return out


def _check_metadata(value: Any) -> dict[str, str] | None:
    # Metadata: "Set of 16 key-value pairs ... Keys are strings with a maximum length of 64
    # characters. Values are strings with a maximum length of 512 characters."
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > 16:
        raise CreateError("'metadata' must be an object of at most 16 pairs.", "metadata")
    for key, item in value.items():
        if len(key) > 64 or not isinstance(item, str) or len(item) > 512:
            raise CreateError(
                f"Invalid metadata pair {key!r}: keys up to 64 characters, values strings up "
                "to 512.",
                "metadata",
            )
    return dict(value)


def _check_integrations(value: Any) -> list[dict[str, Any]]:
    # CreateFineTuningJobRequest.integrations: type "wandb" (the only one) and wandb.project;
    # FineTuningJob.integrations has maxItems 5.
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 5:
        raise CreateError("'integrations' must be a list of at most 5 items.", "integrations")
    for index, item in enumerate(value):
        param = f"integrations[{index}]"
        if not isinstance(item, dict) or item.get("type") != "wandb":
            raise CreateError(f"'{param}.type' must be 'wandb'.", f"{param}.type")
        wandb = item.get("wandb")
        if not isinstance(wandb, dict) or not isinstance(wandb.get("project"), str):
            raise CreateError(f"'{param}.wandb.project' is required.", f"{param}.wandb.project")
    return [dict(item) for item in value]


def parse_create(
    body: Any, extra: frozenset[str] = frozenset(), models: dict[str, frozenset[str]] | None = None
) -> dict[str, Any]:
    """The checked fields of a create request, or CreateError (a 400). ``extra`` names a
    flavour's own fields (checked by the flavour); ``models`` its tunable models per method."""
    if not isinstance(body, dict):
        raise CreateError("The body must be a JSON object.", None)
    for name in ("model", "training_file"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise CreateError(f"Missing required parameter: '{name}'.", name)
    unknown = sorted(set(body) - FIELDS - extra)
    if unknown:
        raise CreateError(f"Unrecognized request argument supplied: {unknown[0]}", unknown[0])
    suffix = body.get("suffix")
    if suffix is not None and (not isinstance(suffix, str) or not 1 <= len(suffix) <= 64):
        raise CreateError("'suffix' must be a string of 1 to 64 characters.", "suffix")
    seed = body.get("seed")
    if seed is not None and (
        not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= 2147483647
    ):
        raise CreateError("'seed' must be an integer from 0 to 2147483647.", "seed")
    validation = body.get("validation_file")
    if validation is not None and not isinstance(validation, str):
        raise CreateError("'validation_file' must be a file ID.", "validation_file")
    method = body.get("method")
    legacy = body.get("hyperparameters")
    if method is not None and legacy is not None:
        # The docs only call ``hyperparameters`` deprecated in favour of ``method``; the fake
        # refuses both at once rather than pick one (least helpful reading).
        raise CreateError(
            "Pass hyperparameters in 'method' or in the deprecated 'hyperparameters', not both.",
            "hyperparameters",
        )
    if method is None:
        kind = "supervised"
        hyper = _check_hyper(kind, legacy, "hyperparameters")
        checked: dict[str, Any] = {"type": kind, kind: {"hyperparameters": hyper}}
    else:
        kinds = list(models or MODELS)
        if not isinstance(method, dict) or method.get("type") not in kinds:
            raise CreateError(f"'method.type' must be one of {', '.join(kinds)}.", "method.type")
        kind = method["type"]
        unknown = sorted(set(method) - {"type", kind})
        if unknown:
            raise CreateError(f"Unrecognized argument: 'method.{unknown[0]}'.", "method")
        inner = method.get(kind) or {}
        if not isinstance(inner, dict):
            raise CreateError(f"'method.{kind}' must be an object.", f"method.{kind}")
        allowed = {"hyperparameters"} | ({"grader"} if kind == "reinforcement" else set())
        unknown = sorted(set(inner) - allowed)
        if unknown:
            raise CreateError(
                f"Unrecognized argument: 'method.{kind}.{unknown[0]}'.", f"method.{kind}"
            )
        hyper = _check_hyper(kind, inner.get("hyperparameters"), f"method.{kind}.hyperparameters")
        checked = {"type": kind, kind: {"hyperparameters": hyper}}
        if kind == "reinforcement":
            # FineTuneReinforcementMethod: "grader" is required.
            grader = inner.get("grader")
            if not isinstance(grader, dict) or not isinstance(grader.get("type"), str):
                raise CreateError(
                    "'method.reinforcement.grader' is required.", "method.reinforcement.grader"
                )
            checked[kind]["grader"] = grader
    model = body["model"]
    tunable = model in (models or MODELS).get(kind, ())
    if not tunable and not (kind == "supervised" and model.startswith("ft:")):
        raise CreateError(
            f"Model {model} is not available for {kind} fine-tuning or does not exist.",
            "model",
            "model_not_available",
        )
    return {
        "model": model,
        "training_file": body["training_file"],
        "validation_file": validation,
        "method": checked,
        "suffix": suffix,
        "seed": seed if seed is not None else secrets.randbelow(2**31),
        "metadata": _check_metadata(body.get("metadata")),
        "integrations": _check_integrations(body.get("integrations")),
    }


# -- the training file ------------------------------------------------------------------------


def _lines(record: FileRecord) -> Iterator[tuple[int, bytes]]:
    with record.path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if number == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")
            if line.strip():
                yield number, line


def _message_problem(message: Any, index: int) -> str | None:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        return f"{where} must be an object."
    unknown = sorted(set(message) - MESSAGE_KEYS)
    if unknown:
        return f"{where} has an unrecognized key '{unknown[0]}'."
    role = message.get("role")
    if role not in ROLES:
        return f"{where} has an unrecognized role {role!r}."
    content = message.get("content")
    calls = role == "assistant" and ("tool_calls" in message or "function_call" in message)
    if content is None and not calls:
        return f"{where} is missing 'content'."
    if content is not None and not isinstance(content, str | list):
        return f"{where}.content must be a string or a list of content parts."
    if "weight" in message:
        # FineTuneChatCompletionRequestAssistantMessage: weight is 0 or 1, on assistant turns.
        if role != "assistant":
            return f"{where}: 'weight' is only allowed on assistant messages."
        if message["weight"] not in (0, 1) or isinstance(message["weight"], bool):
            return f"{where}.weight must be 0 or 1."
    return None


def _messages_problem(messages: Any, *, learn: bool) -> str | None:
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list."
    for index, message in enumerate(messages):
        problem = _message_problem(message, index)
        if problem:
            return problem
    if learn and not any(m["role"] == "assistant" and m.get("weight", 1) == 1 for m in messages):
        return "the example has no assistant message to learn from."
    return None


def example_problem(row: Any, kind: str, completions: bool) -> str | None:
    """Why one line is not a valid example of ``kind`` (supervised, dpo, reinforcement)."""
    if not isinstance(row, dict):
        return "each line must be a JSON object."
    if completions:
        if set(row) != {"prompt", "completion"} or not all(
            isinstance(row[k], str) for k in ("prompt", "completion")
        ):
            return 'each example must be {"prompt": str, "completion": str}.'
        return None
    if kind == "dpo":
        unknown = sorted(set(row) - {"input", "preferred_output", "non_preferred_output"})
        if unknown:
            return f"unrecognized key '{unknown[0]}'."
        source = row.get("input")
        if not isinstance(source, dict):
            return "'input' must be an object with 'messages'."
        problem = _messages_problem(source.get("messages"), learn=False)
        if problem:
            return f"input: {problem}"
        for name in ("preferred_output", "non_preferred_output"):
            output = row.get(name)
            if not isinstance(output, list) or not output:
                return f"'{name}' must be a non-empty list of assistant messages."
            for index, message in enumerate(output):
                problem = _message_problem(message, index)
                if problem:
                    return f"{name}: {problem}"
                if message["role"] != "assistant":
                    return f"{name}[{index}] must be an assistant message."
        return None
    if kind == "reinforcement":
        # The reinforcement guide: each line holds the prompt's messages and any fields the
        # grader reads; the model writes the answer, so the last message is not one of its own.
        problem = _messages_problem(row.get("messages"), learn=False)
        if problem:
            return problem
        if row["messages"][-1]["role"] == "assistant":
            return "the last message must not be an assistant message."
        return None
    unknown = sorted(set(row) - CHAT_KEYS)
    if unknown:
        return f"unrecognized key '{unknown[0]}'."
    return _messages_problem(row.get("messages"), learn=True)


def check_training_file(
    record: FileRecord, kind: str, model: str, param: str
) -> tuple[dict[str, Any] | None, int, int]:
    """(the job's error if the file is refused, examples, estimated tokens)."""
    code = f"invalid_{param}"
    completions = model in COMPLETIONS_MODELS
    examples = tokens = 0
    for number, line in _lines(record):
        try:
            row = json.loads(line)
        except ValueError:
            problem: str | None = "the line is not valid JSON."
        else:
            problem = example_problem(row, kind, completions)
        if problem:
            message = f"Invalid file format. Line {number}: {problem}"
            return {"code": code, "message": message, "param": param}, examples, tokens
        examples += 1
        tokens += max(1, len(line) // 4)
    if examples < MIN_EXAMPLES:
        # The code is the one OpenAI's failed jobs carry for this (seen in its answers; the
        # reference lists no codes).
        return (
            {
                "code": "invalid_n_examples",
                "message": f"Training file has {examples} example(s), but must have at least "
                f"{MIN_EXAMPLES} examples",
                "param": param,
            },
            examples,
            tokens,
        )
    return None, examples, tokens


# -- the job ----------------------------------------------------------------------------------


def _loss(job_id: str, step: int, offset: float = 0.0) -> float:
    noise = int(_digest(job_id, str(step))[:4], 16) / 65535 * 0.05
    return round(2.5 / (1 + 0.15 * step) + noise + offset, 4)


def _accuracy(loss: float) -> float:
    return round(max(0.0, min(1.0, 1 - loss / 3)), 4)


@dataclass
class FakeFineTune:
    id: str
    model: str
    training_file: str
    validation_file: str | None
    created: float
    method: dict[str, Any]
    seed: int
    suffix: str | None
    metadata: dict[str, str] | None
    integrations: list[dict[str, Any]]
    organization: str
    error: dict[str, Any] | None = None
    examples: int = 0
    tokens: int = 0
    start: float = 0.0  # the origin of the phase timeline (moves on resume)
    reached: int = 0  # how many phase boundaries have had their events
    paused_at: float | None = None
    finished: str | None = None
    finished_at: float | None = None
    fine_tuned_model: str | None = None
    result_files: list[str] = field(default_factory=list)
    trained_tokens: int | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.start = self.created
        self.event(self.created, f"Created fine-tuning job: {self.id}")
        self.event(self.created, f"Validating training file: {self.training_file}")
        if self.validation_file:
            self.event(self.created, f"Validating validation file: {self.validation_file}")

    @property
    def kind(self) -> str:
        kind: str = self.method["type"]
        return kind

    def hyperparameters(self, resolved: bool) -> dict[str, Any]:
        hyper: dict[str, Any] = dict(self.method[self.kind]["hyperparameters"])
        if resolved:
            hyper = {k: AUTO[k] if v == "auto" else v for k, v in hyper.items()}
            if hyper.get("reasoning_effort") == "default":
                hyper["reasoning_effort"] = AUTO["reasoning_effort"]
        return hyper

    def event(
        self,
        at: float,
        message: str,
        *,
        level: str = "info",
        kind: str = "message",
        data: dict[str, Any] | None = None,
    ) -> None:
        self.events.append(
            {
                "object": "fine_tuning.job.event",
                "id": "ftevent-" + _digest(self.id, str(len(self.events)))[:24],
                "created_at": int(at),
                "level": level,
                "message": message,
                "data": data or {},
                "type": kind,
            }
        )

    def status(self, now: float, phase: float) -> str:
        if self.finished:
            return self.finished
        if self.paused_at is not None:
            return "paused"
        elapsed = now - self.start
        if elapsed < phase:
            return "validating_files"
        if self.error:
            return "failed"
        if elapsed < 2 * phase:
            return "queued"
        if elapsed < 3 * phase:
            return "running"
        return "succeeded"

    def advance(self, account: FakeAccount, now: float, phase: float) -> str:
        """The status now, with the events, files and checkpoints of every phase passed."""
        status = self.status(now, phase)
        if self.finished or status == "paused":
            return status
        boundary = {"validating_files": 0, "failed": 1, "queued": 1, "running": 2}.get(status, 3)
        while self.reached < boundary:
            self.reached += 1
            at = self.start + self.reached * phase
            if self.reached == 1 and self.error:
                self.event(at, self.error["message"], level="error")
                which = str(self.error["param"]).replace("_", " ")
                self.event(at, f"The job failed due to an invalid {which}.", level="error")
                self._finish("failed", at)
            elif self.reached == 1:
                self.event(at, "Files validated, moving job to queued state")
            elif self.reached == 2:
                self.event(at, "Fine-tuning job started")
            else:
                self._succeed(account, at, phase)
        return self.finished or status

    def _finish(self, status: str, at: float) -> None:
        self.finished, self.finished_at = status, at

    def pause(self, now: float) -> None:
        self.paused_at = now
        self.event(now, "Fine-tuning job paused")

    def resume(self, now: float, phase: float) -> None:
        # Back to queued (the resume example's status), then running and done, one phase each.
        self.paused_at = None
        self.start, self.reached = now - phase, 1
        self.event(now, "Fine-tuning job resumed")

    def cancel(self, now: float) -> None:
        self.paused_at = None
        self.event(now, "Fine-tuning job cancelled")
        self._finish("cancelled", now)

    def _succeed(self, account: FakeAccount, at: float, phase: float) -> None:
        hyper = self.hyperparameters(resolved=True)
        epochs, batch = hyper["n_epochs"], hyper["batch_size"]
        per_epoch = max(1, math.ceil(self.examples / batch))
        total = per_epoch * epochs
        began = self.start + 2 * phase
        rows = ["step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"]
        for step in range(1, total + 1):
            loss = _loss(self.id, step)
            when = began + (at - began) * step / (total + 1)
            data: dict[str, Any] = {
                "step": step,
                "train_loss": loss,
                "total_steps": total,
                "train_mean_token_accuracy": _accuracy(loss),
            }
            valid = ["", ""]
            if self.validation_file:
                vloss = _loss(self.id, step, 0.1)
                data |= {"valid_loss": vloss, "valid_mean_token_accuracy": _accuracy(vloss)}
                valid = [str(vloss), str(_accuracy(vloss))]
            rows.append(",".join([str(step), str(loss), str(_accuracy(loss)), *valid]))
            self.event(
                when,
                f"Step {step}/{total}: training loss={loss:.2f}",
                kind="metrics",
                data=data,
            )
        tag = _digest(self.id, "model")[:8]
        self.fine_tuned_model = f"ft:{self.model}:{self.organization}:{self.suffix or ''}:{tag}"
        # "We create one full model checkpoint for you at the end of each training epoch" and
        # keep those of the last three epochs (fine-tuning guide, "Checkpointed models").
        for epoch in range(max(1, epochs - 2), epochs + 1):
            step = epoch * per_epoch
            loss = _loss(self.id, step)
            metrics: dict[str, Any] = {
                "step": step,
                "train_loss": loss,
                "train_mean_token_accuracy": _accuracy(loss),
            }
            if self.validation_file:
                vloss = _loss(self.id, step, 0.1)
                metrics |= {
                    "valid_loss": vloss,
                    "valid_mean_token_accuracy": _accuracy(vloss),
                    "full_valid_loss": vloss,
                    "full_valid_mean_token_accuracy": _accuracy(vloss),
                }
            model = self.fine_tuned_model
            if epoch < epochs:
                model = f"{model}:ckpt-step-{step}"
            when = int(began + (at - began) * step / (total + 1))
            self.checkpoints.append(
                {
                    "object": "fine_tuning.job.checkpoint",
                    "id": "ftckpt_" + _digest(self.id, str(step))[:24],
                    "created_at": when,
                    "fine_tuned_model_checkpoint": model,
                    "fine_tuning_job_id": self.id,
                    "metrics": metrics,
                    "step_number": step,
                }
            )
            self.event(when, f"Checkpoint created at step {step}")
        self.checkpoints.reverse()  # newest first, as in the list example
        csv = ("\n".join(rows) + "\n").encode()
        file_id = new_id("file-")
        account.new_file_path(file_id).write_bytes(csv)
        account.add_file(file_id, "step_metrics.csv", "fine-tune-results", len(csv), None)
        self.result_files = [file_id]
        self.trained_tokens = self.tokens * epochs
        self.event(at, f"New fine-tuned model created: {self.fine_tuned_model}")
        self.event(at, "The job has successfully completed")
        self._finish("succeeded", at)

    def to_json(self, now: float, phase: float, status: str | None = None) -> dict[str, Any]:
        """The FineTuningJob object; ``status`` pins what a create answer reports."""
        status = status or self.status(now, phase)
        done = status in TERMINAL
        # Numbers for "auto" once the job has started, as in the examples (auto when queued).
        running = self.reached >= 2
        obj: dict[str, Any] = {
            "object": "fine_tuning.job",
            "id": self.id,
            "model": self.model,
            "created_at": int(self.created),
            "finished_at": int(self.finished_at) if done and self.finished_at else None,
            "fine_tuned_model": self.fine_tuned_model if status == "succeeded" else None,
            "organization_id": f"org-{self.organization}",
            "result_files": list(self.result_files) if status == "succeeded" else [],
            "status": status,
            "validation_file": self.validation_file,
            "training_file": self.training_file,
            "trained_tokens": self.trained_tokens if status == "succeeded" else None,
            "integrations": self.integrations,
            "seed": self.seed,
            # "null if the fine-tuning job is not running".
            "estimated_finish": int(self.start + 3 * phase) if status == "running" else None,
            "method": {
                "type": self.kind,
                self.kind: {
                    k: v for k, v in self.method[self.kind].items() if k != "hyperparameters"
                }
                | {"hyperparameters": self.hyperparameters(resolved=running)},
            },
            "metadata": self.metadata,
            "error": self.error if status == "failed" else None,
        }
        if self.kind == "supervised":
            # "This value will only be returned when running supervised jobs" (FineTuningJob).
            obj["hyperparameters"] = self.hyperparameters(resolved=running)
        return obj
