"""Google's official clients (google-genai, google-auth) against the Vertex fake with no router:
a service account whose key the test makes, its credentials, the fake served on a thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web
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


@contextmanager
def serve_in_thread(app: web.Application) -> Iterator[str]:
    """Serve ``app`` on its own loop: google-genai and google-auth are synchronous clients."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.run_until_complete(runner.cleanup())
        loop.close()


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
