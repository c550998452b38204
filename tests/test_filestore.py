"""The file store (providers/filestore.py) against a local directory, moto's S3 server and
the Vertex fake's GCS: the same contract on each."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp.test_utils import TestServer

from aiohttp_files_router.errors import NotFound, UpstreamUnavailable
from aiohttp_files_router.fake import FakeVertex
from aiohttp_files_router.params import ProviderParams
from aiohttp_files_router.providers.base import ProviderError
from aiohttp_files_router.providers.filestore import (
    FileStore,
    FileStoreParams,
    StoreError,
    StoreMeta,
    open_store,
)
from aiohttp_files_router.providers.s3 import PART_SIZE, SigV4

from .conftest import ServerFactory
from .s3_fixtures import KEY_ID, REGION, SECRET, moto_url, s3_bucket, s3_client
from .vertex_fixtures import BUCKET as GCS_BUCKET
from .vertex_fixtures import EMAIL, PUBLIC, service_account

__all__ = ["moto_url"]  # the moto S3 server fixture, from s3_fixtures

TIMEOUT = aiohttp.ClientTimeout(sock_connect=5, sock_read=30, connect=5)


def params(**fields: Any) -> FileStoreParams:
    return msgspec.convert({"model": "gemini/x", **fields}, FileStoreParams)


@pytest.fixture(params=["file", "s3", "gs"])
async def store(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    aiohttp_server: ServerFactory,
) -> AsyncIterator[FileStore]:
    kind = request.param
    if kind == "file":
        made = open_store(
            f"file://{tmp_path}/store", params(), account="acct", timeout=TIMEOUT, namespace="d1"
        )
    elif kind == "s3":
        moto_url = request.getfixturevalue("moto_url")
        bucket = await s3_bucket(moto_url)
        made = open_store(
            f"s3://{bucket}/team-a",
            params(
                aws_access_key_id=KEY_ID,
                aws_secret_access_key=SECRET,
                aws_region_name=REGION,
                s3_endpoint_url=moto_url,
            ),
            account="acct",
            timeout=TIMEOUT,
            namespace="d1",
        )
    else:
        fake = FakeVertex({EMAIL: PUBLIC}, buckets=[GCS_BUCKET], storage=tmp_path / "gcs")
        server = await aiohttp_server(fake.app())
        made = open_store(
            f"gs://{GCS_BUCKET}/team-a",
            params(
                vertex_credentials=service_account(server),
                gcs_api_base=str(server.make_url("")),
            ),
            account="acct",
            timeout=TIMEOUT,
            namespace="d1",
        )
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


async def chunks_of(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        await asyncio.sleep(0)
        yield data[i : i + size]


async def read_all(store: FileStore, http: aiohttp.ClientSession, key: str) -> bytes:
    async with store.open(http, key) as stream:
        assert stream.error is None
        return b"".join([c async for c in stream.chunks])


async def test_put_head_open_list_delete(store: FileStore, http: aiohttp.ClientSession) -> None:
    # Larger than one S3 part and several GCS resumable chunks: streamed in pieces.
    big = bytes(range(256)) * ((PART_SIZE + 300_000) // 256)
    small = b'{"custom_id": "a"}\n'
    name = 'r\u00e9sum\u00e9 "final" 100%.jsonl'
    before = int(time.time())
    size = await store.put(
        http,
        "files/big-1",
        chunks_of(big),
        StoreMeta(name, "batch", "application/jsonl", extra={"owner": "team a"}),
    )
    assert size == len(big)
    assert await store.put(http, "files/small-2", chunks_of(small), StoreMeta("s", "user_data"))
    assert await store.put(http, "other/x", chunks_of(b"x"), StoreMeta("x", "batch"))

    head = await store.head(http, "files/big-1")
    assert head is not None and head.size == len(big) and head.key == "files/big-1"
    assert head.meta.filename == name and head.meta.purpose == "batch"
    assert head.meta.content_type == "application/jsonl"
    assert head.meta.extra == {"owner": "team a"}
    assert before <= head.meta.created_at <= int(time.time())
    assert await read_all(store, http, "files/big-1") == big
    async with store.open(http, "files/small-2") as stream:
        assert stream.headers["Content-Type"].startswith("application/octet-stream")
        assert b"".join([c async for c in stream.chunks]) == small

    page, more = await store.list(http, "files/", limit=1)
    assert [f.key for f in page] == ["files/big-1"] and more
    page, more = await store.list(http, "files/", after="files/big-1", limit=1)
    assert [(f.key, f.size, f.meta.filename) for f in page] == [("files/small-2", len(small), "s")]
    assert not more
    every, more = await store.list(http)
    assert [f.key for f in every] == ["files/big-1", "files/small-2", "other/x"] and not more

    assert await store.delete(http, "files/big-1")
    assert await store.head(http, "files/big-1") is None
    assert not await store.delete(http, "files/big-1")
    async with store.open(http, "files/big-1") as stream:
        assert stream.status == 404 and stream.error is not None
        assert b"not_found" in stream.error.body
    assert [f.key for f in (await store.list(http, "files/"))[0]] == ["files/small-2"]


async def test_created_at_given_is_kept(store: FileStore, http: aiohttp.ClientSession) -> None:
    await store.put(http, "k", chunks_of(b"abc"), StoreMeta("a.txt", "user_data", created_at=12))
    head = await store.head(http, "k")
    assert head is not None and head.meta.created_at == 12 and head.size == 3
    await store.put(http, "long", chunks_of(b"x"), StoreMeta("\u00e9" * 3000, "batch"))
    head = await store.head(http, "long")
    # Kept whole up to 1024 characters, and within S3's 2 KB of metadata there.
    kept = 256 if "S3Store" in type(store).__name__ else 1024
    assert head is not None and head.meta.filename == "\u00e9" * kept


async def test_failed_put_leaves_nothing(
    store: FileStore, http: aiohttp.ClientSession, request: pytest.FixtureRequest
) -> None:
    class Stop(Exception):
        pass

    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * (PART_SIZE + 10)  # one S3 part sent before the failure
        raise Stop

    with pytest.raises(Stop):
        await store.put(http, "half", broken(), StoreMeta("h", "batch"))
    assert await store.head(http, "half") is None
    assert (await store.list(http))[0] == []
    root = getattr(store, "root", None)
    if isinstance(root, Path):
        left = await asyncio.to_thread(lambda: [p for p in root.rglob("*") if p.is_file()])
        assert left == []
    if "s3" in request.node.callspec.id:
        bucket = store.bucket.name  # type: ignore[attr-defined]
        client = s3_client(request.getfixturevalue("moto_url"))
        uploads = await asyncio.to_thread(client.list_multipart_uploads, Bucket=bucket)
        assert not uploads.get("Uploads")


@pytest.mark.parametrize("key", ["", "../x", "a/../b", ".tmp-1", "a//b", "/a", "a/", "a b"])
async def test_keys_outside_the_namespace_are_404(
    store: FileStore, http: aiohttp.ClientSession, key: str
) -> None:
    with pytest.raises(NotFound):
        await store.head(http, key)
    with pytest.raises(NotFound):
        await store.put(http, key, chunks_of(b"x"), StoreMeta())
    with pytest.raises(NotFound):
        await store.delete(http, key)
    with pytest.raises(NotFound):
        async with store.open(http, key):
            pass


async def test_namespaces_do_not_see_each_other(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    url = f"file://{tmp_path}"
    one = open_store(url, params(), account="a", timeout=TIMEOUT, namespace="dep/1")
    two = open_store(url, params(), account="b", timeout=TIMEOUT, namespace="dep")
    await one.put(http, "k", chunks_of(b"one"), StoreMeta())
    assert await two.head(http, "k") is None
    assert (await two.list(http))[0] == []
    assert await read_all(one, http, "k") == b"one"


WRITER = """
import asyncio, sys
import aiohttp
from aiohttp_files_router.params import ProviderParams
from aiohttp_files_router.providers.filestore import StoreMeta, open_store

async def main(url, fill, rounds):
    store = open_store(url, ProviderParams(), account="w", timeout=aiohttp.ClientTimeout(),
                       namespace="shared")
    async def chunks():
        for _ in range(64):
            yield fill.encode() * 4096
    for _ in range(rounds):
        await store.put(None, "same", chunks(), StoreMeta(fill, "batch"))

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


async def test_local_store_across_processes(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    """Two processes write one key over and over while this one reads: every read is one
    writer's whole object, never a mix or a part."""
    url = f"file://{tmp_path}"
    reader = open_store(url, ProviderParams(), account="r", timeout=TIMEOUT, namespace="shared")
    writers = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", WRITER, url, fill, "15")
        for fill in ("A", "B")
    ]
    seen: set[str] = set()
    while any(w.returncode is None for w in writers):
        async with reader.open(http, "same") as stream:
            if stream.error is None:
                data = b"".join([c async for c in stream.chunks])
                assert len(data) == 64 * 4096 and len(set(data)) == 1
                seen.add(data[:1].decode())
        await asyncio.sleep(0.005)
        for w in writers:
            if w.returncode is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(w.wait(), 0.001)
    assert [w.returncode for w in writers] == [0, 0]
    head = await reader.head(http, "same")
    assert head is not None and head.size == 64 * 4096 and head.meta.filename in "AB"
    assert seen <= {"A", "B"}
    assert await asyncio.to_thread(lambda: list(tmp_path.rglob(".tmp-*"))) == []


async def test_storage_refusal_is_a_502_naming_the_account(
    moto_url: str, http: aiohttp.ClientSession
) -> None:
    store = open_store(
        "s3://no-such-bucket-here/p",
        params(
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
            aws_region_name=REGION,
            s3_endpoint_url=moto_url,
        ),
        account="acct-x",
        timeout=TIMEOUT,
        namespace="d",
    )
    with pytest.raises(StoreError) as err:
        await store.put(http, "k", chunks_of(b"data"), StoreMeta())
    assert err.value.status == 502
    assert "acct-x" in err.value.message and "bucket" in err.value.message.lower()
    assert SECRET not in err.value.message
    with pytest.raises(StoreError):
        await store.list(http)


async def test_unreachable_store_is_a_502(
    unused_tcp_port: int, http: aiohttp.ClientSession
) -> None:
    store = open_store(
        "s3://b/p",
        params(
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
            s3_endpoint_url=f"http://127.0.0.1:{unused_tcp_port}",
        ),
        account="acct-y",
        timeout=TIMEOUT,
        namespace="d",
    )
    with pytest.raises(UpstreamUnavailable) as err:
        await store.head(http, "k")
    assert "acct-y" in err.value.message


def test_unusable_settings_say_what_to_write(tmp_path: Path) -> None:
    for url, words in [
        ("ftp://host/x", "file:///path"),
        ("file://host/x", "file:///absolute/path"),
        ("s3:///nobucket", "s3://bucket/prefix"),
        ("gs://bucket/p", "vertex_credentials"),
    ]:
        with pytest.raises(ProviderError) as err:
            open_store(url, params(), account="a", timeout=TIMEOUT, namespace="n")
        assert words in str(err.value)


def test_secrets_hidden_in_repr() -> None:
    shown = repr(params(aws_secret_access_key=SECRET, vertex_credentials='{"k": "pem"}'))
    assert SECRET not in shown and "pem" not in shown and "file_store=None" in shown


async def test_gcs_store_token_refused_is_a_502(
    tmp_path: Path, aiohttp_server: ServerFactory, http: aiohttp.ClientSession
) -> None:
    fake = FakeVertex({}, buckets=[GCS_BUCKET], storage=tmp_path / "gcs")
    server: TestServer = await aiohttp_server(fake.app())
    store = open_store(
        f"gs://{GCS_BUCKET}",
        params(vertex_credentials=service_account(server), gcs_api_base=str(server.make_url(""))),
        account="acct-z",
        timeout=TIMEOUT,
        namespace="d",
    )
    try:
        with pytest.raises(UpstreamUnavailable) as err:
            await store.head(http, "k")
        assert err.value.status == 502 and "acct-z" in err.value.message
    finally:
        await store.close()


def test_a_gemini_deployment_hides_its_store_secrets() -> None:
    from aiohttp_files_router.providers.gemini import GeminiParams

    shown = repr(
        msgspec.convert(
            {
                "model": "gemini/gemini-2.5-flash",
                "api_key": "AIza-secret-key",
                "file_store": "s3://b/p",
                "aws_secret_access_key": SECRET,
            },
            GeminiParams,
        )
    )
    assert SECRET not in shown and "AIza-secret-key" not in shown and "s3://b/p" in shown


async def test_s3_upload_cancelled_while_it_starts_is_aborted(
    aiohttp_server: ServerFactory, http: aiohttp.ClientSession
) -> None:
    """Cancelled while S3 creates the multipart upload: its ID is learnt and it is aborted."""
    from aiohttp import web

    from aiohttp_files_router.providers.s3 import AwsSigner, S3Bucket
    from aiohttp_files_router.upstream import Upstream

    log: list[str] = []
    started = asyncio.Event()

    async def handle(request: web.Request) -> web.Response:
        if request.method == "POST" and "uploads" in request.query:
            log.append("create")
            started.set()
            await asyncio.sleep(0.3)  # the upload exists; its ID is not answered yet
            return web.Response(
                text="<InitiateMultipartUploadResult><UploadId>u-1</UploadId>"
                "</InitiateMultipartUploadResult>",
                content_type="application/xml",
            )
        log.append(f"{request.method} {request.query.get('uploadId')}")
        return web.Response(status=204)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server: TestServer = await aiohttp_server(app)
    signer = AwsSigner(KEY_ID, SECRET, None, None)
    base = str(server.make_url(""))
    upstream = Upstream("acct", base, TIMEOUT, auth=SigV4(signer, "s3", REGION))
    bucket = S3Bucket(upstream, "b")
    task = asyncio.create_task(bucket.upload(http, "k", {}, "text/plain", chunks_of(b"x")))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["create", "DELETE u-1"]
