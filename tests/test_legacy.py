"""The legacy selector: files_settings plus custom-llm-provider, for every file operation."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI, BadRequestError

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


async def test_no_model_and_no_selector_goes_to_litellms_default_provider(
    start_router: RouterFactory, upstream: TestServer, fake: FakeOpenAI
) -> None:
    # LiteLLM sends a call that names neither model nor provider to custom_llm_provider
    # "openai" with its files_settings entry, and answers with the provider's own IDs.
    router = await start_router(legacy_config(upstream, KEY_B))
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        created = await sdk.files.create(file=("a.jsonl", io.BytesIO(ONE_ROW)), purpose="batch")
        assert created.id in fake.accounts["b"].files
        assert [f.id async for f in sdk.files.list()] == [created.id]
        batch = await sdk.batches.create(
            input_file_id=created.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        assert batch.id in fake.accounts["b"].batches
        assert [b.id async for b in sdk.batches.list()] == [batch.id]
    assert {r.key for r in fake.requests} == {KEY_B}


async def test_default_model_outranks_the_default_provider_and_no_entry_keeps_the_400(
    start_router: RouterFactory, upstream: TestServer, fake: FakeOpenAI
) -> None:
    config = legacy_config(upstream, KEY_B)
    config["files_router"] = {"default_model": "gpt-4o-litellm"}
    router = await start_router(config)
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        await sdk.files.create(file=("a.jsonl", io.BytesIO(ONE_ROW)), purpose="batch")
    assert [r.key for r in fake.requests] == [KEY_A]

    config = legacy_config(upstream, KEY_B)
    config["files_settings"][0]["custom_llm_provider"] = "azure"
    config["files_settings"][0]["api_version"] = "v1"
    router = await start_router(config)
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        with pytest.raises(BadRequestError) as info:
            await sdk.files.create(file=("a.jsonl", io.BytesIO(ONE_ROW)), purpose="batch")
        assert info.value.code == "model_required"


KEY_C = "sk-upstream-account-c"


async def test_target_model_names_lists_those_models_merged(
    start_router: RouterFactory, aiohttp_server: Any, tmp_path: Path
) -> None:
    # LiteLLM's managed-files tests list with ?target_model_names=a,b (its listing of those
    # models' deployments); without it, the default provider's files_settings entry answers.
    fake = FakeOpenAI({KEY_A: "a", KEY_B: "b", KEY_C: "c"}, storage=tmp_path / "up")
    upstream = await aiohttp_server(fake.app())
    router = await start_router(legacy_config(upstream, KEY_C))
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        made = {}
        for model in ("gpt-4o-litellm", "gpt-4o-other", None):
            extra = {"model": model} if model else {}
            created = await sdk.files.create(
                file=("a.jsonl", io.BytesIO(ONE_ROW)), purpose="batch", extra_body=extra
            )
            batch = await sdk.batches.create(
                input_file_id=created.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            made[model] = (created.id, batch.id)
        both = {"target_model_names": "gpt-4o-litellm, gpt-4o-other"}
        files = [f.id async for f in sdk.files.list(limit=1, extra_query=both)]
        assert sorted(files) == sorted([made["gpt-4o-litellm"][0], made["gpt-4o-other"][0]])
        batches = [b.id async for b in sdk.batches.list(limit=1, extra_query=both)]
        assert sorted(batches) == sorted([made["gpt-4o-litellm"][1], made["gpt-4o-other"][1]])
        assert [f.id async for f in sdk.files.list()] == [made[None][0]]
        with pytest.raises(BadRequestError) as info:
            await sdk.files.list(extra_query={"target_model_names": "gpt-4o-other,nope"})
        assert "not found in model_list" in info.value.message
        assert info.value.param == "target_model_names"
    # The parameter is the router's: it never reaches an upstream.
    assert all("target_model_names" not in r.query for r in fake.requests)
