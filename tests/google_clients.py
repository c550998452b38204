"""Google's official clients (google-genai, google-auth) against the Vertex fake with no router:
a service account whose key the test makes and its credentials (``common.serve_in_thread``
serves the fake)."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

EMAIL = "batch@fake-project.iam.gserviceaccount.com"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def request_row(text: str, **request: Any) -> dict[str, Any]:
    return {"request": {"contents": [{"role": "user", "parts": [{"text": text}]}], **request}}


def sa_credentials(key: rsa.RSAPrivateKey, base: str) -> Any:
    """google-auth service-account credentials whose token endpoint is the fake's."""
    from google.oauth2 import service_account

    return service_account.Credentials.from_service_account_info(
        {
            "type": "service_account",
            "client_email": EMAIL,
            "private_key": private_pem(key),
            "token_uri": f"{base}/token",
            "project_id": "fake-project",
        },
        scopes=[SCOPE],
    )
