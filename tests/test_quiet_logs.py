"""Bad client input is answered with a 4xx and logged in one line at most, never with a
traceback (docs/errors.md): neither by the router nor by the fakes behind it in --demo."""

from __future__ import annotations

import asyncio
import gzip
import io
import logging

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI, BadRequestError

from aiohttp_files_router.demo import DEMO_KEY, MODELS, demo_app

from .conftest import MASTER, ServerFactory, chat_rows, jsonl

BOUNDARY = "quiet-logs-boundary"


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{r.name} {r.levelname}: {r.getMessage()}"
        for r in caplog.records
        if r.exc_info or "Traceback" in r.getMessage() or r.levelno >= logging.ERROR
    ]


@pytest.mark.parametrize("body", ["gzip-labelled plain", "gzip"])
async def test_refused_gzip_upload_logs_no_traceback(
    router: TestServer, caplog: pytest.LogCaptureFixture, body: str
) -> None:
    caplog.set_level(logging.DEBUG)
    raw = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"'
            "\r\n\r\n"
        ).encode()
        + jsonl(chat_rows(20_000))
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    data = gzip.compress(raw) if body == "gzip" else raw
    async with aiohttp.ClientSession() as http:
        async with http.post(
            router.make_url("/v1/files?model=gpt-4o-litellm"),
            data=io.BytesIO(data),
            headers={
                "Authorization": f"Bearer {MASTER}",
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                "Content-Encoding": "gzip",
            },
        ) as resp:
            assert resp.status == 415
    await asyncio.sleep(0.2)  # aiohttp reads what is left of the body after the answer
    assert tracebacks(caplog) == []


@pytest.fixture
async def demo(aiohttp_server: ServerFactory) -> TestServer:
    return await aiohttp_server(demo_app(phase_seconds=0.0))


@pytest.mark.parametrize("model", MODELS)
async def test_refused_batch_file_logs_no_traceback(
    demo: TestServer, caplog: pytest.LogCaptureFixture, model: str
) -> None:
    """A batch file refused at upload (its last line broken) after the router had started
    sending it upstream: the upstream sees its request cut, and says so in one line at most."""
    caplog.set_level(logging.DEBUG)
    data = jsonl(chat_rows(30_000)) + b'{"custom_id": "bad", "body": {"messages": "nope"}}\n'
    async with AsyncOpenAI(
        api_key=DEMO_KEY, base_url=str(demo.make_url("/v1")), max_retries=0
    ) as sdk:
        with pytest.raises(BadRequestError) as err:
            await sdk.files.create(
                file=("bad.jsonl", io.BytesIO(data)),
                purpose="batch",
                extra_body={"model": model},
            )
        assert "Line 30001" in str(err.value)
    await asyncio.sleep(0.2)
    assert tracebacks(caplog) == []
