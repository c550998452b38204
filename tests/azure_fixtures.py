"""The Azure OpenAI side of tests: a key and client the fake knows, an entry, a config."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer

from .conftest import client, router_config

# The router config and SDK client every provider's tests use (tests/conftest.py).
config = router_config
sdk_for = client

AZ_KEY = "azure-key-0123456789abcdef"
DEPLOYMENT = "my-batch-deployment"
CLIENT = ("tenant-1", "client-1", "client-secret-value")
STATIC_TOKEN = "static-entra-token-0123456789"


def azure_entry(
    server: TestServer,
    api_version: str = "2024-10-21",
    auth: str = "key",
    name: str = "gpt-4o-azure",
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "model": f"azure/{DEPLOYMENT}",
        "api_base": str(server.make_url("")),
        "api_version": api_version,
    }
    if auth == "key":
        params["api_key"] = AZ_KEY
    elif auth == "token":
        params["azure_ad_token"] = STATIC_TOKEN
    else:
        params.update(
            tenant_id=CLIENT[0],
            client_id=CLIENT[1],
            client_secret=CLIENT[2],
            azure_authority_host=str(server.make_url("")),
        )
    return {"model_name": name, "litellm_params": params}


def with_legacy_azure(config_: dict[str, Any], server: TestServer) -> dict[str, Any]:
    """``config_`` plus a files_settings entry for custom-llm-provider: azure."""
    config_["files_settings"] = [
        {
            "custom_llm_provider": "azure",
            "api_key": AZ_KEY,
            "api_base": str(server.make_url("")),
            "api_version": "2024-10-21",
        }
    ]
    return config_
