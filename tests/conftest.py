"""Fixtures: real fake-upstream servers on loopback, a real router in front, real clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

from aiohttp_files_router import create_app, parse_config
from aiohttp_files_router.fake import FakeOpenAI

MASTER = "sk-proxy-master"
KEY_A = "sk-upstream-account-a"
KEY_B = "sk-upstream-account-b"

ServerFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture
def fake(tmp_path: Path) -> FakeOpenAI:
    return FakeOpenAI({KEY_A: "a", KEY_B: "b"}, storage=tmp_path / "upstream")


@pytest.fixture
async def upstream(aiohttp_server: ServerFactory, fake: FakeOpenAI) -> TestServer:
    return await aiohttp_server(fake.app())


def base_config(upstream: TestServer, **files_router: Any) -> dict[str, Any]:
    api_base = str(upstream.make_url("/v1"))
    return {
        "model_list": [
            {
                "model_name": "gpt-4o-litellm",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_key": KEY_A,
                    "api_base": api_base,
                },
            },
            {
                "model_name": "gpt-4o-other",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_key": KEY_B,
                    "api_base": api_base,
                },
            },
        ],
        "general_settings": {"master_key": MASTER},
        "files_router": files_router,
    }


RouterFactory = Callable[[dict[str, Any]], Awaitable[TestServer]]


@pytest.fixture
def start_router(aiohttp_server: ServerFactory) -> RouterFactory:
    async def start(config: dict[str, Any]) -> TestServer:
        app = create_app(parse_config(config, "<test>"), route_prefixes=("", "/v1"))
        return await aiohttp_server(app)

    return start


@pytest.fixture
async def router(start_router: RouterFactory, upstream: TestServer) -> TestServer:
    return await start_router(base_config(upstream))


@pytest.fixture
async def sdk(router: TestServer) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as client:
        yield client


def client(router: TestServer, key: str = MASTER) -> AsyncOpenAI:
    """An openai SDK client of the router with ``key``; the caller closes it (``async with``)."""
    return AsyncOpenAI(api_key=key, base_url=str(router.make_url("/v1")), max_retries=0)


def router_config(*entries: dict[str, Any], **files_router: Any) -> dict[str, Any]:
    """A router config serving ``entries`` (``model_list``) behind the master key, with
    ``files_router`` settings when given."""
    config: dict[str, Any] = {
        "model_list": list(entries),
        "general_settings": {"master_key": MASTER},
    }
    if files_router:
        config["files_router"] = files_router
    return config


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    import json

    return ("\n".join(json.dumps(r) for r in rows) + "\n").encode()


def chat_rows(n: int, model: str = "gpt-4o") -> list[dict[str, Any]]:
    return [
        {
            "custom_id": f"req-{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": f"hello {i}"}]},
        }
        for i in range(n)
    ]


# One valid batch row: batch files are checked at upload (files_router.validate_batch_files).
ONE_ROW = jsonl(chat_rows(1))


def error_of(body: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI error object, after checking the envelope has exactly its four fields."""
    assert set(body) == {"error"}, body
    err: dict[str, Any] = body["error"]
    assert set(err) == {"message", "type", "param", "code"}, err
    assert isinstance(err["message"], str) and err["message"]
    return err


__all__ = [
    "KEY_A",
    "KEY_B",
    "MASTER",
    "ONE_ROW",
    "base_config",
    "chat_rows",
    "client",
    "error_of",
    "jsonl",
    "router_config",
    "web",
]
