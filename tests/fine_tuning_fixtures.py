"""The fine-tuning side of tests: training files, a job clock, the route of a job's IDs and
the check of the router's job shapes against OpenAI's spec."""

from __future__ import annotations

import json
from typing import Any

from openai import AsyncOpenAI

from aiohttp_files_router.fake.base import FakeService
from aiohttp_files_router.ids import RoutedId, decode_id

from .common import Clock
from .conftest import jsonl
from .spec import check


def chat(n: int, **extra: Any) -> bytes:
    rows = [
        {
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": f"question {i}"},
                {"role": "assistant", "content": f"answer {i}", **extra},
            ]
        }
        for i in range(n)
    ]
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def chat_example(i: int) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You answer in one word."},
            {"role": "user", "content": f"Question {i}?"},
            {"role": "assistant", "content": f"Answer{i}"},
        ]
    }


def training(n: int = 10) -> bytes:
    return jsonl([chat_example(i) for i in range(n)])


EXAMPLE = {
    "messages": [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Bonjour"},
    ]
}


class JobClock(Clock):
    """The one test clock, set as a fake's job clock with the length of a job's phase."""

    def __init__(self, fake: FakeService, phase: float = 10.0) -> None:
        super().__init__(1_000_000.0)
        fake.clock = self
        fake.phase_seconds = phase

    def step(self, seconds: float) -> None:
        self.now += seconds


def route_of(value: str, kind: str = "fine_tuning_job") -> str:
    decoded = decode_id(value, kind)  # type: ignore[arg-type]
    assert isinstance(decoded, RoutedId), value
    return decoded.deployment


async def check_shapes(sdk: AsyncOpenAI, job_id: str) -> None:
    """The router's own answers for a job validate against OpenAI's spec."""
    jobs = sdk.fine_tuning.jobs.with_raw_response
    check("FineTuningJob", (await jobs.retrieve(job_id)).http_response.json())
    check("ListPaginatedFineTuningJobsResponse", (await jobs.list()).http_response.json())
    events = (await jobs.list_events(job_id)).http_response.json()
    check("ListFineTuningJobEventsResponse", events)
    checkpoints = sdk.fine_tuning.jobs.checkpoints.with_raw_response
    listed = (await checkpoints.list(job_id)).http_response.json()
    check("ListFineTuningJobCheckpointsResponse", listed)
