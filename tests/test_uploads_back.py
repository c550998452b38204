"""What a client uploads is what it gets back, on every provider the demo serves: ``bytes``
is the uploaded size and ``files.content`` the uploaded bytes (Azure OpenAI, the documented
exception, holds the rows with ``body.model`` set to its deployment)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

from aiohttp_files_router.demo import DEMO_KEY, MODELS, demo_app
from aiohttp_files_router.fake.azure import DEMO_DEPLOYMENT as AZURE_DEPLOYMENT
from aiohttp_files_router.handlers.files import attachment

from .conftest import ServerFactory, chat_rows


@pytest.fixture
async def demo(aiohttp_server: ServerFactory) -> TestServer:
    return await aiohttp_server(demo_app(phase_seconds=0.0))


def rows_of(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.splitlines()]


@pytest.mark.parametrize("model", MODELS)
async def test_content_and_bytes_are_the_upload(demo: TestServer, model: str) -> None:
    # Spaced JSON, no final newline, a name with a space and an accent: nothing normalised.
    data = b"\n".join(json.dumps(r, indent=None).encode() for r in chat_rows(3))
    name = "my b\u00e2tch.jsonl"  # the name comes back as it was, too
    async with AsyncOpenAI(
        api_key=DEMO_KEY, base_url=str(demo.make_url("/v1")), max_retries=0
    ) as sdk:
        f = await sdk.files.create(
            file=(name, io.BytesIO(data)),
            purpose="batch",
            extra_body={"model": model},
        )
        want = data
        if model == "gpt-4o-azure":
            # Azure requires rows naming its deployment and serves back what it holds.
            want = (await sdk.files.content(f.id)).content
            rows = rows_of(data)
            for row in rows:
                row["body"]["model"] = AZURE_DEPLOYMENT
            assert rows_of(want) == rows
        assert f.bytes == len(want)
        assert (await sdk.files.retrieve(f.id)).bytes == len(want)
        raw = await sdk.files.with_raw_response.content(f.id)
        assert raw.content == want
        # Saved under its own name: an ASCII fallback, and the name itself in UTF-8.
        assert raw.headers["content-disposition"] == (
            "attachment; filename=\"my b_tch.jsonl\"; filename*=utf-8''my%20b%C3%A2tch.jsonl"
        )
        listed = [x async for x in sdk.files.list(extra_query={"model": model})]
        assert [(x.id, x.bytes, x.filename) for x in listed] == [(f.id, len(want), name)]
        assert (await sdk.files.delete(f.id)).deleted


def test_attachment_names_quote_nothing_a_client_could_misread() -> None:
    assert attachment("out.jsonl") == 'attachment; filename="out.jsonl"'
    assert attachment('a"b\\c\r\n.txt') == (
        "attachment; filename=\"a_b_c__.txt\"; filename*=utf-8''a%22b%5Cc%0D%0A.txt"
    )
