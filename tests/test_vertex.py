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
from openai import AsyncOpenAI, BadRequestError, NotFoundError

from aiohttp_files_router.fake import FakeOpenAI, FakeVertex
from aiohttp_files_router.ids import RoutedId, decode_id, encode_id

from .conftest import KEY_A, MASTER, RouterFactory, ServerFactory, chat_rows, error_of, jsonl
from .spec import check
from .vertex_fixtures import (
    BUCKET,
    EMAIL,
    PUBLIC,
    _key,
    config,
    sdk_for,
    service_account,
    vertex_entry,
)


@pytest.fixture
def vertex(tmp_path: Path) -> FakeVertex:
    return FakeVertex({EMAIL: PUBLIC}, buckets=[BUCKET], storage=tmp_path / "gcs")


@pytest.fixture
async def vertex_server(aiohttp_server: ServerFactory, vertex: FakeVertex) -> TestServer:
    return await aiohttp_server(vertex.app())


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
    uploaded = jsonl(rich_rows())
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("batch_data.jsonl", io.BytesIO(uploaded)),
            purpose="batch",
            extra_body={"model": "gemini-batch"},
        )
        decoded = decode_id(f.id, "file")
        assert isinstance(decoded, RoutedId) and f.id.startswith("file-")
        assert decoded.provider_id.startswith(f"gs://{BUCKET}/team-a/files-router/")
        assert f.filename == "batch_data.jsonl" and f.purpose == "batch"
        check("OpenAIFile", f.model_dump(exclude_none=True))
        # What the client uploaded comes back, byte for byte; the rows jobs read are beside.
        assert f.bytes == len(uploaded) == (await sdk.files.retrieve(f.id)).bytes
        assert (await sdk.files.content(f.id)).content == uploaded
        name = decoded.provider_id.removeprefix(f"gs://{BUCKET}/")
        assert {n for _, n in vertex.objects if n.startswith(name)} == {name, name + ".original"}
        vertex_rows = vertex.objects[(BUCKET, name)].path.read_bytes()
        stored = [json.loads(x) for x in vertex_rows.splitlines()]
        first = stored[0]
        assert all(list(row) == ["request"] for row in stored)  # nothing else at the top
        assert first["request"]["labels"] == {
            "litellm_custom_id": "req-0",
            "litellm_custom_id_raw": "b32_ojsxcljq",
        }
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
        assert b.request_counts is not None
        assert b.status == "completed" and b.request_counts.completed == 3
        assert isinstance(b.created_at, int) and isinstance(b.completed_at, int)
        check("Batch", b.model_dump(exclude_none=True))
        assert b.output_file_id
        output = decode_id(b.output_file_id, "file")
        assert isinstance(output, RoutedId) and output.deployment == "gemini-batch"
        assert b.error_file_id is None  # no row failed
        out = (await sdk.files.content(b.output_file_id)).text
        # Vertex writes its lines in its own order: rows are found by custom_id.
        rows = sorted((json.loads(x) for x in out.splitlines()), key=lambda r: r["custom_id"])
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
        # gemini-2.5 thinks: thoughts are billed output, stated as reasoning tokens.
        usage = bodies[2]["usage"]
        assert usage["completion_tokens"] == 5 + 7
        assert usage["completion_tokens_details"] == {"reasoning_tokens": 7}
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]

        out_file = await sdk.files.retrieve(b.output_file_id)
        assert out_file.purpose == "batch_output"
        listed = [
            x.id async for x in sdk.files.list(limit=1, extra_query={"model": "gemini-batch"})
        ]
        # Cursors walk the bucket, oldest first; the listing names the predictions object
        # itself, of which output_file_id is a view.
        predictions = decode_id(b.output_file_id, "file").provider_id.removesuffix("#succeeded")
        assert [decode_id(x, "file").provider_id for x in listed] == [
            decode_id(f.id, "file").provider_id,
            predictions,
        ]
        batches = await sdk.batches.list(extra_query={"model": "gemini-batch"})
        assert [x.id for x in batches.data] == [b.id]
        assert (await sdk.files.delete(f.id)).deleted
        with pytest.raises(NotFoundError):
            await sdk.files.retrieve(f.id)
        assert not [n for b, n in vertex.objects if n.startswith(name)]
    job = next(iter(vertex.jobs.values()))
    assert job.model == "publishers/google/models/gemini-2.5-flash"
    assert vertex.token_requests == 1 and all(
        r.account == EMAIL for r in vertex.requests if r.path != "/token"
    )


async def test_failed_rows_become_error_rows(
    start_router: RouterFactory, vertex_server: TestServer, vertex: FakeVertex
) -> None:
    router = await start_router(config(vertex_entry(vertex_server)))
    rows = chat_rows(2)
    rows[1]["body"]["temperature"] = 3  # outside Vertex's [0, 2]: the row fails upstream
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("in.jsonl", io.BytesIO(jsonl(rows))),
            purpose="batch",
            extra_body={"model": "gemini-batch"},
        )
        b = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        b = await sdk.batches.retrieve(b.id)
        assert b.request_counts is not None
        assert b.request_counts.completed == 1 and b.request_counts.failed == 1
        assert b.output_file_id and b.error_file_id
        ok = [json.loads(x) for x in (await sdk.files.content(b.output_file_id)).text.splitlines()]
        bad = [json.loads(x) for x in (await sdk.files.content(b.error_file_id)).text.splitlines()]
    assert [(r["custom_id"], r["response"]["status_code"]) for r in ok] == [("req-0", 200)]
    assert [(r["custom_id"], r["response"]["status_code"]) for r in bad] == [("req-1", 400)]
    assert "temperature" in bad[0]["response"]["body"]["error"]["message"]


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
    names = {name for _, name in vertex.objects}
    # The big upload's rows and its original beside them, and the notes (names are random:
    # found by suffix, not by sort order).
    stored_rows = [n for n in names if n.endswith(".jsonl")]
    assert len(names) == 3 and len(stored_rows) == 1 and stored_rows[0] + ".original" in names
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
        assert done.request_counts is not None and done.output_file_id is not None
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
            f"gs://{BUCKET}/elsewhere/batch-output/1/predictions.jsonl#failed",  # a view
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
            assert b.status == "completed" and b.output_file_id is not None
            routes = decode_id(b.id, "batch"), decode_id(b.output_file_id, "file")
            for routed in routes:
                assert isinstance(routed, RoutedId) and routed.deployment == model
            out = (await sdk.files.content(b.output_file_id)).text.splitlines()
            assert sorted(json.loads(x)["custom_id"] for x in out) == ["req-0", "req-1"]
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


# -- issue 9: custom_id through labels, both output views, resumable Range -------------------

AWKWARD_IDS = [
    "Request-UPPER",
    "v1.2.3",
    "ns:item:7",
    "path/to/row",
    "two words here",
    "naïve — 日本語 ✓",
    "x" * 199 + "Z",
    "req-0",
    "REQ-0",  # the same lossy label as "req-0": only the raw labels tell them apart
]


async def run_batch(sdk: AsyncOpenAI, rows: list[dict[str, Any]]) -> Any:
    f = await sdk.files.create(
        file=("in.jsonl", io.BytesIO(jsonl(rows))),
        purpose="batch",
        extra_body={"model": "gemini-batch"},
    )
    b = await sdk.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    return await sdk.batches.retrieve(b.id)


async def read_rows(sdk: AsyncOpenAI, file_id: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (await sdk.files.content(file_id)).text.splitlines()]


async def test_awkward_custom_ids_come_back_exactly(
    start_router: RouterFactory, vertex_server: TestServer, vertex: FakeVertex
) -> None:
    rows = chat_rows(len(AWKWARD_IDS))
    for i, (row, custom_id) in enumerate(zip(rows, AWKWARD_IDS, strict=True)):
        row["custom_id"] = custom_id
        if i % 2:
            row["body"]["max_tokens"] = 1  # marks the row: its answer stops for "length"
    rows[0]["body"]["labels"] = {"team": "research", "stage": ""}  # the row's own labels
    router = await start_router(config(vertex_entry(vertex_server)))
    async with sdk_for(router) as sdk:
        b = await run_batch(sdk, rows)
        assert b.status == "completed" and b.request_counts.completed == len(rows)
        assert b.output_file_id and b.error_file_id is None
        out = await read_rows(sdk, b.output_file_id)
    assert sorted(r["custom_id"] for r in out) == sorted(AWKWARD_IDS)
    for r in out:
        i = AWKWARD_IDS.index(r["custom_id"])
        reason = r["response"]["body"]["choices"][0]["finish_reason"]
        assert reason == ("length" if i % 2 else "stop"), r["custom_id"]
    # What went up: only `request`, the row's own labels kept beside the custom_id's.
    job = next(iter(vertex.jobs.values()))
    bucket, _, name = job.source.removeprefix("gs://").partition("/")
    stored = [json.loads(x) for x in vertex.objects[(bucket, name)].path.read_bytes().splitlines()]
    assert all(list(row) == ["request"] for row in stored)
    labels = stored[0]["request"]["labels"]
    assert labels["team"] == "research" and labels["stage"] == ""
    assert labels["litellm_custom_id"] == "request-upper"
    long_labels = stored[6]["request"]["labels"]
    assert long_labels["litellm_custom_id"] == "x" * 63
    assert "litellm_custom_id_raw_5" in long_labels
    assert all(len(v) <= 63 for row in stored for v in row["request"]["labels"].values())


async def test_every_row_failed_reads_through_error_file(
    start_router: RouterFactory, vertex_server: TestServer, vertex: FakeVertex
) -> None:
    rows = chat_rows(3)
    for row in rows:
        row["body"]["temperature"] = 2.5
    router = await start_router(config(vertex_entry(vertex_server)))
    async with sdk_for(router) as sdk:
        b = await run_batch(sdk, rows)
        check("Batch", b.model_dump(exclude_none=True))
        assert b.request_counts.failed == 3 and b.request_counts.completed == 0
        assert b.output_file_id is None and b.error_file_id
        info = await sdk.files.retrieve(b.error_file_id)
        assert info.id == b.error_file_id and info.purpose == "batch_output"
        check("OpenAIFile", info.model_dump(exclude_none=True))
        errors = await read_rows(sdk, b.error_file_id)
    assert sorted(r["custom_id"] for r in errors) == ["req-0", "req-1", "req-2"]
    for r in errors:
        assert r["response"]["status_code"] == 400 and r["error"] is None
        assert "temperature" in r["response"]["body"]["error"]["message"]


async def test_partial_failure_splits_rows_between_two_views(
    start_router: RouterFactory, vertex_server: TestServer, vertex: FakeVertex
) -> None:
    rows = chat_rows(5)
    for i in (1, 4):
        rows[i]["body"]["temperature"] = -1
    router = await start_router(config(vertex_entry(vertex_server)))
    async with sdk_for(router) as sdk:
        b = await run_batch(sdk, rows)
        assert (b.request_counts.completed, b.request_counts.failed) == (3, 2)
        next(iter(vertex.jobs.values())).stats["incompleteCount"] = -1  # "unknown" to Vertex
        counts = (await sdk.batches.retrieve(b.id)).request_counts
        assert counts is not None and counts.total == 5
        assert b.output_file_id and b.error_file_id and b.output_file_id != b.error_file_id
        output, error = decode_id(b.output_file_id, "file"), decode_id(b.error_file_id, "file")
        assert isinstance(output, RoutedId) and isinstance(error, RoutedId)
        assert output.deployment == error.deployment == "gemini-batch"
        # Two views of the one predictions object Vertex wrote.
        assert output.provider_id.rsplit("#", 1)[0] == error.provider_id.rsplit("#", 1)[0]
        ok, bad = await read_rows(sdk, b.output_file_id), await read_rows(sdk, b.error_file_id)
        # The object itself (as listed, or as LiteLLM names it) still reads as every row.
        whole = encode_id("file", output.provider_id.rsplit("#", 1)[0], "gemini-batch")
        everything = await read_rows(sdk, whole)
        # Deleting a view deletes the object both views read.
        deleted = await sdk.files.delete(b.error_file_id)
        assert deleted.deleted and deleted.id == b.error_file_id
        with pytest.raises(NotFoundError):
            await sdk.files.content(b.output_file_id)
    assert sorted(r["custom_id"] for r in ok) == ["req-0", "req-2", "req-3"]
    assert all(r["response"]["status_code"] == 200 for r in ok)
    assert sorted(r["custom_id"] for r in bad) == ["req-1", "req-4"]
    assert all(r["response"]["status_code"] == 400 for r in bad)
    assert sorted(r["custom_id"] for r in everything) == [f"req-{i}" for i in range(5)]


async def test_lost_labels_fall_back_to_line_numbers_with_one_warning(
    start_router: RouterFactory,
    vertex_server: TestServer,
    vertex: FakeVertex,
    caplog: pytest.LogCaptureFixture,
) -> None:
    vertex.drop_labels = True
    rows = chat_rows(4)
    rows[3]["body"]["temperature"] = 9
    router = await start_router(config(vertex_entry(vertex_server)))
    async with sdk_for(router) as sdk:
        b = await run_batch(sdk, rows)
        with caplog.at_level("WARNING", logger="aiohttp_files_router"):
            ok = await read_rows(sdk, b.output_file_id)
        warnings = [r for r in caplog.records if "custom_id label" in r.getMessage()]
        assert len(warnings) == 1  # one per file, not one per row
        caplog.clear()
        with caplog.at_level("WARNING", logger="aiohttp_files_router"):
            bad = await read_rows(sdk, b.error_file_id)
        assert len([r for r in caplog.records if "custom_id label" in r.getMessage()]) == 1
    # N is the row's line in predictions.jsonl, whichever view it is read through.
    names = sorted(r["custom_id"] for r in ok + bad)
    assert names == ["line-1", "line-2", "line-3", "line-4"]
    assert len(ok) == 3 and len(bad) == 1
    job = next(iter(vertex.jobs.values()))
    bucket, _, prefix = str(job.output_dir).removeprefix("gs://").partition("/")
    lines = vertex.objects[(bucket, prefix + "/predictions.jsonl")].path.read_bytes().split(b"\n")
    failed_line = next(i for i, x in enumerate(lines, 1) if x and json.loads(x)["status"])
    assert bad[0]["custom_id"] == f"line-{failed_line}"


async def test_custom_id_fallbacks_on_predictions_from_other_tools(
    start_router: RouterFactory, vertex_server: TestServer, vertex: FakeVertex
) -> None:
    """Raw labels, else the lossy label, else a top-level custom_id, else line-N."""
    ok = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]}, "index": 0}],
        "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1},
    }
    contents = [{"role": "user", "parts": [{"text": "q"}]}]
    lines: list[dict[str, Any]] = [
        # LiteLLM's own example: a job LiteLLM made reads back here.
        {
            "request": {
                "contents": contents,
                "labels": {
                    "litellm_custom_id": "request-1",
                    "litellm_custom_id_raw": "b32_ojsxc5lfon2c2mi",
                },
            },
            "status": "",
            "response": ok,
        },
        {"request": {"contents": contents, "labels": {"litellm_custom_id": "lossy_id"}}},
        {"custom_id": "Top.Level", "request": {"contents": contents}, "status": "", "response": ok},
        {"request": {"contents": contents}, "status": "", "response": ok},
        # A raw piece lost in the middle: the lossy label, never a wrong decode.
        {
            "request": {
                "contents": contents,
                "labels": {
                    "litellm_custom_id": "gappy",
                    "litellm_custom_id_raw": "b32_ojsxc5lfon2c2mi",
                    "litellm_custom_id_raw_2": "b32_aa",
                },
            },
            "status": "",
            "response": ok,
        },
    ]
    lines[1]["status"] = "Bad Request: no"
    name = "team-a/files-router/gemini-batch/batch-output/x/prediction-model-1/predictions.jsonl"
    vertex.put_object(BUCKET, name, jsonl(lines), "application/jsonl")
    router = await start_router(config(vertex_entry(vertex_server)))
    async with sdk_for(router) as sdk:
        rows = await read_rows(sdk, encode_id("file", f"gs://{BUCKET}/{name}", "gemini-batch"))
    assert [r["custom_id"] for r in rows] == [
        "request-1",
        "lossy_id",
        "Top.Level",
        "line-4",
        "gappy",
    ]
    assert [r["response"]["status_code"] for r in rows] == [200, 400, 200, 200, 200]


async def test_labels_refused_at_upload_naming_the_line(
    start_router: RouterFactory, vertex_server: TestServer, vertex: FakeVertex
) -> None:
    router = await start_router(config(vertex_entry(vertex_server)))
    cases = [
        ("y" * 2324, None, "Vertex allows 64 labels"),  # 2324 bytes need 65 labels
        ("z" * 2000, {f"k{i}": "v" for i in range(30)}, "body.labels has 30"),
        ("ok", {"Team": "x"}, "label rules"),
        ("ok", {"team": "Research"}, "label rules"),
        ("ok", {"litellm_custom_id": "x"}, "reserved"),
        ("ok", ["team"], "object of strings"),
    ]
    async with sdk_for(router) as sdk:
        for custom_id, labels, words in cases:
            rows = chat_rows(3)
            rows[1]["custom_id"] = custom_id
            if labels is not None:
                rows[1]["body"]["labels"] = labels
            with pytest.raises(BadRequestError) as info:
                await sdk.files.create(
                    file=("in.jsonl", io.BytesIO(jsonl(rows))),
                    purpose="batch",
                    extra_body={"model": "gemini-batch"},
                )
            err = error_of(info.value.response.json())
            assert "Line 2 " in err["message"] and words in err["message"], err
            assert err["param"] == "file"
        # The longest custom_id that fits goes through.
        rows = chat_rows(1)
        rows[0]["custom_id"] = "y" * 2323  # 3717 base32 characters: 63 labels, 64 with the lossy
        b = await run_batch(sdk, rows)
        out = await read_rows(sdk, b.output_file_id)
    assert [r["custom_id"] for r in out] == ["y" * 2323]
    assert vertex.uploads == {}  # refused uploads were cancelled
    # Nothing stored but the good file (its rows, its original) and its predictions.
    assert len(vertex.objects) == 3


async def test_short_range_308_resends_from_persisted_offset(
    start_router: RouterFactory, vertex_server: TestServer, vertex: FakeVertex
) -> None:
    router = await start_router(config(vertex_entry(vertex_server)))
    big = jsonl(chat_rows(30_000))  # more than one 2 MiB chunk
    small = jsonl(chat_rows(3))  # one chunk, the last
    async with sdk_for(router) as sdk:
        stored = {}
        for label, data, cut_short in (
            ("big", big, False),
            ("big-short", big, True),
            ("small", small, False),
            ("small-short", small, True),
        ):
            vertex.short_range_once = cut_short
            f = await sdk.files.create(
                file=(f"{label}.jsonl", io.BytesIO(data)),
                purpose="batch",
                extra_body={"model": "gemini-batch"},
            )
            assert not vertex.short_range_once  # the fake did keep only part of a chunk
            stored[label] = (await sdk.files.content(f.id)).content
            assert stored[label] == data
    # Each file is two uploads at once (its rows, its original), either of which may have
    # met the short answer; the half of a chunk GCS did not keep went again, nothing else did.
    pairs = [vertex.finished_uploads[i : i + 2] for i in range(0, 8, 2)]
    assert all(sum(u.chunk_sizes) == u.received for u in pairs[0] + pairs[2])
    (short,) = [u for u in pairs[1] if sum(u.chunk_sizes) != u.received]
    assert sum(short.chunk_sizes) == short.received + short.chunk_sizes[0] // 2
    (small_short,) = [u for u in pairs[3] if len(u.chunk_sizes) == 2]
    whole = small_short.received
    assert small_short.chunk_sizes == [whole, whole - whole // 2]

    def kept(pair: list[Any], suffix: str) -> bytes:
        (upload,) = [u for u in pair if u.name.endswith(suffix)]
        return vertex.objects[(upload.bucket, upload.name)].path.read_bytes()

    assert kept(pairs[1], ".jsonl") == kept(pairs[0], ".jsonl")  # the same Vertex rows
    assert kept(pairs[1], ".original") == big and kept(pairs[3], ".original") == small
    assert vertex.uploads == {}


async def test_implicit_cache_hits_are_cached_tokens(
    start_router: RouterFactory, vertex_server: TestServer
) -> None:
    rows = chat_rows(2)
    rows[1]["body"]["messages"][0]["content"] = "long context " * 1000  # over 2048 tokens
    router = await start_router(config(vertex_entry(vertex_server)))
    async with sdk_for(router) as sdk:
        b = await run_batch(sdk, rows)
        out = {
            r["custom_id"]: r["response"]["body"]["usage"]
            for r in await read_rows(sdk, b.output_file_id)
        }
    assert "prompt_tokens_details" not in out["req-0"]
    cached = out["req-1"]["prompt_tokens_details"]["cached_tokens"]
    assert 2048 <= cached <= out["req-1"]["prompt_tokens"]
    for usage in out.values():
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_every_prediction_file_is_read_in_name_order(
    start_router: RouterFactory, vertex_server: TestServer, vertex: FakeVertex
) -> None:
    vertex.prediction_file_lines = 2  # 5 rows: predictions.jsonl and two more files
    router = await start_router(config(vertex_entry(vertex_server)))
    async with sdk_for(router) as sdk:
        b = await run_batch(sdk, chat_rows(5))
        assert b.status == "completed" and b.output_file_id
        out = await read_rows(sdk, b.output_file_id)
    job = next(iter(vertex.jobs.values()))
    assert job.output_dir is not None
    directory = job.output_dir.removeprefix(f"gs://{BUCKET}/")
    names = sorted(n for b_, n in vertex.objects if b_ == BUCKET and n.startswith(directory))
    assert [n.rsplit("/", 1)[1] for n in names] == [
        "predictions.jsonl",
        "predictions_00001.jsonl",
        "predictions_00002.jsonl",
    ]
    written = [
        json.loads(line)["request"]["labels"]["litellm_custom_id"]
        for n in names
        for line in vertex.objects[(BUCKET, n)].path.read_bytes().splitlines()
    ]
    assert [r["custom_id"] for r in out] == written  # every file, in name order
    assert sorted(written) == [f"req-{i}" for i in range(5)]


async def test_expired_job_exposes_what_it_wrote(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    now = [7_000_000.0]
    vertex = FakeVertex(
        {EMAIL: PUBLIC},
        buckets=[BUCKET],
        storage=tmp_path,
        phase_seconds=60,
        clock=lambda: now[0],
    )
    vertex.expire_seconds = 90  # running, then expired
    router = await start_router(config(vertex_entry(await aiohttp_server(vertex.app()))))
    async with sdk_for(router) as sdk:
        b = await run_batch(sdk, chat_rows(4))
        now[0] += 100
        b = await sdk.batches.retrieve(b.id)
        assert b.status == "expired" and b.expired_at is not None
        assert b.request_counts is not None and b.request_counts.completed == 2
        assert b.output_file_id is not None
        assert len(await read_rows(sdk, b.output_file_id)) == 2


def embedding_rows(texts: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "custom_id": f"emb-{i}",
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {"model": "text-embedding-005", "input": [text] if i == 1 else text},
        }
        for i, text in enumerate(texts)
    ]


async def test_embedding_batch_on_an_embedding_model(
    start_router: RouterFactory, vertex_server: TestServer, vertex: FakeVertex
) -> None:
    """/v1/embeddings rows become {"content"} instances, the custom_ids kept beside them (no
    output line carries one); results come back as OpenAI embedding bodies matched to their
    custom_id, the same text twice included; delete removes every object of the upload."""
    entry = vertex_entry(vertex_server, name="vertex-embed")
    entry["litellm_params"]["model"] = "vertex_ai/text-embedding-005"
    router = await start_router(config(entry, vertex_entry(vertex_server)))
    texts = ["banana bread", "a machine learning model", "banana bread", "tea"]
    rows = embedding_rows(texts)
    data = jsonl(rows)
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("emb.jsonl", io.BytesIO(data)),
            purpose="batch",
            extra_body={"model": "vertex-embed"},
        )
        names = sorted(name for _, name in vertex.objects)
        assert [n.rsplit(".jsonl", 1)[1] for n in names] == ["", ".ids", ".original"]
        stored = vertex.objects[(BUCKET, names[0])].path.read_bytes()
        assert [json.loads(x) for x in stored.splitlines()] == [{"content": t} for t in texts]
        assert (await sdk.files.content(f.id)).content == data
        listed = await sdk.files.list(extra_query={"model": "vertex-embed"})
        assert [x.id for x in listed.data] == [f.id]  # one file: its companions are hidden
        with pytest.raises(BadRequestError) as info:
            await sdk.batches.create(
                input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
        assert error_of(info.value.response.json())["param"] == "endpoint"
        b = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/embeddings", completion_window="24h"
        )
        b = await sdk.batches.retrieve(b.id)
        assert b.status == "completed" and b.endpoint == "/v1/embeddings"
        assert b.output_file_id and b.error_file_id is None
        out = await read_rows(sdk, b.output_file_id)
        (job,) = vertex.jobs.values()
        written = [
            json.loads(line)
            for (_, name), obj in vertex.objects.items()
            if name.endswith("predictions.jsonl")
            for line in obj.path.read_bytes().splitlines()
        ]
        by_text = {w["instance"]["content"]: w["predictions"][0]["embeddings"] for w in written}
        assert sorted(r["custom_id"] for r in out) == sorted(r["custom_id"] for r in rows)
        for r in out:
            text = texts[int(r["custom_id"].removeprefix("emb-"))]
            body = r["response"]["body"]
            assert r["response"]["status_code"] == 200 and body["object"] == "list"
            assert body["model"] == "text-embedding-005"
            assert body["data"] == [
                {"object": "embedding", "index": 0, "embedding": by_text[text]["values"]}
            ]
            tokens = by_text[text]["statistics"]["token_count"]
            assert body["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}
        assert job.model == "publishers/google/models/text-embedding-005"
        gone = await sdk.files.delete(f.id)
        assert gone.deleted is True
    # The rows, the original and the custom_ids are gone; the job's output stays.
    assert vertex.objects and all("/batch-output/" in n for _, n in vertex.objects)


async def test_embedding_and_chat_rows_refused_on_the_other_kind_of_model(
    start_router: RouterFactory, vertex_server: TestServer, vertex: FakeVertex
) -> None:
    entry = vertex_entry(vertex_server, name="vertex-embed")
    entry["litellm_params"]["model"] = "vertex_ai/text-embedding-005"
    router = await start_router(config(entry, vertex_entry(vertex_server)))
    cases = [
        ("vertex-embed", chat_rows(2), "Line 1 ", "text-embedding-005 is an embedding model"),
        ("gemini-batch", embedding_rows(["x", "y"]), "Line 1 ", "generates text"),
        ("vertex-embed", embedding_rows(["x", ""]), "Line 2 ", "'input' must be one"),
    ]
    async with sdk_for(router) as sdk:
        for model, rows, line, words in cases:
            with pytest.raises(BadRequestError) as info:
                await sdk.files.create(
                    file=("in.jsonl", io.BytesIO(jsonl(rows))),
                    purpose="batch",
                    extra_body={"model": model},
                )
            err = error_of(info.value.response.json())
            assert line in err["message"] and words in err["message"], err
            assert err["param"] == "file"
    assert vertex.objects == {} and vertex.uploads == {}
