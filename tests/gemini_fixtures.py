"""The Gemini API side of tests: keys the fake knows, a deployment entry, a config."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

from .conftest import MASTER

GEMINI_KEY = "AIza-fake-gemini-key-0123456789"
OTHER_KEY = "AIza-fake-gemini-key-other-project"


def gemini_entry(
    server: TestServer, name: str = "gemini-api", key: str = GEMINI_KEY, **extra: Any
) -> dict[str, Any]:
    return {
        "model_name": name,
        "litellm_params": {
            "model": "gemini/gemini-2.5-flash",
            "api_key": key,
            "api_base": str(server.make_url("")),
            **extra,
        },
    }


def config(*entries: dict[str, Any], **files_router: Any) -> dict[str, Any]:
    return {
        "model_list": list(entries),
        "general_settings": {"master_key": MASTER},
        "files_router": files_router,
    }


def sdk_for(router: TestServer, key: str = MASTER) -> AsyncOpenAI:
    return AsyncOpenAI(api_key=key, base_url=str(router.make_url("/v1")), max_retries=0)
