"""Issue 19: one way to the upstream. Each test is an attack or a fault that one of the
upstream paths let through: a POST sent twice, a redirect passed on, a header the small-call
client wrote that aiohttp's writer refuses, a fan-out copy left behind, work counted against
the wrong deployment."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiohttp.typedefs import Handler
from openai import InternalServerError, RateLimitError
from prometheus_client import REGISTRY
from yarl import URL

from aiohttp_files_router.smallcalls import SmallCalls

from .certs import self_signed
from .conftest import MASTER, RouterFactory, ServerFactory, chat_rows, client, error_of, jsonl
from .copies_fixtures import TARGETS, World, stored, world, world_config
from .faults_fixtures import BATCH, TIMEOUT, RawUpstream, openai_config, openai_sdk

__all__ = ["world"]  # the fixture, from copies_fixtures

AUTH = {"Authorization": f"Bearer {MASTER}"}


# -- 1. a POST whose bytes were written is never sent again ---------------------------------
class Resetting:
    """Reads each ``batches.create`` whole, then resets the connection instead of answering;
    any other call is answered."""

    def __init__(self) -> None:
        self.creates = 0
        self.server: asyncio.Server | None = None

    @property
    def base(self) -> str:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}/v1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                line, *fields = head[:-4].split("\r\n")
                headers = {k.lower(): v for k, v in (f.split(": ", 1) for f in fields)}
                await reader.readexactly(int(headers.get("content-length", "0")))
                if line.startswith("POST /v1/batches "):
                    self.creates += 1
                    writer.transport.abort()
                    return
                body = json.dumps(BATCH).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> Resetting:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.mark.parametrize("retries", [1, 3])
async def test_a_create_read_whole_then_reset_is_sent_once_and_its_outcome_unknown(
    start_router: RouterFactory, retries: int
) -> None:
    async with Resetting() as upstream:
        router = await start_router(openai_config(upstream.base, num_retries=retries))
        async with openai_sdk(router) as sdk:
            # A pooled connection first (what a stale one would be), then the create.
            await sdk.batches.retrieve("batch_abc", extra_query={"model": "gpt-4o-litellm"})
            with pytest.raises(InternalServerError) as caught:
                await sdk.batches.create(
                    input_file_id="file-abc",
                    endpoint="/v1/chat/completions",
                    completion_window="24h",
                    extra_body={"model": "gpt-4o-litellm"},
                )
        assert caught.value.status_code == 502
        assert "unknown" in error_of(caught.value.response.json())["message"]
        assert upstream.creates == 1


# -- 2. every 3xx from every path is a 502 ----------------------------------------------------
@pytest.fixture
async def redirecting(aiohttp_server: ServerFactory) -> AsyncIterator[tuple[TestServer, list[str]]]:
    followed: list[str] = []

    async def elsewhere(request: web.Request) -> web.Response:
        followed.append(request.path)
        return web.json_response({})

    other = await aiohttp_server(_app(elsewhere))

    async def redirect(request: web.Request) -> web.Response:
        # Read what was sent first, as a server that redirects after looking at it would.
        await request.read()
        raise web.HTTPTemporaryRedirect(f"http://localhost:{other.port}{request.path_qs}")

    yield await aiohttp_server(_app(redirect)), followed


def _app(handler: Any) -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


async def _status(router: TestServer, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method, router.make_url(path), headers=AUTH, allow_redirects=False, **kwargs
        ) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


def _upload(model: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("purpose", "batch")
    form.add_field("model", model)
    form.add_field("file", jsonl(chat_rows(2)), filename="in.jsonl")
    return form


async def test_a_gemini_upload_start_answering_307_is_a_502(
    start_router: RouterFactory, redirecting: tuple[TestServer, list[str]]
) -> None:
    from .gemini_fixtures import config, gemini_entry

    server, followed = redirecting
    router = await start_router(config(gemini_entry(server)))
    status, body = await _status(router, "POST", "/v1/files", data=_upload("gemini-api"))
    assert status == 502 and "redirect" in body["error"]["message"]
    assert followed == []


async def test_s3_and_bedrock_job_calls_answering_307_are_502s(
    start_router: RouterFactory, redirecting: tuple[TestServer, list[str]]
) -> None:
    from .bedrock_fixtures import config, entry

    server, followed = redirecting
    router = await start_router(config(entry(server)))
    for method, path, kwargs in (
        ("GET", "/v1/files?model=claude-batch", {}),  # S3 ListObjectsV2
        ("POST", "/v1/files", {"data": _upload("claude-batch")}),  # S3 upload
        ("GET", "/v1/batches?model=claude-batch", {}),  # Bedrock ListModelInvocationJobs
    ):
        status, body = await _status(router, method, path, **kwargs)
        assert (status, "redirect" in body["error"]["message"]) == (502, True), (path, body)
    assert followed == []


# -- 3. one set of header rules ---------------------------------------------------------------
async def test_the_small_call_client_refuses_what_aiohttps_writer_refuses() -> None:
    upstream = await RawUpstream().start()
    calls = SmallCalls()
    url = URL(upstream.base + "/batches")
    try:
        for headers in ({"X-A": "1\x00"}, {"X-A": "a\x0bb"}, {"X\x7fA": "1"}, {"X-A": "\x1b"}):
            with pytest.raises(ValueError, match="control character"):
                await calls.send("POST", url, headers, b"{}", TIMEOUT)
        for headers in ({"Content-Length": "0"}, {"content-length": "2", "X": "1"}):
            # With the body's own length that makes two: a request smuggled in the body.
            with pytest.raises(ValueError, match="Content-Length"):
                await calls.send("POST", url, headers, b'{"a": 1}', TIMEOUT)
        with pytest.raises(ValueError, match="Transfer-Encoding"):
            await calls.send("POST", url, {"Transfer-Encoding": "chunked"}, b"{}", TIMEOUT)
        assert upstream.connections == 0
        # A tab is a header value's own whitespace; a matching length is no second one.
        answer = await calls.send(
            "POST", url, {"X-A": "a\tb", "Content-Length": "2"}, b"{}", TIMEOUT
        )
        answer.release()
        assert upstream.seen[-1].headers["x-a"] == "a\tb"
        assert upstream.seen[-1].headers["content-length"] == "2"
    finally:
        await calls.close()
        await upstream.stop()


async def test_tls_server_name_has_no_trailing_dot_and_the_context_is_built_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    names: list[str | None] = []
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    server.sni_callback = lambda _sock, name, _ctx: names.append(name)
    upstream = await RawUpstream(tls=server).start()
    built_on: list[bool] = []
    real = ssl.create_default_context

    def watched(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        try:
            asyncio.get_running_loop()
            built_on.append(True)
        except RuntimeError:
            built_on.append(False)
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", watched)
    loop = asyncio.get_running_loop()
    resolve = loop.getaddrinfo

    async def hosts_file(host: Any, *args: Any, **kwargs: Any) -> Any:
        # This machine's resolver knows no "localhost." (a fully qualified name elsewhere).
        return await resolve("localhost" if host == "localhost." else host, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", hosts_file)
    calls = SmallCalls()
    try:
        port = URL(upstream.base).port
        # The certificate names 127.0.0.1 only: refused, after the server saw the name.
        with pytest.raises(ssl.SSLCertVerificationError, match="'localhost'"):
            await calls.send("GET", URL(f"https://localhost.:{port}/v1/files/x"), {}, None, TIMEOUT)
        assert names == ["localhost"]
        answer = await calls.send("GET", URL(upstream.base + "/files/x"), {}, None, TIMEOUT)
        answer.release()
    finally:
        await calls.close()
        await upstream.stop()
    assert True not in built_on  # a TLS context reads the CA files from disk


# -- 4. fan-out is all or nothing -------------------------------------------------------------
def _slow_to_answer_uploads(app: web.Application, seconds: float) -> web.Application:
    """The account stores an upload at once and answers ``seconds`` later, as an upstream
    busy checking a file does."""

    @web.middleware
    async def slow(request: web.Request, handler: Handler) -> web.StreamResponse:
        resp = await handler(request)
        if request.method == "POST" and request.path.endswith("/files"):
            await asyncio.sleep(seconds)
        return resp

    app.middlewares.append(slow)
    return app


@pytest.fixture
async def slow_world(aiohttp_server: ServerFactory, world: World) -> World:
    """``world`` with its Azure account slow to answer uploads (it stores them at once)."""
    world.servers[2] = await aiohttp_server(_slow_to_answer_uploads(world.azure.app(), 0.5))
    return world


async def test_a_copy_stored_after_another_refused_is_deleted_before_the_answer(
    start_router: RouterFactory, slow_world: World
) -> None:
    router = await start_router(world_config(slow_world))
    slow_world.two.refuse_uploads = True
    async with client(router) as sdk:
        with pytest.raises(InternalServerError):
            await sdk.files.create(
                file=("in.jsonl", io.BytesIO(jsonl(chat_rows(3)))),
                purpose="batch",
                extra_body=TARGETS,
            )
    # Answered only once every copy in flight was back and removed.
    assert stored(slow_world.one, "o1") == []
    assert stored(slow_world.azure, "az") == []


async def test_a_client_gone_before_the_answer_leaves_no_copy(
    start_router: RouterFactory, slow_world: World
) -> None:
    router = await start_router(world_config(slow_world))
    form = aiohttp.FormData()
    form.add_field("purpose", "batch")
    form.add_field("target_model_names", TARGETS["target_model_names"])
    form.add_field("file", jsonl(chat_rows(3)), filename="in.jsonl")
    async with aiohttp.ClientSession() as http:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.25):
                await http.post(router.make_url("/v1/files"), headers=AUTH, data=form)
    for _ in range(50):
        await asyncio.sleep(0.1)
        left = stored(slow_world.one, "o1") + stored(slow_world.two, "o2")
        if not left + stored(slow_world.azure, "az"):
            break
    assert stored(slow_world.azure, "az") == []
    assert stored(slow_world.one, "o1") == stored(slow_world.two, "o2") == []


# -- 5. the deployment actually called ----------------------------------------------------------
def _upstream_count(account: str, operation: str) -> float:
    total = 0.0
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if (
                sample.name == "files_router_upstream_requests_total"
                and sample.labels.get("account") == account
                and sample.labels.get("operation") == operation
            ):
                total += sample.value
    return total


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_metrics_access_line_and_logs_name_the_deployment_called(
    aiohttp_server: ServerFactory, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    from aiohttp_files_router import create_app, parse_config
    from aiohttp_files_router.accesslog import ACCESS_LOGGER, AccessLogger

    app = create_app(parse_config(world_config(world), "<test>"), route_prefixes=("/v1",))
    router = await aiohttp_server(
        app, access_log_class=AccessLogger, access_log=ACCESS_LOGGER, access_log_format="text"
    )
    caplog.set_level(logging.INFO, logger="aiohttp_files_router")
    async with client(router) as sdk:
        f = await sdk.files.create(
            file=("in.jsonl", io.BytesIO(jsonl(chat_rows(2)))), purpose="batch", extra_body=TARGETS
        )
        before = {a: _upstream_count(a, "files.retrieve") for a in ("oa-1", "gpt-4o-azure")}
        caplog.clear()
        await sdk.files.retrieve(f.id)  # answered by the first copy, on oa-1
        after = {a: _upstream_count(a, "files.retrieve") for a in ("oa-1", "gpt-4o-azure")}
        assert after["oa-1"] - before["oa-1"] == 1
        assert after["gpt-4o-azure"] == before["gpt-4o-azure"]
        (line,) = [r for r in caplog.records if r.name.endswith(".access")]
        assert " account=oa-1 " in line.getMessage()
        # Both deployments of gpt-4o-batch refuse in turn: each is named by its own route.
        world.one.refuse_batches = world.two.refuse_batches = True
        caplog.clear()
        with pytest.raises(RateLimitError):
            await sdk.batches.create(
                input_file_id=f.id,
                endpoint="/v1/chat/completions",
                completion_window="24h",
                extra_body={"model": "gpt-4o-batch"},
            )
        attempts = [r.getMessage() for r in caplog.records if "batch create: attempt" in r.msg]
        assert any(" on oa-1 " in m for m in attempts) and any(" on oa-2 " in m for m in attempts)
        # A batch created on gpt-4o-batch is logged as gpt-4o-batch, not the file's last holder.
        world.one.refuse_batches = world.two.refuse_batches = False
        caplog.clear()
        await sdk.batches.create(
            input_file_id=f.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            extra_body={"model": "gpt-4o-batch"},
        )
        (line,) = [r for r in caplog.records if r.name.endswith(".access")]
        assert " model=gpt-4o-batch " in line.getMessage()
        assert "account=gpt-4o-azure" not in line.getMessage()


def test_request_id_headers_are_named_by_the_providers_only() -> None:
    """Which header holds a provider's request ID is that provider's own knowledge."""
    import aiohttp_files_router

    package = Path(aiohttp_files_router.__file__).parent
    core = [p for p in package.glob("*.py")] + list((package / "handlers").glob("*.py"))
    names = ("apim-request-id", "x-amzn-requestid", "x-amz-request-id", "x-goog-request-id")
    for path in core:
        text = path.read_text().lower()
        assert not [n for n in names if n in text], path


async def test_a_single_upload_whose_client_left_before_the_answer_is_removed(
    start_router: RouterFactory, slow_world: World
) -> None:
    router = await start_router(world_config(slow_world))
    form = aiohttp.FormData()
    form.add_field("purpose", "batch")
    form.add_field("model", "gpt-4o-azure")
    form.add_field("file", jsonl(chat_rows(3)), filename="in.jsonl")
    async with aiohttp.ClientSession() as http:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.25):
                await http.post(router.make_url("/v1/files"), headers=AUTH, data=form)
    for _ in range(50):
        await asyncio.sleep(0.1)
        if not stored(slow_world.azure, "az"):
            break
    assert stored(slow_world.azure, "az") == []


def test_the_request_context_knows_nothing_of_the_domain() -> None:
    """context.py imports no module of the router (accounts, providers...): the deployment a
    call goes to is handed to it where the call is made, and authorising writes nothing."""
    import ast

    import aiohttp_files_router

    package = Path(aiohttp_files_router.__file__).parent
    tree = ast.parse((package / "context.py").read_text())
    relative = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
    assert relative == []
    auth = ast.parse((package / "auth.py").read_text())
    (authorize,) = [
        n for n in ast.walk(auth) if isinstance(n, ast.FunctionDef) and n.name == "authorize"
    ]
    calls = [ast.unparse(n.func) for n in ast.walk(authorize) if isinstance(n, ast.Call)]
    assert sorted(calls) == ["PermissionDenied", "current_principal"], calls
