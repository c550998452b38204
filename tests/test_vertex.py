"""Vertex AI accounts: files in GCS, batches as batch prediction jobs, OpenAI shapes outside."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from openai import AsyncOpenAI, BadRequestError, NotFoundError

from aiohttp_files_router.fake import FakeOpenAI, FakeVertex
from aiohttp_files_router.ids import RoutedId, decode_id, encode_id

from .conftest import KEY_A, MASTER, RouterFactory, ServerFactory, chat_rows, error_of, jsonl
from .spec import check

EMAIL = "router@fake-project.iam.gserviceaccount.com"
BUCKET = "fake-bucket"


def _key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


PRIVATE, PUBLIC = _key()


@pytest.fixture
def vertex(tmp_path: Path) -> FakeVertex:
    return FakeVertex({EMAIL: PUBLIC}, buckets=[BUCKET], storage=tmp_path / "gcs")


@pytest.fixture
async def vertex_server(aiohttp_server: ServerFactory, vertex: FakeVertex) -> TestServer:
    return await aiohttp_server(vertex.app())


def service_account(server: TestServer, private_key: str = PRIVATE) -> str:
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "fake-project",
            "private_key_id": "k1",
            "private_key": private_key,
            "client_email": EMAIL,
            "token_uri": str(server.make_url("/token")),
        }
    )


def vertex_entry(
    server: TestServer, credentials: str | None = None, name: str = "gemini-batch"
) -> dict[str, Any]:
    return {
        "model_name": name,
        "litellm_params": {
            "model": "vertex_ai/gemini-2.5-flash",
            "vertex_project": "fake-project",
            "vertex_location": "us-central1",
            "vertex_credentials": credentials or service_account(server),
            "gcs_bucket_name": f"{BUCKET}/team-a",
            "api_base": str(server.make_url("")),
            "gcs_api_base": str(server.make_url("")),
        },
    }


def config(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"model_list": list(entries), "general_settings": {"master_key": MASTER}}


def sdk_for(router: TestServer) -> AsyncOpenAI:
    return AsyncOpenAI(api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0)


def rich_rows() -> list[dict[str, Any]]:
    rows = chat_rows(3)
    rows[0]["body"].update(
        max_tokens=1,
        temperature=0.2,
        top_p=0.9,
        stop=["END"],
        n=1,
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "x",
                "schema": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"a": {"type": "string"}},
                },
            },
        },
    )
    rows[0]["body"]["messages"].insert(0, {"role": "system", "content": "Be terse."})
    rows[1]["body"].update(
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "lookup",
                    "description": "Look up",
                    "parameters": {"type": "object"},
                },
            }
        ],
        tool_choice="required",
    )
    return rows


async def test_seed_flow_on_vertex(
    start_router: RouterFactory, vertex_server: TestServer, vertex: FakeVertex
) -> None:
    router = await start_router(config(vertex_entry(vertex_server)))
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("batch_data.jsonl", io.BytesIO(jsonl(rich_rows()))),
            purpose="batch",
            extra_body={"model": "gemini-batch"},
        )
        decoded = decode_id(f.id, "file")
        assert isinstance(decoded, RoutedId) and f.id.startswith("file-")
        assert decoded.provider_id.startswith(f"gs://{BUCKET}/team-a/files-router/")
        assert f.filename == "batch_data.jsonl" and f.purpose == "batch"
        check("OpenAIFile", f.model_dump(exclude_none=True))

        stored = [json.loads(x) for x in (await sdk.files.content(f.id)).text.splitlines()]
        first = stored[0]
        assert first["custom_id"] == "req-0"
        assert first["request"]["systemInstruction"] == {"parts": [{"text": "Be terse."}]}
        assert first["request"]["contents"] == [{"role": "user", "parts": [{"text": "hello 0"}]}]
        assert first["request"]["generationConfig"] == {
            "maxOutputTokens": 1,
            "temperature": 0.2,
            "topP": 0.9,
            "candidateCount": 1,
            "stopSequences": ["END"],
            "responseMimeType": "application/json",
            "responseSchema": {"type": "object", "properties": {"a": {"type": "string"}}},
        }
        assert stored[1]["request"]["tools"] == [
            {
                "functionDeclarations": [
                    {"name": "lookup", "description": "Look up", "parameters": {"type": "object"}}
                ]
            }
        ]
        assert stored[1]["request"]["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}

        b = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )  # no model: it is in f.id
        assert b.status == "validating" and b.id.startswith("batch_")
        assert b.input_file_id == f.id
        b = await sdk.batches.retrieve(b.id)
        assert b.status == "completed" and b.request_counts.completed == 3
        assert isinstance(b.created_at, int) and isinstance(b.completed_at, int)
        check("Batch", b.model_dump(exclude_none=True))
        assert b.output_file_id and decode_id(b.output_file_id, "file").deployment == "gemini-batch"  # type: ignore[union-attr]
        out = (await sdk.files.content(b.output_file_id)).text
        rows = [json.loads(x) for x in out.splitlines()]
        assert [r["custom_id"] for r in rows] == ["req-0", "req-1", "req-2"]
        bodies = [r["response"]["body"] for r in rows]
        assert all(r["response"]["status_code"] == 200 for r in rows)
        assert (
            bodies[0]["object"] == "chat.completion"
            and bodies[0]["choices"][0]["finish_reason"] == "length"
        )
        assert bodies[1]["choices"][0]["finish_reason"] == "tool_calls"
        call = bodies[1]["choices"][0]["message"]["tool_calls"][0]
        assert call["function"]["name"] == "lookup" and json.loads(call["function"]["arguments"])
        assert bodies[2]["choices"][0]["message"]["content"].startswith("mock vertex reply")
        assert bodies[2]["usage"]["total_tokens"] == bodies[2]["usage"]["prompt_tokens"] + 5

        out = await sdk.files.retrieve(b.output_file_id)
        assert out.purpose == "batch_output"
        listed = [
            x.id async for x in sdk.files.list(limit=1, extra_query={"model": "gemini-batch"})
        ]
        assert listed == [f.id, b.output_file_id]  # cursors walk the bucket, oldest first
        batches = await sdk.batches.list(extra_query={"model": "gemini-batch"})
        assert [x.id for x in batches.data] == [b.id]
        assert (await sdk.files.delete(f.id)).deleted
        with pytest.raises(NotFoundError):
            await sdk.files.retrieve(f.id)
    job = next(iter(vertex.jobs.values()))
    assert job.model == "publishers/google/models/gemini-2.5-flash"
    assert vertex.token_requests == 1 and all(
        r.account == EMAIL for r in vertex.requests if r.path != "/token"
    )


async def test_failed_rows_become_error_rows(
    start_router: RouterFactory, vertex_server: TestServer, vertex: FakeVertex
) -> None:
    router = await start_router(config(vertex_entry(vertex_server)))
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("in.jsonl", io.BytesIO(jsonl(chat_rows(2)))),
            purpose="batch",
            extra_body={"model": "gemini-batch"},
        )
        # Make the second stored row invalid for Vertex, as a bad prompt would be.
        obj = next(
            o
            for o in vertex.objects.values()
            if o.name.endswith(decode_id(f.id, "file").provider_id.rsplit("/", 1)[-1])
        )
        lines = obj.path.read_bytes().splitlines()
        broken = json.loads(lines[1])
        broken["request"]["contents"] = []
        obj.path.write_bytes(lines[0] + b"\n" + json.dumps(broken).encode() + b"\n")
        b = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        b = await sdk.batches.retrieve(b.id)
        assert b.request_counts.completed == 1 and b.request_counts.failed == 1
        out = (await sdk.files.content(b.output_file_id)).text
        rows = [json.loads(x) for x in out.splitlines()]
    assert [r["response"]["status_code"] for r in rows] == [200, 400]
    assert rows[1]["custom_id"] == "req-1"
    assert "contents must not be empty" in rows[1]["response"]["body"]["error"]["message"]


async def test_large_upload_uses_256k_multiples_and_bad_line_removes_partial(
    start_router: RouterFactory, vertex_server: TestServer, vertex: FakeVertex
) -> None:
    router = await start_router(config(vertex_entry(vertex_server)))
    rows = jsonl(chat_rows(30_000))  # ~3 MiB of Vertex rows: more than one 2 MiB chunk
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("big.jsonl", io.BytesIO(rows)),
            purpose="batch",
            extra_body={"model": "gemini-batch"},
        )
        assert f.bytes > 0
        bad = rows + b'{"custom_id": "x", "body": {"messages": "nope"}}\n'
        with pytest.raises(BadRequestError) as info:
            await sdk.files.create(
                file=("bad.jsonl", io.BytesIO(bad)),
                purpose="batch",
                extra_body={"model": "gemini-batch"},
            )
        err = error_of(info.value.response.json())
        assert "Line 30001" in err["message"] and err["param"] == "file"
        with pytest.raises(BadRequestError) as info:
            await sdk.files.create(
                file=(
                    "e.jsonl",
                    io.BytesIO(
                        b'{"custom_id": "e", "url": "/v1/embeddings", "body": {"input": "x"}}\n'
                    ),
                ),
                purpose="batch",
                extra_body={"model": "gemini-batch"},
            )
        assert "Line 1" in info.value.message
        notes = await sdk.files.create(
            file=("n.txt", io.BytesIO(b"plain text")),
            purpose="user_data",
            extra_body={"model": "gemini-batch"},
        )
        assert (await sdk.files.content(notes.id)).content == b"plain text"
    assert vertex.uploads == {}  # the refused uploads were cancelled, nothing half-written
    names = [name for _, name in vertex.objects]
    assert len(names) == 2
    big = vertex.finished_uploads[0]
    assert len(big.chunk_sizes) > 1
    assert all(size % (256 * 1024) == 0 for size in big.chunk_sizes[:-1])


async def test_cancel_and_batch_list_pagination(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    now = [7_000_000.0]
    vertex = FakeVertex(
        {EMAIL: PUBLIC},
        buckets=[BUCKET],
        storage=tmp_path,
        phase_seconds=60,
        cancel_seconds=5,
        clock=lambda: now[0],
    )
    server = await aiohttp_server(vertex.app())
    router = await start_router(config(vertex_entry(server)))
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("in.jsonl", io.BytesIO(jsonl(chat_rows(4)))),
            purpose="batch",
            extra_body={"model": "gemini-batch"},
        )
        made = []
        for _ in range(5):
            made.append(
                (
                    await sdk.batches.create(
                        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
                    )
                ).id
            )
            now[0] += 1
        walked = [
            b.id async for b in sdk.batches.list(limit=2, extra_query={"model": "gemini-batch"})
        ]
        assert walked == list(reversed(made))
        now[0] += 70
        assert (await sdk.batches.retrieve(made[0])).status == "in_progress"
        cancelled = await sdk.batches.cancel(made[0])
        assert cancelled.status == "cancelling" and cancelled.id == made[0]
        now[0] += 10
        done = await sdk.batches.retrieve(made[0])
        assert done.status == "cancelled" and done.request_counts.completed == 2
        partial = (await sdk.files.content(done.output_file_id)).text.splitlines()
        assert len(partial) == 2


async def test_bad_credentials_and_foreign_ids(
    start_router: RouterFactory,
    vertex_server: TestServer,
    vertex: FakeVertex,
    caplog: pytest.LogCaptureFixture,
) -> None:
    other_private, _ = _key()
    router = await start_router(
        config(
            vertex_entry(vertex_server),
            vertex_entry(
                vertex_server, service_account(vertex_server, other_private), "gemini-bad"
            ),
            {
                "model_name": "gemini-broken",
                "litellm_params": {
                    "model": "vertex_ai/gemini-2.5-flash",
                    "vertex_credentials": "{not json",
                    "gcs_bucket_name": BUCKET,
                },
            },
        )
    )
    async with sdk_for(router) as sdk:
        async with aiohttp.ClientSession() as http:
            async with http.get(
                router.make_url("/v1/files?model=gemini-bad"),
                headers={"Authorization": f"Bearer {MASTER}"},
            ) as r:
                assert r.status == 502
                text = await r.text()
            async with http.get(
                router.make_url("/v1/files?model=gemini-broken"),
                headers={"Authorization": f"Bearer {MASTER}"},
            ) as r:
                assert r.status == 503 and "not valid JSON" in await r.text()
        assert "Google access token" in error_of(json.loads(text))["message"]
        assert "PRIVATE KEY" not in text and "PRIVATE KEY" not in caplog.text
        # An ID pointing outside the account's bucket prefix is never fetched.
        for uri in (
            f"gs://{BUCKET}/elsewhere/x",
            "gs://other-bucket/team-a/files-router/x",
            f"gs://{BUCKET}/team-a/../x",
        ):
            before = len(vertex.requests)
            with pytest.raises(NotFoundError):
                await sdk.files.retrieve(encode_id("file", uri, "gemini-batch"))
            assert len(vertex.requests) == before or uri.endswith("../x")


async def test_mixed_openai_and_vertex(
    start_router: RouterFactory,
    vertex_server: TestServer,
    vertex: FakeVertex,
    upstream: TestServer,
    fake: FakeOpenAI,
) -> None:
    openai_entry = {
        "model_name": "gpt-4o-openai",
        "litellm_params": {
            "model": "openai/gpt-4o",
            "api_key": KEY_A,
            "api_base": str(upstream.make_url("/v1")),
        },
    }
    router = await start_router(config(openai_entry, vertex_entry(vertex_server)))
    async with sdk_for(router) as sdk:
        for model in ("gpt-4o-openai", "gemini-batch"):
            f = await sdk.files.create(
                file=("x.jsonl", io.BytesIO(jsonl(chat_rows(2)))),
                purpose="batch",
                extra_body={"model": model},
            )
            b = await sdk.batches.create(
                input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            b = await sdk.batches.retrieve(b.id)
            assert b.status == "completed"
            for value, kind in ((b.id, "batch"), (b.output_file_id, "file")):
                assert decode_id(value, kind).deployment == model  # type: ignore[arg-type,union-attr]
            out = (await sdk.files.content(b.output_file_id)).text.splitlines()
            assert [json.loads(x)["custom_id"] for x in out] == ["req-0", "req-1"]
    assert {r.account for r in fake.requests} == {"a"}
    assert not any(r.path.startswith("/v1/files") for r in vertex.requests)


async def test_service_account_file_path_and_token_reuse(
    start_router: RouterFactory, vertex_server: TestServer, vertex: FakeVertex, tmp_path: Path
) -> None:
    key_file = tmp_path / "sa.json"
    key_file.write_text(service_account(vertex_server))
    router = await start_router(config(vertex_entry(vertex_server, str(key_file))))
    async with sdk_for(router) as sdk:
        await asyncio.gather(
            *(sdk.files.list(extra_query={"model": "gemini-batch"}) for _ in range(5))
        )
    assert vertex.token_requests == 1  # concurrent callers share one grant


async def test_google_application_credentials_fallback(
    start_router: RouterFactory,
    vertex_server: TestServer,
    vertex: FakeVertex,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key_file = tmp_path / "adc.json"
    key_file.write_text(service_account(vertex_server))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    entry = vertex_entry(vertex_server)
    del entry["litellm_params"]["vertex_credentials"]
    router = await start_router(config(entry))
    async with sdk_for(router) as sdk:
        listed = await sdk.files.list(extra_query={"model": "gemini-batch"})
    assert listed.data == [] and vertex.token_requests == 1
