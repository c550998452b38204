"""The Mistral side of tests: the fake's keys and model, an entry."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer

KEY_A = "mistral-key-account-a-0001"
KEY_B = "mistral-key-account-b-0002"
MODEL = "mistral-small-latest"


def entry(
    server: TestServer, name: str = "mistral-batch", key: str = KEY_A, v1: bool = True
) -> dict[str, Any]:
    return {
        "model_name": name,
        "litellm_params": {
            "model": f"mistral/{MODEL}",
            "api_key": key,
            "api_base": str(server.make_url("/v1" if v1 else "/")),
        },
    }
