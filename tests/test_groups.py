"""Several deployments under one model_name: uploads spread, IDs pin, listings walk all."""

from __future__ import annotations

import io
from typing import Any

from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

from aiohttp_files_router.fake import FakeOpenAI
from aiohttp_files_router.ids import RoutedId, decode_id

from .conftest import KEY_A, KEY_B, MASTER, ONE_ROW, RouterFactory


def shared_config(upstream: TestServer, ids: bool) -> dict[str, Any]:
    api_base = str(upstream.make_url("/v1"))
    entries = []
    for n, key in enumerate((KEY_A, KEY_B)):
        entry: dict[str, Any] = {
            "model_name": "gpt-4o-batch",
            "litellm_params": {"model": "openai/gpt-4o", "api_key": key, "api_base": api_base},
        }
        if ids:
            entry["model_info"] = {"id": f"deployment-{n}", "mode": "batch"}
        entries.append(entry)
    return {"model_list": entries, "general_settings": {"master_key": MASTER}}


async def _flow(router: TestServer, fake: FakeOpenAI) -> set[str]:
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        created = [
            await sdk.files.create(
                file=(f"{i}.jsonl", io.BytesIO(ONE_ROW)),
                purpose="batch",
                extra_body={"model": "gpt-4o-batch"},
            )
            for i in range(4)
        ]
        assert len(fake.accounts["a"].files) == 2 and len(fake.accounts["b"].files) == 2
        routes = set()
        for f in created:
            decoded = decode_id(f.id, "file")
            assert isinstance(decoded, RoutedId)
            routes.add(decoded.deployment)
            holder = "a" if decoded.provider_id in fake.accounts["a"].files else "b"
            before = len(fake.requests)
            assert (await sdk.files.retrieve(f.id)).id == f.id
            assert fake.requests[before].account == holder  # pinned, not spread
        walked = [
            f.id async for f in sdk.files.list(limit=1, extra_query={"model": "gpt-4o-batch"})
        ]
        assert sorted(walked) == sorted(f.id for f in created)
        return routes


async def test_model_info_ids_pin_deployments(
    start_router: RouterFactory, upstream: TestServer, fake: FakeOpenAI
) -> None:
    router = await start_router(shared_config(upstream, ids=True))
    assert await _flow(router, fake) == {"deployment-0", "deployment-1"}


async def test_derived_routes_pin_deployments_without_model_info(
    start_router: RouterFactory, upstream: TestServer, fake: FakeOpenAI
) -> None:
    router = await start_router(shared_config(upstream, ids=False))
    routes = await _flow(router, fake)
    assert len(routes) == 2 and all(r.startswith("gpt-4o-batch-") for r in routes)


async def test_deployment_id_selects_one_deployment(
    start_router: RouterFactory, upstream: TestServer, fake: FakeOpenAI
) -> None:
    router = await start_router(shared_config(upstream, ids=True))
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        for _ in range(3):
            await sdk.files.create(
                file=("a.jsonl", io.BytesIO(ONE_ROW)),
                purpose="batch",
                extra_body={"model": "deployment-1"},
            )
        assert len(fake.accounts["b"].files) == 3 and not fake.accounts["a"].files
        listed = await sdk.files.list(extra_query={"model": "deployment-1"})
        assert len(listed.data) == 3 and listed.has_more is False


async def test_batch_runs_on_the_deployment_holding_its_file(
    start_router: RouterFactory, upstream: TestServer, fake: FakeOpenAI
) -> None:
    router = await start_router(shared_config(upstream, ids=True))
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        rows = (
            b'{"custom_id": "x", "method": "POST", "url": "/v1/chat/completions", '
            b'"body": {"model": "gpt-4o", "messages": []}}\n'
        )
        for _ in range(2):
            f = await sdk.files.create(
                file=("in.jsonl", io.BytesIO(rows)),
                purpose="batch",
                extra_body={"model": "gpt-4o-batch"},
            )
            pinned = decode_id(f.id, "file")
            assert isinstance(pinned, RoutedId)
            b = await sdk.batches.create(
                input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            assert decode_id(b.id, "batch").deployment == pinned.deployment  # type: ignore[union-attr]
            holder = "a" if pinned.deployment == "deployment-0" else "b"
            assert fake.requests[-1].account == holder and len(fake.accounts[holder].batches) == 1
            done = await sdk.batches.retrieve(b.id)
            assert done.output_file_id is not None
            assert decode_id(done.output_file_id, "file").deployment == pinned.deployment  # type: ignore[union-attr]
