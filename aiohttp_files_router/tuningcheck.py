"""Fine-tuning files checked while they stream in: a 400 naming the line, not a failed job.

Each line is one training example in one of the formats the account's provider trains on
(``Provider.tuning_rules``), the same format on every line:

- supervised (chat): ``messages``, each with a ``role`` the provider accepts, at least one
  ``assistant`` turn to learn from (one whose ``weight`` is not 0);
- dpo (preference): ``input.messages`` as above but no answer, ``preferred_output`` and
  ``non_preferred_output`` lists of assistant messages;
- reinforcement: ``messages`` with no assistant turn (the job grades the model's own answer);
- completions (the older base models'): ``prompt`` and ``completion`` strings.

The file must hold the provider's minimum number of examples and stay under its size. Memory:
the current line only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec

from .errors import BadRequest
from .linecheck import LineChecker
from .providers.base import TuningRules

__all__ = ["check_tuning_file"]

CODE = "invalid_fine_tuning_line"

_row = msgspec.json.Decoder(dict[str, Any])


def _bad(number: int, what: str) -> BadRequest:
    return BadRequest(f"Line {number} of the fine-tuning file: {what}", param="file", code=CODE)


def _messages(number: int, rules: TuningRules, messages: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise _bad(number, f"'{where}' must be a non-empty list of messages.")
    for n, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _bad(number, f"'{where}[{n}]' must be an object.")
        role = message.get("role")
        if not isinstance(role, str) or role not in rules.roles:
            allowed = ", ".join(sorted(rules.roles))
            raise _bad(
                number,
                f"'{where}[{n}].role' must be one of this account's roles: {allowed}.",
            )
        if "weight" in message and (role != "assistant" or message["weight"] not in (0, 1)):
            raise _bad(number, f"'{where}[{n}].weight' must be 0 or 1, on an assistant turn.")
        has_call = message.get("tool_calls") or message.get("function_call")
        if message.get("content") is None and not (role == "assistant" and has_call):
            raise _bad(number, f"'{where}[{n}]' has no 'content'.")
    return messages


def _learns_from(message: dict[str, Any]) -> bool:
    return message.get("role") == "assistant" and message.get("weight", 1) != 0


def _format(number: int, rules: TuningRules, row: dict[str, Any], expected: str | None) -> str:
    """The line's format, once it is checked to be a valid line of it; ``expected`` is the
    file's (line 1's), None on line 1."""
    if "prompt" in row and "messages" not in row:
        if "completions" not in rules.formats:
            raise _bad(number, "prompt/completion examples are not supported on this account.")
        if not isinstance(row.get("prompt"), str) or not isinstance(row.get("completion"), str):
            raise _bad(number, "'prompt' and 'completion' must be strings.")
        return "completions"
    if "preferred_output" in row or "non_preferred_output" in row:
        if "dpo" not in rules.formats:
            raise _bad(number, "preference (DPO) examples are not supported on this account.")
        source = row.get("input")
        if not isinstance(source, dict):
            raise _bad(number, "'input' must be an object holding 'messages'.")
        _messages(number, rules, source.get("messages"), "input.messages")
        for name in ("preferred_output", "non_preferred_output"):
            for message in _messages(number, rules, row.get(name), name):
                if message.get("role") != "assistant":
                    raise _bad(number, f"'{name}' must hold assistant messages only.")
        return "dpo"
    messages = _messages(number, rules, row.get("messages"), "messages")
    if any(_learns_from(m) for m in messages):
        if "supervised" not in rules.formats:
            raise _bad(number, "chat examples with assistant turns are not supported here.")
        return "supervised"
    if (
        "reinforcement" in rules.formats
        and expected in (None, "reinforcement")
        and messages[-1].get("role") != "assistant"
    ):
        return "reinforcement"
    raise _bad(number, "'messages' has no assistant turn to learn from (weight not 0).")


class _Checker(LineChecker[dict[str, Any]]):
    def __init__(self, rules: TuningRules):
        super().__init__(_row, _bad, rules.max_bytes, rules.max_lines, "examples")
        self.rules = rules
        self.format: str | None = None
        self.first = 0

    def row(self, number: int, row: dict[str, Any]) -> None:
        found = _format(number, self.rules, row, self.format)
        if self.format is None:
            self.format, self.first = found, number
        elif found != self.format:
            raise _bad(
                number,
                f"a {found} example, but line {self.first} is a {self.format} one; "
                "one format per file.",
            )

    def end(self) -> None:
        if self.lines < self.rules.min_examples:
            raise BadRequest(
                f"The fine-tuning file has {self.lines} examples; this account needs at least "
                f"{self.rules.min_examples}.",
                param="file",
                code=CODE,
            )


def check_tuning_file(chunks: AsyncIterator[bytes], rules: TuningRules) -> AsyncIterator[bytes]:
    """``chunks`` passed on as ``LineChecker.checked`` does, each line a training example;
    too few examples at the end stop the stream with a 400 too."""
    return _Checker(rules).checked(chunks)
