"""OpenAI's own spec as the judge: the router in front of Stainless's Steady mock server.

Steady (``@stdy/cli``, pinned in ``.ci/run``) serves ``../shared/openai-openapi.yaml``: it
checks each request the router sends against the spec (``x-steady-request-valid``) and answers
with made-up, schema-true objects (missing optionals, nulls, odd IDs), compressed (br, gzip)
as the router's Accept-Encoding allows. A small recording proxy between the router and Steady
keeps every exchange.

When Steady or the spec is missing, the test fails when ``CI`` is set (``.ci/run`` sets it)
and is skipped otherwise. ``STEADY`` may name the executable.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import brotli  # type: ignore[import-untyped]  # Brotli ships no type hints
import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

from aiohttp_files_router.ids import Kind, RoutedId, decode_id

from .common import free_port
from .conftest import MASTER, ONE_ROW, RouterFactory
from .spec import SHARED_SPEC

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

ROOT = Path(__file__).resolve().parent.parent
LOCAL_STEADY = ROOT / ".ci" / "node_modules" / ".bin" / "steady"
SEEDS = range(1, 9)  # each seed makes other objects: other IDs, other optionals left out
HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}
DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "": bytes,
    "gzip": gzip.decompress,
    "deflate": zlib.decompress,
    "br": brotli.decompress,
    "zstd": zstd.decompress,
}


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI is set, so this test may not skip)")
    pytest.skip(what)


def _steady() -> str:
    found = os.environ.get("STEADY") or (
        str(LOCAL_STEADY) if LOCAL_STEADY.exists() else shutil.which("steady")
    )
    if not found:
        _missing(
            "Steady is not installed: npm install --prefix .ci --no-save --no-package-lock "
            "@stdy/cli (the version .ci/run pins)"
        )
    if not SHARED_SPEC.exists():
        _missing(f"the OpenAI spec is not at {SHARED_SPEC}")
    assert found is not None
    return found


@pytest.fixture(scope="module")
def steady_url() -> Iterator[str]:
    executable = _steady()
    port = free_port()
    proc = subprocess.Popen(
        [
            executable,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log=false",
            # The openai SDK sends form and query objects in bracket style.
            "--validator-form-object-format=brackets",
            "--validator-query-object-format=brackets",
            str(SHARED_SPEC),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_x-steady/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    err = proc.communicate()[1].decode(errors="replace")
                    pytest.fail(f"Steady did not start: {err[-2000:]}")
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


@dataclass
class Exchange:
    method: str
    path: str
    status: int
    valid: str | None
    errors: list[str]
    body: bytes  # Steady's answer, decoded


class Recorder:
    """A loopback proxy in front of Steady that keeps each exchange; ``seed`` picks the data."""

    def __init__(self, target: str):
        self.target = target
        self.seed = 1
        self.exchanges: list[Exchange] = []

    async def forward(self, request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        headers["X-Steady-Seed"] = str(self.seed)
        body = await request.read()  # small: the test's own uploads
        async with (
            aiohttp.ClientSession(auto_decompress=False) as http,
            http.request(
                request.method,
                self.target + request.path_qs,
                headers=headers,
                data=body or None,
                allow_redirects=False,
            ) as resp,
        ):
            raw = await resp.read()
            coding = resp.headers.get("Content-Encoding", "")
            self.exchanges.append(
                Exchange(
                    request.method,
                    request.path,
                    resp.status,
                    resp.headers.get("x-steady-request-valid"),
                    [v for k, v in resp.headers.items() if k.lower().endswith("-message")],
                    DECODERS[coding](raw),
                )
            )
            out = {k: v for k, v in resp.headers.items() if k.lower() not in HOP}
            return web.Response(status=resp.status, body=raw, headers=out)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.forward)
        return app

    def last_exchange(self, method: str, path_end: str) -> Exchange:
        for ex in reversed(self.exchanges):
            if ex.method == method and ex.path.endswith(path_end):
                return ex
        raise AssertionError(f"no {method} ...{path_end} reached Steady")

    def last(self, method: str, path_end: str) -> dict[str, Any]:
        return msgspec.json.decode(self.last_exchange(method, path_end).body, type=dict[str, Any])


def _routed(value: str, kind: Kind, provider_id: Any) -> None:
    """``value`` is the router's ID for ``provider_id`` on the account (empty stays empty)."""
    if provider_id in (None, ""):
        assert value == provider_id
        return
    decoded = decode_id(value, kind)
    assert isinstance(decoded, RoutedId), value
    assert decoded.provider_id == provider_id and decoded.deployment == "openai-spec"


async def test_every_files_and_batches_operation_judged_by_openais_spec(
    steady_url: str, start_router: RouterFactory, aiohttp_server: Any
) -> None:
    recorder = Recorder(steady_url)
    proxy: TestServer = await aiohttp_server(recorder.app())
    router = await start_router(
        {
            "model_list": [
                {
                    "model_name": "openai-spec",
                    "litellm_params": {
                        "model": "openai/gpt-4o",
                        "api_key": "sk-steady",
                        "api_base": str(proxy.make_url("")).rstrip("/"),
                    },
                }
            ],
            "general_settings": {"master_key": MASTER},
        }
    )
    model = {"model": "openai-spec"}
    async with AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=0
    ) as sdk:
        for seed in SEEDS:
            recorder.seed = seed
            created = await sdk.files.create(
                file=("rows.jsonl", io.BytesIO(ONE_ROW)),
                purpose="batch",
                expires_after={"anchor": "created_at", "seconds": 3600},
                extra_body=model,
            )
            _routed(created.id, "file", recorder.last("POST", "/files")["id"])

            got = await sdk.files.retrieve(created.id)
            _routed(got.id, "file", recorder.last("GET", "/files/" + _pid(created.id))["id"])

            page = await sdk.files.list(
                limit=5, order="asc", purpose="batch", after=created.id, extra_query=model
            )
            listed = recorder.last("GET", "/files")
            assert len(page.data) == len(listed["data"])
            for item, raw in zip(page.data, listed["data"], strict=True):
                _routed(item.id, "file", raw["id"])

            content = await sdk.files.content(created.id)
            # The download's name comes from a retrieve made alongside: match the content call.
            content_call = recorder.last_exchange("GET", "/files/" + _pid(created.id) + "/content")
            assert content.content == content_call.body

            deleted = await sdk.files.delete(created.id)
            _routed(deleted.id, "file", recorder.last("DELETE", "/files/" + _pid(created.id))["id"])

            batch = await sdk.batches.create(
                input_file_id=created.id,
                endpoint="/v1/chat/completions",
                completion_window="24h",
                metadata={"team": "spec"},
                output_expires_after={"anchor": "created_at", "seconds": 86400},
            )
            made = recorder.last("POST", "/batches")
            _routed(batch.id, "batch", made["id"])
            _routed(batch.input_file_id, "file", made["input_file_id"])
            for name in ("output_file_id", "error_file_id"):
                _routed(getattr(batch, name), "file", made.get(name))

            again = await sdk.batches.retrieve(batch.id)
            _routed(again.id, "batch", recorder.last("GET", "/batches/" + _pid(batch.id))["id"])

            batches = await sdk.batches.list(limit=3, after=batch.id, extra_query=model)
            listed = recorder.last("GET", "/batches")
            for listed_batch, raw in zip(batches.data, listed["data"], strict=True):
                _routed(listed_batch.id, "batch", raw["id"])

            cancelled = await sdk.batches.cancel(batch.id)
            _routed(cancelled.id, "batch", recorder.last("POST", "/cancel")["id"])

    # Nine calls, and the retrieve a download makes alongside for its Content-Disposition.
    assert len(recorder.exchanges) == 10 * len(SEEDS)
    for ex in recorder.exchanges:
        assert ex.valid == "true", f"{ex.method} {ex.path} -> {ex.status}: {ex.errors}"
        assert ex.status == 200, (ex.method, ex.path, ex.status)


def _pid(routed: str) -> str:
    decoded = decode_id(routed, "batch" if routed.startswith("batch_") else "file")
    assert isinstance(decoded, RoutedId)
    return decoded.provider_id
