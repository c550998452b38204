"""FakeMistral driven by Mistral's own client (mistralai) and, at its edges, aiohttp."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from mistralai.client import Mistral, errors

from aiohttp_files_router.fake import FakeMistral
from aiohttp_files_router.fake import __main__ as fake_cli

from .common import Clock

KEY = "mistral-fake-account-a"
OTHER = "mistral-fake-account-b"
MODEL = "mistral-small-latest"

ServerFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(tmp_path: Path, clock: Clock) -> FakeMistral:
    return FakeMistral(
        {KEY: "a", OTHER: "b"},
        storage=tmp_path / "mistral",
        phase_seconds=10,
        cancel_seconds=5,
        clock=clock,
    )


@pytest.fixture
async def server(aiohttp_server: ServerFactory, fake: FakeMistral) -> TestServer:
    return await aiohttp_server(fake.app())


def make_client(server: TestServer, key: str = KEY) -> Mistral:
    return Mistral(api_key=key, server_url=str(server.make_url("")).rstrip("/"))


@pytest.fixture
async def client(server: TestServer) -> AsyncIterator[Mistral]:
    async with make_client(server) as sdk:
        yield sdk


def line(custom_id: str | None, text: str = "hello", **body: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "body": {"max_tokens": 64, "messages": [{"role": "user", "content": text}], **body}
    }
    if custom_id is not None:
        row["custom_id"] = custom_id
    return row


def jsonl(rows: list[Any]) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows).encode()


async def upload(client: Mistral, data: bytes, name: str = "in.jsonl") -> str:
    made = await client.files.upload_async(
        file={"file_name": name, "content": data}, purpose="batch"
    )
    return made.id


async def download(client: Mistral, file_id: str) -> list[dict[str, Any]]:
    response = await client.files.download_async(file_id=file_id)
    return [json.loads(x) for x in (await response.aread()).splitlines()]


async def test_files_upload_list_retrieve_download_delete(
    client: Mistral, fake: FakeMistral
) -> None:
    data = jsonl([line("a"), line("b")])
    made = await client.files.upload_async(
        file={"file_name": "in.jsonl", "content": data}, purpose="batch", expiry=24
    )
    assert made.object == "file" and made.purpose == "batch"
    assert made.size_bytes == len(data) and made.filename == "in.jsonl"
    assert made.sample_type == "batch_request" and made.source == "upload"
    assert made.num_lines == 2 and made.expires_at == made.created_at + 24 * 3600
    recorded = fake.requests_to("a")[-1]
    assert recorded.form["purpose"] == "batch" and recorded.bytes == len(data)
    got = await client.files.retrieve_async(file_id=made.id)
    assert got.id == made.id and got.deleted is False
    second = await upload(client, b'{"body": {}}\n', "two.jsonl")
    listed = await client.files.list_async(page=0, page_size=1)
    assert listed.total == 2 and [f.id for f in listed.data] == [second]
    page_two = await client.files.list_async(page=1, page_size=1)
    assert [f.id for f in page_two.data] == [made.id]
    assert (await client.files.list_async(search="two")).total == 1
    assert (await client.files.list_async(purpose="fine-tune")).total == 0
    content = await client.files.download_async(file_id=made.id)
    assert await content.aread() == data
    deleted = await client.files.delete_async(file_id=made.id)
    assert deleted.deleted is True and deleted.id == made.id
    with pytest.raises(errors.SDKError) as caught:
        await client.files.retrieve_async(file_id=made.id)
    assert caught.value.status_code == 404
    assert json.loads(caught.value.body)["object"] == "error"


async def test_job_runs_on_the_clock_and_splits_failures(
    client: Mistral, fake: FakeMistral, clock: Clock
) -> None:
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {}}}
    rows = [
        line("plain"),
        line("tool", tools=[tool], tool_choice="any"),
        line("short", max_tokens=1),
        line("other-model", model="gpt-4o"),
        line("unknown-field", frobnicate=True),
        line(None, "no id"),
    ]
    file_id = await upload(client, jsonl(rows))
    job = await client.batch.jobs.create_async(
        input_files=[file_id],
        model=MODEL,
        endpoint="/v1/chat/completions",
        metadata={"job_type": "testing"},
        timeout_hours=24,
    )
    assert job.status == "QUEUED" and job.object == "batch"
    assert job.input_files == [file_id] and job.metadata == {"job_type": "testing"}
    assert job.total_requests == 0 and job.output_file is None and job.errors == []
    assert fake.requests_to("a")[-1].json["timeout_hours"] == 24
    clock.now += 10
    running = await client.batch.jobs.get_async(job_id=job.id)
    assert running.status == "RUNNING" and running.total_requests == len(rows)
    assert running.started_at == job.created_at + 10 and running.completed_at is None
    clock.now += 10
    done = await client.batch.jobs.get_async(job_id=job.id)
    assert done.status == "SUCCESS" and done.completed_at == job.created_at + 20
    assert (done.succeeded_requests, done.failed_requests) == (4, 2)
    assert done.completed_requests == len(rows)
    assert isinstance(done.output_file, str) and isinstance(done.error_file, str)

    output = await download(client, done.output_file)
    order = [r["custom_id"] for r in output]
    assert sorted(order, key=str) == sorted(["plain", "tool", "short", None], key=str)
    assert order != ["plain", "tool", "short", None]
    by_id = {r["custom_id"]: r for r in output}
    plain = by_id["plain"]
    assert set(plain) == {"custom_id", "response", "error"} and plain["error"] is None
    assert plain["response"]["status_code"] == 200
    body = plain["response"]["body"]
    assert body["object"] == "chat.completion" and body["model"] == MODEL
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == (
        body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )
    tool_choice = by_id["tool"]["response"]["body"]["choices"][0]
    assert tool_choice["finish_reason"] == "tool_calls"
    assert tool_choice["message"]["tool_calls"][0]["function"]["name"] == "lookup"
    assert by_id["short"]["response"]["body"]["choices"][0]["finish_reason"] == "length"

    failed = {r["custom_id"]: r for r in await download(client, done.error_file)}
    assert set(failed) == {"other-model", "unknown-field"}
    assert failed["other-model"]["response"] == {"status_code": 400, "body": None}
    assert "gpt-4o" in failed["other-model"]["error"]
    assert failed["unknown-field"]["response"]["status_code"] == 422
    assert "frobnicate" in failed["unknown-field"]["error"]
    result = await client.files.retrieve_async(file_id=done.output_file)
    assert result.sample_type == "batch_result" and result.source == "mistral"


async def test_embeddings_job_and_files_only_when_they_have_rows(
    client: Mistral, clock: Clock
) -> None:
    rows = [{"custom_id": "e1", "body": {"input": "hello"}}]
    file_id = await upload(client, jsonl(rows))
    job = await client.batch.jobs.create_async(
        input_files=[file_id], model="mistral-embed", endpoint="/v1/embeddings"
    )
    clock.now += 20
    done = await client.batch.jobs.get_async(job_id=job.id)
    assert done.status == "SUCCESS" and done.error_file is None
    assert isinstance(done.output_file, str)
    (row,) = await download(client, done.output_file)
    assert row["response"]["body"]["data"][0]["object"] == "embedding"


@pytest.mark.parametrize(
    "rows, problem",
    [
        (["not json"], "line 1 is not a JSON object"),
        ([{"custom_id": "a"}], "line 1 has no body object"),
        (
            [{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}],
            "unexpected field 'method'",
        ),
        ([line("a"), line("a")], "line 2 repeats custom_id 'a'"),
    ],
)
async def test_malformed_input_fails_the_job(
    client: Mistral, clock: Clock, rows: list[Any], problem: str
) -> None:
    file_id = await upload(client, jsonl(rows))
    job = await client.batch.jobs.create_async(
        input_files=[file_id], model=MODEL, endpoint="/v1/chat/completions"
    )
    clock.now += 10
    failed = await client.batch.jobs.get_async(job_id=job.id)
    assert failed.status == "FAILED"
    assert problem in failed.errors[0].message
    assert failed.output_file is None and failed.error_file is None


async def test_create_is_checked(client: Mistral, server: TestServer) -> None:
    file_id = await upload(client, jsonl([line("a")]))
    other = await client.files.upload_async(
        file={"file_name": "ft.jsonl", "content": b"{}\n"}, purpose="fine-tune"
    )
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"input_files": ["missing"], "model": MODEL}, 404, "not found"),
        ({"input_files": [other.id], "model": MODEL}, 400, "purpose"),
        ({"input_files": [file_id], "model": "gpt-4o"}, 400, "Invalid model"),
        ({"input_files": [file_id], "model": MODEL, "timeout_hours": 168}, 422, "167"),
    ]
    for kwargs, status, text in cases:
        with pytest.raises(errors.SDKError) as caught:
            await client.batch.jobs.create_async(endpoint="/v1/chat/completions", **kwargs)
        assert caught.value.status_code == status
        assert text in caught.value.body
    invalid = json.loads(caught.value.body)
    assert invalid["detail"][0]["loc"] == ["body", "timeout_hours"]
    with pytest.raises(errors.SDKError) as unknown:
        await client.batch.jobs.create_async(
            input_files=[file_id], model="gpt-4o", endpoint="/v1/chat/completions"
        )
    assert json.loads(unknown.value.body) == {
        "object": "error",
        "message": "Invalid model: gpt-4o",
        "type": "invalid_request_error",
        "param": "model",
        "code": "unknown_model",
    }
    async with make_client(server, "wrong") as wrong:
        with pytest.raises(errors.SDKError) as refused:
            await wrong.files.list_async()
    assert refused.value.status_code == 401


async def test_pending_limit(client: Mistral, fake: FakeMistral, clock: Clock) -> None:
    fake.pending_limit = 3
    file_id = await upload(client, jsonl([line("a"), line("b")]))
    await client.batch.jobs.create_async(
        input_files=[file_id], model=MODEL, endpoint="/v1/chat/completions"
    )
    with pytest.raises(errors.SDKError) as caught:
        await client.batch.jobs.create_async(
            input_files=[file_id], model=MODEL, endpoint="/v1/chat/completions"
        )
    assert caught.value.status_code == 429
    clock.now += 20  # the first job is done and no longer pending
    await client.batch.jobs.create_async(
        input_files=[file_id], model=MODEL, endpoint="/v1/chat/completions"
    )


async def test_cancel_keeps_what_ran(client: Mistral, clock: Clock) -> None:
    file_id = await upload(client, jsonl([line(f"r{i}") for i in range(4)]))
    job = await client.batch.jobs.create_async(
        input_files=[file_id], model=MODEL, endpoint="/v1/chat/completions"
    )
    clock.now += 12
    canceling = await client.batch.jobs.cancel_async(job_id=job.id)
    assert canceling.status == "CANCELLATION_REQUESTED"
    clock.now += 5
    cancelled = await client.batch.jobs.get_async(job_id=job.id)
    assert cancelled.status == "CANCELLED" and cancelled.completed_requests == 2
    assert isinstance(cancelled.output_file, str)
    assert len(await download(client, cancelled.output_file)) == 2
    with pytest.raises(errors.SDKError) as caught:
        await client.batch.jobs.cancel_async(job_id=job.id)
    assert caught.value.status_code == 400

    queued = await client.batch.jobs.create_async(
        input_files=[file_id], model=MODEL, endpoint="/v1/chat/completions"
    )
    await client.batch.jobs.cancel_async(job_id=queued.id)
    clock.now += 5
    never_ran = await client.batch.jobs.get_async(job_id=queued.id)
    assert never_ran.status == "CANCELLED" and never_ran.started_at is None
    assert never_ran.output_file is None and never_ran.completed_requests == 0


async def test_timeout_exceeded(
    aiohttp_server: ServerFactory, tmp_path: Path, clock: Clock
) -> None:
    slow = FakeMistral({KEY: "a"}, storage=tmp_path / "slow", phase_seconds=3600, clock=clock)
    async with make_client(await aiohttp_server(slow.app())) as sdk:
        file_id = await upload(sdk, jsonl([line("a")]))
        job = await sdk.batch.jobs.create_async(
            input_files=[file_id], model=MODEL, endpoint="/v1/chat/completions", timeout_hours=1
        )
        clock.now += 3600
        timed_out = await sdk.batch.jobs.get_async(job_id=job.id)
    assert timed_out.status == "TIMEOUT_EXCEEDED" and timed_out.output_file is None


async def test_list_jobs_pages_filters_and_isolation(
    client: Mistral, server: TestServer, clock: Clock
) -> None:
    file_id = await upload(client, jsonl([line("a")]))
    ids = []
    for i in range(3):
        job = await client.batch.jobs.create_async(
            input_files=[file_id],
            model=MODEL,
            endpoint="/v1/chat/completions",
            metadata={"job_type": "even" if i % 2 == 0 else "odd"},
        )
        ids.append(job.id)
        clock.now += 1
    first = await client.batch.jobs.list_async(page=0, page_size=2)
    assert first.total == 3 and [j.id for j in first.data or []] == ids[::-1][:2]
    second = await client.batch.jobs.list_async(page=1, page_size=2)
    assert [j.id for j in second.data or []] == ids[:1]
    oldest_first = await client.batch.jobs.list_async(order_by="created")
    assert [j.id for j in oldest_first.data or []] == ids
    even = await client.batch.jobs.list_async(metadata={"job_type": "even"})
    assert sorted(j.id for j in even.data or []) == sorted([ids[0], ids[2]])
    assert (await client.batch.jobs.list_async(status=["RUNNING"])).total == 0
    assert (await client.batch.jobs.list_async(status=["QUEUED", "RUNNING"])).total == 3
    async with make_client(server, OTHER) as other:
        assert (await other.batch.jobs.list_async()).total == 0
        assert (await other.files.list_async()).total == 0
        for call in (
            other.batch.jobs.get_async(job_id=ids[0]),
            other.files.retrieve_async(file_id=file_id),
        ):
            with pytest.raises(errors.SDKError) as caught:
                await call
            assert caught.value.status_code == 404


async def test_raw_requests_and_delete(server: TestServer, clock: Clock) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession(str(server.make_url("/"))) as http:
        async with http.get("/v1/files") as resp:
            assert resp.status == 401
            assert (await resp.json())["type"] == "authentication_error"
        form = aiohttp.FormData()
        form.add_field("file", jsonl([line("a")]), filename="in.jsonl")
        async with http.post("/v1/files", data=form, headers=headers) as resp:
            made = await resp.json()
        # No purpose: the fake takes fine-tune, which a batch job refuses.
        assert made["purpose"] == "fine-tune"
        body = {"input_files": [made["id"]], "model": MODEL, "endpoint": "/v1/ocr"}
        async with http.post("/v1/batch/jobs", json=body, headers=headers) as resp:
            assert resp.status == 400 and "answers only" in (await resp.json())["message"]
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", jsonl([line("a")]), filename="in.jsonl")
        async with http.post("/v1/files", data=form, headers=headers) as resp:
            batch_file = await resp.json()
        body = {"input_files": [batch_file["id"]], "model": MODEL, "endpoint": "/v1/embeddings"}
        async with http.post("/v1/batch/jobs", json=body, headers=headers) as resp:
            job = await resp.json()
        async with http.delete(f"/v1/batch/jobs/{job['id']}", headers=headers) as resp:
            assert resp.status == 400
        clock.now += 20
        async with http.delete(f"/v1/batch/jobs/{job['id']}", headers=headers) as resp:
            assert await resp.json() == {"id": job["id"], "object": "batch", "deleted": True}


async def test_fake_cli_serves_mistral(
    monkeypatch: pytest.MonkeyPatch, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    apps: list[web.Application] = []
    monkeypatch.setattr(web, "run_app", lambda app, **kwargs: apps.append(app))
    argv = ["--flavour", "mistral", "--key", f"{KEY}=a", "--storage", str(tmp_path)]
    assert fake_cli.main(argv) == 0
    async with make_client(await aiohttp_server(apps[0])) as sdk:
        file_id = await upload(sdk, jsonl([line("a")]))
        job = await sdk.batch.jobs.create_async(
            input_files=[file_id], model=MODEL, endpoint="/v1/chat/completions"
        )
        done = await sdk.batch.jobs.get_async(job_id=job.id)
        assert done.status == "SUCCESS" and done.succeeded_requests == 1


async def test_file_sizes_go_on_the_wire_as_bytes(client: Mistral, server: TestServer) -> None:
    # The SDK's size_bytes is its Python name for the wire's "bytes" (models/fileschema.py).
    import aiohttp

    file_id = (
        await client.files.upload_async(
            file={"file_name": "in.jsonl", "content": jsonl([line("a")])}, purpose="batch"
        )
    ).id
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            server.make_url(f"/v1/files/{file_id}"), headers={"Authorization": f"Bearer {KEY}"}
        ) as resp,
    ):
        raw = await resp.json()
    assert raw["bytes"] == len(jsonl([line("a")])) and "size_bytes" not in raw
