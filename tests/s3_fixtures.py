"""The S3 side of tests: moto's S3 server on loopback, its credentials, a bucket per test."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

REGION = "eu-west-1"
KEY_ID = "AKIAFILESTORE"
SECRET = "filestore-secret-key-value"


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 server on loopback, for the length of a ``with``: its URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


def s3_client(moto_url: str) -> Any:
    import boto3  # type: ignore[import-untyped]  # ships no type hints

    return boto3.client(
        "s3",
        endpoint_url=moto_url,
        region_name=REGION,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )


async def s3_bucket(moto_url: str) -> str:
    # moto keeps its state per process: a bucket of each test's own.
    name = f"store-{time.monotonic_ns()}"
    await asyncio.to_thread(
        s3_client(moto_url).create_bucket,
        Bucket=name,
        CreateBucketConfiguration={"LocationConstraint": REGION},
    )
    return name
