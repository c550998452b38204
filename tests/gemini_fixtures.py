"""The Gemini API side of tests: keys the fake knows, a deployment entry, a config."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer

from .conftest import client, router_config

# The router config and SDK client every provider's tests use (tests/conftest.py).
config = router_config
sdk_for = client

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
