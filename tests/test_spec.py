"""The fake's objects and the router's answers fit OpenAI's own spec."""

from __future__ import annotations

import io
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from .conftest import KEY_A, MASTER, RouterFactory, base_config, chat_rows, jsonl
from .spec import SHARED_SPEC, check, extract, schemas


@pytest.mark.skipif(not SHARED_SPEC.exists(), reason="../shared/openai-openapi.yaml not beside")
def test_vendored_schemas_match_the_shared_spec() -> None:
    assert extract() == schemas(), "run: python -m tests.spec"


async def _json(
    http: aiohttp.ClientSession, method: str, url: Any, key: str, **kw: Any
) -> tuple[int, Any]:
    async with http.request(method, url, headers={"Authorization": f"Bearer {key}"}, **kw) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize("through_router", [False, True])
async def test_objects_fit_the_spec(
    upstream: TestServer, start_router: RouterFactory, through_router: bool
) -> None:
    # A row without body.model must reach the upstream to give a batch with an error file.
    router = await start_router(base_config(upstream, validate_batch_files=False))
    server, key = (router, MASTER) if through_router else (upstream, KEY_A)
    query = "?model=gpt-4o-litellm" if through_router else ""
    bad_rows = [
        *chat_rows(2),
        {
            "custom_id": "bad",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"messages": []},
        },
    ]
    async with aiohttp.ClientSession() as http:

        def url(path: str) -> Any:
            return server.make_url(f"/v1{path}")

        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", io.BytesIO(jsonl(bad_rows)), filename="in.jsonl")
        status, created = await _json(http, "POST", url("/files" + query), key, data=form)
        assert status == 200
        check("OpenAIFile", created)
        status, listed = await _json(http, "GET", url("/files" + query), key)
        check("ListFilesResponse", listed)
        status, batch = await _json(
            http,
            "POST",
            url("/batches"),
            key,
            json={
                "input_file_id": created["id"],
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
                "metadata": {"team": "x"},
            },
        )
        assert status == 200, batch
        check("Batch", batch)
        status, batch = await _json(http, "GET", url(f"/batches/{batch['id']}"), key)
        check("Batch", batch)
        assert batch["status"] == "completed" and batch["request_counts"] == {
            "total": 3,
            "completed": 2,
            "failed": 1,
        }
        for name in ("output_file_id", "error_file_id"):
            status, produced = await _json(http, "GET", url(f"/files/{batch[name]}"), key)
            check("OpenAIFile", produced)
            assert produced["purpose"] == "batch_output"
        status, batches = await _json(http, "GET", url("/batches" + query), key)
        check("ListBatchesResponse", batches)
        status, deleted = await _json(http, "DELETE", url(f"/files/{created['id']}"), key)
        check("DeleteFileResponse", deleted)
        status, missing = await _json(http, "GET", url(f"/files/{created['id']}"), key)
        assert status == 404
        check("ErrorResponse", missing)
        status, failed = await _json(http, "GET", url("/files"), "sk-bad-key")
        assert status == 401
        check("ErrorResponse", failed)
