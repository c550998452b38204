"""Health, metrics, request IDs and the access log, on a router started in-process."""

from __future__ import annotations

import inspect
import io
import json
import logging
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

from aiohttp_files_router import create_app, parse_config, setup
from aiohttp_files_router.accesslog import ACCESS_LOGGER, AccessLogger, JsonFormatter
from aiohttp_files_router.context import RequestIdFilter
from aiohttp_files_router.fake import FakeOpenAI
from aiohttp_files_router.observe import PARSER_LIMIT
from aiohttp_files_router.providers.openai import OpenAIProvider

from .conftest import (
    KEY_A,
    KEY_B,
    MASTER,
    ONE_ROW,
    RouterFactory,
    ServerFactory,
    base_config,
    error_of,
)
from .metrics import samples, value

AUTH = {"Authorization": f"Bearer {MASTER}"}


async def metrics(http: aiohttp.ClientSession, url: str) -> dict[Any, float]:
    async with http.get(url, headers=AUTH) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
        return samples(await resp.text())


async def test_health_needs_no_key_and_readiness_lists_accounts_for_the_master(
    start_router: RouterFactory, upstream: TestServer
) -> None:
    config = base_config(upstream)
    config["model_list"].append(
        {
            "model_name": "needs-env",
            "litellm_params": {"model": "openai/gpt-4o", "api_key": "os.environ/UNSET_KEY_14"},
        }
    )
    router = await start_router(config)
    async with aiohttp.ClientSession() as http:
        async with http.get(router.make_url("/health/liveliness")) as resp:
            assert resp.status == 200 and await resp.json() == {"status": "ok"}
        async with http.get(router.make_url("/health/readiness")) as resp:
            assert resp.status == 200 and await resp.json() == {"status": "ready"}
        async with http.get(
            router.make_url("/health/readiness"), headers={"Authorization": "Bearer sk-wrong"}
        ) as resp:
            assert resp.status == 200 and await resp.json() == {"status": "ready"}
        async with http.get(router.make_url("/health/readiness"), headers=AUTH) as resp:
            text = await resp.text()
            body = json.loads(text)
        assert resp.status == 200 and body["status"] == "ready"
        states = {a["model"]: (a["state"], a["reason"]) for a in body["accounts"]}
        assert states["gpt-4o-litellm"] == ("usable", None)
        assert states["needs-env"] == (
            "unusable",
            "environment variable UNSET_KEY_14 is not set",
        )
        for secret in (KEY_A, KEY_B, MASTER):
            assert secret not in text
        # The routes themselves still need a key.
        async with http.get(router.make_url("/v1/files")) as resp:
            assert resp.status == 401


async def test_readiness_503_without_usable_account_or_when_draining(
    start_router: RouterFactory, upstream: TestServer
) -> None:
    config = base_config(upstream)
    for entry in config["model_list"]:
        entry["litellm_params"]["api_key"] = "os.environ/UNSET_KEY_14"
    router = await start_router(config)
    async with aiohttp.ClientSession() as http:
        async with http.get(router.make_url("/health/readiness")) as resp:
            assert resp.status == 503
            assert (await resp.json())["status"] != "ready"
        async with http.get(router.make_url("/health/liveliness")) as resp:
            assert resp.status == 200
    router2 = await start_router(base_config(upstream))
    from aiohttp_files_router import STATE_KEY

    router2.app[STATE_KEY].draining = True
    async with aiohttp.ClientSession() as http:
        async with http.get(router2.make_url("/health/readiness")) as resp:
            assert resp.status == 503 and await resp.json() == {"status": "draining"}


async def test_health_and_metrics_under_the_mount_prefix(
    aiohttp_server: ServerFactory, upstream: TestServer
) -> None:
    host = aiohttp.web.Application()
    setup(host, parse_config(base_config(upstream), "<test>"), prefix="/v1")
    server = await aiohttp_server(host)
    async with aiohttp.ClientSession() as http:
        async with http.get(server.make_url("/v1/health/liveliness")) as resp:
            assert resp.status == 200 and await resp.json() == {"status": "ok"}
        async with http.get(server.make_url("/v1/health/readiness")) as resp:
            assert resp.status == 200
        found = await metrics(http, str(server.make_url("/v1/metrics")))
        assert any(n == "files_router_in_flight_requests" for n, _ in found)


async def test_metrics_need_the_master_key_unless_public(
    start_router: RouterFactory, upstream: TestServer
) -> None:
    config = base_config(upstream)
    config["files_router"] = {
        "keys": [{"key": "sk-scoped", "models": ["gpt-4o-litellm"]}],
        "ownership": "shared",
    }
    router = await start_router(config)
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer sk-scoped"}):
            async with http.get(router.make_url("/metrics"), headers=headers) as resp:
                assert resp.status == 401
                error_of(await resp.json())
        await metrics(http, str(router.make_url("/metrics")))
    public = await start_router(base_config(upstream, metrics_public=True))
    async with aiohttp.ClientSession() as http:
        async with http.get(public.make_url("/metrics")) as resp:
            assert resp.status == 200


async def test_metrics_count_requests_by_route_template_and_upstream_calls(
    router: TestServer, fake: FakeOpenAI
) -> None:
    url = str(router.make_url("/metrics"))
    async with aiohttp.ClientSession() as http:
        before = await metrics(http, url)
        form = aiohttp.FormData()
        form.add_field("purpose", "user_data")
        form.add_field("model", "gpt-4o-litellm")
        form.add_field("file", b'{"a": 1}\n' * 1000, filename="x.jsonl")
        async with http.post(router.make_url("/v1/files"), data=form, headers=AUTH) as resp:
            assert resp.status == 200
            file_id = (await resp.json())["id"]
        for _ in range(3):
            async with http.get(router.make_url(f"/v1/files/{file_id}"), headers=AUTH) as resp:
                assert resp.status == 200
        async with http.get(router.make_url(f"/v1/files/{file_id}/content"), headers=AUTH) as resp:
            assert len(await resp.read()) == 9000
        async with http.get(router.make_url("/v1/files/file-nope"), headers=AUTH) as resp:
            assert resp.status == 404
        after = await metrics(http, url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    route = "/v1/files/{file_id}"
    assert (
        delta(
            "files_router_requests_total",
            method="GET",
            route=route,
            model="gpt-4o-litellm",
            status="200",
        )
        == 3
    )
    assert delta("files_router_requests_total", route=route, status="404") == 1
    assert not any(file_id in str(labels) for _, labels in after)
    assert delta("files_router_request_duration_seconds_count", method="GET", route=route) == 4
    assert (
        delta(
            "files_router_upstream_requests_total",
            account="gpt-4o-litellm",
            operation="files.retrieve",
            status="200",
        )
        == 3
    )
    assert (
        delta(
            "files_router_upstream_duration_seconds_count",
            account="gpt-4o-litellm",
            operation="files.create",
        )
        == 1
    )
    assert delta("files_router_bytes_total", direction="upload", account="gpt-4o-litellm") > 9000
    assert delta("files_router_bytes_total", direction="download", account="gpt-4o-litellm") >= (
        9000
    )
    assert value(after, "files_router_in_flight_requests") >= 1  # the /metrics call itself


async def test_request_id_kept_or_made_on_every_answer_and_sent_upstream(
    router: TestServer, fake: FakeOpenAI
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(
            router.make_url("/v1/files?model=gpt-4o-litellm"),
            headers={**AUTH, "X-Request-Id": "client.req-42_A"},
        ) as resp:
            assert resp.status == 200
            assert resp.headers["X-Request-Id"] == "client.req-42_A"
        assert fake.requests[-1].client_request_id == "client.req-42_A"
        for bad in ("has space", "x" * 129, "semi;colon"):
            async with http.get(
                router.make_url("/v1/files"), headers={"X-Request-Id": bad}
            ) as resp:
                assert resp.status == 401  # errors carry it too
                made = resp.headers["X-Request-Id"]
                assert made != bad and len(made) == 32
        async with http.get(router.make_url("/v1/files/file-x/content"), headers=AUTH) as resp:
            assert resp.status == 404 and len(resp.headers["X-Request-Id"]) == 32


async def test_request_id_on_streamed_downloads_and_every_kind_of_error(
    aiohttp_server: ServerFactory, upstream: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(parse_config(base_config(upstream), "<test>"), route_prefixes=("", "/v1"))
    # The standalone server's parser limits, so that oversized heads reach the router.
    router = await aiohttp_server(app, max_line_size=PARSER_LIMIT, max_field_size=PARSER_LIMIT)
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        created = await sdk.files.create(
            file=("a.jsonl", io.BytesIO(ONE_ROW)),
            purpose="batch",
            extra_body={"model": "gpt-4o-litellm"},
        )

    async def reset(*args: object) -> None:
        raise ConnectionResetError("reset by a test, the client still there")

    async with aiohttp.ClientSession() as http:

        async def answer(method: str, path: str, rid: str, **kw: Any) -> aiohttp.ClientResponse:
            headers = {**AUTH, "X-Request-Id": rid, **kw.pop("headers", {})}
            async with http.request(method, router.make_url(path), headers=headers, **kw) as resp:
                await resp.read()
                assert resp.headers["X-Request-Id"] == rid, (path, resp.status)
                return resp

        # The download's headers leave before the handler returns.
        resp = await answer("GET", f"/v1/files/{created.id}/content", "dl")
        assert resp.status == 200 and resp.headers["X-Content-Type-Options"] == "nosniff"
        assert (await answer("GET", "/v1/nowhere", "unknown")).status == 404
        assert (await answer("PUT", "/v1/files", "method")).status == 405
        assert (await answer("GET", "/v1/files?x=" + "a" * 9000, "long")).status == 414
        too_long_header = {"X-Big": "b" * 9000}
        assert (await answer("GET", "/v1/files", "big", headers=too_long_header)).status == 431
        assert (await answer("GET", "/health/liveliness", "health")).status == 200
        # An error the router does not answer itself: aiohttp's own 500 still carries it.
        monkeypatch.setattr(OpenAIProvider, "retrieve_file", reset)
        resp = await answer("GET", f"/v1/files/{created.id}", "aiohttp-500")
        assert resp.status == 500 and resp.content_type == "text/plain"


async def test_access_log_line_and_log_lines_carry_both_request_ids(
    aiohttp_server: ServerFactory, upstream: TestServer, fake: FakeOpenAI
) -> None:
    app = create_app(parse_config(base_config(upstream), "<test>"), route_prefixes=("/v1",))
    router = await aiohttp_server(
        app, access_log_class=AccessLogger, access_log=ACCESS_LOGGER, access_log_format="json"
    )
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep()
    keep.addFilter(RequestIdFilter())
    package = logging.getLogger("aiohttp_files_router")
    package.addHandler(keep)
    old_level = package.level
    package.setLevel(logging.INFO)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(
                router.make_url("/v1/files?model=gpt-4o-litellm"),
                headers={**AUTH, "X-Request-Id": "trace-me"},
            ) as resp:
                assert resp.status == 200
                await resp.read()
            # An upstream failure logged inside the request carries the IDs too.
            await upstream.close()
            async with http.get(
                router.make_url("/v1/files?model=gpt-4o-litellm"),
                headers={**AUTH, "X-Request-Id": "trace-502"},
            ) as resp:
                assert resp.status == 502
    finally:
        package.removeHandler(keep)
        package.setLevel(old_level)
    upstream_id = fake.requests[-1].response_request_id
    assert upstream_id.startswith("req_")
    (record,) = [
        r
        for r in records
        if r.name.endswith(".access") and getattr(r, "request_id", None) == "trace-me"
    ]
    # The record names its caller as logger.info() would: AccessLogger.log, in its lines.
    lines, first = inspect.getsourcelines(AccessLogger.log)
    assert (record.funcName, record.module) == ("log", "accesslog")
    assert first < record.lineno < first + len(lines)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "trace-me"
    assert line["upstream_request_id"] == upstream_id
    assert line["method"] == "GET" and line["route"] == "/v1/files" and line["status"] == 200
    assert line["model"] == "gpt-4o-litellm" and line["upstream_status"] == "200"
    assert line["bytes_out"] > 0 and line["duration_ms"] > 0 and line["upstream_ms"] > 0
    text = record.getMessage()
    assert text.startswith("trace-me GET /v1/files 200 in=0 out=")
    assert f"upstream_id={upstream_id}" in text
    failures = [r for r in records if r.levelno == logging.WARNING]
    assert failures and all(getattr(r, "request_id", None) == "trace-502" for r in failures)
