"""The legacy selector: files_settings plus custom-llm-provider, for every file operation."""

from __future__ import annotations

import io
from typing import Any

from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

from aiohttp_files_router.fake import FakeOpenAI

from .conftest import KEY_A, KEY_B, MASTER, ONE_ROW, RouterFactory, base_config

LEGACY = {"custom-llm-provider": "openai"}


def legacy_config(upstream: TestServer, key: str) -> dict[str, Any]:
    """The usual two accounts plus a files_settings entry for custom-llm-provider: openai."""
    config = base_config(upstream)
    config["files_settings"] = [
        {"custom_llm_provider": "openai", "api_key": key, "api_base": str(upstream.make_url("/v1"))}
    ]
    return config


async def test_all_five_file_operations_with_the_legacy_header(
    start_router: RouterFactory, upstream: TestServer, fake: FakeOpenAI
) -> None:
    router = await start_router(legacy_config(upstream, KEY_B))
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0, default_headers=LEGACY
    ) as sdk:
        created = await sdk.files.create(file=("a.jsonl", io.BytesIO(ONE_ROW)), purpose="batch")
        assert created.id in fake.accounts["b"].files  # legacy IDs stay the provider's own
        assert (await sdk.files.retrieve(created.id)).bytes == len(ONE_ROW)
        assert [f.id async for f in sdk.files.list()] == [created.id]
        assert (await sdk.files.content(created.id)).content == ONE_ROW
        assert (await sdk.files.delete(created.id)).deleted
    assert {r.key for r in fake.requests} == {KEY_B}
    assert len(fake.requests) == 6  # five, and a retrieve beside the content for its name


async def test_legacy_form_field_and_query(
    start_router: RouterFactory, upstream: TestServer, fake: FakeOpenAI
) -> None:
    router = await start_router(legacy_config(upstream, KEY_A))
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        created = await sdk.files.create(
            file=("a.jsonl", io.BytesIO(ONE_ROW)),
            purpose="batch",
            extra_body={"custom_llm_provider": "openai"},
        )
        got = await sdk.files.retrieve(created.id, extra_query={"custom_llm_provider": "openai"})
        assert got.id == created.id
    assert [r.key for r in fake.requests] == [KEY_A, KEY_A]
    assert fake.requests[0].form == {"purpose": "batch"}
