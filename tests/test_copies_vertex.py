"""Issue 15 with a Vertex AI deployment among the targets, and fan-out uploads the client cuts
off: two OpenAI fakes and a Vertex fake (GCS resumable uploads), the openai SDK and a raw
socket client."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiohttp.typedefs import Handler
from openai import NotFoundError
from yarl import URL

from aiohttp_files_router import create_app, parse_config
from aiohttp_files_router.fake import FakeOpenAI, FakeVertex
from aiohttp_files_router.ids import RoutedId, decode_id
from aiohttp_files_router.uploads import CHUNK

from .conftest import MASTER, RouterFactory, ServerFactory, chat_rows, client, jsonl
from .vertex_fixtures import BUCKET, EMAIL, PUBLIC, vertex_entry

K1, K2 = "sk-oa-one", "sk-oa-two"
SECRET = "id-secret-for-tests-0123456789"
TARGETS = "gpt-4o-batch, gemini-batch"


class World:
    def __init__(self, one: FakeOpenAI, two: FakeOpenAI, vertex: FakeVertex):
        self.one, self.two, self.vertex = one, two, vertex
        self.servers: list[TestServer] = []
        # Closed, it holds the Vertex storage's answers to upload pieces (a slow account).
        self.gate = asyncio.Event()
        self.gate.set()
        self.held = 0

    @web.middleware
    async def gated(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "PUT" and request.path.startswith("/upload/storage/"):
            await request.read()
            self.held += 1
            await self.gate.wait()
        return await handler(request)

    def openai_copies(self) -> list[list[bytes]]:
        return [
            [f.path.read_bytes() for f in self.one.accounts["o1"].files.values()],
            [f.path.read_bytes() for f in self.two.accounts["o2"].files.values()],
        ]

    def vertex_copies(self) -> dict[str, bytes]:
        return {name: obj.path.read_bytes() for (_, name), obj in self.vertex.objects.items()}

    def nothing_left(self) -> bool:
        return (
            self.openai_copies() == [[], []]
            and not self.vertex.objects
            and not self.vertex.uploads  # no resumable session left open
        )


@pytest.fixture
async def world(aiohttp_server: ServerFactory, tmp_path: Path) -> World:
    w = World(
        FakeOpenAI({K1: "o1"}, storage=tmp_path / "one"),
        FakeOpenAI({K2: "o2"}, storage=tmp_path / "two"),
        FakeVertex({EMAIL: PUBLIC}, buckets=[BUCKET], storage=tmp_path / "gcs"),
    )
    for fake in (w.one, w.two):
        w.servers.append(await aiohttp_server(fake.app()))
    vertex = w.vertex.app()
    vertex.middlewares.append(w.gated)
    w.servers.append(await aiohttp_server(vertex))
    return w


def world_config(w: World) -> dict[str, Any]:
    one, two, vertex = w.servers
    return {
        "model_list": [
            {
                "model_name": "gpt-4o-batch",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_key": key,
                    "api_base": str(server.make_url("/v1")),
                },
                "model_info": {"id": name},
            }
            for name, key, server in (("oa-1", K1, one), ("oa-2", K2, two))
        ]
        + [vertex_entry(vertex)],
        "general_settings": {"master_key": MASTER},
        "files_router": {"id_secret": SECRET},
    }


def _route(value: str, kind: Any) -> RoutedId:
    decoded = decode_id(value, kind, [SECRET])
    assert isinstance(decoded, RoutedId), value
    return decoded


async def test_fan_out_to_openai_and_vertex(start_router: RouterFactory, world: World) -> None:
    """Each copy lands in its provider's own form; the one ID serves retrieve and content
    from the first copy, batches from every holder in turn, and delete removes them all."""
    router = await start_router(world_config(world))
    data = jsonl(chat_rows(3))
    async with client(router) as sdk:
        f = await sdk.files.create(
            file=("in.jsonl", io.BytesIO(data)),
            purpose="batch",
            extra_body={"target_model_names": TARGETS},
        )
        assert f.filename == "in.jsonl" and f.purpose == "batch"
        routed = _route(f.id, "file")
        assert [d for d, _ in routed.holders] == ["oa-1", "oa-2", "gemini-batch"]
        vertex_id = routed.holders[2][1]
        assert vertex_id.startswith(f"gs://{BUCKET}/team-a/files-router/")
        # The OpenAI copies are the client's bytes; the Vertex copy is Vertex request rows,
        # each carrying its custom_id (in labels) and no OpenAI envelope.
        assert world.openai_copies() == [[data], [data]]
        copies = world.vertex_copies()
        (name,) = [n for n in copies if not n.endswith(".original")]
        vertex_rows = copies[name]
        assert copies[name + ".original"] == data  # the client's bytes, beside the rows
        assert vertex_id == f"gs://{BUCKET}/{name}"
        rows = [json.loads(line) for line in vertex_rows.splitlines()]
        assert len(rows) == 3
        for i, row in enumerate(rows):
            assert set(row) == {"request"} and "custom_id" not in row["request"]
            assert f"req-{i}" in json.dumps(row["request"]["labels"])
            assert row["request"]["contents"][0]["parts"][0]["text"] == f"hello {i}"
        # Retrieve and content come from the first copy.
        assert (await sdk.files.retrieve(f.id)).id == f.id
        assert (await sdk.files.content(f.id)).content == data
        # Batches: each holder in turn, the Vertex one a batch prediction job on its copy.
        made = []
        for _ in range(3):
            b = await sdk.batches.create(
                input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            made.append((_route(b.id, "batch").deployment, b))
        assert sorted(d for d, _ in made) == ["gemini-batch", "oa-1", "oa-2"]
        on_vertex = next(b for d, b in made if d == "gemini-batch")
        (job,) = world.vertex.jobs.values()
        assert job.source == vertex_id
        assert (await sdk.batches.retrieve(on_vertex.id)).id == on_vertex.id
        # Both OpenAI accounts down: the Vertex copy answers, as the ID the client holds.
        for server in world.servers[:2]:
            await server.close()
        got = await sdk.files.retrieve(f.id)
        assert got.id == f.id and got.filename == "in.jsonl" and got.purpose == "batch"
        # Its content is what the client uploaded, as from any copy.
        assert (await sdk.files.content(f.id)).content == data
        assert got.bytes == len(data)
        # Delete with the OpenAI accounts down: not all gone, so not deleted; the Vertex copy
        # is removed anyway.
        with pytest.raises(Exception) as info:
            await sdk.files.delete(f.id)
        assert getattr(info.value, "status_code", None) == 502
        assert name not in world.vertex_copies()
        with pytest.raises(NotFoundError):
            # The OpenAI copies cannot be reached; the one holder that answers has none.
            await sdk.files.retrieve(f.id)


async def test_fan_out_delete_removes_the_vertex_copy_too(
    start_router: RouterFactory, world: World
) -> None:
    router = await start_router(world_config(world))
    async with client(router) as sdk:
        f = await sdk.files.create(
            file=("in.jsonl", io.BytesIO(jsonl(chat_rows(2)))),
            purpose="batch",
            extra_query={"target_model_names": TARGETS},
        )
        assert world.openai_copies() == [[jsonl(chat_rows(2))]] * 2 and world.vertex_copies()
        gone = await sdk.files.delete(f.id)
        assert gone.deleted is True and gone.id == f.id
        assert world.nothing_left()


# -- a client that stops sending ---------------------------------------------------------------

Serve = Callable[[dict[str, Any], bool], Awaitable[URL]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """The router behind a plain AppRunner: ``handler_cancellation`` as given (False is what
    ``aiohttp-files-router`` and ``web.run_app`` use; pytest-aiohttp's servers use True)."""
    runners: list[web.AppRunner] = []

    async def start(config: dict[str, Any], cancel: bool) -> URL:
        app = create_app(parse_config(config, "<test>"), route_prefixes=("", "/v1"))
        runner = web.AppRunner(app, handler_cancellation=cancel)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        return URL.build(scheme="http", host=host, port=port)

    yield start
    for runner in runners:
        await runner.cleanup()


BOUNDARY = "fan-out-cut-boundary"


def _form_head(route: tuple[str, str] = ("target_model_names", TARGETS)) -> bytes:
    return (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="{route[0]}"\r\n\r\n'
        f"{route[1]}\r\n"
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="in.jsonl"\r\n'
        "Content-Type: application/jsonl\r\n\r\n"
    ).encode()


async def _until(check: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.02)


def _router_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("aiohttp_files_router") and r.levelno >= logging.WARNING
    ]


async def _cut_upload(
    base: URL, full_length: int, steps: list[tuple[bytes, Callable[[], bool], str]]
) -> None:
    """Send the headers of a ``full_length`` upload, then each step's bytes followed by a
    wait until its check holds; then drop the connection (a reset, as a killed client
    leaves it)."""
    reader, writer = await asyncio.open_connection(base.host, base.port)
    head = (
        "POST /v1/files HTTP/1.1\r\n"
        f"Host: {base.host}:{base.port}\r\n"
        f"Authorization: Bearer {MASTER}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {full_length}\r\n\r\n"
    )
    writer.write(head.encode())
    try:
        for data, ready, what in steps:
            writer.write(data)
            await writer.drain()
            await _until(ready, what)
        assert not reader.at_eof()  # the router is still waiting for the rest
    finally:
        writer.transport.abort()


@pytest.mark.parametrize("cancel", [False, True], ids=["run_app", "handler_cancellation"])
async def test_client_cut_inside_the_file_leaves_nothing(
    serve: Serve, world: World, cancel: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """The body stops half-way through the file part: every upstream upload is abandoned,
    the Vertex resumable session cancelled, no copy stored anywhere."""
    caplog.set_level(logging.INFO, logger="aiohttp_files_router")
    base = await serve(world_config(world), cancel)
    # More than one resumable chunk (2 MiB), so the Vertex copy is part-sent when cut.
    data = jsonl(chat_rows(30_000))
    assert len(data) > 3 * 1024**2
    head, tail = _form_head(), f"\r\n--{BOUNDARY}--\r\n".encode()

    def receiving() -> bool:
        upload = next(iter(world.vertex.uploads.values()), None)
        return (
            all(r.file_head for r in (*world.one.requests, *world.two.requests))
            and len(world.one.requests) == len(world.two.requests) == 1
            and upload is not None
            and upload.received > 0
        )

    sent = head + data[: 3 * 1024**2]
    length = len(head) + len(data) + len(tail)
    await _cut_upload(base, length, [(sent, receiving, "every upstream is receiving")])
    await _until(world.nothing_left, "nothing is left upstream")
    await asyncio.sleep(0.3)  # nothing turns up late either
    assert world.nothing_left()
    # The accounts only saw the body stop: no upstream failure is logged against them.
    assert _router_warnings(caplog) == []


@pytest.mark.parametrize("cancel", [False, True], ids=["run_app", "handler_cancellation"])
@pytest.mark.parametrize("fan_out", [True, False], ids=["fan-out", "single"])
async def test_client_cut_after_the_file_removes_the_copies(
    serve: Serve, world: World, cancel: bool, fan_out: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """The file part is whole (every copy stored) but the form is not: the router is reading
    the fields after the file when the client goes away. The client never learns the ID, so
    no copy may stay behind; nor may the one file of a plain streamed upload."""
    caplog.set_level(logging.INFO, logger="aiohttp_files_router")
    config = world_config(world)
    config["files_router"]["max_field_bytes"] = 4 * CHUNK
    base = await serve(config, cancel)
    data = jsonl(chat_rows(5))
    head = _form_head() if fan_out else _form_head(("model", "oa-1"))
    # The next part has begun: the file part is complete, the form is not. aiohttp reads a
    # part to its end only with more bytes behind it than one read takes (uploads.CHUNK),
    # hence a long field.
    cut = (
        f'\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n'.encode()
        + b"x" * (CHUNK + 44 * 1024)
    )
    rest = f"yz\r\n--{BOUNDARY}--\r\n".encode()

    def stored_everywhere() -> bool:
        if not fan_out:
            return world.openai_copies() == [[data], []]
        return world.openai_copies() == [[data], [data]] and len(world.vertex.objects) == 2

    length = len(head) + len(data) + len(cut) + len(rest)
    await _cut_upload(
        base, length, [(head + data + cut, stored_everywhere, "every copy is stored")]
    )
    await _until(world.nothing_left, "the copies are removed")
    removed = [r.getMessage() for r in caplog.records if "removed copy" in r.getMessage()]
    assert len(removed) == (3 if fan_out else 0) and _router_warnings(caplog) == []


@pytest.mark.parametrize("cancel", [False, True], ids=["run_app", "handler_cancellation"])
async def test_client_cut_while_one_copy_is_in_flight(
    serve: Serve, world: World, cancel: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """The OpenAI copies are stored, the Vertex one is still being written when the client
    goes away: whether the handler runs on (run_app) or is cancelled (handler
    cancellation), the router waits for the copy in flight and removes it with the others:
    no copy and no open upload session is left."""
    caplog.set_level(logging.INFO, logger="aiohttp_files_router")
    config = world_config(world)
    config["files_router"]["max_field_bytes"] = 4 * CHUNK
    base = await serve(config, cancel)
    data = jsonl(chat_rows(5))
    head = _form_head()
    cut = (
        f'\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n'.encode()
        + b"x" * (CHUNK + 44 * 1024)
    )
    rest = f"yz\r\n--{BOUNDARY}--\r\n".encode()

    def openai_stored_vertex_held() -> bool:
        # The Vertex rows and the original beside them are both held.
        return world.openai_copies() == [[data], [data]] and world.held == 2

    world.gate.clear()
    length = len(head) + len(data) + len(cut) + len(rest)
    try:
        await _cut_upload(
            base, length, [(head + data + cut, openai_stored_vertex_held, "Vertex is held")]
        )
        await asyncio.sleep(0.1)  # the router sees the connection gone
    finally:
        world.gate.set()
    await _until(world.nothing_left, "the copies are removed")
    removed = [r.getMessage() for r in caplog.records if "removed copy" in r.getMessage()]
    assert len(removed) == 3
    assert _router_warnings(caplog) == []
