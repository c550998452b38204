"""Deeply nested JSON from a caller is a 400 naming what is wrong, never a 500 or a 502."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from aiohttp_files_router.fake import FakeOpenAI, FakeVertex
from aiohttp_files_router.jsonlimits import MAX_JSON_DEPTH, too_deep

from .conftest import MASTER, RouterFactory, ServerFactory, chat_rows, error_of, jsonl
from .vertex_fixtures import BUCKET, EMAIL, PUBLIC, config, vertex_entry

AUTH = {"Authorization": f"Bearer {MASTER}"}


@pytest.fixture
async def gcs_server(aiohttp_server: ServerFactory, tmp_path: Path) -> TestServer:
    return await aiohttp_server(
        FakeVertex({EMAIL: PUBLIC}, buckets=[BUCKET], storage=tmp_path / "gcs").app()
    )


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_depth_counts_brackets_outside_strings_only() -> None:
    assert not too_deep(b'{"a": "' + b"[" * 10_000 + b'"}')
    assert not too_deep(json.dumps([[1]] * 5000).encode())
    assert not too_deep(deep(MAX_JSON_DEPTH).encode())
    assert too_deep(deep(MAX_JSON_DEPTH + 1).encode())
    assert too_deep(b'{"a": "\\"", "b": ' + deep(100_000).encode() + b"}")


async def test_deep_json_bodies_are_400(router: TestServer, fake: FakeOpenAI) -> None:
    body = '{"model": "gpt-4o-litellm", "x": ' + deep(200_000) + "}"
    calls = [
        ("GET", "/v1/files"),
        ("GET", "/v1/batches"),
        ("GET", "/v1/files/file-abc"),
        ("POST", "/v1/batches"),
        ("POST", "/v1/batches/batch_abc/cancel"),
    ]
    async with aiohttp.ClientSession(headers=AUTH) as http:
        for method, path in calls:
            async with http.request(
                method,
                router.make_url(path),
                data=body,
                headers={"Content-Type": "application/json"},
            ) as resp:
                assert resp.status == 400, (path, await resp.text())
                assert "nests deeper than 64" in error_of(await resp.json())["message"]
        # A sane body on the same routes still works.
        async with http.get(
            router.make_url("/v1/files"),
            data=json.dumps({"model": "gpt-4o-litellm"}),
            headers={"Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 200
    assert [r.method for r in fake.requests] == ["GET"]  # only the sane one went upstream


async def test_deep_batch_row_is_400_at_upload_naming_the_line(
    start_router: RouterFactory, gcs_server: TestServer
) -> None:
    router = await start_router(config(vertex_entry(gcs_server)))
    rows: list[dict[str, Any]] = chat_rows(3)
    payload = jsonl(rows[:2]).decode()
    row = json.dumps(rows[2])
    payload += row[:-1] + ', "metadata": ' + deep(50_000) + "}\n"
    form = aiohttp.FormData()
    form.add_field("purpose", "batch")
    form.add_field("model", "gemini-batch")
    form.add_field("file", payload.encode(), filename="rows.jsonl")
    async with (
        aiohttp.ClientSession(headers=AUTH) as http,
        http.post(router.make_url("/v1/files"), data=form) as resp,
    ):
        assert resp.status == 400, await resp.text()
        err = error_of(await resp.json())
        assert "Line 3" in err["message"] and "deeper" in err["message"]
