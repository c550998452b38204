"""Fine-tuning jobs through the router on Vertex AI accounts, driven by the openai SDK against
FakeVertex's tuningJobs: the seed-style flow, isolation between deployments sharing a
bucket and project."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI, BadRequestError, NotFoundError

from aiohttp_files_router.fake import FakeVertex
from aiohttp_files_router.ids import RoutedId, decode_id, encode_id

from .conftest import MASTER, RouterFactory, ServerFactory, error_of, jsonl
from .fine_tuning_fixtures import EXAMPLE, JobClock, check_shapes, route_of
from .vertex_fixtures import BUCKET, EMAIL, PUBLIC, vertex_entry

BASE = "gemini-2.5-flash"


@pytest.fixture
def vertex(tmp_path: Path) -> FakeVertex:
    return FakeVertex({EMAIL: PUBLIC}, buckets=[BUCKET], storage=tmp_path / "gcs")


@pytest.fixture
async def vertex_server(aiohttp_server: ServerFactory, vertex: FakeVertex) -> TestServer:
    return await aiohttp_server(vertex.app())


def config(server: TestServer) -> dict[str, Any]:
    return {
        "model_list": [
            vertex_entry(server, name="tune-a"),
            vertex_entry(server, name="tune-b"),
        ],
        "general_settings": {"master_key": MASTER},
    }


async def upload(sdk: AsyncOpenAI, model: str, n: int = 16) -> str:
    f = await sdk.files.create(
        file=("train.jsonl", io.BytesIO(jsonl([EXAMPLE] * n))),
        purpose="fine-tune",
        extra_body={"model": model},
    )
    return f.id


async def test_seed_flow(
    start_router: RouterFactory, vertex_server: TestServer, vertex: FakeVertex
) -> None:
    clock = JobClock(vertex)
    router = await start_router(config(vertex_server))
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        train = await upload(sdk, "tune-a")
        valid = await upload(sdk, "tune-a")
        job = await sdk.fine_tuning.jobs.create(
            training_file=train,
            validation_file=valid,
            model=BASE,
            suffix="capitals",
            method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
        )
        assert job.id.startswith("ftjob-") and route_of(job.id) == "tune-a"
        assert (job.training_file, job.validation_file, job.model) == (train, valid, BASE)
        assert job.hyperparameters.n_epochs == 2
        other = await sdk.fine_tuning.jobs.create(
            training_file=await upload(sdk, "tune-b"), model=BASE
        )
        assert route_of(other.id) == "tune-b"
        cancelled = await sdk.fine_tuning.jobs.cancel(other.id)
        assert (cancelled.id, cancelled.status) == (other.id, "cancelled")
        clock.step(30)
        cancelled = await sdk.fine_tuning.jobs.retrieve(other.id)
        assert (cancelled.status, cancelled.error) == ("cancelled", None)

        seen = []
        while job.status not in ("succeeded", "failed", "cancelled"):
            clock.step(5)
            job = await sdk.fine_tuning.jobs.retrieve(job.id)
            seen.append(job.status)
            assert len(seen) < 100, seen
        assert job.status == "succeeded", job.error
        assert job.fine_tuned_model and job.finished_at
        assert job.result_files == []  # Vertex writes no result file
        events = await sdk.fine_tuning.jobs.list_events(job.id)
        assert events.data[0].message == "The job has successfully completed"
        assert events.data[-1].message == "Created fine-tuning job"
        assert isinstance(job.trained_tokens, int) and job.trained_tokens > 0
        checkpoints = await sdk.fine_tuning.jobs.checkpoints.list(job.id)
        assert all(c.fine_tuning_job_id == job.id for c in checkpoints.data)
        # One per epoch, newest first; the last is the deployed endpoint.
        assert [c.step_number for c in checkpoints.data] == [8, 4]
        assert checkpoints.data[0].fine_tuned_model_checkpoint == job.fine_tuned_model
        listed = [j async for j in sdk.fine_tuning.jobs.list(limit=1)]
        assert sorted(j.id for j in listed) == sorted((job.id, other.id))
        await check_shapes(sdk, job.id)

        # Not offered by Vertex: a 400 naming the field.
        with pytest.raises(BadRequestError) as err:
            await sdk.fine_tuning.jobs.pause(job.id)
        assert "cannot be paused" in error_of(err.value.response.json())["message"]
        with pytest.raises(BadRequestError) as err:
            await sdk.fine_tuning.jobs.create(
                training_file=train, model=BASE, hyperparameters={"batch_size": 4}
            )
        assert error_of(err.value.response.json())["param"] == "hyperparameters.batch_size"


async def test_deployments_do_not_see_each_others_jobs(
    start_router: RouterFactory, vertex_server: TestServer, vertex: FakeVertex
) -> None:
    JobClock(vertex)
    router = await start_router(config(vertex_server))
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        train = await upload(sdk, "tune-a")
        job = await sdk.fine_tuning.jobs.create(training_file=train, model=BASE)
        decoded = decode_id(job.id, "fine_tuning_job")
        assert isinstance(decoded, RoutedId)
        # The same Vertex job named for the other deployment (an unsigned ID made by hand).
        forged = encode_id("fine_tuning_job", decoded.provider_id, "tune-b")
        for call in (
            sdk.fine_tuning.jobs.retrieve(forged),
            sdk.fine_tuning.jobs.cancel(forged),
            sdk.fine_tuning.jobs.list_events(forged),
        ):
            with pytest.raises(NotFoundError):
                await call
        # A's training file cannot train a job on B.
        file_id = decode_id(train, "file")
        assert isinstance(file_id, RoutedId)
        with pytest.raises(NotFoundError) as err:
            await sdk.fine_tuning.jobs.create(
                training_file=file_id.provider_id, model=BASE, extra_query={"model": "tune-b"}
            )
        assert error_of(err.value.response.json())["param"] == "training_file"
        page = await sdk.fine_tuning.jobs.list(extra_query={"model": "tune-b"})
        assert page.data == []
        page = await sdk.fine_tuning.jobs.list(extra_query={"model": "tune-a"})
        assert [j.id for j in page.data] == [job.id]
