"""FakeGemini driven by Google's own client (google-genai) and, at the protocol's edges, aiohttp."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from google import genai
from google.genai import errors, types

from aiohttp_files_router.fake import FakeGemini
from aiohttp_files_router.fake import __main__ as fake_cli

from .common import Clock

KEY = "AIza-fake-account-a"
OTHER = "AIza-fake-account-b"
MIB = 1024 * 1024

ServerFactory = Callable[..., Awaitable[TestServer]]

# google-genai's async client subclasses aiohttp.ClientSession, which aiohttp discourages.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gemini(tmp_path: Path, clock: Clock) -> FakeGemini:
    return FakeGemini(
        {KEY: "a", OTHER: "b"}, storage=tmp_path / "gemini", phase_seconds=10, clock=clock
    )


@pytest.fixture
async def server(aiohttp_server: ServerFactory, gemini: FakeGemini) -> TestServer:
    return await aiohttp_server(gemini.app())


def make_client(server: TestServer, key: str = KEY) -> genai.Client:
    options = types.HttpOptions(
        base_url=str(server.make_url("/")),
        retry_options=types.HttpRetryOptions(attempts=1),
    )
    return genai.Client(api_key=key, http_options=options)


@pytest.fixture
async def client(server: TestServer) -> AsyncIterator[genai.client.AsyncClient]:
    sync = make_client(server)
    yield sync.aio
    await sync.aio.aclose()


@pytest.fixture
async def http(server: TestServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(str(server.make_url("/"))) as session:
        yield session


def row(key: str, text: str, **request: Any) -> dict[str, Any]:
    return {
        "key": key,
        "request": {"contents": [{"role": "user", "parts": [{"text": text}]}], **request},
    }


def jsonl(rows: list[Any]) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows).encode()


async def upload(client: genai.client.AsyncClient, data: bytes, name: str = "in") -> types.File:
    return await client.files.upload(
        file=io.BytesIO(data), config={"display_name": name, "mime_type": "application/jsonl"}
    )


async def finish(client: genai.client.AsyncClient, clock: Clock, name: str) -> types.BatchJob:
    """Poll as a user would, moving the fake's clock between looks."""
    states = []
    for _ in range(5):
        job = await client.batches.get(name=name)
        states.append(job.state)
        if job.done:
            return job
        clock.now += 10
    raise AssertionError(f"not done: {states}")


async def test_files_upload_get_list_delete(
    client: genai.client.AsyncClient, gemini: FakeGemini, clock: Clock
) -> None:
    data = jsonl([row("a", "hello")])
    uploaded = await upload(client, data)
    assert uploaded.name is not None and uploaded.name.startswith("files/")
    assert uploaded.display_name == "in"
    assert uploaded.mime_type == "application/jsonl"
    assert uploaded.size_bytes == len(data)
    assert uploaded.sha256_hash == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert uploaded.state == types.FileState.ACTIVE
    assert uploaded.source == types.FileSource.UPLOADED
    assert uploaded.download_uri is None
    assert uploaded.create_time is not None and uploaded.expiration_time is not None
    assert (uploaded.expiration_time - uploaded.create_time).total_seconds() == 48 * 3600
    # What the SDK sent: the resumable start, then one "upload, finalize" at offset 0.
    session = gemini.finished_uploads[-1]
    assert session.commands == ["start", "upload, finalize"]
    assert session.chunk_sizes == [len(data)]
    assert gemini.requests[0].json == {
        "file": {"display_name": "in", "mime_type": "application/jsonl", "size_bytes": len(data)}
    }
    assert (gemini.root / "a" / uploaded.name.removeprefix("files/")).read_bytes() == data

    got = await client.files.get(name=uploaded.name)
    assert got.name == uploaded.name and got.size_bytes == len(data)

    clock.now += 1
    second = await upload(client, b"{}\n", "second")
    clock.now += 1
    third = await upload(client, b"{}\n", "third")
    pager = await client.files.list(config={"page_size": 2})
    names = [f.name async for f in pager]
    assert names == [third.name, second.name, uploaded.name]  # newest first, two pages
    assert len([r for r in gemini.requests if r.path == "/v1/files"]) == 2

    with pytest.raises(errors.ClientError) as caught:
        await client.files.delete(name=uploaded.name + ":download")
    assert caught.value.code == 403
    await client.files.delete(name=uploaded.name)
    with pytest.raises(errors.ClientError) as caught:
        await client.files.get(name=uploaded.name)
    assert caught.value.code == 403
    assert caught.value.status == "PERMISSION_DENIED"
    assert "may not exist" in str(caught.value.message)


async def test_files_expire_after_48_hours(client: genai.client.AsyncClient, clock: Clock) -> None:
    uploaded = await upload(client, b"{}\n")
    assert uploaded.name is not None
    clock.now += 48 * 3600
    with pytest.raises(errors.ClientError) as caught:
        await client.files.get(name=uploaded.name)
    assert caught.value.code == 403


# The SDK posts each 8 MiB chunk as bytes, which aiohttp warns about.
@pytest.mark.filterwarnings("ignore:Sending a large body directly:ResourceWarning")
async def test_sdk_upload_in_8_mib_chunks_streamed_to_disk(
    client: genai.client.AsyncClient, gemini: FakeGemini, tmp_path: Path
) -> None:
    source = tmp_path / "big.jsonl"
    size = 16 * MIB + 123
    with source.open("wb") as fh:
        for i in range(16):
            fh.write(bytes([97 + i]) * MIB)
        fh.write(b"z" * 123)
    uploaded = await client.files.upload(file=source, config={"mime_type": "application/jsonl"})
    assert uploaded.size_bytes == size
    assert gemini.finished_uploads[-1].chunk_sizes == [8 * MIB, 8 * MIB, size - 16 * MIB]
    assert gemini.finished_uploads[-1].commands[1:] == ["upload", "upload", "upload, finalize"]
    assert uploaded.display_name is None
    assert (
        uploaded.sha256_hash
        == base64.b64encode(hashlib.sha256(source.read_bytes()).digest()).decode()
    )


async def test_batch_runs_on_the_clock_and_answers_out_of_order(
    client: genai.client.AsyncClient,
    clock: Clock,
    http: aiohttp.ClientSession,
    gemini: FakeGemini,
) -> None:
    rows = [row(f"req-{i}", f"hello {i}") for i in range(5)]
    rows.append(row("tokens", "x", generationConfig={"maxOutputTokens": 1}))
    uploaded = await upload(client, jsonl(rows))
    assert uploaded.name is not None
    job = await client.batches.create(
        model="gemini-2.5-flash", src=uploaded.name, config={"display_name": "job one"}
    )
    assert job.name is not None and job.name.startswith("batches/")
    assert job.state == types.JobState.JOB_STATE_PENDING
    assert job.display_name == "job one"
    assert job.model == "models/gemini-2.5-flash"
    # The SDK's create body, as the fake received it (camelCase).
    assert gemini.requests[-1].json == {
        "batch": {"inputConfig": {"fileName": uploaded.name}, "displayName": "job one"}
    }
    assert gemini.requests[-1].path == "/v1/models/gemini-2.5-flash:batchGenerateContent"

    clock.now += 10
    running = await client.batches.get(name=job.name)
    assert running.state == types.JobState.JOB_STATE_RUNNING
    raw = await (await http.get(f"/v1beta/{job.name}", headers={"x-goog-api-key": KEY})).json()
    assert "done" not in raw
    assert raw["metadata"]["batchStats"] == {"requestCount": "6", "pendingRequestCount": "6"}

    done = await finish(client, clock, job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert done.end_time is not None
    assert done.dest is not None and done.dest.file_name is not None
    output_name = done.dest.file_name
    assert output_name.startswith("files/batch-")

    raw = await (await http.get(f"/v1beta/{job.name}", headers={"x-goog-api-key": KEY})).json()
    assert raw["done"] is True
    assert raw["response"]["responsesFile"] == output_name
    assert raw["metadata"]["output"] == {"responsesFile": output_name}
    assert raw["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"
    # int64 counts are strings, and a zero count is left out.
    assert raw["metadata"]["batchStats"] == {"requestCount": "6", "successfulRequestCount": "6"}

    output = await client.files.get(name=output_name)
    assert output.source == types.FileSource.GENERATED
    assert output.download_uri is not None
    data = await client.files.download(file=output)
    lines = [json.loads(line) for line in data.splitlines()]
    keys = [line["key"] for line in lines]
    assert sorted(keys) == sorted(r["key"] for r in rows)
    assert keys != [r["key"] for r in rows]  # no promise of order: the fake breaks it
    by_key = {line["key"]: line for line in lines}
    for line in lines:
        assert set(line) == {"key", "response"}
        candidate = line["response"]["candidates"][0]
        assert candidate["content"]["role"] == "model"
        assert candidate["content"]["parts"][0]["text"].startswith("mock gemini reply")
        usage = line["response"]["usageMetadata"]
        assert usage["totalTokenCount"] == (
            usage["promptTokenCount"] + usage["candidatesTokenCount"] + usage["thoughtsTokenCount"]
        )
        # google-genai reads the same counts from the line.
        parsed = types.GenerateContentResponse.model_validate(line["response"])
        assert parsed.usage_metadata is not None
        assert parsed.usage_metadata.thoughts_token_count == usage["thoughtsTokenCount"]
    assert by_key["req-0"]["response"]["candidates"][0]["finishReason"] == "STOP"
    assert by_key["tokens"]["response"]["candidates"][0]["finishReason"] == "MAX_TOKENS"
    same = by_key["req-0"]["response"]["candidates"][0]["content"]["parts"][0]["text"]
    assert same != by_key["req-1"]["response"]["candidates"][0]["content"]["parts"][0]["text"]


def test_long_prompts_on_25_models_are_implicit_cache_hits() -> None:
    request = {"contents": [{"role": "user", "parts": [{"text": "long context " * 1000}]}]}
    answer = FakeGemini._generate("models/gemini-2.5-flash", request)
    usage = types.GenerateContentResponse.model_validate(answer).usage_metadata
    assert usage is not None and usage.prompt_token_count is not None
    assert usage.cached_content_token_count is not None
    assert 2048 <= usage.cached_content_token_count <= usage.prompt_token_count
    short = FakeGemini._generate("models/gemini-2.5-flash", {"contents": request["contents"][:0]})
    assert "cachedContentTokenCount" not in short["usageMetadata"]


async def test_invalid_requests_fail_their_line_only(
    client: genai.client.AsyncClient, clock: Clock, http: aiohttp.ClientSession
) -> None:
    rows = [
        row("ok", "fine", generationConfig={"temperature": 2}),
        {"key": "empty", "request": {"contents": []}},
        {"key": "missing", "request": {"generationConfig": {"temperature": 1}}},
        row("hot", "x", generationConfig={"temperature": 2.5}),
        row("cold", "x", generation_config={"temperature": -0.1}),
        row("unknown", "x", custom_id="req-1"),
        {"key": "role", "request": {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}},
        {"key": "noparts", "request": {"contents": [{"role": "user", "parts": []}]}},
        {"key": "extra", "metadata": {"custom_id": "x"}, **row("x", "dropped")},
    ]
    rows[-1]["key"] = "extra"
    uploaded = await upload(client, jsonl(rows))
    assert uploaded.name is not None
    job = await client.batches.create(
        model="gemini-2.0-flash", src=uploaded.name, config={"display_name": "lines"}
    )
    assert job.name is not None
    done = await finish(client, clock, job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert done.dest is not None and done.dest.file_name is not None
    data = await client.files.download(file=done.dest.file_name)
    by_key = {line["key"]: line for line in map(json.loads, data.splitlines())}
    assert set(by_key) == {r["key"] for r in rows}
    assert set(by_key["ok"]) == {"key", "response"}
    # No thinking tokens from a 2.0 model.
    assert "thoughtsTokenCount" not in by_key["ok"]["response"]["usageMetadata"]
    assert set(by_key["extra"]) == {"key", "response"}  # undocumented row fields are dropped
    for key in ("empty", "missing", "hot", "cold", "unknown", "role", "noparts"):
        assert set(by_key[key]) == {"key", "error"}, key
        assert by_key[key]["error"]["code"] == 3, key
        assert by_key[key]["error"]["message"], key
    assert "temperature" in by_key["hot"]["error"]["message"]
    assert "custom_id" in by_key["unknown"]["error"]["message"]
    raw = await (await http.get(f"/v1beta/{job.name}", headers={"x-goog-api-key": KEY})).json()
    assert raw["metadata"]["batchStats"] == {
        "requestCount": "9",
        "successfulRequestCount": "2",
        "failedRequestCount": "7",
    }


@pytest.mark.parametrize(
    "bad_line",
    [
        '{"key": "a", "request": {"contents": [',
        '["a"]',
        '{"key": "b"}',
        '{"key": 3, "request": {}}',
    ],
)
async def test_malformed_row_fails_the_batch(
    client: genai.client.AsyncClient, clock: Clock, http: aiohttp.ClientSession, bad_line: str
) -> None:
    uploaded = await upload(client, jsonl([row("a", "x"), bad_line, row("c", "y")]))
    assert uploaded.name is not None
    job = await client.batches.create(
        model="gemini-2.5-flash", src=uploaded.name, config={"display_name": "bad"}
    )
    assert job.name is not None
    done = await finish(client, clock, job.name)
    assert done.state == types.JobState.JOB_STATE_FAILED
    assert done.dest is None
    raw = await (await http.get(f"/v1beta/{job.name}", headers={"x-goog-api-key": KEY})).json()
    assert raw["done"] is True and "response" not in raw
    assert raw["error"]["code"] == 3
    assert "line 2" in raw["error"]["message"]


async def test_keyless_row_is_answered_without_a_key(
    client: genai.client.AsyncClient, clock: Clock
) -> None:
    keyless = {"request": {"contents": [{"parts": [{"text": "who am I"}]}]}}
    uploaded = await upload(client, jsonl([keyless, row("b", "y")]))
    assert uploaded.name is not None
    job = await client.batches.create(
        model="gemini-2.5-flash", src=uploaded.name, config={"display_name": "keyless"}
    )
    assert job.name is not None
    done = await finish(client, clock, job.name)
    assert done.dest is not None and done.dest.file_name is not None
    data = await client.files.download(file=done.dest.file_name)
    assert sorted(sorted(line) for line in map(json.loads, data.splitlines())) == [
        ["key", "response"],
        ["response"],
    ]


async def test_cancel_before_running_is_cancelled_not_checked(
    client: genai.client.AsyncClient, clock: Clock
) -> None:
    uploaded = await upload(client, jsonl(["not json"]))
    assert uploaded.name is not None
    job = await client.batches.create(
        model="gemini-2.5-flash", src=uploaded.name, config={"display_name": "x"}
    )
    assert job.name is not None
    await client.batches.cancel(name=job.name)
    clock.now += 30
    assert (await client.batches.get(name=job.name)).state == types.JobState.JOB_STATE_CANCELLED


async def test_batches_list_cancel_delete(
    client: genai.client.AsyncClient, clock: Clock, http: aiohttp.ClientSession
) -> None:
    uploaded = await upload(client, jsonl([row("a", "x"), row("b", "y")]))
    assert uploaded.name is not None
    names: list[str] = []
    for i in range(3):
        job = await client.batches.create(
            model="gemini-2.5-flash", src=uploaded.name, config={"display_name": f"job {i}"}
        )
        assert job.name is not None
        names.append(job.name)
        clock.now += 1
    pager = await client.batches.list(config={"page_size": 2})
    assert [j.name async for j in pager] == names[::-1]

    await client.batches.cancel(name=names[0])
    cancelled = await client.batches.get(name=names[0])
    assert cancelled.state == types.JobState.JOB_STATE_CANCELLED
    assert cancelled.dest is None  # no promise of partial results
    raw = await (await http.get(f"/v1beta/{names[0]}", headers={"x-goog-api-key": KEY})).json()
    assert raw["done"] is True and raw["error"]["code"] == 1
    with pytest.raises(errors.ClientError) as caught:
        await client.batches.cancel(name=names[0])
    assert caught.value.code == 400 and caught.value.status == "FAILED_PRECONDITION"

    await client.batches.delete(name=names[1])
    with pytest.raises(errors.ClientError) as caught:
        await client.batches.get(name=names[1])
    assert caught.value.code == 404 and caught.value.status == "NOT_FOUND"


async def test_batch_expires(aiohttp_server: ServerFactory, tmp_path: Path, clock: Clock) -> None:
    fake = FakeGemini(
        {KEY: "a"}, storage=tmp_path, phase_seconds=100, expire_seconds=150, clock=clock
    )
    sync = make_client(await aiohttp_server(fake.app()))
    try:
        uploaded = await upload(sync.aio, jsonl([row("a", "x")]))
        assert uploaded.name is not None
        job = await sync.aio.batches.create(
            model="gemini-2.5-flash", src=uploaded.name, config={"display_name": "slow"}
        )
        assert job.name is not None
        clock.now += 120
        assert (await sync.aio.batches.get(name=job.name)).state == types.JobState.JOB_STATE_RUNNING
        clock.now += 30
        expired = await sync.aio.batches.get(name=job.name)
        assert expired.state == types.JobState.JOB_STATE_EXPIRED
        assert expired.dest is None
    finally:
        await sync.aio.aclose()


async def test_batch_create_is_checked(
    client: genai.client.AsyncClient, server: TestServer
) -> None:
    uploaded = await upload(client, jsonl([row("a", "x")]))
    assert uploaded.name is not None
    with pytest.raises(errors.ClientError) as caught:
        await client.batches.create(model="gemini-2.5-flash", src=uploaded.name)
    assert caught.value.code == 400  # displayName is documented as required
    with pytest.raises(errors.ClientError) as caught:
        await client.batches.create(model="gpt-4o", src=uploaded.name, config={"display_name": "x"})
    assert caught.value.code == 404
    with pytest.raises(errors.ClientError) as caught:
        await client.batches.create(
            model="gemini-2.5-flash", src="files/nosuchfile", config={"display_name": "x"}
        )
    assert caught.value.code == 403
    other = make_client(server, OTHER)
    try:
        with pytest.raises(errors.ClientError) as caught:
            await other.aio.batches.create(
                model="gemini-2.5-flash", src=uploaded.name, config={"display_name": "x"}
            )
        assert caught.value.code == 403
    finally:
        await other.aio.aclose()


async def test_keys_are_checked_and_accounts_isolated(
    client: genai.client.AsyncClient, server: TestServer, http: aiohttp.ClientSession
) -> None:
    uploaded = await upload(client, jsonl([row("a", "x")]))
    assert uploaded.name is not None
    job = await client.batches.create(
        model="gemini-2.5-flash", src=uploaded.name, config={"display_name": "mine"}
    )
    assert job.name is not None

    wrong = make_client(server, "AIza-wrong")
    try:
        with pytest.raises(errors.ClientError) as caught:
            await wrong.aio.files.get(name=uploaded.name)
        assert caught.value.code == 400 and caught.value.status == "INVALID_ARGUMENT"
        assert "API key not valid" in str(caught.value.message)
    finally:
        await wrong.aio.aclose()

    async with http.get(f"/v1beta/{uploaded.name}") as resp:
        assert resp.status == 403
        body = await resp.json()
        assert set(body["error"]) >= {"code", "message", "status"}
        assert body["error"]["status"] == "PERMISSION_DENIED"
    async with http.get(f"/v1beta/{uploaded.name}", params={"key": KEY}) as resp:
        assert resp.status == 200
        assert (await resp.json())["name"] == uploaded.name

    other = make_client(server, OTHER)
    try:
        with pytest.raises(errors.ClientError) as caught:
            await other.aio.files.get(name=uploaded.name)
        assert caught.value.code == 403
        with pytest.raises(errors.ClientError) as caught:
            await other.aio.batches.get(name=job.name)
        assert caught.value.code == 404
        assert [f async for f in await other.aio.files.list()] == []
        assert [j async for j in await other.aio.batches.list()] == []
    finally:
        await other.aio.aclose()
    async with http.get("/v1beta/files", headers={"x-goog-api-key": OTHER}) as resp:
        assert await resp.json() == {}  # an empty list is left out
    # Only an upload session's own URL goes without a key.
    async with http.get("/v1beta/files", params={"upload_id": "x"}) as resp:
        assert resp.status == 403


async def test_uploaded_files_cannot_be_downloaded(
    client: genai.client.AsyncClient, http: aiohttp.ClientSession
) -> None:
    uploaded = await upload(client, jsonl([row("a", "x")]))
    assert uploaded.name is not None
    with pytest.raises(ValueError, match="uploaded files can't be downloaded"):
        await client.files.download(file=uploaded)  # the SDK refuses before asking
    with pytest.raises(errors.ClientError) as caught:
        await client.files.download(file=uploaded.name)
    assert caught.value.code == 400
    file_id = uploaded.name.removeprefix("files/")
    async with http.get(
        f"/download/v1beta/files/{file_id}:download",
        params={"alt": "media"},
        headers={"x-goog-api-key": KEY},
    ) as resp:
        assert resp.status == 400


# -- the resumable protocol, raw -----------------------------------------------------------
async def start(
    http: aiohttp.ClientSession, size: int | None, **headers: str
) -> tuple[int, str | None]:
    sent = {
        "x-goog-api-key": KEY,
        "X-Goog-Upload-Protocol": "resumable",
        "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Type": "application/jsonl",
        **headers,
    }
    if size is not None:
        sent["X-Goog-Upload-Header-Content-Length"] = str(size)
    async with http.post(
        "/upload/v1beta/files", json={"file": {"displayName": "raw"}}, headers=sent
    ) as resp:
        return resp.status, resp.headers.get("X-Goog-Upload-URL")


async def send(
    http: aiohttp.ClientSession, url: str, data: bytes, offset: int | None, command: str | None
) -> tuple[int, dict[str, str], Any]:
    headers = {}
    if offset is not None:
        headers["X-Goog-Upload-Offset"] = str(offset)
    if command is not None:
        headers["X-Goog-Upload-Command"] = command
    async with http.post(url, data=data, headers=headers) as resp:
        body = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, dict(resp.headers), body


@pytest.fixture
def small(gemini: FakeGemini) -> FakeGemini:
    gemini.chunk_granularity = 4
    return gemini


async def test_resumable_protocol_is_strict(small: FakeGemini, http: aiohttp.ClientSession) -> None:
    assert (await start(http, None))[0] == 400  # the total size is required at start
    assert (await start(http, 10, **{"X-Goog-Upload-Command": "upload"}))[0] == 400
    assert (await start(http, 3 * 1024**3))[0] == 400  # over 2 GB

    status, url = await start(http, 10)
    assert status == 200 and url is not None
    path = url[url.index("/upload/") :]
    assert (await send(http, path, b"abcd", 0, None))[0] == 400  # no command
    assert (await send(http, path, b"abcd", None, "upload"))[0] == 400  # no offset
    assert (await send(http, path, b"abcd", 0, "upload, rewind"))[0] == 400
    assert (await send(http, path, b"abc", 0, "upload"))[0] == 400  # not a whole granule
    status, headers, _ = await send(http, path, b"abcd", 0, "upload")
    assert status == 200 and headers["X-Goog-Upload-Status"] == "active"
    status, _, body = await send(http, path, b"efgh", 0, "upload")  # offset behind
    assert status == 400 and "4 bytes have been received" in body["error"]["message"]
    assert (await send(http, path, b"efgh", 8, "upload"))[0] == 400  # offset ahead
    assert (await send(http, path, b"efghijk", 4, "upload, finalize"))[0] == 400  # too long
    assert (await send(http, path, b"ef", 4, "upload, finalize"))[0] == 400  # short of 10
    status, headers, _ = await send(http, path, b"", None, "query")
    assert headers["X-Goog-Upload-Size-Received"] == "4"  # nothing refused was kept
    status, headers, body = await send(http, path, b"efghij", 4, "upload, finalize")
    assert status == 200 and headers["X-Goog-Upload-Status"] == "final"
    assert body["file"]["sizeBytes"] == "10"
    assert body["file"]["displayName"] == "raw"
    assert (await send(http, path, b"", None, "query"))[0] == 404  # the session is over
    file_id = body["file"]["name"].removeprefix("files/")
    assert (small.root / "a" / file_id).read_bytes() == b"abcdefghij"


async def test_upload_chunk_needs_a_content_length(
    small: FakeGemini, http: aiohttp.ClientSession
) -> None:
    _, url = await start(http, 8)
    assert url is not None

    async def body() -> AsyncIterator[bytes]:
        yield b"abcd"
        yield b"efgh"

    headers = {"X-Goog-Upload-Offset": "0", "X-Goog-Upload-Command": "upload, finalize"}
    async with http.post(url, data=body(), headers=headers) as resp:
        assert resp.status == 411
    assert small.requests[-1].chunked


async def test_upload_cancel_and_bare_finalize(
    small: FakeGemini, http: aiohttp.ClientSession
) -> None:
    _, url = await start(http, 4)
    assert url is not None
    assert (await send(http, url, b"abcd", 0, "upload"))[0] == 200
    status, headers, body = await send(http, url, b"", 4, "finalize")
    assert status == 200 and body["file"]["sizeBytes"] == "4"
    _, url = await start(http, 4)
    assert url is not None
    status, headers, _ = await send(http, url, b"", None, "cancel")
    assert headers["X-Goog-Upload-Status"] == "cancelled"
    assert (await send(http, url, b"abcd", 0, "upload, finalize"))[0] == 404
    assert not [p for p in (small.root / "a").iterdir() if p.name.endswith(".partial")]


async def test_fake_cli_serves_gemini(
    monkeypatch: pytest.MonkeyPatch, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    apps: list[web.Application] = []
    monkeypatch.setattr(web, "run_app", lambda app, **kwargs: apps.append(app))
    argv = ["--flavour", "gemini", "--key", f"{KEY}=a", "--storage", str(tmp_path)]
    assert fake_cli.main(argv) == 0
    sync = make_client(await aiohttp_server(apps[0]))
    try:
        uploaded = await upload(sync.aio, jsonl([row("a", "x")]))
        assert uploaded.name is not None
        assert (await sync.aio.files.get(name=uploaded.name)).size_bytes == uploaded.size_bytes
    finally:
        await sync.aio.aclose()


async def test_live_service_quirks_as_knobs(
    client: genai.client.AsyncClient, clock: Clock, gemini: FakeGemini
) -> None:
    from google.genai import errors

    # An upload start declaring a refused type is a 400, as users of the live service see.
    gemini.refused_mime_types = {"application/jsonl": 1}
    with pytest.raises(errors.ClientError) as refused:
        await upload(client, jsonl([row("a", "x")]))
    assert refused.value.code == 400 and "Unsupported MIME type" in str(refused.value)
    uploaded = await upload(client, jsonl([row("a", "x")]))  # the next one goes through
    assert uploaded.name is not None

    # Succeeded before its responses file is named: google-genai sees no dest yet.
    gemini.output_lag_seconds = 30
    job = await client.batches.create(
        model="gemini-2.5-flash", src=uploaded.name, config={"display_name": "lag"}
    )
    assert job.name is not None
    done = await finish(client, clock, job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert done.dest is None or done.dest.file_name is None
    clock.now += 30
    named = await client.batches.get(name=job.name)
    assert named.dest is not None and named.dest.file_name is not None

    # Named only in the Operation's response: google-genai, reading metadata.output, misses it.
    gemini.output_in_response_only = True
    missed = await client.batches.get(name=job.name)
    assert missed.dest is None or missed.dest.file_name is None


# google-genai marks create_embeddings experimental (a warning on every call).
@pytest.mark.filterwarnings("ignore::google.genai._common.ExperimentalWarning")
async def test_batch_embeddings_with_google_genai(
    client: genai.client.AsyncClient, clock: Clock
) -> None:
    rows = [
        {"key": "a", "request": {"content": {"parts": [{"text": "hello"}]}}},
        {"key": "b", "request": {"content": {"parts": [{"text": "x"}]}, "outputDimensionality": 4}},
        {"key": "bad", "request": {"content": {"parts": []}}},
    ]
    uploaded = await upload(client, jsonl(rows))
    assert uploaded.name is not None
    job = await client.batches.create_embeddings(
        model="gemini-embedding-001",
        src=types.EmbeddingsBatchJobSource(file_name=uploaded.name),
        config={"display_name": "embeddings"},
    )
    assert job.name is not None
    done = await finish(client, clock, job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert done.dest is not None and done.dest.file_name is not None
    data = await client.files.download(file=done.dest.file_name)
    by_key = {line["key"]: line for line in map(json.loads, data.splitlines())}
    # The REST EmbedContentResponse (ai.google.dev/api/embeddings): {"embedding": {"values"}}.
    assert len(by_key["a"]["response"]["embedding"]["values"]) == 3072
    assert len(by_key["b"]["response"]["embedding"]["values"]) == 4
    assert by_key["bad"]["error"]["code"] == 3
    # A generating model is not an embedding batch's.
    with pytest.raises(genai.errors.ClientError):
        await client.batches.create_embeddings(
            model="gemini-2.5-flash",
            src=types.EmbeddingsBatchJobSource(file_name=uploaded.name),
            config={"display_name": "wrong"},
        )
