"""FakeVertex as the command line and ``--demo`` see it (``fake/__init__.py`` lists it).

Kept beside ``vertex.py`` rather than in it while another branch edits that module; it
folds into ``vertex.py`` once both have landed.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .base import DemoAccounts, DemoPlace, FakeFlavour
from .vertex import FakeVertex

__all__ = ["FLAVOUR"]

DEMO_EMAIL = "demo@fake-project.iam.gserviceaccount.com"


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--service-account",
        action="append",
        default=[],
        metavar="EMAIL=PEM",
        help="vertex: a client email and the path of its PEM public key",
    )
    p.add_argument(
        "--project-number",
        default="123456789012",
        help="vertex: the project number tuning job and model names carry",
    )


def _build(args: argparse.Namespace, keys: dict[str, str], error: Callable[[str], Any]) -> Any:
    accounts = {
        email: Path(pem).read_text()
        for email, pem in (item.split("=", 1) for item in args.service_account)
    }
    return FakeVertex(
        accounts,
        buckets=args.bucket or ["fake-bucket"],
        project_number=args.project_number,
        storage=args.storage,
        phase_seconds=args.phase_seconds,
    )


def _service_account(token_uri: str) -> tuple[str, str]:
    """A throwaway service-account key (JSON text) and its public half, for the fake."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    info = {
        "type": "service_account",
        "project_id": "fake-project",
        "private_key": private,
        "client_email": DEMO_EMAIL,
        "token_uri": token_uri,
    }
    return json.dumps(info), public.decode()


def _demo(place: DemoPlace) -> DemoAccounts:
    credentials, public_key = _service_account(f"{place.base}/token")
    fake = FakeVertex(
        {DEMO_EMAIL: public_key}, buckets=["demo-bucket"], phase_seconds=place.phase_seconds
    )
    entry = {
        "model_name": "gemini-batch",
        "litellm_params": {
            "model": "vertex_ai/gemini-2.5-flash",
            "vertex_project": "fake-project",
            "vertex_location": "us-central1",
            "vertex_credentials": credentials,
            "gcs_bucket_name": "demo-bucket/router",
            "api_base": place.base,
            "gcs_api_base": place.base,
        },
    }
    return DemoAccounts(fake, [entry])


FLAVOUR = FakeFlavour(
    name="vertex",
    add_arguments=_arguments,
    build=_build,
    demo=_demo,
    demo_models=("gemini-batch",),
    demo_described="a Vertex AI model",
)
