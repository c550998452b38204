"""Fine-tuning jobs through the router on Azure OpenAI accounts (dated and v1 paths), driven by
the openai SDK against FakeAzure: statuses and fields in OpenAI's shape, the training type
from the deployment's settings, the seed-style flow across two resources."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI, BadRequestError

from aiohttp_files_router.fake import FakeAzure

from .azure_fixtures import AZ_KEY, DEPLOYMENT
from .conftest import MASTER, RouterFactory, ServerFactory, error_of
from .fine_tuning_fixtures import JobClock, check_shapes, route_of, training

AZ_KEY_2 = "azure-key-second-resource-0123"
# A model Azure's fine-tuning how-to lists for supervised and DPO tuning.
AZURE_BASE = "gpt-4.1-mini-2025-04-14"


@pytest.fixture
def azure(tmp_path: Path) -> FakeAzure:
    return FakeAzure(
        {AZ_KEY: "az", AZ_KEY_2: "az2"},
        deployments=[DEPLOYMENT],
        storage=tmp_path / "azure",
        processing_seconds=0.05,
    )


@pytest.fixture
async def azure_server(aiohttp_server: ServerFactory, azure: FakeAzure) -> TestServer:
    return await aiohttp_server(azure.app())


def entry(
    server: TestServer, name: str, key: str, api_version: str, **extra: Any
) -> dict[str, Any]:
    return {
        "model_name": name,
        "litellm_params": {
            "model": f"azure/{DEPLOYMENT}",
            "api_base": str(server.make_url("")),
            "api_key": key,
            "api_version": api_version,
            **extra,
        },
    }


async def router_for(
    start_router: RouterFactory, server: TestServer, api_version: str, **extra: Any
) -> TestServer:
    return await start_router(
        {
            "model_list": [
                entry(server, "ft-azure", AZ_KEY, api_version, **extra),
                entry(server, "ft-azure-2", AZ_KEY_2, api_version, **extra),
            ],
            "general_settings": {"master_key": MASTER},
        }
    )


async def upload(sdk: AsyncOpenAI, model: str) -> str:
    f = await sdk.files.create(
        file=("train.jsonl", io.BytesIO(training())),
        purpose="fine-tune",
        extra_body={"model": model},
    )
    return f.id


@pytest.mark.parametrize("api_version", ["2025-04-01-preview", "v1"])
async def test_seed_flow(
    start_router: RouterFactory, azure_server: TestServer, azure: FakeAzure, api_version: str
) -> None:
    clock = JobClock(azure)
    router = await router_for(
        start_router, azure_server, api_version, fine_tuning_training_type="GlobalStandard"
    )
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        train = await upload(sdk, "ft-azure")  # processed after the fake's processing_seconds
        job = await sdk.fine_tuning.jobs.create(training_file=train, model=AZURE_BASE)
        assert route_of(job.id) == "ft-azure" and job.training_file == train
        assert job.status == "queued"  # Azure's "pending"
        assert job.validation_file is None and job.result_files == []
        sent = [r for r in azure.requests if r.path.endswith("/fine_tuning/jobs")]
        assert sent[-1].method == "POST"
        assert (v1 := "/openai/v1/" in sent[-1].path) == (api_version == "v1"), v1
        other = await sdk.fine_tuning.jobs.create(
            training_file=await upload(sdk, "ft-azure-2"), model=AZURE_BASE
        )
        assert route_of(other.id) == "ft-azure-2"
        cancelled = await sdk.fine_tuning.jobs.cancel(other.id)
        assert cancelled.status == "cancelled"

        while job.status not in ("succeeded", "failed", "cancelled"):
            clock.step(5)
            job = await sdk.fine_tuning.jobs.retrieve(job.id)
            assert job.status in ("queued", "running", "succeeded"), job.status
        assert job.status == "succeeded", job.error
        assert job.fine_tuned_model and job.hyperparameters.n_epochs == "auto"
        assert job.result_files
        assert (await (await sdk.files.content(job.result_files[0])).aread()).startswith(b"step")
        events = await sdk.fine_tuning.jobs.list_events(job.id)
        assert events.data and all(e.object == "fine_tuning.job.event" for e in events.data)
        assert all(isinstance(e.created_at, int) for e in events.data)
        checkpoints = await sdk.fine_tuning.jobs.checkpoints.list(job.id)
        assert checkpoints.data and all(c.fine_tuning_job_id == job.id for c in checkpoints.data)
        listed = [j async for j in sdk.fine_tuning.jobs.list(limit=1)]
        assert sorted(j.id for j in listed) == sorted((job.id, other.id))
        await check_shapes(sdk, job.id)
        await check_shapes(sdk, other.id)


async def test_training_type_from_the_client_wins_and_is_needed(
    start_router: RouterFactory, azure_server: TestServer, azure: FakeAzure
) -> None:
    JobClock(azure)
    router = await router_for(start_router, azure_server, "2025-04-01-preview")
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        train = await upload(sdk, "ft-azure")
        # No setting and none sent: Azure's own refusal comes back, in OpenAI's shape.
        with pytest.raises(BadRequestError) as err:
            await sdk.fine_tuning.jobs.create(training_file=train, model=AZURE_BASE)
        assert "does not support fine-tuning" in error_of(err.value.response.json())["message"]
        job = await sdk.fine_tuning.jobs.create(
            training_file=train, model=AZURE_BASE, extra_body={"trainingType": "developerTier"}
        )
        assert route_of(job.id) == "ft-azure"
        sent = [r for r in azure.requests if r.path.endswith("/fine_tuning/jobs")]
        assert sent[-1].json is not None and sent[-1].json["trainingType"] == "developerTier"


async def test_pause_and_resume(
    start_router: RouterFactory, azure_server: TestServer, azure: FakeAzure
) -> None:
    clock = JobClock(azure)
    router = await router_for(
        start_router, azure_server, "v1", fine_tuning_training_type="GlobalStandard"
    )
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        job = await sdk.fine_tuning.jobs.create(
            training_file=await upload(sdk, "ft-azure"), model=AZURE_BASE
        )
        clock.step(25)
        assert (await sdk.fine_tuning.jobs.retrieve(job.id)).status == "running"
        await sdk.fine_tuning.jobs.pause(job.id)
        resumed = await sdk.fine_tuning.jobs.resume(job.id)
        assert (resumed.id, resumed.status) == (job.id, "queued")  # Azure's "resuming"


async def test_a_file_azure_failed_to_process_is_a_400_naming_it(
    start_router: RouterFactory, azure_server: TestServer, azure: FakeAzure
) -> None:
    JobClock(azure)
    router = await start_router(
        {
            "model_list": [
                entry(
                    azure_server,
                    "ft-azure",
                    AZ_KEY,
                    "v1",
                    fine_tuning_training_type="GlobalStandard",
                )
            ],
            "general_settings": {"master_key": MASTER},
            "files_router": {"validate_tuning_files": False},
        }
    )
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        f = await sdk.files.create(
            file=("train.jsonl", io.BytesIO(training() + b"[1, 2]\n")),
            purpose="fine-tune",
        )
        with pytest.raises(BadRequestError) as err:
            await sdk.fine_tuning.jobs.create(training_file=f.id, model=AZURE_BASE)
        body = error_of(err.value.response.json())
        assert body["param"] == "training_file"
        assert body["message"].startswith(f"The file {f.id} failed processing on Azure OpenAI")
        assert not [r for r in azure.requests if r.path.endswith("/fine_tuning/jobs")]
