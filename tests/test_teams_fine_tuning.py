"""Teams own their fine-tuning jobs, tested as the attack: two teams and an admin on one
OpenAI account (and on Vertex AI and Azure OpenAI).

Team B holds every job ID of team A (retrieve, cancel, pause, resume, events, checkpoints,
list cursors), its result files, the raw provider job IDs, and team A's training file in a
create of its own: each is a 404 and nothing reaches the upstream (a raw ID costs one look-up
of its owner tag). Listings show each team its own jobs only, cursors included.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI, BadRequestError, NotFoundError

import aiohttp_files_router
from aiohttp_files_router import Identity, parse_config, resolve
from aiohttp_files_router.auth import tags_of
from aiohttp_files_router.fake import FakeAzure, FakeOpenAI, FakeVertex
from aiohttp_files_router.ids import RoutedId, decode_id
from aiohttp_files_router.keys import STATE_KEY
from aiohttp_files_router.ownership import OWNER_KEY

from .azure_fixtures import AZ_KEY, DEPLOYMENT
from .conftest import MASTER, RouterFactory, ServerFactory, base_config, client, error_of, jsonl
from .fine_tuning_fixtures import EXAMPLE, JobClock, training
from .teams_fixtures import ADMIN, ALPHA_1, ALPHA_2, BETA, SECRET, team_config
from .vertex_fixtures import BUCKET, EMAIL, PUBLIC, vertex_entry

BASE = "gpt-4o-mini-2024-07-18"
MODEL = {"model": "gpt-4o-litellm"}
KEYS = [
    {"key": ALPHA_1, "team": "alpha"},
    {"key": ALPHA_2, "team": "alpha"},
    {"key": BETA, "team": "beta"},
    {"key": ADMIN, "admin": True},
]


def provider_id(value: str, kind: str = "fine_tuning_job") -> str:
    decoded = decode_id(value, kind)  # type: ignore[arg-type]
    assert isinstance(decoded, RoutedId), value
    return decoded.provider_id


async def upload(sdk: AsyncOpenAI, model: str, body: bytes | None = None) -> str:
    f = await sdk.files.create(
        file=("train.jsonl", io.BytesIO(body or training())),
        purpose="fine-tune",
        extra_body={"model": model},
    )
    return f.id


async def refused(call: Awaitable[Any]) -> None:
    with pytest.raises(NotFoundError) as info:
        await call
    assert error_of(info.value.response.json())["message"].startswith("No such")


async def test_team_b_with_every_job_id_of_team_a_gets_404_and_nothing_goes_upstream(
    start_router: RouterFactory,
    upstream: TestServer,
    fake: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = JobClock(fake)
    teams = await start_router(team_config(upstream))
    async with client(teams, ALPHA_1) as alpha, client(teams, BETA) as beta:
        train = await upload(alpha, "gpt-4o-litellm")
        job = await alpha.fine_tuning.jobs.create(training_file=train, model=BASE)
        while job.status not in ("succeeded", "failed", "cancelled"):
            clock.step(5)
            job = await alpha.fine_tuning.jobs.retrieve(job.id)
        assert job.status == "succeeded" and job.result_files
        # The router's tag is in the job upstream, never in an answer.
        assert job.metadata is None
        sent = [r.json for r in fake.requests if r.path.endswith("/fine_tuning/jobs")]
        assert set(sent[-1]["metadata"]) == {OWNER_KEY}
        assert "alpha" not in str(sent[-1]["metadata"])
        result = job.result_files[0]
        beta_train = await upload(beta, "gpt-4o-litellm")
        seen = len(fake.requests)
        jobs = beta.fine_tuning.jobs
        with caplog.at_level(logging.DEBUG, logger="aiohttp_files_router"):
            for call in (
                jobs.retrieve(job.id),
                jobs.cancel(job.id),
                jobs.pause(job.id),
                jobs.resume(job.id),
                jobs.list_events(job.id),
                jobs.checkpoints.list(job.id),
                jobs.list(after=job.id),
                beta.files.retrieve(result),
                beta.files.content(result),
                beta.files.retrieve(train),
                jobs.create(training_file=train, model=BASE),
                jobs.create(training_file=beta_train, validation_file=train, model=BASE),
            ):
                await refused(call)
            assert len(fake.requests) == seen  # nothing reached the upstream
            # Raw provider IDs are looked up for their owner tag, and refused as missing.
            raw_job, raw_train = provider_id(job.id), provider_id(train, "file")
            await refused(jobs.retrieve(raw_job, extra_query=MODEL))
            await refused(jobs.cancel(raw_job, extra_query=MODEL))
            await refused(jobs.list_events(raw_job, extra_query=MODEL))
            await refused(jobs.checkpoints.list(raw_job, extra_query=MODEL))
            await refused(jobs.create(training_file=raw_train, model=BASE, extra_query=MODEL))
        assert not any(raw_job in r.getMessage() for r in caplog.records)
        assert (await alpha.fine_tuning.jobs.retrieve(job.id)).status == "succeeded"
        # A client's metadata cannot set the router's owner key.
        with pytest.raises(BadRequestError) as bad:
            await beta.fine_tuning.jobs.create(
                training_file=beta_train, model=BASE, metadata={OWNER_KEY: "0" * 32}
            )
        assert error_of(bad.value.response.json())["param"] == "metadata"

    # Team A (its other key too) has all of it; so has the admin.
    async with client(teams, ALPHA_2) as alpha_2, client(teams, ADMIN) as admin:
        for sdk in (alpha_2, admin):
            assert (await sdk.fine_tuning.jobs.retrieve(job.id)).id == job.id
            again = await sdk.fine_tuning.jobs.retrieve(raw_job, extra_query=MODEL)
            assert again.id == job.id and again.result_files == job.result_files
            checkpoints = await sdk.fine_tuning.jobs.checkpoints.list(job.id)
            assert checkpoints.data
            assert {c.fine_tuning_job_id for c in checkpoints.data} == {job.id}
            assert (await sdk.fine_tuning.jobs.list_events(job.id)).data
            assert (await sdk.files.content(result)).content.startswith(b"step,")
        # A job's files of the team, raw or ours, train a new job of the team.
        own = await alpha_2.fine_tuning.jobs.create(
            training_file=raw_train, model=BASE, extra_query=MODEL, metadata={"run": "2"}
        )
        assert own.training_file == train and own.metadata == {"run": "2"}
        assert (await alpha_2.fine_tuning.jobs.cancel(own.id)).status == "cancelled"


async def test_listings_show_each_team_its_own_jobs_and_no_cursor_names_another(
    start_router: RouterFactory, upstream: TestServer, fake: FakeOpenAI
) -> None:
    JobClock(fake)
    teams = await start_router(team_config(upstream, list_scan_pages=2))
    async with (
        client(teams, ALPHA_1) as alpha,
        client(teams, BETA) as beta,
        client(teams, ADMIN) as admin,
    ):
        beta_train = await upload(beta, "gpt-4o-litellm")
        mine = await beta.fine_tuning.jobs.create(training_file=beta_train, model=BASE)
        # Created after B's: listed newest first, every job of team A comes before it.
        train = await upload(alpha, "gpt-4o-litellm")
        alphas = [
            (await alpha.fine_tuning.jobs.create(training_file=train, model=BASE)).id
            for _ in range(7)
        ]
        foreign = {*alphas, *(provider_id(a) for a in alphas)}
        pages, seen, after = 0, [], None
        while True:
            query = {"limit": "2", **({"after": after} if after else {})}
            reply = await beta.get("/fine_tuning/jobs", cast_to=object, options={"params": query})
            assert isinstance(reply, dict)
            text = str(reply)
            assert not any(f in text for f in foreign), reply
            seen += [j["id"] for j in reply["data"]]
            pages += 1
            assert pages < 20
            if not reply["has_more"]:
                break
            after = reply["last_id"]
            assert after is not None
        assert seen == [mine.id]
        assert pages > 1  # the scan is bounded: short pages before B's job is reached
        listed = [j.id async for j in alpha.fine_tuning.jobs.list(limit=3)]
        assert listed == alphas[::-1]
        everything = [j.id async for j in admin.fine_tuning.jobs.list(limit=3)]
        assert set(everything) == {*alphas, mine.id}
        # B's own cursor works for B; A's job as a cursor is A's only.
        page = await beta.fine_tuning.jobs.list(after=mine.id)
        assert page.data == []
        await refused(beta.fine_tuning.jobs.list(after=alphas[0]))
        assert [j.id for j in (await alpha.fine_tuning.jobs.list(after=alphas[-1])).data] == (
            alphas[-2::-1][:20]
        )


async def test_resolve_takes_job_ids_for_their_team_only(upstream: TestServer) -> None:
    config = parse_config(base_config(upstream, id_secret=SECRET))
    sub = aiohttp_files_router.setup(
        web.Application(), config, authenticate=lambda r: Identity(admin=True)
    )
    state = sub[STATE_KEY]
    account = state.registry.accounts[0]
    tag = tags_of(config, Identity(team="alpha", models=None))[0]
    job_id = state.encoder(account, owner=tag)("fine_tuning_job", "ftjob-upstream-1")
    found = await resolve(sub, job_id, Identity(team="alpha", models=None))
    assert (found.kind, found.provider_id) == ("fine_tuning_job", "ftjob-upstream-1")
    with pytest.raises(LookupError):
        await resolve(sub, job_id, Identity(team="beta", models=None))
    assert (await resolve(sub, job_id, Identity(admin=True))).deployment == account.route


# -- Vertex AI: the owner as the tuning job's label, as for batch jobs ------------------------


@pytest.fixture
def vertex(tmp_path: Path) -> FakeVertex:
    return FakeVertex({EMAIL: PUBLIC}, buckets=[BUCKET], storage=tmp_path / "gcs")


@pytest.fixture
async def vertex_server(aiohttp_server: ServerFactory, vertex: FakeVertex) -> TestServer:
    return await aiohttp_server(vertex.app())


async def test_vertex_jobs_are_owned_by_label(
    start_router: RouterFactory, vertex_server: TestServer, vertex: FakeVertex
) -> None:
    JobClock(vertex)
    router = await start_router(
        {
            "model_list": [vertex_entry(vertex_server, name="tune-a")],
            "general_settings": {"master_key": MASTER},
            "files_router": {"id_secret": SECRET, "keys": KEYS},
        }
    )
    body = jsonl([EXAMPLE] * 16)
    tune = {"model": "tune-a"}
    async with client(router, ALPHA_1) as alpha, client(router, BETA) as beta:
        train = await upload(alpha, "tune-a", body)
        job = await alpha.fine_tuning.jobs.create(training_file=train, model="gemini-2.5-flash")
        assert job.metadata is None and job.training_file == train
        labels = [sorted(j.labels) for j in vertex.tuning_jobs.values()]
        assert labels == [sorted(("files_router_deployment", OWNER_KEY))]
        raw = provider_id(job.id)
        jobs = beta.fine_tuning.jobs
        for call in (
            jobs.retrieve(job.id),
            jobs.cancel(job.id),
            jobs.list_events(job.id),
            jobs.checkpoints.list(job.id),
            jobs.list(after=job.id),
            jobs.create(training_file=train, model="gemini-2.5-flash"),
            jobs.retrieve(raw, extra_query=tune),
            jobs.cancel(raw, extra_query=tune),
        ):
            await refused(call)
        assert (await beta.fine_tuning.jobs.list()).data == []
        assert [j.id for j in (await alpha.fine_tuning.jobs.list()).data] == [job.id]
        assert (await alpha.fine_tuning.jobs.retrieve(raw, extra_query=tune)).id == job.id
        assert (await alpha.fine_tuning.jobs.cancel(job.id)).status == "cancelled"


# -- Azure OpenAI: jobs keep no metadata, so signed IDs only ----------------------------------


async def test_azure_jobs_are_reached_through_signed_ids_only(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    azure = FakeAzure(
        {AZ_KEY: "az"}, deployments=[DEPLOYMENT], storage=tmp_path / "az", processing_seconds=0.05
    )
    JobClock(azure)
    server = await aiohttp_server(azure.app())
    entry = {
        "model_name": "ft-azure",
        "litellm_params": {
            "model": f"azure/{DEPLOYMENT}",
            "api_base": str(server.make_url("")),
            "api_key": AZ_KEY,
            "api_version": "2025-04-01-preview",
            "fine_tuning_training_type": "GlobalStandard",
        },
    }
    router = await start_router(
        {
            "model_list": [entry],
            "general_settings": {"master_key": MASTER},
            "files_router": {"id_secret": SECRET, "keys": KEYS},
        }
    )
    az = {"model": "ft-azure"}
    async with (
        client(router, ALPHA_1) as alpha,
        client(router, BETA) as beta,
        client(router, ADMIN) as admin,
    ):
        train = await upload(alpha, "ft-azure")
        job = await alpha.fine_tuning.jobs.create(
            training_file=train, model="gpt-4.1-mini-2025-04-14"
        )
        sent = [r for r in azure.requests if r.path.endswith("/fine_tuning/jobs")]
        assert sent and sent[-1].method == "POST"
        assert (await alpha.fine_tuning.jobs.retrieve(job.id)).id == job.id
        raw = provider_id(job.id)
        seen = len(azure.requests)
        for call in (
            beta.fine_tuning.jobs.retrieve(job.id),
            beta.fine_tuning.jobs.cancel(job.id),
            beta.fine_tuning.jobs.list_events(job.id),
            beta.fine_tuning.jobs.create(training_file=train, model="gpt-4.1-mini-2025-04-14"),
            # No tag upstream to check a raw job ID against: a non-admin's is a 404.
            alpha.fine_tuning.jobs.retrieve(raw, extra_query=az),
            beta.fine_tuning.jobs.retrieve(raw, extra_query=az),
        ):
            await refused(call)
        assert len(azure.requests) == seen
        # Team listings show no Azure job; the admin's show every one.
        assert (await alpha.fine_tuning.jobs.list()).data == []
        assert (await beta.fine_tuning.jobs.list()).data == []
        assert [j.id for j in (await admin.fine_tuning.jobs.list()).data] == [
            (await admin.fine_tuning.jobs.retrieve(raw, extra_query=az)).id
        ]
        assert (await alpha.fine_tuning.jobs.cancel(job.id)).status == "cancelled"
