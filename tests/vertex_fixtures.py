"""The Vertex AI side of tests: a service account the fake knows, an entry, a config."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .conftest import client, router_config

# The router config and SDK client every provider's tests use (tests/conftest.py).
config = router_config
sdk_for = client

EMAIL = "router@fake-project.iam.gserviceaccount.com"
BUCKET = "fake-bucket"


def _key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


PRIVATE, PUBLIC = _key()


def service_account(server: TestServer, private_key: str = PRIVATE) -> str:
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "fake-project",
            "private_key_id": "k1",
            "private_key": private_key,
            "client_email": EMAIL,
            "token_uri": str(server.make_url("/token")),
        }
    )


def vertex_entry(
    server: TestServer, credentials: str | None = None, name: str = "gemini-batch"
) -> dict[str, Any]:
    return {
        "model_name": name,
        "litellm_params": {
            "model": "vertex_ai/gemini-2.5-flash",
            "vertex_project": "fake-project",
            "vertex_location": "us-central1",
            "vertex_credentials": credentials or service_account(server),
            "gcs_bucket_name": f"{BUCKET}/team-a",
            "api_base": str(server.make_url("")),
            "gcs_api_base": str(server.make_url("")),
        },
    }
