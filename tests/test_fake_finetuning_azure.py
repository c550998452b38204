"""The Azure OpenAI fake's fine-tuning jobs, driven by the ``openai`` SDK's Azure client.

The fake is a witness built from Azure's REST reference (``FineTuningJob``,
``FineTuningState`` and the 2025-04-01-preview examples, see ``fake/azure.py``); these tests
hold it to them on the dated API with an api-key and on the v1 API with an Entra ID token.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from openai import AsyncAzureOpenAI, BadRequestError
from openai.types.fine_tuning import FineTuningJob

from aiohttp_files_router.fake import FakeAzure

from .common import Clock
from .conftest import ServerFactory
from .fine_tuning_fixtures import chat

KEY = "azure-api-key-0123456789"
TENANT, CLIENT_ID, CLIENT_SECRET = "tenant-1", "client-1", "secret-1"
PHASE = 100.0
PROCESSING = 1.0
MODEL = "gpt-4o-mini-2024-07-18"


class Processing:
    """The fake's file-processing clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(1_750_000_000.0)


@pytest.fixture
def processing() -> Processing:
    return Processing()


@pytest.fixture
def fake(tmp_path: Path, clock: Clock, processing: Processing) -> FakeAzure:
    azure = FakeAzure(
        {KEY: "resource"},
        deployments=["gpt-4o-batch"],
        clients={(TENANT, CLIENT_ID, CLIENT_SECRET): "resource"},
        storage=tmp_path / "azure",
        processing_seconds=PROCESSING,
        phase_seconds=PHASE,
        clock=clock,
    )
    azure.processing_clock = processing
    return azure


@pytest.fixture
async def server(aiohttp_server: ServerFactory, fake: FakeAzure) -> TestServer:
    return await aiohttp_server(fake.app())


@pytest.fixture
async def dated(server: TestServer) -> AsyncIterator[AsyncAzureOpenAI]:
    async with AsyncAzureOpenAI(
        azure_endpoint=str(server.make_url("")),
        api_key=KEY,
        api_version="2025-04-01-preview",
        max_retries=0,
    ) as client:
        yield client


@pytest.fixture
async def v1(server: TestServer) -> AsyncIterator[AsyncAzureOpenAI]:
    async with aiohttp.ClientSession() as session:

        async def token_provider() -> str:
            form = {
                "grant_type": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "scope": "https://cognitiveservices.azure.com/.default",
            }
            url = server.make_url(f"/{TENANT}/oauth2/v2.0/token")
            async with session.post(url, data=form) as resp:
                token: str = (await resp.json())["access_token"]
                return token

        async with AsyncAzureOpenAI(
            base_url=str(server.make_url("/openai/v1/")),
            api_version="preview",
            azure_ad_token_provider=token_provider,
            max_retries=0,
        ) as client:
            yield client


async def upload(
    client: AsyncAzureOpenAI, processing: Processing, data: bytes, name: str = "train.jsonl"
) -> str:
    file_id = (await client.files.create(file=(name, data), purpose="fine-tune")).id
    processing.now += PROCESSING
    return file_id


def status(job: FineTuningJob) -> str:
    """Azure answers statuses outside the SDK's Literal ("pending", "paused", "resuming")."""
    return job.status


TRAINING = {"trainingType": 1}


async def test_dated_job_from_pending_to_succeeded(
    dated: AsyncAzureOpenAI, clock: Clock, processing: Processing
) -> None:
    file_id = (await dated.files.create(file=("train.jsonl", chat(12)), purpose="fine-tune")).id
    # A file still being processed is refused, as for batches.
    with pytest.raises(BadRequestError) as caught:
        await dated.fine_tuning.jobs.create(model=MODEL, training_file=file_id, extra_body=TRAINING)
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "invalidPayload"
    processing.now += PROCESSING
    # trainingType is required (BerriAI/litellm#24687), with Azure's misleading message.
    with pytest.raises(BadRequestError) as caught:
        await dated.fine_tuning.jobs.create(model=MODEL, training_file=file_id)
    assert "does not support fine-tuning" in str(caught.value)

    raw = await dated.fine_tuning.jobs.with_raw_response.create(
        model=MODEL,
        training_file=file_id,
        seed=3,
        metadata={"team": "blue"},
        extra_body={"trainingType": "GlobalStandard"},
    )
    assert raw.status_code == 201  # post_finetuning_job.json
    body: dict[str, Any] = json.loads(raw.text)
    assert body["status"] == "pending" and body["id"].startswith("ft-")
    assert body["hyperparameters"] == {"n_epochs": -1}
    assert body["method"] == {"type": "supervised"}
    assert body["organization_id"] is None and body["result_files"] is None
    for absent in ("metadata", "finished_at", "fine_tuned_model", "error", "trained_tokens"):
        assert absent not in body
    job_id = body["id"]

    seen = []
    for _ in range(3):
        clock.now += PHASE
        seen.append(status(await dated.fine_tuning.jobs.retrieve(job_id)))
    assert seen == ["pending", "running", "succeeded"]
    done = await dated.fine_tuning.jobs.retrieve(job_id)
    assert done.fine_tuned_model == f"{MODEL}.{job_id}"
    assert done.hyperparameters.n_epochs == -1  # still as asked, as in the examples
    (result,) = done.result_files
    meta = await dated.files.retrieve(result)
    assert meta.purpose == "fine-tune-results"
    assert (await dated.files.content(result)).text.startswith("step,train_loss,")

    events = [e async for e in dated.fine_tuning.jobs.list_events(job_id, limit=7)]
    times = [e.created_at for e in events]
    assert times == sorted(times)  # oldest first, as get_finetuning_job_events.json
    assert events[-1].message == "The job has successfully completed"
    checkpoints = (await dated.fine_tuning.jobs.checkpoints.list(job_id)).data
    assert [c.step_number for c in checkpoints] == [12, 24, 36]  # oldest first
    assert checkpoints[0].fine_tuned_model_checkpoint == f"{MODEL}.{job_id}:ckpt-step-12"


async def test_v1_pause_resume_cancel_and_list(
    v1: AsyncAzureOpenAI, clock: Clock, processing: Processing, fake: FakeAzure
) -> None:
    file_id = await upload(v1, processing, chat(10))
    raw = await v1.fine_tuning.jobs.with_raw_response.create(
        model=MODEL, training_file=file_id, extra_body=TRAINING, metadata={"team": "red"}
    )
    assert raw.status_code == 200
    job = raw.parse()
    other = await v1.fine_tuning.jobs.create(
        model=MODEL, training_file=file_id, extra_body=TRAINING
    )
    cancelled = await v1.fine_tuning.jobs.cancel(other.id)
    assert status(cancelled) == "cancelled" and cancelled.fine_tuned_model is None
    clock.now += 2 * PHASE
    assert status(await v1.fine_tuning.jobs.retrieve(job.id)) == "running"
    assert status(await v1.fine_tuning.jobs.pause(job.id)) == "paused"
    clock.now += 5 * PHASE
    assert status(await v1.fine_tuning.jobs.retrieve(job.id)) == "paused"
    assert status(await v1.fine_tuning.jobs.resume(job.id)) == "resuming"
    assert status(await v1.fine_tuning.jobs.retrieve(job.id)) == "pending"
    clock.now += 2 * PHASE
    assert status(await v1.fine_tuning.jobs.retrieve(job.id)) == "succeeded"

    # Azure's list has no metadata filter: the fake ignores it and lists every job.
    listed = [j.id async for j in v1.fine_tuning.jobs.list(metadata={"team": "red"}, limit=1)]
    assert listed == [other.id, job.id]
    assert all(r.account == "resource" for r in fake.requests if "fine_tuning" in r.path)
    assert any(r.path.startswith("/openai/v1/fine_tuning/jobs") for r in fake.requests)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"model": "gpt-4o-mini"}, "not available"),  # OpenAI's alias, not Azure's model
        ({"model": "o4-mini-2025-04-16", "method": {"type": "reinforcement"}}, "method.type"),
        ({"suffix": "my.suffix"}, "40 characters"),
        ({"extra_body": {"trainingType": "premium"}}, "does not support fine-tuning"),
        ({"extra_body": {"training_type": 1, "trainingType": 1}}, "training_type"),
    ],
)
async def test_create_refuses_what_azure_does_not_take(
    dated: AsyncAzureOpenAI, processing: Processing, change: dict[str, Any], fragment: str
) -> None:
    body: dict[str, Any] = {
        "model": MODEL,
        "training_file": await upload(dated, processing, chat(10)),
        "extra_body": TRAINING,
    }
    with pytest.raises(BadRequestError) as caught:
        await dated.fine_tuning.jobs.create(**(body | change))
    assert fragment in str(caught.value)
    err = caught.value.body
    assert isinstance(err, dict) and set(err) == {"code", "message"}  # Azure's error shape


async def test_a_bad_file_fails_the_job(
    dated: AsyncAzureOpenAI, clock: Clock, processing: Processing
) -> None:
    job = await dated.fine_tuning.jobs.create(
        model=MODEL,
        training_file=await upload(dated, processing, chat(4)),
        extra_body=TRAINING,
    )
    clock.now += PHASE
    failed = await dated.fine_tuning.jobs.retrieve(job.id)
    assert status(failed) == "failed" and failed.error
    assert failed.error.param == "training_file" and "at least 10" in failed.error.message


async def test_a_fine_tune_file_that_is_not_jsonl_ends_in_error(
    dated: AsyncAzureOpenAI, processing: Processing
) -> None:
    # Files - Upload: purpose "fine-tune" "allows us to validate the format of the file".
    file_id = await upload(dated, processing, chat(10) + b"not json\n")
    found = await dated.files.retrieve(file_id)
    assert found.status == "error"  # Azure's FileState
    assert found.status_details and "line 11" in found.status_details
    with pytest.raises(BadRequestError) as caught:
        await dated.fine_tuning.jobs.create(model=MODEL, training_file=file_id, extra_body=TRAINING)
    assert "'error' state" in str(caught.value)
