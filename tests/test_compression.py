"""Upstreams that compress: JSON answers in every coding, asked for or not; downloads."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI, ConflictError, InternalServerError

from aiohttp_files_router import upstream
from aiohttp_files_router.fake import FakeAzure, FakeOpenAI, FakeVertex
from aiohttp_files_router.fake.compress import CODINGS, Compression
from aiohttp_files_router.ids import decode_id
from aiohttp_files_router.upstream import accepted_codings

from . import azure_fixtures, vertex_fixtures
from .conftest import KEY_A, MASTER, RouterFactory, base_config, chat_rows, error_of, jsonl

ROUTER_ACCEPTS = "gzip, deflate, br, zstd"  # what aiohttp sends with Brotli and zstd installed


async def _raw_coding(upstream_server: TestServer, accept: str) -> str | None:
    """The Content-Encoding the fake answers a JSON call with, seen on the wire."""
    async with (
        aiohttp.ClientSession(auto_decompress=False) as http,
        http.get(
            upstream_server.make_url("/v1/files"),
            headers={"Authorization": f"Bearer {KEY_A}", "Accept-Encoding": accept},
        ) as resp,
    ):
        assert resp.status == 200
        return resp.headers.get("Content-Encoding")


@pytest.mark.parametrize(
    ("coding", "unasked"),
    [("gzip", False), ("deflate", False), ("br", False), ("zstd", False), ("br", True)],
)
async def test_seed_flow_against_a_compressing_upstream(
    coding: str, unasked: bool, fake: FakeOpenAI, upstream: TestServer, sdk: AsyncOpenAI
) -> None:
    fake.compression = Compression(coding, unasked=unasked)
    # The fake really compresses, in this coding (unasked: even to a client that refuses it).
    assert await _raw_coding(upstream, "identity" if unasked else coding) == coding

    data = jsonl(chat_rows(3))
    created = await sdk.files.create(
        file=("batch.jsonl", io.BytesIO(data)),
        purpose="batch",
        extra_body={"model": "gpt-4o-litellm"},
    )
    assert created.id.startswith("file-") and created.bytes == len(data)
    assert (await sdk.files.retrieve(created.id)).filename == "batch.jsonl"
    assert [f.id async for f in sdk.files.list(extra_query={"model": "gpt-4o-litellm"})] == [
        created.id
    ]
    batch = await sdk.batches.create(
        input_file_id=created.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert batch.input_file_id == created.id
    done = await sdk.batches.retrieve(batch.id)
    assert done.status == "completed" and done.output_file_id
    listed = await sdk.batches.list(extra_query={"model": "gpt-4o-litellm"})
    assert [b.id for b in listed.data] == [batch.id]
    output = (await sdk.files.content(done.output_file_id)).content
    assert [json.loads(line)["custom_id"] for line in output.splitlines()] == [
        "req-0",
        "req-1",
        "req-2",
    ]
    assert (await sdk.files.content(created.id)).content == data
    assert (await sdk.files.delete(created.id)).deleted is True
    # An upstream error answer, compressed too, still reaches the SDK as OpenAI's error.
    with pytest.raises(ConflictError) as caught:
        await sdk.batches.cancel(batch.id)
    assert caught.value.status_code == 409 and "cancel" in caught.value.message


async def test_every_answer_names_the_upstream_request(
    fake: FakeOpenAI, router: TestServer
) -> None:
    headers = {"Authorization": f"Bearer {MASTER}"}
    async with aiohttp.ClientSession() as http:
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("model", "gpt-4o-litellm")
        form.add_field("file", jsonl(chat_rows(1)), filename="a.jsonl")
        async with http.post(router.make_url("/v1/files"), data=form, headers=headers) as resp:
            file_id = (await resp.json())["id"]
            seen = [resp.headers.get("x-upstream-request-id")]
        for path in (f"/v1/files/{file_id}", f"/v1/files/{file_id}/content", "/v1/files"):
            async with http.get(
                router.make_url(path), headers=headers, params={"model": "gpt-4o-litellm"}
            ) as resp:
                assert resp.status == 200
                seen.append(resp.headers.get("x-upstream-request-id"))
        async with http.get(
            router.make_url("/v1/batches/batch_nope"),
            headers=headers,
            params={"model": "gpt-4o-litellm"},
        ) as resp:
            assert resp.status == 404
            seen.append(resp.headers.get("x-upstream-request-id"))
    # The download asks for the file's name beside its content: one more call upstream.
    extra = [r for r in fake.requests if r.response_request_id not in seen]
    assert len(extra) == 1 and extra[0].method == "GET"
    assert extra[0].path == f"/v1/files/{decode_id(file_id, 'file').provider_id}"
    assert seen == [r.response_request_id for r in fake.requests if r is not extra[0]]


async def test_download_keeps_a_coding_the_client_accepts(
    fake: FakeOpenAI, router: TestServer, sdk: AsyncOpenAI
) -> None:
    fake.compression = Compression("gzip", files=True)
    data = jsonl(chat_rows(2000))  # a few hundred KiB, streamed in several chunks
    created = await sdk.files.create(
        file=("big.jsonl", io.BytesIO(data)),
        purpose="batch",
        extra_body={"model": "gpt-4o-litellm"},
    )
    url = router.make_url(f"/v1/files/{created.id}/content")
    headers = {"Authorization": f"Bearer {MASTER}"}
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        async with http.get(url, headers={**headers, "Accept-Encoding": "gzip"}) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Encoding"] == "gzip"
            assert "Accept-Encoding" in resp.headers["Vary"]
            body = await resp.read()
        assert len(body) < len(data) and gzip.decompress(body) == data
        # No Accept-Encoding at all: the client gets the stored bytes, not gzip under their name.
        async with http.get(url, headers=headers, skip_auto_headers=["Accept-Encoding"]) as resp:
            assert resp.status == 200 and "Content-Encoding" not in resp.headers
            assert await resp.read() == data
        async with http.get(url, headers={**headers, "Accept-Encoding": "identity"}) as resp:
            assert "Content-Encoding" not in resp.headers and await resp.read() == data
    # The SDK (httpx accepts gzip and decodes it) gets the file's bytes too.
    assert (await sdk.files.content(created.id)).content == data
    asked = [r for r in fake.requests if r.path.endswith("/content")]
    assert len(asked) == 4  # one upstream call per download: nothing fetched twice


async def test_download_encoded_unasked_is_decoded_while_streaming(
    fake: FakeOpenAI, router: TestServer, sdk: AsyncOpenAI
) -> None:
    fake.compression = Compression("gzip", unasked=True, files=True)
    data = bytes(range(256)) * 4096  # 1 MiB
    created = await sdk.files.create(
        file=("blob.bin", io.BytesIO(data)),
        purpose="user_data",
        extra_body={"model": "gpt-4o-litellm"},
    )
    url = router.make_url(f"/v1/files/{created.id}/content")
    async with (
        aiohttp.ClientSession(auto_decompress=False) as http,
        http.get(
            url, headers={"Authorization": f"Bearer {MASTER}", "Accept-Encoding": "br"}
        ) as resp,
    ):
        assert resp.status == 200 and "Content-Encoding" not in resp.headers
        assert "Content-Length" not in resp.headers  # the upstream's counted gzip bytes
        assert await resp.read() == data
    # Asked for br, answered gzip: asked again, and decoded as it streams.
    assert len([r for r in fake.requests if r.path.endswith("/content")]) == 2


def _json_upstream(body: bytes, headers: dict[str, str]) -> web.Application:
    async def retrieve(request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Type": "application/json", **headers})

    app = web.Application()
    app.router.add_get("/v1/files/{file_id}", retrieve)
    return app


FILE = {"id": "file-x", "object": "file", "bytes": 1, "created_at": 1, "filename": "a"}


async def _sdk_for(
    start_router: RouterFactory, aiohttp_server: Any, app: web.Application
) -> AsyncOpenAI:
    upstream_server = await aiohttp_server(app)
    router = await start_router(base_config(upstream_server))
    return AsyncOpenAI(api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0)


async def test_a_coding_the_router_cannot_decode_is_a_502_naming_it(
    start_router: RouterFactory, aiohttp_server: Any
) -> None:
    body = json.dumps(FILE).encode()
    app = _json_upstream(body, {"Content-Encoding": "compress", "x-request-id": "req_z"})
    async with await _sdk_for(start_router, aiohttp_server, app) as sdk:
        with pytest.raises(InternalServerError) as caught:
            await sdk.files.retrieve("file-x", extra_query={"model": "gpt-4o-litellm"})
    assert caught.value.status_code == 502
    assert "'compress'" in error_of(caught.value.response.json())["message"]
    assert caught.value.response.headers["x-upstream-request-id"] == "req_z"


async def test_a_502_over_malformed_json_names_the_upstream_request(
    start_router: RouterFactory, aiohttp_server: Any
) -> None:
    app = _json_upstream(b"<html>oops</html>", {"apim-request-id": "apim-1"})
    async with await _sdk_for(start_router, aiohttp_server, app) as sdk:
        with pytest.raises(InternalServerError) as caught:
            await sdk.files.retrieve("file-x", extra_query={"model": "gpt-4o-litellm"})
    assert "malformed JSON" in error_of(caught.value.response.json())["message"]
    assert caught.value.response.headers["x-upstream-request-id"] == "apim-1"


async def test_a_corrupt_compressed_answer_is_a_502_naming_its_coding(
    start_router: RouterFactory, aiohttp_server: Any
) -> None:
    app = _json_upstream(b"this is not gzip at all", {"Content-Encoding": "gzip"})
    async with await _sdk_for(start_router, aiohttp_server, app) as sdk:
        with pytest.raises(InternalServerError) as caught:
            await sdk.files.retrieve("file-x", extra_query={"model": "gpt-4o-litellm"})
    assert "'gzip'" in error_of(caught.value.response.json())["message"]


async def test_the_size_cap_counts_decoded_bytes(
    start_router: RouterFactory, aiohttp_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upstream, "MAX_JSON_BYTES", 1024 * 1024)
    padded = {**FILE, "filename": " " * (8 * 1024 * 1024)}
    bomb = CODINGS["br"](json.dumps(padded).encode())
    assert len(bomb) < 64 * 1024  # small on the wire, 8 MiB decoded
    app = _json_upstream(bomb, {"Content-Encoding": "br"})
    async with await _sdk_for(start_router, aiohttp_server, app) as sdk:
        with pytest.raises(InternalServerError) as caught:
            await sdk.files.retrieve("file-x", extra_query={"model": "gpt-4o-litellm"})
    assert "answered too much" in error_of(caught.value.response.json())["message"]


def test_accept_encoding_parsing() -> None:
    assert accepted_codings("gzip, deflate, br, zstd") == {"gzip", "deflate", "br", "zstd"}
    assert accepted_codings("gzip;q=0, br;q=0.5") == {"br"}
    assert accepted_codings("*, zstd;q=0") == {"gzip", "deflate", "br"}
    assert accepted_codings("identity") == set()
    assert accepted_codings("") == set()
    assert accepted_codings(ROUTER_ACCEPTS.upper()) == set(CODINGS)


async def test_azure_with_entra_and_vertex_with_gcs_behind_compressing_fronts(
    start_router: RouterFactory, aiohttp_server: Any, tmp_path: Path
) -> None:
    azure = FakeAzure(
        {azure_fixtures.AZ_KEY: "az"},
        deployments=[azure_fixtures.DEPLOYMENT],
        clients={azure_fixtures.CLIENT: "az"},
        storage=tmp_path / "azure",
    )
    azure_server = await aiohttp_server(azure.app())
    vertex = FakeVertex(
        {vertex_fixtures.EMAIL: vertex_fixtures.PUBLIC},
        buckets=[vertex_fixtures.BUCKET],
        storage=tmp_path / "gcs",
    )
    vertex_server = await aiohttp_server(vertex.app())
    # Unasked codings everywhere: Azure's answers and its Entra token in br; Google's token,
    # GCS and Vertex answers in zstd.
    azure.compression = Compression("br", unasked=True)
    vertex.compression = Compression("zstd", unasked=True)
    entries = [
        azure_fixtures.azure_entry(azure_server, auth="client"),
        vertex_fixtures.vertex_entry(vertex_server),
    ]
    router = await start_router(azure_fixtures.config(*entries))
    data = jsonl(chat_rows(2))
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        for model in ("gpt-4o-azure", "gemini-batch"):
            f = await sdk.files.create(
                file=("b.jsonl", io.BytesIO(data)), purpose="batch", extra_body={"model": model}
            )
            assert (await sdk.files.retrieve(f.id)).filename == "b.jsonl"
            b = await sdk.batches.create(
                input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            done = await sdk.batches.retrieve(b.id)
            assert done.status == "completed" and done.output_file_id
            rows = (await sdk.files.content(done.output_file_id)).text.splitlines()
            # Both services write output rows in an order of their own.
            assert sorted(json.loads(r)["custom_id"] for r in rows) == ["req-0", "req-1"]
            # The input and the job's results (Azure also keeps an empty error file).
            listed = [x.id async for x in sdk.files.list(extra_query={"model": model})]
            assert f.id in listed and len(listed) >= 2
            assert (await sdk.files.delete(f.id)).deleted is True
    assert azure.token_requests == 1
