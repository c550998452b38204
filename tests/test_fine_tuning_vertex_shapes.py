"""Vertex AI fine-tuning: chat examples converted at upload into Vertex's tuning format (through
the router into the fake's GCS), and the OpenAI <-> TuningJob mapping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI, BadRequestError

from aiohttp_files_router.errors import BadRequest
from aiohttp_files_router.fake import FakeVertex
from aiohttp_files_router.ids import decode_id
from aiohttp_files_router.providers.vertex_tuning import (
    job_body,
    job_checkpoints,
    job_events,
    openai_job,
    tuning_line,
)

from .conftest import MASTER, RouterFactory, ServerFactory, error_of, jsonl
from .fine_tuning_fixtures import EXAMPLE
from .vertex_fixtures import BUCKET, EMAIL, PUBLIC, vertex_entry


@pytest.fixture
def vertex(tmp_path: Path) -> FakeVertex:
    return FakeVertex({EMAIL: PUBLIC}, buckets=[BUCKET], storage=tmp_path / "gcs")


@pytest.fixture
async def vertex_server(aiohttp_server: ServerFactory, vertex: FakeVertex) -> TestServer:
    return await aiohttp_server(vertex.app())


VERTEX_EXAMPLE = {
    "systemInstruction": {"role": "system", "parts": [{"text": "Answer in French."}]},
    "contents": [
        {"role": "user", "parts": [{"text": "Hello"}]},
        {"role": "model", "parts": [{"text": "Bonjour"}]},
    ],
}


async def test_training_lines_are_stored_in_vertex_format(
    start_router: RouterFactory, vertex_server: TestServer, vertex: FakeVertex
) -> None:
    router = await start_router(
        {"model_list": [vertex_entry(vertex_server)], "general_settings": {"master_key": MASTER}}
    )
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        f = await sdk.files.create(file=("t.jsonl", jsonl([EXAMPLE] * 3)), purpose="fine-tune")
        assert f.purpose == "fine-tune"
        uploaded = jsonl([EXAMPLE] * 3)
        # Content is what the client uploaded; the object tuning jobs read is Vertex's format.
        assert (await sdk.files.content(f.id)).content == uploaded
        name = decode_id(f.id, "file").provider_id.removeprefix(f"gs://{BUCKET}/")
        stored = vertex.objects[(BUCKET, name)].path.read_bytes().splitlines()
        assert [json.loads(line) for line in stored] == [VERTEX_EXAMPLE] * 3
        # Vertex takes no preference examples: the check refuses them before GCS sees them.
        dpo = {
            "input": {"messages": [{"role": "user", "content": "Hi"}]},
            "preferred_output": [{"role": "assistant", "content": "Hello!"}],
            "non_preferred_output": [{"role": "assistant", "content": "No."}],
        }
        with pytest.raises(BadRequestError) as err:
            await sdk.files.create(file=("d.jsonl", jsonl([dpo])), purpose="fine-tune")
        body = error_of(err.value.response.json())
        assert body["message"] == (
            "Line 1 of the fine-tuning file: preference (DPO) examples are not supported on "
            "this account."
        )


def test_tools_and_tool_calls_convert() -> None:
    line = {
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            {"role": "assistant", "content": "Sunny."},
        ],
        "tools": [
            {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
        ],
    }
    out = json.loads(tuning_line(1, json.dumps(line).encode()) or b"")
    assert out["contents"][1] == {
        "role": "model",
        "parts": [{"functionCall": {"name": "weather", "args": {"city": "Paris"}}}],
    }
    assert out["contents"][2]["parts"][0]["functionResponse"]["name"] == "weather"
    assert out["tools"] == [
        {"functionDeclarations": [{"name": "weather", "parameters": {"type": "object"}}]}
    ]
    with pytest.raises(BadRequest, match="Line 7 of the fine-tuning file"):
        tuning_line(7, b'{"messages": [{"role": "robot", "content": "x"}]}')


def test_create_body_maps_what_vertex_has() -> None:
    body: dict[str, Any] = {
        "model": "gemini-2.5-flash",
        "training_file": "ignored",
        "suffix": "my-tuned",
        "method": {
            "type": "supervised",
            "supervised": {
                "hyperparameters": {
                    "n_epochs": 3,
                    "learning_rate_multiplier": 0.5,
                    "batch_size": "auto",
                }
            },
        },
    }
    job = job_body(body, "gs://b/t", "gs://b/v", {"files_router_deployment": "d"})
    assert job == {
        "baseModel": "gemini-2.5-flash",
        "supervisedTuningSpec": {
            "trainingDatasetUri": "gs://b/t",
            "validationDatasetUri": "gs://b/v",
            "hyperParameters": {"epochCount": 3, "learningRateMultiplier": 0.5},
        },
        "labels": {"files_router_deployment": "d"},
        "tunedModelDisplayName": "my-tuned",
    }


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"hyperparameters": {"batch_size": 8}}, "hyperparameters.batch_size"),
        (
            {"method": {"type": "supervised", "supervised": {"hyperparameters": {"beta": 1}}}},
            "method.supervised.hyperparameters.beta",
        ),
        ({"method": {"type": "dpo"}}, "method.type"),
        ({"seed": 42}, "seed"),
        ({"metadata": {"team": "a"}}, "metadata"),
        ({"integrations": [{"type": "wandb"}]}, "integrations"),
    ],
)
def test_what_vertex_lacks_is_a_400_naming_the_field(extra: dict[str, Any], param: str) -> None:
    with pytest.raises(BadRequest) as err:
        job_body({"model": "m", **extra}, "gs://b/t", None, {})
    assert err.value.param == param


RUNNING = {
    "name": "projects/p/locations/l/tuningJobs/123",
    "state": "JOB_STATE_RUNNING",
    "baseModel": "gemini-2.5-flash",
    "createTime": "2026-01-01T00:00:00Z",
    "startTime": "2026-01-01T00:01:00Z",
    "supervisedTuningSpec": {"trainingDatasetUri": "gs://b/t", "hyperParameters": {}},
}


def test_a_job_in_openai_shape() -> None:
    job = openai_job(RUNNING)
    assert (job["id"], job["status"], job["fine_tuned_model"]) == ("123", "running", None)
    assert (job["training_file"], job["validation_file"], job["result_files"]) == (
        "gs://b/t",
        None,
        [],
    )
    assert job["created_at"] == 1767225600 and job["finished_at"] is None
    done = {
        **RUNNING,
        "state": "JOB_STATE_SUCCEEDED",
        "endTime": "2026-01-01T01:00:00Z",
        "tunedModel": {
            "model": "projects/p/locations/l/models/9@1",
            "endpoint": "projects/p/locations/l/endpoints/7",
            "checkpoints": [
                {"checkpointId": "1", "epoch": 1, "step": 10},
                {"checkpointId": "2", "epoch": 2, "step": 20, "endpoint": "e/2"},
            ],
        },
    }
    job = openai_job(done)
    assert job["status"] == "succeeded"
    assert job["fine_tuned_model"] == "projects/p/locations/l/endpoints/7"
    assert job["finished_at"] == 1767229200
    events = job_events(done, {})
    assert [e["message"] for e in events["data"]] == [
        "The job has successfully completed",
        "Fine-tuning started",
        "Created fine-tuning job",
    ]
    assert events["has_more"] is False
    second = job_events(done, {"after": events["data"][0]["id"], "limit": "1"})
    assert [e["message"] for e in second["data"]] == ["Fine-tuning started"]
    assert second["has_more"] is True
    checkpoints = job_checkpoints(done, {})["data"]
    assert [(c["step_number"], c["fine_tuned_model_checkpoint"]) for c in checkpoints] == [
        (20, "e/2"),
        (10, "projects/p/locations/l/models/9@1#checkpoint-1"),
    ]
    assert job_checkpoints(RUNNING, {})["data"] == []
    failed = {**RUNNING, "state": "JOB_STATE_FAILED", "endTime": "2026-01-01T00:02:00Z"}
    failed["error"] = {"code": 3, "message": "bad data"}
    assert openai_job(failed)["error"] == {"code": "3", "message": "bad data", "param": None}
    assert job_events(failed, {})["data"][0]["level"] == "error"
