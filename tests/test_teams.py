"""Teams own their objects, tested as the attack: two teams and an admin on one account.

Team B holds every ID of team A (files, batches, output files, fan-out IDs, cursors,
``input_file_id``), raw provider IDs, IDs with the owner removed or swapped, metadata and
filenames imitating the router's tag; each is a 404 (or 400) and nothing reaches the upstream.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI, BadRequestError, NotFoundError

from aiohttp_files_router import ConfigError, parse_config
from aiohttp_files_router.fake import FakeOpenAI
from aiohttp_files_router.ownership import OWNER_KEY

from .conftest import MASTER, ONE_ROW, RouterFactory, base_config, client, error_of
from .teams_fixtures import ADMIN, ALPHA_1, ALPHA_2, BETA, LONE, SECRET, team_config

HOST_APP = Path(__file__).resolve().parent.parent / "examples" / "host_app.py"
MODEL = {"model": "gpt-4o-litellm"}


@pytest.fixture
async def teams(start_router: RouterFactory, upstream: TestServer) -> TestServer:
    return await start_router(team_config(upstream))


def text_of(routed_id: str) -> str:
    payload = routed_id.split("-", 1)[1] if routed_id.startswith("file-") else routed_id[6:]
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()


def as_id(prefix: str, text: str) -> str:
    return prefix + base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


async def upload(
    sdk: AsyncOpenAI, name: str = "rows.jsonl", body_model: str = "gpt-4o-litellm"
) -> Any:
    return await sdk.files.create(
        file=(name, io.BytesIO(ONE_ROW)), purpose="batch", extra_body={"model": body_model}
    )


async def test_private_without_id_secret_fails_naming_both_settings(
    upstream: TestServer,
) -> None:
    config = base_config(upstream, keys=[{"key": BETA, "team": "beta"}])
    with pytest.raises(ConfigError) as info:
        parse_config(config, "<test>")
    assert "files_router.ownership" in str(info.value)
    assert "files_router.id_secret" in str(info.value)
    # Admin keys alone, or shared ownership, need no secret.
    parse_config(base_config(upstream, keys=[{"key": ADMIN, "admin": True}]))
    parse_config(base_config(upstream, keys=[{"key": BETA}], ownership="shared"))


async def test_team_b_with_every_id_of_team_a_gets_404_and_nothing_goes_upstream(
    teams: TestServer, fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    async with client(teams, ALPHA_1) as alpha, client(teams, BETA) as beta:
        file = await upload(alpha)
        batch = await alpha.batches.create(
            input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        done = await alpha.batches.retrieve(batch.id)
        assert done.status == "completed" and done.output_file_id
        output = done.output_file_id
        raw_file = text_of(file.id).split(";")[0].removeprefix("litellm:")
        seen = len(fake.requests)
        with caplog.at_level(logging.DEBUG, logger="aiohttp_files_router"):
            for call in (
                beta.files.retrieve(file.id),
                beta.files.content(file.id),
                beta.files.delete(file.id),
                beta.files.retrieve(output),
                beta.files.content(output),
                beta.batches.retrieve(batch.id),
                beta.batches.cancel(batch.id),
                beta.batches.create(
                    input_file_id=file.id,
                    endpoint="/v1/chat/completions",
                    completion_window="24h",
                ),
                beta.files.list(after=file.id),
                beta.batches.list(after=batch.id),
            ):
                with pytest.raises(NotFoundError) as info:
                    await call
                assert error_of(info.value.response.json())["message"].startswith("No such")
            assert len(fake.requests) == seen  # nothing reached the upstream
            # A raw provider ID is looked up, and refused as missing.
            with pytest.raises(NotFoundError):
                await beta.files.retrieve(raw_file, extra_query=MODEL)
            with pytest.raises(NotFoundError):
                await beta.files.delete(raw_file, extra_query=MODEL)
        assert not any(raw_file in r.getMessage() for r in caplog.records)
        # Team A still has all of it (the other key of the team too), the tag not shown.
        async with client(teams, ALPHA_2) as alpha_2:
            mine = await alpha_2.files.retrieve(file.id)
            assert mine.filename == "rows.jsonl"
            assert (await alpha_2.files.content(output)).content
            assert (await alpha_2.files.retrieve(raw_file, extra_query=MODEL)).id == file.id
        assert (await alpha.batches.retrieve(batch.id)).metadata is None


async def test_admin_and_master_reach_every_team_and_ownerless_objects(
    teams: TestServer,
) -> None:
    async with (
        client(teams, ALPHA_1) as alpha,
        client(teams, ADMIN) as admin,
        client(teams, MASTER) as master,
        client(teams, BETA) as beta,
    ):
        file = await upload(alpha)
        assert (await admin.files.retrieve(file.id)).filename == "rows.jsonl"
        assert (await master.files.retrieve(file.id)).id == file.id
        ownerless = await upload(master, "other.jsonl")
        for team in (alpha, beta):
            with pytest.raises(NotFoundError):
                await team.files.retrieve(ownerless.id)
        assert (await admin.files.retrieve(ownerless.id)).id == ownerless.id
        # The admin's listing gives each object with its owner's ID: team A can use it.
        listed = {f.filename: f.id for f in (await admin.files.list(extra_query=MODEL)).data}
        assert listed["rows.jsonl"] == file.id
        assert (await alpha.files.retrieve(listed["rows.jsonl"])).filename == "rows.jsonl"


async def test_a_key_without_a_team_owns_alone(teams: TestServer) -> None:
    async with client(teams, LONE) as lone, client(teams, ALPHA_1) as alpha:
        file = await upload(lone)
        assert (await lone.files.retrieve(file.id)).id == file.id
        with pytest.raises(NotFoundError):
            await alpha.files.retrieve(file.id)
        theirs = await upload(alpha)
        with pytest.raises(NotFoundError):
            await lone.files.retrieve(theirs.id)


async def test_owner_removed_or_swapped_is_404(teams: TestServer) -> None:
    async with client(teams, ALPHA_1) as alpha, client(teams, BETA) as beta:
        file_a = await upload(alpha)
        file_b = await upload(beta)
        text_a, text_b = text_of(file_a.id), text_of(file_b.id)
        own_a = text_a.split(";own,")[1].split(";")[0]
        own_b = text_b.split(";own,")[1].split(";")[0]
        stripped = as_id("file-", text_a.replace(f";own,{own_a}", ""))
        swapped = as_id("file-", text_a.replace(own_a, own_b))
        unsigned = as_id("file-", text_a.split(";sig,")[0])
        for forged in (stripped, swapped, unsigned):
            for sdk in (alpha, beta):
                with pytest.raises(NotFoundError):
                    await sdk.files.retrieve(forged)


async def test_metadata_keeps_the_clients_pairs_and_refuses_the_router_key(
    teams: TestServer, fake: FakeOpenAI
) -> None:
    async with client(teams, ALPHA_1) as alpha:
        file = await upload(alpha)
        batch = await alpha.batches.create(
            input_file_id=file.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata={"project": "x"},
        )
        assert batch.metadata == {"project": "x"}
        seen = len(fake.requests)
        for metadata in ({OWNER_KEY: "0" * 32}, {f"{i}": "v" for i in range(16)}):
            with pytest.raises(BadRequestError) as info:
                await alpha.batches.create(
                    input_file_id=file.id,
                    endpoint="/v1/chat/completions",
                    completion_window="24h",
                    metadata=metadata,
                )
            assert error_of(info.value.response.json())["param"] == "metadata"
        assert len(fake.requests) == seen
        listed = await alpha.batches.list(extra_query=MODEL)
        assert [b.metadata for b in listed.data] == [{"project": "x"}]


async def test_a_filename_imitating_another_teams_tag_stays_its_uploaders(
    teams: TestServer,
) -> None:
    async with client(teams, ALPHA_1) as alpha, client(teams, BETA) as beta:
        file_a = await upload(alpha)
        tag_a = text_of(file_a.id).split(";own,")[1].split(";")[0]
        fake_name = f"fro-{tag_a}.evil.jsonl"
        imitation = await upload(beta, fake_name)
        assert imitation.filename == fake_name
        alphas = (await alpha.files.list(extra_query=MODEL)).data
        assert [f.id for f in alphas] == [file_a.id]
        betas = (await beta.files.list(extra_query=MODEL)).data
        assert [f.filename for f in betas] == [fake_name]


async def test_batch_output_files_are_in_no_team_listing_but_reached_through_the_batch(
    teams: TestServer,
) -> None:
    async with client(teams, ALPHA_1) as alpha, client(teams, ADMIN) as admin:
        file = await upload(alpha)
        batch = await alpha.batches.create(
            input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        done = await alpha.batches.retrieve(batch.id)
        assert done.output_file_id
        listed = [f.id for f in (await alpha.files.list(extra_query=MODEL)).data]
        assert listed == [file.id]
        assert (await alpha.files.content(done.output_file_id)).content
        everything = (await admin.files.list(extra_query=MODEL)).data
        assert {f.purpose for f in everything} == {"batch", "batch_output"}


async def test_fan_out_copies_belong_to_the_team(
    start_router: RouterFactory, upstream: TestServer
) -> None:
    router = await start_router(team_config(upstream))
    async with client(router, ALPHA_1) as alpha, client(router, BETA) as beta:
        copies = await alpha.files.create(
            file=("rows.jsonl", io.BytesIO(ONE_ROW)),
            purpose="batch",
            extra_body={"target_model_names": "gpt-4o-litellm,gpt-4o-other"},
        )
        assert ";model2," in text_of(copies.id)
        assert (await alpha.files.retrieve(copies.id)).filename == "rows.jsonl"
        for call in (beta.files.retrieve(copies.id), beta.files.delete(copies.id)):
            with pytest.raises(NotFoundError):
                await call
        for model in ("gpt-4o-litellm", "gpt-4o-other"):
            mine = (await alpha.files.list(extra_query={"model": model})).data
            assert len(mine) == 1 and mine[0].filename == "rows.jsonl"
            assert (await beta.files.list(extra_query={"model": model})).data == []


async def test_listing_scans_a_bounded_number_of_pages_and_names_no_foreign_id(
    start_router: RouterFactory, upstream: TestServer, fake: FakeOpenAI
) -> None:
    """A thousand objects of team A listed before the one of team B."""
    router = await start_router(team_config(upstream, list_scan_pages=4))
    async with client(router, ALPHA_1) as alpha, client(router, BETA) as beta:
        theirs = await upload(beta, "b.jsonl")
        gate = asyncio.Semaphore(16)

        async def one() -> str:
            async with gate:
                return str((await upload(alpha, "a.jsonl")).id)

        alphas = set(await asyncio.gather(*(one() for _ in range(1000))))
        foreign = {text_of(a).split(";")[0] for a in alphas}
        pages = 0
        found: list[str] = []
        after: str | None = None
        async with aiohttp.ClientSession() as http:
            while True:
                query = {**MODEL, "limit": "100"}
                if after is not None:
                    query["after"] = after
                before = len(fake.requests)
                async with http.get(
                    router.make_url("/v1/files"),
                    params=query,
                    headers={"Authorization": f"Bearer {BETA}"},
                ) as resp:
                    assert resp.status == 200
                    page = await resp.json()
                pages += 1
                assert len(fake.requests) - before <= 4  # the bound
                for name in ("first_id", "last_id"):
                    value = page[name]
                    if value is not None and not value.startswith("file-frc."):
                        assert value not in alphas
                        assert text_of(value).split(";")[0] not in foreign
                found += [f["id"] for f in page["data"]]
                assert not set(found) & alphas
                if not page["has_more"]:
                    break
                after = page["last_id"]
        assert found == [theirs.id]
        assert pages == 3  # 1000 / (4 pages of 100) -> two short pages, then B's
        # The sealed cursor is the caller's only: team A cannot continue B's scan.
        async with http_get(router, ALPHA_1, {**MODEL, "after": str(after)}) as status:
            assert status == 404


class http_get:
    """GET /v1/files with ``key``; the status."""

    def __init__(self, router: TestServer, key: str, query: dict[str, str]) -> None:
        self.router, self.key, self.query = router, key, query
        self.http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> int:
        self.http = aiohttp.ClientSession()
        async with self.http.get(
            self.router.make_url("/v1/files"),
            params=self.query,
            headers={"Authorization": f"Bearer {self.key}"},
        ) as resp:
            return resp.status

    async def __aexit__(self, *exc: object) -> None:
        assert self.http is not None
        await self.http.close()


async def test_azure_teams_are_kept_apart_by_ids_tags_and_listings(
    start_router: RouterFactory, aiohttp_server: Any, tmp_path: Any
) -> None:
    from aiohttp_files_router.fake import FakeAzure

    from .azure_fixtures import AZ_KEY, DEPLOYMENT, azure_entry

    azure = FakeAzure({AZ_KEY: "az"}, deployments=[DEPLOYMENT], storage=tmp_path / "az")
    server = await aiohttp_server(azure.app())
    config = {
        "model_list": [azure_entry(server)],
        "general_settings": {"master_key": MASTER},
        "files_router": {
            "id_secret": SECRET,
            "keys": [{"key": ALPHA_1, "team": "alpha"}, {"key": BETA, "team": "beta"}],
        },
    }
    router = await start_router(config)
    rows = b'{"custom_id": "r1", "method": "POST", "url": "/chat/completions", "body": {}}\n'
    async with client(router, ALPHA_1) as alpha, client(router, BETA) as beta:
        file = await alpha.files.create(file=("az.jsonl", io.BytesIO(rows)), purpose="batch")
        assert file.filename == "az.jsonl"
        batch = await alpha.batches.create(
            input_file_id=file.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata={"ticket": "42"},
        )
        assert batch.metadata == {"ticket": "42"}
        raw = text_of(file.id).split(";")[0].removeprefix("litellm:")
        seen = len(azure.requests)
        for call in (
            beta.files.retrieve(file.id),
            beta.batches.retrieve(batch.id),
            beta.batches.cancel(batch.id),
            beta.files.list(after=file.id),
        ):
            with pytest.raises(NotFoundError):
                await call
        assert len(azure.requests) == seen
        with pytest.raises(NotFoundError):
            await beta.files.retrieve(raw)  # looked up upstream: not beta's
        assert (await beta.files.list()).data == []
        assert (await beta.batches.list()).data == []
        assert [f.filename for f in (await alpha.files.list()).data] == ["az.jsonl"]
        mine = (await alpha.batches.list()).data
        assert [(b.id, b.metadata) for b in mine] == [(batch.id, {"ticket": "42"})]
        assert (await alpha.files.retrieve(raw)).id == file.id


async def test_the_demo_has_two_teams(aiohttp_server: Any) -> None:
    from aiohttp_files_router.demo import DEMO_KEY, DEMO_TEAM_KEYS, demo_app

    router = await aiohttp_server(demo_app(0.0))
    team_a, team_b = DEMO_TEAM_KEYS
    async with (
        client(router, team_a) as alpha,
        client(router, team_b) as beta,
        client(router, DEMO_KEY) as admin,
    ):
        file = await upload(alpha, "demo.jsonl")
        with pytest.raises(NotFoundError):
            await beta.files.retrieve(file.id)
        assert (await beta.files.list(extra_query=MODEL)).data == []
        assert (await admin.files.retrieve(file.id)).filename == "demo.jsonl"


async def test_the_host_app_example_authenticates_and_resolves(
    aiohttp_client: Any, upstream: TestServer
) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("host_app_example", HOST_APP)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    app = example.build(parse_config(base_config(upstream, id_secret=SECRET)))
    http = await aiohttp_client(app)
    alice = {"Authorization": "Bearer session-alice"}
    bob = {"Authorization": "Bearer session-bob"}
    data = {"purpose": "batch", "model": "gpt-4o-litellm", "file": io.BytesIO(ONE_ROW)}
    created = await (await http.post("/v1/files", data=data, headers=alice)).json()
    found = await http.get(f"/summarise/{created['id']}", headers=alice)
    assert found.status == 200
    assert (await found.json())["deployment"] == "gpt-4o-litellm"
    assert (await http.get(f"/summarise/{created['id']}", headers=bob)).status == 404
    assert (await http.get(f"/v1/files/{created['id']}", headers=bob)).status == 404
    resp = await http.get("/v1/files?model=gpt-4o-other", headers=alice)
    assert resp.status == 403  # alice's models
    resp = await http.get("/v1/files?model=gpt-4o-litellm")
    assert resp.status == 401
    assert "Sign in" in error_of(await resp.json())["message"]


async def test_a_listing_across_deployments_shows_each_team_its_own(
    teams: TestServer,
) -> None:
    async with client(teams, ALPHA_1) as alpha, client(teams, BETA) as beta:
        mine = set()
        for model in ("gpt-4o-litellm", "gpt-4o-other"):
            for _ in range(2):
                mine.add((await upload(alpha, body_model=model)).id)
        theirs = (await upload(beta, body_model="gpt-4o-other")).id
        seen = [f.id async for f in alpha.files.list(limit=1)]  # the SDK walks the pages
        assert set(seen) == mine and len(seen) == 4
        assert [f.id async for f in beta.files.list(limit=1)] == [theirs]
