"""The Bedrock side of tests: a credential and bucket the fake knows, an entry, a config."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer

from .conftest import client, router_config

# The router config and SDK client every provider's tests use (tests/conftest.py).
config = router_config
sdk_for = client

REGION = "us-west-2"
KEY_ID, SECRET = "AKIAFAKEACCOUNTA0001", "secret-of-account-a-xyz"
ACCOUNT = "111122223333"
BUCKET = "batch-bucket"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/BedrockBatch"
CLAUDE = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"
NOVA = "amazon.nova-lite-v1:0"
MIN = 3


def entry(
    server: TestServer,
    name: str = "claude-batch",
    model: str = CLAUDE,
    **extra: Any,
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "model": f"bedrock/{model}",
        "aws_region_name": REGION,
        "aws_access_key_id": KEY_ID,
        "aws_secret_access_key": SECRET,
        "s3_bucket_name": f"{BUCKET}/team-a",
        "aws_batch_role_arn": ROLE,
        "api_base": str(server.make_url("")),
        "s3_endpoint_url": str(server.make_url("")),
        "batch_min_records": MIN,
    }
    params.update(extra)
    return {
        "model_name": name,
        "litellm_params": {k: v for k, v in params.items() if v is not None},
    }
