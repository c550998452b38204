"""Every batch endpoint OpenAI's spec lists, on the fake and through the router, and the
per-endpoint checks an upload gets (required body fields, no streaming), naming the line."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI, BadRequestError

from aiohttp_files_router.fake import FakeAzure, FakeOpenAI

from .azure_fixtures import AZ_KEY, DEPLOYMENT, azure_entry, config
from .conftest import KEY_A, MASTER, RouterFactory, ServerFactory, error_of, jsonl

SPEC = Path("/work/shared/openai-openapi.yaml")

BODIES: dict[str, dict[str, Any]] = {
    "/v1/responses": {"model": "gpt-4o", "input": "hi"},
    "/v1/chat/completions": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
    "/v1/embeddings": {"model": "text-embedding-3-small", "input": "hi"},
    "/v1/completions": {"model": "gpt-3.5-turbo-instruct", "prompt": "hi"},
    "/v1/moderations": {"model": "omni-moderation-latest", "input": "I will kill the process"},
    "/v1/images/generations": {"model": "gpt-image-1", "prompt": "a cat"},
    "/v1/images/edits": {
        "model": "gpt-image-1",
        "images": [{"image_url": "https://x/a.png"}],
        "prompt": "hat",
    },
    "/v1/videos": {"model": "sora-2", "prompt": "a wave"},
}


def rows(endpoint: str, n: int = 2, **extra: Any) -> bytes:
    return jsonl(
        [
            {
                "custom_id": f"r-{i}",
                "method": "POST",
                "url": endpoint,
                "body": {**BODIES[endpoint], **extra},
            }
            for i in range(n)
        ]
    )


def test_the_endpoints_are_the_specs() -> None:
    if not SPEC.exists():  # pragma: no cover - the shared spec is beside the repository
        pytest.skip("OpenAI's spec is not here")
    spec = yaml.safe_load(SPEC.read_text())
    endpoint = spec["components"]["schemas"]["CreateBatchRequest"]["properties"]["endpoint"]
    assert set(endpoint["enum"]) == set(BODIES) == set(FakeOpenAI.endpoints)


@pytest.mark.parametrize("endpoint", list(BODIES))
async def test_fake_runs_every_endpoint_with_the_sdk(
    aiohttp_server: ServerFactory, tmp_path: Path, endpoint: str
) -> None:
    fake = FakeOpenAI({KEY_A: "a"}, storage=tmp_path)
    server = await aiohttp_server(fake.app())
    async with AsyncOpenAI(
        api_key=KEY_A, base_url=str(server.make_url("/v1")), max_retries=0
    ) as sdk:
        f = await sdk.files.create(file=("in.jsonl", io.BytesIO(rows(endpoint))), purpose="batch")
        b = await sdk.batches.create(
            input_file_id=f.id,
            endpoint=endpoint,  # type: ignore[arg-type]  # the SDK's literal may lag the spec
            completion_window="24h",
        )
        b = await sdk.batches.retrieve(b.id)
        assert b.status == "completed" and b.output_file_id
        out = [json.loads(x) for x in (await sdk.files.content(b.output_file_id)).text.splitlines()]
    assert [r["response"]["status_code"] for r in out] == [200, 200]
    body = out[0]["response"]["body"]
    if endpoint == "/v1/moderations":
        assert body["results"][0]["flagged"] is True and "category_scores" in body["results"][0]
    elif endpoint.startswith("/v1/images/"):
        assert body["data"][0]["b64_json"]
    elif endpoint == "/v1/videos":
        assert body["object"] == "video" and body["prompt"] == "a wave"


async def test_fake_fails_rows_that_stream_or_miss_a_required_field(
    aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    fake = FakeOpenAI({KEY_A: "a"}, storage=tmp_path)
    server = await aiohttp_server(fake.app())
    data = rows("/v1/moderations", 1, stream=True) + jsonl(
        [{"custom_id": "no-input", "method": "POST", "url": "/v1/moderations", "body": {}}]
    )
    async with AsyncOpenAI(
        api_key=KEY_A, base_url=str(server.make_url("/v1")), max_retries=0
    ) as sdk:
        f = await sdk.files.create(file=("in.jsonl", io.BytesIO(data)), purpose="batch")
        b = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/moderations", completion_window="24h"
        )
        b = await sdk.batches.retrieve(b.id)
        assert b.error_file_id
        errors = (await sdk.files.content(b.error_file_id)).text.splitlines()
    params = sorted(json.loads(x)["response"]["body"]["error"]["param"] for x in errors)
    assert params == ["input", "stream"]


@pytest.mark.parametrize("endpoint", ["/v1/moderations", "/v1/images/generations", "/v1/videos"])
async def test_router_takes_every_openai_endpoint(
    sdk: AsyncOpenAI, fake: FakeOpenAI, endpoint: str
) -> None:
    f = await sdk.files.create(
        file=("in.jsonl", io.BytesIO(rows(endpoint))),
        purpose="batch",
        extra_body={"model": "gpt-4o-litellm"},
    )
    b = await sdk.batches.create(
        input_file_id=f.id,
        endpoint=endpoint,  # type: ignore[arg-type]
        completion_window="24h",
    )
    b = await sdk.batches.retrieve(b.id)
    assert b.status == "completed" and b.endpoint == endpoint
    assert b.output_file_id is not None
    out = (await sdk.files.content(b.output_file_id)).text.splitlines()
    assert len(out) == 2


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (
            {"custom_id": "x", "method": "POST", "url": "/v1/moderations", "body": {}},
            "'body.input' is required for /v1/moderations",
        ),
        (
            {
                "custom_id": "x",
                "method": "POST",
                "url": "/v1/moderations",
                "body": {"input": "a", "stream": True},
            },
            "'body.stream' must not be true",
        ),
        (
            {
                "custom_id": "x",
                "method": "POST",
                "url": "/v1/images/edits",
                "body": {"prompt": "p"},
            },
            "'body.images' is required for /v1/images/edits",
        ),
    ],
)
async def test_upload_checks_each_endpoints_body_naming_the_line(
    sdk: AsyncOpenAI, fake: FakeOpenAI, line: dict[str, Any], words: str
) -> None:
    url = line["url"]
    data = rows(url, 2) + jsonl([line])
    with pytest.raises(BadRequestError) as info:
        await sdk.files.create(
            file=("in.jsonl", io.BytesIO(data)),
            purpose="batch",
            extra_body={"model": "gpt-4o-litellm"},
        )
    err = error_of(info.value.response.json())
    assert err["message"].startswith("Line 3 of the batch file") and words in err["message"]
    assert fake.accounts["a"].files == {}


async def test_azure_refuses_what_its_batch_guide_does_not_list(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    azure = FakeAzure({AZ_KEY: "az"}, deployments=[DEPLOYMENT], storage=tmp_path / "azure")
    server: TestServer = await aiohttp_server(azure.app())
    router = await start_router(config(azure_entry(server, "v1")))
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        for endpoint in ("/v1/embeddings", "/v1/moderations"):
            with pytest.raises(BadRequestError) as info:
                await sdk.files.create(
                    file=("in.jsonl", io.BytesIO(rows(endpoint))),
                    purpose="batch",
                    extra_body={"model": "gpt-4o-azure"},
                )
            err = error_of(info.value.response.json())
            assert err["message"].startswith("Line 1 of the batch file")
            assert "/v1/chat/completions" in err["message"] and "/v1/responses" in err["message"]
    assert azure.accounts["az"].files == {}  # the cut upload left nothing
