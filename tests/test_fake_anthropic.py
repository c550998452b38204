"""FakeAnthropic driven by Anthropic's own client (anthropic) and, at its edges, aiohttp."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from aiohttp_files_router.fake import FakeAnthropic
from aiohttp_files_router.fake import __main__ as fake_cli

from .common import Clock

KEY = "sk-ant-fake-account-a"
OTHER = "sk-ant-fake-account-b"
MODEL = "claude-sonnet-4-5"

ServerFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(tmp_path: Path, clock: Clock) -> FakeAnthropic:
    return FakeAnthropic(
        {KEY: "a", OTHER: "b"},
        storage=tmp_path / "anthropic",
        phase_seconds=10,
        cancel_seconds=5,
        clock=clock,
    )


@pytest.fixture
async def server(aiohttp_server: ServerFactory, fake: FakeAnthropic) -> TestServer:
    return await aiohttp_server(fake.app())


def make_client(server: TestServer, key: str = KEY) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key=key, base_url=str(server.make_url("/")), max_retries=0)


@pytest.fixture
async def client(server: TestServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with make_client(server) as sdk:
        yield sdk


@pytest.fixture
async def http(server: TestServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(str(server.make_url("/"))) as session:
        yield session


def request(custom_id: str, text: str = "hello", **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": text}],
    }
    body.update(params)
    return {"custom_id": custom_id, "params": body}


async def results(client: anthropic.AsyncAnthropic, batch_id: str) -> list[Any]:
    return [r async for r in await client.messages.batches.results(batch_id)]


async def test_batch_runs_on_the_clock_and_answers_out_of_order(
    client: anthropic.AsyncAnthropic, fake: FakeAnthropic, clock: Clock
) -> None:
    cached = {"type": "text", "text": "long context", "cache_control": {"type": "ephemeral"}}
    tool = {"name": "lookup", "description": "d", "input_schema": {"type": "object"}}
    requests = [
        request("plain"),
        request("cached-1", system=[cached]),
        request("cached-2", text="other", system=[cached]),
        request("tool", tools=[tool], tool_choice={"type": "any"}),
        request("short", max_tokens=1),
        request("stop", stop_sequences=["END"]),
        # The SDK sends anthropic-version 2026-10-21, which removed temperature.
        request("sampled", temperature=0.5),
        request("unknown-field", frobnicate=True),
        request("not-claude", model="gpt-4o"),
    ]
    created = await client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    assert created.id.startswith("msgbatch_")
    assert created.processing_status == "in_progress"
    assert created.request_counts.processing == len(requests)
    assert created.results_url is None and created.ended_at is None
    assert (created.expires_at - created.created_at).total_seconds() == 24 * 3600
    recorded = fake.requests_to("a")[-1]
    assert recorded.headers["anthropic-version"] == "2026-10-21"
    assert recorded.key == KEY

    with pytest.raises(anthropic.AnthropicError, match="No `results_url`"):
        await client.messages.batches.results(created.id)
    clock.now += 10
    ended = await client.messages.batches.retrieve(created.id)
    assert ended.processing_status == "ended"
    assert ended.ended_at == created.created_at + timedelta(seconds=10)
    counts = ended.request_counts
    assert (counts.processing, counts.succeeded, counts.errored) == (0, 6, 3)
    assert (counts.canceled, counts.expired) == (0, 0)
    assert ended.results_url is not None and ended.results_url.endswith(
        f"/v1/messages/batches/{created.id}/results"
    )

    rows = await results(client, created.id)
    order = [r.custom_id for r in rows]
    assert sorted(order) == sorted(r["custom_id"] for r in requests)
    assert order != [r["custom_id"] for r in requests]
    by_id = {r.custom_id: r.result for r in rows}
    plain = by_id["plain"]
    assert plain.type == "succeeded"
    message = plain.message
    assert message.type == "message" and message.role == "assistant" and message.model == MODEL
    assert message.stop_reason == "end_turn" and message.content[0].type == "text"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert message.usage.cache_creation_input_tokens == 0
    first, second = by_id["cached-1"], by_id["cached-2"]
    assert first.type == "succeeded" and second.type == "succeeded"
    assert first.message.usage.cache_creation_input_tokens
    assert second.message.usage.cache_read_input_tokens
    assert second.message.usage.cache_read_input_tokens == (
        first.message.usage.cache_creation_input_tokens
    )
    tool_result = by_id["tool"]
    assert tool_result.type == "succeeded"
    assert tool_result.message.stop_reason == "tool_use"
    block = tool_result.message.content[0]
    assert block.type == "tool_use" and block.name == "lookup"
    short = by_id["short"]
    assert short.type == "succeeded" and short.message.stop_reason == "max_tokens"
    stop = by_id["stop"]
    assert stop.type == "succeeded" and stop.message.stop_reason == "stop_sequence"
    assert stop.message.stop_sequence == "END"
    for custom_id, kind, text in [
        ("sampled", "invalid_request_error", "temperature"),
        ("unknown-field", "invalid_request_error", "frobnicate: Extra inputs"),
        ("not-claude", "not_found_error", "model: gpt-4o"),
    ]:
        errored = by_id[custom_id]
        assert errored.type == "errored"
        assert errored.error.type == "error"
        assert errored.error.error.type == kind
        assert text in errored.error.error.message


async def test_legacy_version_keeps_sampling_parameters(
    fake: FakeAnthropic, http: aiohttp.ClientSession, clock: Clock
) -> None:
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    body = {"requests": [request("t", temperature=0.5), request("hot", temperature=1.5)]}
    async with http.post("/v1/messages/batches", json=body, headers=headers) as resp:
        assert resp.status == 200
        created = await resp.json()
    clock.now += 10
    async with http.get(f"/v1/messages/batches/{created['id']}", headers=headers) as resp:
        batch = await resp.json()
    assert batch["request_counts"]["succeeded"] == 1
    assert batch["request_counts"]["errored"] == 1
    async with http.get(batch["results_url"], headers=headers) as resp:
        assert resp.status == 200
        assert resp.headers["request-id"].startswith("req_")
        rows = [json.loads(line) for line in (await resp.text()).splitlines()]
    by_id = {r["custom_id"]: r["result"] for r in rows}
    assert by_id["t"]["type"] == "succeeded"
    assert by_id["hot"]["error"]["error"]["message"].startswith("temperature:")
    # Succeeded rows carry the Message, errored rows an ErrorResponse, nothing else.
    assert set(by_id["t"]) == {"type", "message"}
    assert set(by_id["hot"]) == {"type", "error"}


async def test_key_and_version_are_required(
    server: TestServer, http: aiohttp.ClientSession
) -> None:
    async with http.get("/v1/messages/batches", headers={"anthropic-version": "2023-06-01"}) as r:
        assert r.status == 401
        body = await r.json()
        assert body["type"] == "error"
        assert body["error"]["type"] == "authentication_error"
        assert body["request_id"] == r.headers["request-id"]
    async with http.get("/v1/messages/batches", headers={"x-api-key": KEY}) as r:
        assert r.status == 400
        assert "anthropic-version" in (await r.json())["error"]["message"]
    version = {"anthropic-version": "2023-06-01"}
    async with http.get("/v1/messages/batches", headers={"x-api-key": KEY, **version}) as r:
        assert r.status == 200
        assert (await r.json()) == {
            "data": [],
            "has_more": False,
            "first_id": None,
            "last_id": None,
        }
    async with make_client(server, "sk-ant-wrong") as wrong:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            await wrong.messages.batches.list()
    assert caught.value.request_id is not None and caught.value.request_id.startswith("req_")


async def test_create_is_checked(
    client: anthropic.AsyncAnthropic, tmp_path: Path, aiohttp_server: ServerFactory
) -> None:
    cases: list[tuple[list[Any], str]] = [
        ([], "at least 1 item"),
        ([request("has space")], "pattern"),
        ([request("x" * 65)], "pattern"),
        ([request("dup"), request("dup")], "Duplicate custom_id"),
        ([{"custom_id": "a", "params": {}, "extra": 1}], "requests.0.extra"),
        ([{"custom_id": "a"}], "requests.0.params"),
        ([request(f"r{i}") for i in range(100_001)], "at most 100000"),
    ]
    for requests, message in cases:
        with pytest.raises(anthropic.BadRequestError, match=message) as caught:
            await client.messages.batches.create(requests=requests)
        assert caught.value.status_code == 400
    with pytest.raises(anthropic.BadRequestError, match="Extra inputs"):
        await client.messages.batches.create(
            requests=[request("a")],  # type: ignore[list-item]
            extra_body={"model": MODEL},
        )
    small = FakeAnthropic({KEY: "a"}, storage=tmp_path / "small", max_request_bytes=1024)
    async with make_client(await aiohttp_server(small.app())) as sdk:
        await sdk.messages.batches.create(requests=[request("a")])  # type: ignore[list-item]
        with pytest.raises(anthropic.APIStatusError) as too_large:
            await sdk.messages.batches.create(
                requests=[request("a", text="x" * 2048)]  # type: ignore[list-item]
            )
    assert too_large.value.status_code == 413
    assert isinstance(too_large.value.body, dict)
    assert too_large.value.body["error"]["type"] == "request_too_large"


async def test_cancel_ends_with_canceled_requests(
    client: anthropic.AsyncAnthropic, clock: Clock
) -> None:
    batch = await client.messages.batches.create(
        requests=[request(f"r{i}") for i in range(4)]  # type: ignore[misc]
    )
    clock.now += 2
    canceling = await client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling"
    assert canceling.cancel_initiated_at is not None
    assert canceling.request_counts.processing == 4
    again = await client.messages.batches.cancel(batch.id)
    assert again.processing_status == "canceling"
    assert again.cancel_initiated_at == canceling.cancel_initiated_at
    clock.now += 5
    ended = await client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert ended.request_counts.canceled == 2 and ended.request_counts.succeeded == 2
    kinds = sorted(r.result.type for r in await results(client, batch.id))
    assert kinds == ["canceled", "canceled", "succeeded", "succeeded"]
    with pytest.raises(anthropic.BadRequestError, match="already ended"):
        await client.messages.batches.cancel(batch.id)


async def test_delete_only_once_ended(client: anthropic.AsyncAnthropic, clock: Clock) -> None:
    batch = await client.messages.batches.create(requests=[request("a")])  # type: ignore[list-item]
    with pytest.raises(anthropic.BadRequestError, match="cancel it first"):
        await client.messages.batches.delete(batch.id)
    clock.now += 10
    deleted = await client.messages.batches.delete(batch.id)
    assert deleted.id == batch.id and deleted.type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        await client.messages.batches.retrieve(batch.id)


async def test_list_pages_newest_first_and_accounts_are_isolated(
    server: TestServer, client: anthropic.AsyncAnthropic, clock: Clock
) -> None:
    ids = []
    for i in range(5):
        made = await client.messages.batches.create(requests=[request(f"r{i}")])  # type: ignore[list-item]
        ids.append(made.id)
        clock.now += 1
    newest_first = ids[::-1]
    page = await client.messages.batches.list(limit=2)
    assert [b.id for b in page.data] == newest_first[:2]
    assert page.has_more and page.first_id == newest_first[0] and page.last_id == newest_first[1]
    assert [b.id async for b in client.messages.batches.list(limit=2)] == newest_first
    after = await client.messages.batches.list(limit=2, after_id=newest_first[3])
    assert [b.id for b in after.data] == newest_first[4:] and not after.has_more
    before = await client.messages.batches.list(limit=2, before_id=newest_first[3])
    assert [b.id for b in before.data] == newest_first[1:3] and before.has_more
    with pytest.raises(anthropic.BadRequestError):
        await client.messages.batches.list(limit=1001)
    with pytest.raises(anthropic.BadRequestError):
        await client.messages.batches.list(after_id="msgbatch_unknown")
    async with make_client(server, OTHER) as other:
        assert (await other.messages.batches.list()).data == []
        with pytest.raises(anthropic.NotFoundError):
            await other.messages.batches.retrieve(ids[0])
        with pytest.raises(anthropic.NotFoundError):
            await other.messages.batches.cancel(ids[0])


async def test_expiry_and_archive(
    aiohttp_server: ServerFactory, tmp_path: Path, clock: Clock
) -> None:
    fake = FakeAnthropic(
        {KEY: "a"},
        storage=tmp_path / "slow",
        phase_seconds=100,
        expire_seconds=50,
        archive_seconds=1000,
        clock=clock,
    )
    async with make_client(await aiohttp_server(fake.app())) as sdk:
        batch = await sdk.messages.batches.create(
            requests=[request("a"), request("b")]  # type: ignore[list-item]
        )
        clock.now += 50
        ended = await sdk.messages.batches.retrieve(batch.id)
        assert ended.processing_status == "ended" and ended.request_counts.expired == 2
        assert ended.archived_at is None
        assert [r.result.type for r in await results(sdk, batch.id)] == ["expired", "expired"]
        clock.now += 1000
        archived = await sdk.messages.batches.retrieve(batch.id)
        assert archived.archived_at is not None
        with pytest.raises(anthropic.NotFoundError, match="no longer available"):
            await sdk.messages.batches.results(batch.id)


async def test_rate_limits_and_failures(
    client: anthropic.AsyncAnthropic, fake: FakeAnthropic, clock: Clock
) -> None:
    fake.queue_limit = 3
    await client.messages.batches.create(
        requests=[request("a"), request("b")]  # type: ignore[list-item]
    )
    with pytest.raises(anthropic.RateLimitError) as limited:
        await client.messages.batches.create(
            requests=[request("c"), request("d")]  # type: ignore[list-item]
        )
    assert limited.value.response.headers["retry-after"] == "60"
    clock.now += 10  # the first batch ends and leaves the queue
    await client.messages.batches.create(
        requests=[request("c"), request("d")]  # type: ignore[list-item]
    )
    fake.fail_next = [529, 429]
    with pytest.raises(anthropic.InternalServerError) as overloaded:
        await client.messages.batches.list()
    assert overloaded.value.status_code == 529
    assert isinstance(overloaded.value.body, dict)
    assert overloaded.value.body["error"]["type"] == "overloaded_error"
    with pytest.raises(anthropic.RateLimitError) as busy:
        await client.messages.batches.list()
    assert busy.value.response.headers["retry-after"] == "1"
    assert len((await client.messages.batches.list()).data) == 2


async def test_fake_cli_serves_anthropic(
    monkeypatch: pytest.MonkeyPatch, aiohttp_server: ServerFactory, tmp_path: Path
) -> None:
    apps: list[web.Application] = []
    monkeypatch.setattr(web, "run_app", lambda app, **kwargs: apps.append(app))
    argv = ["--flavour", "anthropic", "--key", f"{KEY}=a", "--storage", str(tmp_path)]
    assert fake_cli.main(argv) == 0
    async with make_client(await aiohttp_server(apps[0])) as sdk:
        batch = await sdk.messages.batches.create(requests=[request("a")])  # type: ignore[list-item]
        ended = await sdk.messages.batches.retrieve(batch.id)
        assert ended.processing_status == "ended"
        assert [r.result.type for r in await results(sdk, batch.id)] == ["succeeded"]
