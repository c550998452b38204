"""Every failure is an OpenAI-shaped error with the right status; no traceback, no secret."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from aiohttp_files_router.fake import FakeOpenAI
from aiohttp_files_router.ids import encode_id

from .common import free_port
from .conftest import KEY_A, MASTER, ONE_ROW, RouterFactory, ServerFactory, base_config, error_of

AUTH = {"Authorization": f"Bearer {MASTER}"}


async def call(server: TestServer, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    url = server.make_url("")
    async with aiohttp.ClientSession() as http:
        async with http.request(
            method, f"{url}{path}", headers={**AUTH, **kw.pop("headers", {})}, **kw
        ) as resp:
            text = await resp.text()
            assert "Traceback" not in text
            return resp.status, await resp.json(content_type=None)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/files/{}"),
        ("DELETE", "/v1/files/{}"),
        ("GET", "/v1/files/{}/content"),
        ("GET", "/v1/batches/{}"),
        ("POST", "/v1/batches/{}/cancel"),
    ],
)
async def test_unknown_and_garbage_ids_are_404(router: TestServer, method: str, path: str) -> None:
    for value in ("file-nonsense", "batch_garbage!!", encode_id("file", "file-x", "no-such-model")):
        status, body = await call(router, method, path.format(value))
        assert status == 404, (value, body)
        error_of(body)


async def test_raw_id_reaches_default_account_and_upstream_404_passes_through(
    start_router: RouterFactory, upstream: TestServer, fake: FakeOpenAI
) -> None:
    router = await start_router(base_config(upstream, default_model="gpt-4o-other"))
    status, body = await call(router, "GET", "/v1/files/file-doesnotexist")
    assert status == 404 and "file-doesnotexist" in error_of(body)["message"]
    assert fake.requests[-1].account == "b"


async def test_signed_ids_reject_forgery_and_unsigned(
    start_router: RouterFactory, upstream: TestServer, fake: FakeOpenAI
) -> None:
    router = await start_router(base_config(upstream, id_secret=["new", "old"]))
    data = aiohttp.FormData()
    data.add_field("purpose", "batch")
    data.add_field("model", "gpt-4o-litellm")
    data.add_field("file", ONE_ROW, filename="a.jsonl")
    status, created = await call(router, "POST", "/v1/files", data=data)
    assert status == 200
    provider_id = next(iter(fake.accounts["a"].files))
    assert created["id"] == encode_id("file", provider_id, "gpt-4o-litellm", "new")
    assert (await call(router, "GET", f"/v1/files/{created['id']}"))[0] == 200
    rotated = encode_id("file", provider_id, "gpt-4o-litellm", "old")
    assert (await call(router, "GET", f"/v1/files/{rotated}"))[0] == 200
    seen = len(fake.requests)
    for forged in (
        encode_id("file", provider_id, "gpt-4o-litellm"),  # unsigned
        encode_id("file", provider_id, "gpt-4o-litellm", "guessed"),
        encode_id("file", provider_id, "gpt-4o-other", "guessed"),
    ):
        status, body = await call(router, "GET", f"/v1/files/{forged}")
        assert status == 404 and error_of(body)["param"] == "file_id"
    assert len(fake.requests) == seen  # nothing forged reached an account

    lax = await start_router(base_config(upstream, id_secret="new", allow_unsigned_ids=True))
    unsigned = encode_id("file", provider_id, "gpt-4o-litellm")
    assert (await call(lax, "GET", f"/v1/files/{unsigned}"))[0] == 200


@pytest.mark.parametrize(
    "provider_id",
    [
        "../batches",
        "../../v2/secret",
        "file-1?purpose=batch",
        "file-1#frag",
        "a%2Fb",
        "http://evil.example/x",
        "//evil.example/x",
        "a/b",
    ],
)
async def test_ids_cannot_escape_their_upstream_path(
    router: TestServer, fake: FakeOpenAI, provider_id: str
) -> None:
    encoded = encode_id("file", provider_id, "gpt-4o-litellm")
    status, body = await call(router, "GET", f"/v1/files/{encoded}/content")
    assert status == 404, body
    content = f"/v1/files/{provider_id}/content"
    assert any(r.path == content for r in fake.requests)
    # The retrieve beside a download (for its filename), if it was sent before the 404
    # ended it, stays on the file's own path too.
    for sent in fake.requests:
        assert sent.path in (content, f"/v1/files/{provider_id}") and sent.query == {}
        assert sent.raw_path.count("/") == (4 if sent.path == content else 3)
        assert sent.key == KEY_A


@pytest.mark.parametrize("value", ["..", ".", encode_id("file", "..", "gpt-4o-litellm")])
async def test_dot_segments_never_reach_upstream(
    router: TestServer, fake: FakeOpenAI, value: str
) -> None:
    status, body = await call(router, "GET", f"/v1/files/{value}?model=gpt-4o-litellm")
    assert status == 404, body
    assert fake.requests == []


async def test_bad_json_and_bad_limit(router: TestServer) -> None:
    status, body = await call(
        router,
        "POST",
        "/v1/batches",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert status == 400 and "JSON" in error_of(body)["message"]
    status, body = await call(
        router, "GET", "/v1/files", data=b"[1,", headers={"Content-Type": "application/json"}
    )
    assert status == 400
    for limit in ("0", "10001", "abc"):
        status, body = await call(router, "GET", f"/v1/files?model=gpt-4o-litellm&limit={limit}")
        assert status == 400 and error_of(body)["param"] == "limit"
    status, body = await call(router, "GET", "/v1/files?model=gpt-4o-litellm&order=up")
    assert status == 400 and error_of(body)["param"] == "order"


async def test_unknown_path_and_method_are_openai_shaped(router: TestServer) -> None:
    status, body = await call(router, "GET", "/v1/nothing-here")
    assert status == 404
    error_of(body)
    status, body = await call(router, "PUT", "/v1/files")
    assert status == 405
    error_of(body)


async def test_upstream_down_is_502_and_logs_no_secret(
    start_router: RouterFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = {
        "model_list": [
            {
                "model_name": "down",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_key": KEY_A,
                    "api_base": f"http://127.0.0.1:{free_port()}/v1",
                },
            }
        ],
        "general_settings": {"master_key": MASTER},
    }
    router = await start_router(config)
    status, body = await call(router, "GET", "/v1/files?model=down")
    assert status == 502 and error_of(body)["code"] == "upstream_unavailable"
    assert KEY_A not in str(body) and KEY_A not in caplog.text


async def test_upstream_too_slow_is_504(
    start_router: RouterFactory, aiohttp_server: ServerFactory, tmp_path: Any
) -> None:
    slow = FakeOpenAI({KEY_A: "a"}, storage=tmp_path, delay=2.0)
    upstream = await aiohttp_server(slow.app())
    config = base_config(upstream, read_timeout=0.3)
    router = await start_router(config)
    status, body = await call(router, "GET", "/v1/files?model=gpt-4o-litellm")
    assert status == 504 and error_of(body)["code"] == "upstream_timeout"


async def test_upstream_errors_pass_through_without_secrets(
    start_router: RouterFactory, aiohttp_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def leaky(request: web.Request) -> web.Response:
        # A badly behaved upstream that echoes the credentials it was sent.
        auth = request.headers.get("Authorization", "")
        return web.json_response(
            {
                "error": {
                    "message": f"denied for {auth}",
                    "type": "x",
                    "param": None,
                    "code": "nope",
                }
            },
            status=403,
        )

    async def html(request: web.Request) -> web.Response:
        return web.Response(status=500, text="<html>boom " + request.headers["Authorization"])

    app = web.Application()
    app.router.add_get("/v1/files/{id}", leaky)
    app.router.add_get("/v1/files/{id}/content", html)
    upstream = await aiohttp_server(app)
    router = await start_router(base_config(upstream))
    status, body = await call(router, "GET", "/v1/files/file-1?model=gpt-4o-litellm")
    assert status == 403 and error_of(body)["code"] == "nope"
    assert KEY_A not in str(body) and "***" in body["error"]["message"]
    status, body = await call(router, "GET", "/v1/files/file-1/content?model=gpt-4o-litellm")
    assert status == 500 and error_of(body)["type"] == "upstream_error"
    assert KEY_A not in str(body) and KEY_A not in caplog.text


async def test_unusable_account_is_503_others_keep_working(
    start_router: RouterFactory,
    upstream: TestServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("FILES_ROUTER_TEST_MISSING", raising=False)
    config = base_config(upstream)
    config["model_list"][1]["litellm_params"]["api_key"] = "os.environ/FILES_ROUTER_TEST_MISSING"
    config["model_list"].append(
        {"model_name": "vertex-later", "litellm_params": {"model": "someprovider/x"}}
    )
    router = await start_router(config)
    assert "FILES_ROUTER_TEST_MISSING" in caplog.text
    status, body = await call(router, "GET", "/v1/files?model=gpt-4o-other")
    assert status == 503 and "FILES_ROUTER_TEST_MISSING" in error_of(body)["message"]
    status, body = await call(router, "GET", "/v1/files?model=vertex-later")
    assert status == 503 and "someprovider" in error_of(body)["message"]
    assert (await call(router, "GET", "/v1/files?model=gpt-4o-litellm"))[0] == 200


async def test_unexpected_errors_are_500_with_one_log_line(
    router: TestServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiohttp_files_router.providers.openai import OpenAIProvider

    async def broken(self: OpenAIProvider, http: Any, file_id: str) -> Any:
        raise KeyError("bug")

    monkeypatch.setattr(OpenAIProvider, "retrieve_file", broken)
    caplog.set_level(logging.INFO)
    status, body = await call(router, "GET", "/v1/files/file-x?model=gpt-4o-litellm")
    assert status == 500 and error_of(body)["type"] == "server_error"
    lines = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(lines) == 1 and "KeyError" in lines[0].getMessage()
    assert lines[0].exc_info is None and "Traceback" not in caplog.text
