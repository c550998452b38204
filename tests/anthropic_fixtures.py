"""The Anthropic side of tests: the fake's keys and model, an entry with its file store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

KEY_A = "sk-ant-api03-account-a-0001"
KEY_B = "sk-ant-api03-account-b-0002"
MODEL = "claude-sonnet-4-5"


def entry(
    server: TestServer,
    store: Path,
    name: str = "claude-batch",
    key: str = KEY_A,
    v1: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "model": f"anthropic/{MODEL}",
        "api_key": key,
        "api_base": str(server.make_url("/v1/" if v1 else "")),
        "file_store": store.as_uri(),
        **extra,
    }
    return {"model_name": name, "litellm_params": params}
