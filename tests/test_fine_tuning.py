"""Fine-tuning jobs through the router on OpenAI accounts, driven by the openai SDK against
FakeOpenAI: the seed-style flow, listings across deployments, isolation between them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI, BadRequestError, NotFoundError, PermissionDeniedError

from aiohttp_files_router.fake import FakeMistral, FakeOpenAI
from aiohttp_files_router.ids import RoutedId, decode_id

from .conftest import MASTER, RouterFactory, ServerFactory, base_config, error_of
from .fine_tuning_fixtures import JobClock, check_shapes, route_of, training

BASE = "gpt-4o-mini-2024-07-18"
LIMITED = "sk-team-other-only"


async def upload(sdk: AsyncOpenAI, model: str) -> str:
    f = await sdk.files.create(
        file=("train.jsonl", io.BytesIO(training())),
        purpose="fine-tune",
        extra_body={"model": model},
    )
    return f.id


async def test_seed_flow(sdk: AsyncOpenAI, fake: FakeOpenAI) -> None:
    clock = JobClock(fake)
    train = await upload(sdk, "gpt-4o-litellm")
    valid = await upload(sdk, "gpt-4o-litellm")
    job = await sdk.fine_tuning.jobs.create(
        training_file=train, validation_file=valid, model=BASE, suffix="demo"
    )
    assert job.id.startswith("ftjob-") and route_of(job.id) == "gpt-4o-litellm"
    assert (job.training_file, job.validation_file) == (train, valid)
    assert job.model == BASE and job.status in ("validating_files", "queued")
    # Another job, on another deployment, cancelled before it runs.
    other_file = await upload(sdk, "gpt-4o-other")
    other = await sdk.fine_tuning.jobs.create(training_file=other_file, model=BASE)
    assert route_of(other.id) == "gpt-4o-other"
    cancelled = await sdk.fine_tuning.jobs.cancel(other.id)
    assert (cancelled.id, cancelled.status) == (other.id, "cancelled")

    seen = []
    while job.status not in ("succeeded", "failed", "cancelled"):
        clock.step(5)
        job = await sdk.fine_tuning.jobs.retrieve(job.id)
        seen.append(job.status)
        assert len(seen) < 50, seen
    assert job.status == "succeeded", job.error
    assert "running" in seen
    assert job.fine_tuned_model and job.finished_at
    assert job.result_files and all(
        route_of(r, "file") == "gpt-4o-litellm" for r in job.result_files
    )
    result = await (await sdk.files.content(job.result_files[0])).aread()
    assert result.startswith(b"step,")
    assert (await sdk.files.retrieve(job.result_files[0])).id == job.result_files[0]

    events = await sdk.fine_tuning.jobs.list_events(job.id, limit=100)
    assert events.data and all(e.object == "fine_tuning.job.event" for e in events.data)
    assert any("completed" in e.message.lower() for e in events.data)
    # Event cursors are the provider's own: the job's ID names the account.
    page = await sdk.fine_tuning.jobs.list_events(job.id, limit=1)
    assert len(page.data) == 1
    after = await sdk.fine_tuning.jobs.list_events(job.id, limit=1, after=page.data[0].id)
    assert after.data and after.data[0].id != page.data[0].id

    checkpoints = await sdk.fine_tuning.jobs.checkpoints.list(job.id)
    assert checkpoints.data
    assert all(c.fine_tuning_job_id == job.id for c in checkpoints.data)
    await check_shapes(sdk, job.id)

    # Listed across both deployments (no model: every one the key may use), encoded.
    listed = [j async for j in sdk.fine_tuning.jobs.list(limit=1)]
    assert sorted(j.id for j in listed) == sorted((job.id, other.id))
    assert {j.training_file for j in listed} == {train, other_file}
    # One deployment when named.
    mine = await sdk.fine_tuning.jobs.list(extra_query={"model": "gpt-4o-other"})
    assert [j.id for j in mine.data] == [other.id]


async def test_pause_and_resume(sdk: AsyncOpenAI, fake: FakeOpenAI) -> None:
    clock = JobClock(fake)
    job = await sdk.fine_tuning.jobs.create(
        training_file=await upload(sdk, "gpt-4o-litellm"), model=BASE
    )
    clock.step(25)  # running
    assert (await sdk.fine_tuning.jobs.retrieve(job.id)).status == "running"
    paused = await sdk.fine_tuning.jobs.pause(job.id)
    assert paused.id == job.id
    resumed = await sdk.fine_tuning.jobs.resume(job.id)
    assert (resumed.id, resumed.status) == (job.id, "queued")


async def test_raw_ids_need_an_account(sdk: AsyncOpenAI, fake: FakeOpenAI) -> None:
    JobClock(fake)
    train = await upload(sdk, "gpt-4o-other")
    raw = decode_id(train, "file")
    assert isinstance(raw, RoutedId)
    job = await sdk.fine_tuning.jobs.create(
        training_file=raw.provider_id, model=BASE, extra_query={"model": "gpt-4o-other"}
    )
    assert route_of(job.id) == "gpt-4o-other" and job.training_file == train
    # The provider's own job ID, with the account named by the header.
    raw_job = decode_id(job.id, "fine_tuning_job")
    assert isinstance(raw_job, RoutedId)
    again = await sdk.fine_tuning.jobs.retrieve(
        raw_job.provider_id, extra_headers={"x-litellm-model": "gpt-4o-other"}
    )
    assert again.id == job.id
    # On the other deployment that file and job do not exist: the account says so.
    with pytest.raises(BadRequestError) as err:
        await sdk.fine_tuning.jobs.create(
            training_file=raw.provider_id, model=BASE, extra_query={"model": "gpt-4o-litellm"}
        )
    assert error_of(err.value.response.json())["param"] == "training_file"
    assert raw.provider_id in err.value.response.text or train in err.value.response.text
    with pytest.raises(NotFoundError):
        await sdk.fine_tuning.jobs.retrieve(
            raw_job.provider_id, extra_headers={"x-litellm-model": "gpt-4o-litellm"}
        )


async def test_a_scoped_key_reaches_only_its_deployments_jobs(
    start_router: RouterFactory, upstream: TestServer, fake: FakeOpenAI
) -> None:
    JobClock(fake)
    router = await start_router(
        base_config(
            upstream, ownership="shared", keys=[{"key": LIMITED, "models": ["gpt-4o-other"]}]
        )
    )
    url = str(router.make_url("/v1"))
    async with (
        AsyncOpenAI(api_key=MASTER, base_url=url, max_retries=0) as master,
        AsyncOpenAI(api_key=LIMITED, base_url=url, max_retries=0) as limited,
    ):
        theirs = await master.fine_tuning.jobs.create(
            training_file=await upload(master, "gpt-4o-litellm"), model=BASE
        )
        mine = await limited.fine_tuning.jobs.create(
            training_file=await upload(limited, "gpt-4o-other"), model=BASE
        )
        for call in (
            limited.fine_tuning.jobs.retrieve(theirs.id),
            limited.fine_tuning.jobs.cancel(theirs.id),
            limited.fine_tuning.jobs.list_events(theirs.id),
            limited.fine_tuning.jobs.checkpoints.list(theirs.id),
        ):
            with pytest.raises(PermissionDeniedError):
                await call
        with pytest.raises(PermissionDeniedError):
            await limited.fine_tuning.jobs.create(
                training_file=await upload(master, "gpt-4o-litellm"), model=BASE
            )
        assert [j.id async for j in limited.fine_tuning.jobs.list()] == [mine.id]


async def test_list_filters_by_metadata(sdk: AsyncOpenAI, fake: FakeOpenAI) -> None:
    JobClock(fake)
    train = await upload(sdk, "gpt-4o-litellm")
    tagged = await sdk.fine_tuning.jobs.create(
        training_file=train, model=BASE, metadata={"team": "search"}
    )
    await sdk.fine_tuning.jobs.create(training_file=train, model=BASE)
    found = await sdk.fine_tuning.jobs.list(
        metadata={"team": "search"}, extra_query={"model": "gpt-4o-litellm"}
    )
    assert [j.id for j in found.data] == [tagged.id]
    assert found.data[0].metadata == {"team": "search"}


async def test_a_file_on_several_deployments_trains_on_the_one_named(
    sdk: AsyncOpenAI, fake: FakeOpenAI
) -> None:
    JobClock(fake)
    both = await sdk.files.create(
        file=("train.jsonl", io.BytesIO(training())),
        purpose="fine-tune",
        extra_body={"target_model_names": "gpt-4o-litellm,gpt-4o-other"},
    )
    first = await sdk.fine_tuning.jobs.create(training_file=both.id, model=BASE)
    assert route_of(first.id) == "gpt-4o-litellm"
    named = await sdk.fine_tuning.jobs.create(
        training_file=both.id, model=BASE, extra_headers={"x-litellm-model": "gpt-4o-other"}
    )
    assert route_of(named.id) == "gpt-4o-other"
    # The job names the copy it trains on.
    assert route_of(named.training_file, "file") == "gpt-4o-other"
    valid = await upload(sdk, "gpt-4o-other")
    placed = await sdk.fine_tuning.jobs.create(
        training_file=both.id, validation_file=valid, model=BASE
    )
    assert route_of(placed.id) == "gpt-4o-other"


async def test_a_bad_file_the_router_let_through_fails_the_job(
    start_router: RouterFactory, upstream: TestServer, fake: FakeOpenAI
) -> None:
    clock = JobClock(fake)
    router = await start_router(base_config(upstream, validate_tuning_files=False))
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        bad = training(12).replace(b'"assistant"', b'"robot"', 1)
        f = await sdk.files.create(
            file=("train.jsonl", io.BytesIO(bad)),
            purpose="fine-tune",
            extra_body={"model": "gpt-4o-litellm"},
        )
        job = await sdk.fine_tuning.jobs.create(training_file=f.id, model=BASE)
        clock.step(60)
        job = await sdk.fine_tuning.jobs.retrieve(job.id)
        assert job.status == "failed" and job.error is not None
        assert job.error.param == "training_file" and "Line 1" in job.error.message
        assert job.training_file == f.id and job.fine_tuned_model is None


async def test_mistral_accounts_run_no_jobs_and_merged_listings_skip_them(
    start_router: RouterFactory,
    upstream: TestServer,
    fake: FakeOpenAI,
    aiohttp_server: ServerFactory,
    tmp_path: Path,
) -> None:
    JobClock(fake)
    mistral = FakeMistral({"mistral-key-0001": "m"}, storage=tmp_path / "mistral")
    server = await aiohttp_server(mistral.app())
    config = base_config(upstream)
    config["model_list"].append(
        {
            "model_name": "mistral-batch",
            "litellm_params": {
                "model": "mistral/mistral-small-latest",
                "api_key": "mistral-key-0001",
                "api_base": str(server.make_url("/v1")),
            },
        }
    )
    router = await start_router(config)
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        job = await sdk.fine_tuning.jobs.create(
            training_file=await upload(sdk, "gpt-4o-litellm"), model=BASE
        )
        # Mistral's own fine-tuning API is not OpenAI's: never called as if it were.
        assert [j.id async for j in sdk.fine_tuning.jobs.list()] == [job.id]
        with pytest.raises(BadRequestError) as err:
            await sdk.fine_tuning.jobs.list(extra_query={"model": "mistral-batch"})
        assert error_of(err.value.response.json())["code"] == "fine_tuning_not_supported"
        with pytest.raises(BadRequestError):
            await sdk.fine_tuning.jobs.create(
                training_file="file-raw", model=BASE, extra_query={"model": "mistral-batch"}
            )
    assert not any("fine_tuning" in r.path for r in mistral.requests)
