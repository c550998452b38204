"""Gemini Developer API accounts: the Files API and batch mode behind OpenAI shapes, driven
with the openai SDK through the router against FakeGemini on loopback."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI, BadRequestError, InternalServerError, NotFoundError

from aiohttp_files_router.fake import FakeGemini
from aiohttp_files_router.ids import RoutedId, decode_id, encode_id

from .common import Clock
from .conftest import MASTER, RouterFactory, ServerFactory, chat_rows, error_of, jsonl
from .gemini_fixtures import GEMINI_KEY, OTHER_KEY, config, gemini_entry, sdk_for
from .spec import check

# custom_ids a transport could mangle: spaces, unicode, slashes, quotes, a long one.
AWKWARD = ["req 1/ü", 'q"uote\\d', "x" * 300, "req-3"]


@pytest.fixture
def gemini(tmp_path: Path) -> FakeGemini:
    return FakeGemini(
        {GEMINI_KEY: "project-a", OTHER_KEY: "project-b"}, storage=tmp_path / "gemini"
    )


@pytest.fixture
async def gemini_server(aiohttp_server: ServerFactory, gemini: FakeGemini) -> TestServer:
    return await aiohttp_server(gemini.app())


def rows_with_failures() -> list[dict[str, Any]]:
    rows = chat_rows(len(AWKWARD))
    for row, custom_id in zip(rows, AWKWARD, strict=True):
        row["custom_id"] = custom_id
    rows[0]["body"].update(max_tokens=1)
    rows[1]["body"].update(
        tools=[{"type": "function", "function": {"name": "lookup", "parameters": {}}}],
        tool_choice="required",
    )
    rows[2]["body"]["temperature"] = 3.5  # Gemini refuses it: an error row
    return rows


async def test_seed_flow_on_gemini(
    start_router: RouterFactory, gemini_server: TestServer, gemini: FakeGemini
) -> None:
    router = await start_router(config(gemini_entry(gemini_server)))
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("batch data.jsonl", io.BytesIO(jsonl(rows_with_failures()))),
            purpose="batch",
            extra_body={"model": "gemini-api"},
        )
        decoded = decode_id(f.id, "file")
        assert isinstance(decoded, RoutedId) and decoded.deployment == "gemini-api"
        assert f.filename == "batch data.jsonl" and f.purpose == "batch"
        assert f.status == "processed" and f.expires_at == f.created_at + 48 * 3600
        check("OpenAIFile", f.model_dump(exclude_none=True))
        # What Gemini holds: key + GenerateContentRequest rows, named after the route.
        stored = gemini.accounts["project-a"].files[decoded.provider_id]
        assert stored.display_name == "gemini-api/batch data.jsonl"
        assert f.bytes == stored.size
        lines = [json.loads(x) for x in stored.path.read_text().splitlines()]
        assert [row["key"] for row in lines] == AWKWARD
        assert all(set(row) == {"key", "request"} for row in lines)
        assert lines[0]["request"]["generationConfig"] == {"maxOutputTokens": 1}
        upload = gemini.finished_uploads[-1]
        assert upload.commands[0] == "start" and upload.commands[-1] == "upload, finalize"

        again = await sdk.files.retrieve(f.id)
        assert again.id == f.id and again.filename == "batch data.jsonl"

        with pytest.raises(BadRequestError) as refused:
            await sdk.files.content(f.id)
        assert "does not serve uploaded files" in str(refused.value)

        b = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        assert b.id.startswith("batch_") and b.status == "validating"
        assert b.input_file_id == f.id and b.model == "gemini-2.5-flash"
        job = gemini.accounts["project-a"].batches[decode_id(b.id, "batch").provider_id]
        assert job.display_name.startswith("gemini-api/")
        b = await sdk.batches.retrieve(b.id)
        assert b.status == "completed", b
        assert b.request_counts is not None
        assert (b.request_counts.total, b.request_counts.completed) == (4, 3)
        assert b.request_counts.failed == 1
        assert isinstance(b.created_at, int) and isinstance(b.completed_at, int)
        check("Batch", b.model_dump(exclude_none=True))
        assert b.output_file_id and b.error_file_id

        out = [json.loads(x) for x in (await sdk.files.content(b.output_file_id)).text.splitlines()]
        by_id = {r["custom_id"]: r for r in out}
        assert sorted(by_id) == sorted([AWKWARD[0], AWKWARD[1], AWKWARD[3]])
        assert all(r["response"]["status_code"] == 200 for r in out)
        bodies = {k: r["response"]["body"] for k, r in by_id.items()}
        assert bodies[AWKWARD[0]]["object"] == "chat.completion"
        assert bodies[AWKWARD[0]]["choices"][0]["finish_reason"] == "length"
        assert bodies[AWKWARD[1]]["choices"][0]["finish_reason"] == "tool_calls"
        assert bodies[AWKWARD[3]]["choices"][0]["message"]["content"].startswith(
            "mock gemini reply"
        )
        usage = bodies[AWKWARD[3]]["usage"]
        # Thoughts are billed output: in completion_tokens, stated as reasoning tokens.
        assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] == 5 + 7
        assert usage["completion_tokens_details"] == {"reasoning_tokens": 7}
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]

        errors = [
            json.loads(x) for x in (await sdk.files.content(b.error_file_id)).text.splitlines()
        ]
        assert [r["custom_id"] for r in errors] == [AWKWARD[2]]
        assert errors[0]["response"]["status_code"] == 400
        assert "temperature" in errors[0]["response"]["body"]["error"]["message"]

        result = await sdk.files.retrieve(b.output_file_id)
        assert result.purpose == "batch_output" and result.id == b.output_file_id

        listed = [
            x.id async for x in sdk.files.list(limit=1, extra_query={"model": "gemini-api"})
        ]  # auto-pagination through our cursors
        assert len(listed) == 2 and f.id in listed
        assert len(set(listed)) == 2

        gemini.phase_seconds = 3600  # the next batch stays pending until cancelled
        second = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        cancelled = await sdk.batches.cancel(second.id)
        assert cancelled.status in ("cancelling", "cancelled")
        batches = [
            x.id async for x in sdk.batches.list(limit=1, extra_query={"model": "gemini-api"})
        ]
        assert batches == [second.id, b.id]

        deleted = await sdk.files.delete(f.id)
        assert deleted.deleted and deleted.id == f.id
        with pytest.raises(NotFoundError):
            await sdk.files.retrieve(f.id)


async def test_big_upload_goes_in_granular_chunks_from_a_spool(
    start_router: RouterFactory, gemini_server: TestServer, gemini: FakeGemini
) -> None:
    router = await start_router(config(gemini_entry(gemini_server)))
    pad = "p" * 1000
    rows = chat_rows(9000)
    for row in rows:
        row["body"]["messages"][0]["content"] += pad
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("big.jsonl", io.BytesIO(jsonl(rows))),
            purpose="batch",
            extra_body={"model": "gemini-api"},
        )
    upload = gemini.finished_uploads[-1]
    assert f.bytes == upload.declared > 8 * 1024 * 1024
    assert len(upload.chunk_sizes) >= 2
    assert all(size == 8 * 1024 * 1024 for size in upload.chunk_sizes[:-1])
    assert upload.commands[1:-1] == ["upload"] * (len(upload.chunk_sizes) - 1)


async def test_bad_rows_and_purposes_are_refused_before_upload(
    start_router: RouterFactory, gemini_server: TestServer, gemini: FakeGemini
) -> None:
    router = await start_router(config(gemini_entry(gemini_server)))
    rows = chat_rows(3)
    rows[1]["body"]["messages"][0]["content"] = [
        {"type": "image_url", "image_url": {"url": f"{gemini_server.make_url('')}/v1beta/files/x"}}
    ]
    async with sdk_for(router) as sdk:
        with pytest.raises(BadRequestError) as bad:
            await sdk.files.create(
                file=("b.jsonl", io.BytesIO(jsonl(rows))),
                purpose="batch",
                extra_body={"model": "gemini-api"},
            )
        assert "Line 2" in str(bad.value)
        with pytest.raises(BadRequestError) as bad:
            await sdk.files.create(
                file=("b.jsonl", io.BytesIO(b'{"custom_id": "a"}\nnot json\n')),
                purpose="batch",
                extra_body={"model": "gemini-api"},
            )
        assert "Line 1" in str(bad.value)
        with pytest.raises(BadRequestError) as bad:
            await sdk.files.create(
                file=("notes.txt", io.BytesIO(b"hello")),
                purpose="user_data",
                extra_body={"model": "gemini-api"},
            )
        assert "purpose=batch" in str(bad.value)
    assert not gemini.finished_uploads and not gemini.uploads


async def test_missing_file_is_an_openai_404(
    start_router: RouterFactory, gemini_server: TestServer
) -> None:
    router = await start_router(config(gemini_entry(gemini_server)))
    missing = encode_id("file", "abc123missing", "gemini-api")
    async with aiohttp.ClientSession() as http:
        for method, path in (
            ("GET", f"/v1/files/{missing}"),
            ("GET", f"/v1/files/{missing}/content"),
            ("DELETE", f"/v1/files/{missing}"),
        ):
            async with http.request(
                method,
                router.make_url(path),
                headers={"Authorization": f"Bearer {MASTER}"},
            ) as resp:
                assert resp.status == 404, (method, path)
                err = error_of(await resp.json())
                assert err["param"] == "file_id"
        missing_batch = encode_id("batch", "nosuchbatch", "gemini-api")
        async with http.get(
            router.make_url(f"/v1/batches/{missing_batch}"),
            headers={"Authorization": f"Bearer {MASTER}"},
        ) as resp:
            assert resp.status == 404
            error_of(await resp.json())


async def test_wrong_key_is_passed_on_openai_shaped_without_the_key(
    start_router: RouterFactory, gemini_server: TestServer
) -> None:
    wrong = "AIza-not-a-registered-key-9876"
    router = await start_router(config(gemini_entry(gemini_server, key=wrong)))
    async with aiohttp.ClientSession() as http:
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("model", "gemini-api")
        form.add_field("file", jsonl(chat_rows(1)), filename="a.jsonl")
        async with http.post(
            router.make_url("/v1/files"), data=form, headers={"Authorization": f"Bearer {MASTER}"}
        ) as resp:
            assert resp.status == 400
            text = await resp.text()
        async with http.get(
            router.make_url("/v1/files"),
            params={"model": "gemini-api"},
            headers={"Authorization": f"Bearer {MASTER}"},
        ) as listing:
            assert listing.status == 400
            listed = await listing.text()
    for body in (text, listed):
        err = error_of(json.loads(body))
        assert "API key not valid" in err["message"]
        assert wrong not in body


async def test_deployments_sharing_a_key_see_only_their_own_objects(
    start_router: RouterFactory,
    gemini_server: TestServer,
    gemini: FakeGemini,
    caplog: pytest.LogCaptureFixture,
) -> None:
    keys = [
        {"key": "sk-team-a", "models": ["gemini-a"]},
        {"key": "sk-team-b", "models": ["gemini-b"]},
    ]
    with caplog.at_level(logging.WARNING, logger="aiohttp_files_router"):
        router = await start_router(
            config(
                gemini_entry(gemini_server, "gemini-a"),
                gemini_entry(gemini_server, "gemini-b"),
                keys=keys,
                ownership="shared",
            )
        )
    shared = [
        r.getMessage() for r in caplog.records if "share one provider store" in r.getMessage()
    ]
    assert shared and "gemini-a, gemini-b" in shared[0] and GEMINI_KEY not in shared[0]
    async with sdk_for(router, "sk-team-a") as team_a, sdk_for(router, "sk-team-b") as team_b:
        f = await team_a.files.create(
            file=("a.jsonl", io.BytesIO(jsonl(chat_rows(2)))),
            purpose="batch",
            extra_body={"model": "gemini-a"},
        )
        b = await team_a.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        b = await team_a.batches.retrieve(b.id)
        assert b.status == "completed" and b.output_file_id
        file_id = decode_id(f.id, "file").provider_id
        batch_id = decode_id(b.id, "batch").provider_id
        output_id = decode_id(b.output_file_id, "file").provider_id

        # Team B lists nothing of team A's, though Gemini keeps them in one project.
        assert [x async for x in team_b.files.list(extra_query={"model": "gemini-b"})] == []
        assert [x async for x in team_b.batches.list(extra_query={"model": "gemini-b"})] == []

        # The attack: team A's provider IDs wrapped as gemini-b IDs (unsigned IDs are
        # accepted in this config, so the route is the only thing that can stop it).
        stolen_file = encode_id("file", file_id, "gemini-b")
        stolen_out = encode_id("file", output_id, "gemini-b")
        stolen_batch = encode_id("batch", batch_id, "gemini-b")
        for call in (
            team_b.files.retrieve(stolen_file),
            team_b.files.content(stolen_out),
            team_b.files.retrieve(stolen_out),
            team_b.files.delete(stolen_file),
            team_b.batches.retrieve(stolen_batch),
            team_b.batches.cancel(stolen_batch),
            team_b.batches.create(
                input_file_id=stolen_file,
                endpoint="/v1/chat/completions",
                completion_window="24h",
            ),
        ):
            with pytest.raises(NotFoundError):
                await call
        # Team A's objects are all still there.
        assert file_id in gemini.accounts["project-a"].files
        assert (await team_a.files.retrieve(f.id)).id == f.id
        listed = {x.id async for x in team_a.files.list(extra_query={"model": "gemini-a"})}
        assert f.id in listed and len(listed) == 2


async def test_the_spool_goes_in_spool_dir_and_is_never_left_behind(
    start_router: RouterFactory,
    gemini_server: TestServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    made: list[str] = []
    real = tempfile.mkstemp

    def mkstemp(**kwargs: Any) -> tuple[int, str]:
        fd, path = real(**kwargs)
        made.append(path)
        return fd, path

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    router = await start_router(config(gemini_entry(gemini_server), spool_dir=str(spool_dir)))
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("a.jsonl", io.BytesIO(jsonl(chat_rows(2)))),
            purpose="batch",
            extra_body={"model": "gemini-api"},
        )
    assert f.bytes > 0
    assert len(made) == 1 and Path(made[0]).parent == spool_dir
    assert list(spool_dir.iterdir()) == []  # unlinked as soon as it was made


async def test_upload_urls_elsewhere_get_no_key_and_refused_uploads_are_cancelled(
    start_router: RouterFactory, aiohttp_server: ServerFactory
) -> None:
    """An upstream whose start answer points elsewhere, then one that refuses the chunk."""
    seen: list[tuple[str, str, str | None, str | None]] = []
    target: dict[str, str] = {}

    async def record(request: web.Request) -> web.Response:
        seen.append(
            (
                request.host,
                request.path,
                request.headers.get("X-Goog-Upload-Command"),
                request.headers.get("x-goog-api-key"),
            )
        )
        if "upload_id" not in request.query:
            return web.Response(headers={"X-Goog-Upload-URL": target["url"]})
        if request.headers.get("X-Goog-Upload-Command") == "cancel":
            return web.Response(headers={"X-Goog-Upload-Status": "cancelled"})
        return web.json_response(
            {"error": {"code": 400, "message": "chunk refused", "status": "INVALID_ARGUMENT"}},
            status=400,
        )

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", record)
    upstream = await aiohttp_server(app)
    elsewhere = await aiohttp_server(app)
    router = await start_router(config(gemini_entry(upstream)))
    async with sdk_for(router) as sdk:
        target["url"] = str(elsewhere.make_url("/steal?upload_id=x"))
        with pytest.raises(InternalServerError) as far:
            await sdk.files.create(
                file=("a.jsonl", io.BytesIO(jsonl(chat_rows(1)))),
                purpose="batch",
                extra_body={"model": "gemini-api"},
            )
        assert far.value.status_code == 502
        assert [s[1] for s in seen] == ["/upload/v1beta/files"]  # nothing sent elsewhere

        seen.clear()
        target["url"] = str(upstream.make_url("/upload/v1beta/files?upload_id=x"))
        with pytest.raises(BadRequestError) as refused:
            await sdk.files.create(
                file=("a.jsonl", io.BytesIO(jsonl(chat_rows(1)))),
                purpose="batch",
                extra_body={"model": "gemini-api"},
            )
        assert "chunk refused" in str(refused.value)
        assert [s[2] for s in seen] == ["start", "upload, finalize", "cancel"]
        assert all(s[3] == GEMINI_KEY for s in seen)


async def test_fan_out_upload_reaches_two_gemini_projects(
    start_router: RouterFactory, gemini_server: TestServer, gemini: FakeGemini
) -> None:
    router = await start_router(
        config(
            gemini_entry(gemini_server, "gemini-a"),
            gemini_entry(gemini_server, "gemini-b", key=OTHER_KEY),
        )
    )
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("both.jsonl", io.BytesIO(jsonl(chat_rows(2)))),
            purpose="batch",
            extra_body={"target_model_names": "gemini-a, gemini-b"},
        )
        b = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        b = await sdk.batches.retrieve(b.id)
        assert b.status == "completed" and b.output_file_id
        rows = (await sdk.files.content(b.output_file_id)).text.splitlines()
        assert sorted(json.loads(r)["custom_id"] for r in rows) == ["req-0", "req-1"]
    for project, route in (("project-a", "gemini-a"), ("project-b", "gemini-b")):
        names = [x.display_name for x in gemini.accounts[project].files.values()]
        assert f"{route}/both.jsonl" in names


async def test_thoughts_and_implicit_cache_hits_in_usage(
    start_router: RouterFactory, gemini_server: TestServer
) -> None:
    rows = chat_rows(2)
    rows[1]["body"]["messages"][0]["content"] = "long context " * 1000  # over 2048 tokens
    router = await start_router(config(gemini_entry(gemini_server)))
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("in.jsonl", io.BytesIO(jsonl(rows))),
            purpose="batch",
            extra_body={"model": "gemini-api"},
        )
        b = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        b = await sdk.batches.retrieve(b.id)
        assert b.output_file_id is not None
        text = (await sdk.files.content(b.output_file_id)).text
    out = {
        r["custom_id"]: r["response"]["body"]["usage"]
        for r in (json.loads(x) for x in text.splitlines())
    }
    assert "prompt_tokens_details" not in out["req-0"]
    cached = out["req-1"]["prompt_tokens_details"]["cached_tokens"]
    assert 2048 <= cached <= out["req-1"]["prompt_tokens"]
    for usage in out.values():
        assert usage["completion_tokens_details"] == {"reasoning_tokens": 7}
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def upload_and_run(sdk: AsyncOpenAI, rows: list[dict[str, Any]]) -> Any:
    f = await sdk.files.create(
        file=("in.jsonl", io.BytesIO(jsonl(rows))),
        purpose="batch",
        extra_body={"model": "gemini-api"},
    )
    return await sdk.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
    )


async def test_succeeded_before_its_responses_file_is_named_is_finalizing(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    clock = Clock()
    fake = FakeGemini(
        {GEMINI_KEY: "project-a"}, storage=tmp_path / "g", clock=clock, output_lag_seconds=30
    )
    router = await start_router(config(gemini_entry(await aiohttp_server(fake.app()))))
    async with sdk_for(router) as sdk:
        b = await upload_and_run(sdk, chat_rows(2))
        b = await sdk.batches.retrieve(b.id)
        assert b.status == "finalizing" and b.output_file_id is None
        clock.now += 30
        b = await sdk.batches.retrieve(b.id)
        assert b.status == "completed" and b.output_file_id is not None
        assert len((await sdk.files.content(b.output_file_id)).text.splitlines()) == 2


async def test_responses_file_named_only_in_the_operation_response(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    fake = FakeGemini(
        {GEMINI_KEY: "project-a"}, storage=tmp_path / "g", output_in_response_only=True
    )
    router = await start_router(config(gemini_entry(await aiohttp_server(fake.app()))))
    async with sdk_for(router) as sdk:
        b = await sdk.batches.retrieve((await upload_and_run(sdk, chat_rows(2))).id)
        assert b.status == "completed" and b.output_file_id is not None
        assert len((await sdk.files.content(b.output_file_id)).text.splitlines()) == 2


async def test_unsupported_mime_type_is_retried_once_with_another(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    fake = FakeGemini(
        {GEMINI_KEY: "project-a"},
        storage=tmp_path / "g",
        refused_mime_types={"application/jsonl": 1},
    )
    router = await start_router(config(gemini_entry(await aiohttp_server(fake.app()))))
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("in.jsonl", io.BytesIO(jsonl(chat_rows(1)))),
            purpose="batch",
            extra_body={"model": "gemini-api"},
        )
        assert f.status == "processed"
        starts = [r for r in fake.requests if r.path.endswith("/files") and r.json]
        assert len(starts) == 2  # refused once, then asked with the other type
        assert fake.finished_uploads[-1].mime_type == "text/plain"
        # Google's REST example sends the display name alone in the start's body.
        assert starts[0].json == {"file": {"displayName": "gemini-api/in.jsonl"}}
        # Refused for both types, Gemini's own 400 comes back.
        fake.refused_mime_types = {"application/jsonl": 1, "text/plain": 1}
        with pytest.raises(BadRequestError) as info:
            await sdk.files.create(
                file=("in.jsonl", io.BytesIO(jsonl(chat_rows(1)))),
                purpose="batch",
                extra_body={"model": "gemini-api"},
            )
        assert "Unsupported MIME type" in info.value.message


async def test_embedding_batches_on_an_embedding_model(
    start_router: RouterFactory, gemini_server: TestServer, gemini: FakeGemini
) -> None:
    router = await start_router(
        config(
            gemini_entry(gemini_server, "gemini-embed", model="gemini/gemini-embedding-001"),
            gemini_entry(gemini_server),
        )
    )
    rows = [
        {
            "custom_id": f"e-{i}",
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {"model": "text-embedding-3-small", "input": f"text {i}", "dimensions": 8},
        }
        for i in range(3)
    ]
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("e.jsonl", io.BytesIO(jsonl(rows))),
            purpose="batch",
            extra_body={"model": "gemini-embed"},
        )
        b = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/embeddings", completion_window="24h"
        )
        assert b.endpoint == "/v1/embeddings"
        b = await sdk.batches.retrieve(b.id)
        assert b.status == "completed" and b.output_file_id is not None
        out = [json.loads(x) for x in (await sdk.files.content(b.output_file_id)).text.splitlines()]
        # Gemini writes rows out of order: matched by custom_id.
        assert sorted(r["custom_id"] for r in out) == ["e-0", "e-1", "e-2"]
        for r in out:
            body = r["response"]["body"]
            assert body["object"] == "list" and body["model"] == "gemini-embedding-001"
            assert len(body["data"][0]["embedding"]) == 8 and "usage" in body
        assert any(r.path.endswith(":asyncBatchEmbedContent") for r in gemini.requests)
        # A generating model has no embedding batches, an embedding model no chat ones.
        for model, data, words in (
            ("gemini-api", jsonl(rows), "embedding batches need an embedding model"),
            ("gemini-embed", jsonl(chat_rows(1)), "is an embedding model"),
        ):
            with pytest.raises(BadRequestError) as err:
                await sdk.files.create(
                    file=("x.jsonl", io.BytesIO(data)), purpose="batch", extra_body={"model": model}
                )
            assert "Line 1" in err.value.message and words in err.value.message


def _stored(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def test_file_store_serves_uploads_back(
    start_router: RouterFactory, gemini_server: TestServer, gemini: FakeGemini, tmp_path: Path
) -> None:
    """With a file_store, what the client uploaded comes back byte for byte (the Gemini API
    serves no upload back); a delete removes it from both."""
    store = tmp_path / "store"
    router = await start_router(config(gemini_entry(gemini_server, file_store=f"file://{store}")))
    data = jsonl(chat_rows(3)).replace(b"\n", b"\r\n")  # CRLF: bytes kept as sent
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("in put.jsonl", io.BytesIO(data)),
            purpose="batch",
            extra_body={"model": "gemini-api"},
        )
        assert f.bytes == len(data) and f.filename == "in put.jsonl"
        gemini_id = decode_id(f.id, "file").provider_id
        # The router named the Gemini file, and stored the original under that name.
        assert gemini_id.startswith("fr-") and gemini_id in gemini.accounts["project-a"].files
        assert (await sdk.files.retrieve(f.id)).bytes == len(data)
        assert (await sdk.files.content(f.id)).content == data
        listed = await sdk.files.list(extra_query={"model": "gemini-api"})
        assert [(x.id, x.bytes) for x in listed.data] == [(f.id, len(data))]
        b = await sdk.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        assert (await sdk.batches.retrieve(b.id)).status == "completed"
        assert len(await asyncio.to_thread(_stored, store)) == 1
        assert (await sdk.files.delete(f.id)).deleted
        with pytest.raises(NotFoundError):
            await sdk.files.retrieve(f.id)
    assert await asyncio.to_thread(_stored, store) == []


async def test_file_store_keeps_nothing_of_a_refused_upload(
    start_router: RouterFactory, gemini_server: TestServer, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    router = await start_router(
        config(
            gemini_entry(gemini_server, file_store=f"file://{store}"),
            gemini_entry(
                gemini_server, "wrong-key", key="AIza-not-a-key", file_store=f"file://{store}"
            ),
        )
    )
    async with sdk_for(router) as sdk:
        bad = jsonl(chat_rows(2)) + b'{"custom_id": "x", "body": {"messages": "nope"}}\n'
        with pytest.raises(BadRequestError):
            await sdk.files.create(
                file=("bad.jsonl", io.BytesIO(bad)),
                purpose="batch",
                extra_body={"model": "gemini-api"},
            )
        with pytest.raises(Exception) as refused:  # Gemini refuses the key: its answer
            await sdk.files.create(
                file=("ok.jsonl", io.BytesIO(jsonl(chat_rows(2)))),
                purpose="batch",
                extra_body={"model": "wrong-key"},
            )
        assert getattr(refused.value, "status_code", 0) >= 400
    assert await asyncio.to_thread(_stored, store) == []


async def test_without_a_file_store_content_says_so(
    start_router: RouterFactory, gemini_server: TestServer
) -> None:
    router = await start_router(config(gemini_entry(gemini_server)))
    data = jsonl(chat_rows(2))
    async with sdk_for(router) as sdk:
        f = await sdk.files.create(
            file=("in.jsonl", io.BytesIO(data)),
            purpose="batch",
            extra_body={"model": "gemini-api"},
        )
        with pytest.raises(BadRequestError) as err:
            await sdk.files.content(f.id)
        body = error_of(err.value.response.json())
        assert body["code"] == "content_not_available" and "file_store" in body["message"]
