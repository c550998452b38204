"""Proxy keys: 401 without a valid one, 403 outside a key's models (also via IDs)."""

from __future__ import annotations

import io

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from openai import AuthenticationError, PermissionDeniedError

from aiohttp_files_router.fake import FakeOpenAI

from .conftest import MASTER, ONE_ROW, RouterFactory, base_config, client, error_of

LIMITED = "sk-team-limited"


@pytest.fixture
async def keyed(start_router: RouterFactory, upstream: TestServer) -> TestServer:
    return await start_router(
        base_config(
            upstream,
            keys=[{"key": LIMITED, "models": ["gpt-4o-other"]}, {"key": "sk-team-all"}],
            ownership="shared",  # the models' scope alone (test_teams.py: ownership)
        )
    )


async def test_missing_and_wrong_keys_are_401(keyed: TestServer, fake: FakeOpenAI) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(keyed.make_url("/v1/files?model=gpt-4o-other")) as resp:
            assert resp.status == 401
            assert error_of(await resp.json())["code"] == "invalid_api_key"
    async with client(keyed, "sk-wrong") as wrong:
        with pytest.raises(AuthenticationError) as info:
            await wrong.files.list(extra_query={"model": "gpt-4o-other"})
    assert "sk-wrong" not in info.value.response.text
    assert fake.requests == []


async def test_litellm_key_header_is_accepted(keyed: TestServer) -> None:
    async with aiohttp.ClientSession() as http:
        for value in (MASTER, f"Bearer {MASTER}"):
            async with http.get(
                keyed.make_url("/v1/files?model=gpt-4o-other"), headers={"x-litellm-api-key": value}
            ) as resp:
                assert resp.status == 200


async def test_key_limited_to_models_gets_403_also_through_ids(keyed: TestServer) -> None:
    async with client(keyed, MASTER) as master, client(keyed, LIMITED) as limited:
        other = await master.files.create(
            file=("a.jsonl", io.BytesIO(ONE_ROW)),
            purpose="batch",
            extra_body={"model": "gpt-4o-other"},
        )
        mine = await master.files.create(
            file=("a.jsonl", io.BytesIO(ONE_ROW)),
            purpose="batch",
            extra_body={"model": "gpt-4o-litellm"},
        )
        assert (await limited.files.retrieve(other.id)).id == other.id
        with pytest.raises(PermissionDeniedError) as info:
            await limited.files.retrieve(mine.id)  # the model comes from the ID
        assert error_of(info.value.response.json())["type"] == "permission_error"
        with pytest.raises(PermissionDeniedError):
            await limited.files.create(
                file=("a.jsonl", io.BytesIO(ONE_ROW)),
                purpose="batch",
                extra_body={"model": "gpt-4o-litellm"},
            )
        with pytest.raises(PermissionDeniedError):
            await limited.files.content(mine.id)
        with pytest.raises(PermissionDeniedError):
            await limited.files.delete(mine.id)
        with pytest.raises(PermissionDeniedError):
            await limited.files.list(extra_query={"model": "gpt-4o-litellm"})
        with pytest.raises(PermissionDeniedError):
            await limited.batches.create(
                input_file_id=mine.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
    async with client(keyed, "sk-team-all") as everyone:
        assert (await everyone.files.retrieve(mine.id)).id == mine.id


async def test_no_keys_configured_means_open(
    start_router: RouterFactory, upstream: TestServer
) -> None:
    config = base_config(upstream)
    del config["general_settings"]
    router = await start_router(config)
    async with aiohttp.ClientSession() as http:
        async with http.get(router.make_url("/v1/files?model=gpt-4o-other")) as resp:
            assert resp.status == 200
