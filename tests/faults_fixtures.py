"""The fault tests' side: one OpenAI account's config and client, the objects its upstream
answers, and a raw HTTP/1.1 upstream that writes each response's bytes as they are."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

from .conftest import KEY_A, MASTER

MODEL = {"model": "gpt-4o-litellm"}
FILE = {"id": "file-abc", "object": "file", "bytes": 3, "created_at": 1, "filename": "a.jsonl"}
FILE["purpose"], FILE["status"] = "batch", "processed"
BATCH = {
    "id": "batch_abc",
    "object": "batch",
    "endpoint": "/v1/chat/completions",
    "input_file_id": "file-abc",
    "completion_window": "24h",
    "status": "validating",
    "created_at": 1,
}


def openai_config(api_base: str, **params: Any) -> dict[str, Any]:
    """One OpenAI account at ``api_base``, with extra litellm_params."""
    litellm = {"model": "openai/gpt-4o", "api_key": KEY_A, "api_base": api_base, **params}
    return {
        "model_list": [{"model_name": "gpt-4o-litellm", "litellm_params": litellm}],
        "general_settings": {"master_key": MASTER},
    }


def openai_sdk(router: TestServer, max_retries: int = 0) -> AsyncOpenAI:
    return AsyncOpenAI(
        api_key=MASTER, base_url=str(router.make_url("/v1")), max_retries=max_retries
    )


CANCELLING = {**BATCH, "status": "cancelling"}


class Seen:
    """One request as it arrived."""

    def __init__(self, line: str, headers: dict[str, str], body: bytes, connection: int):
        self.method, self.target, _ = line.split(" ", 2)
        self.headers, self.body, self.connection = headers, body, connection


Answer = Callable[[Seen], Awaitable[bytes]]


def reply(obj: Any, *, extra: bytes = b"") -> bytes:
    body = json.dumps(obj).encode()
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + extra
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


async def objects(seen: Seen) -> bytes:
    return reply(CANCELLING if "/batches" in seen.target else FILE)


class RawUpstream:
    """HTTP/1.1 over asyncio streams; ``answer`` writes each response's bytes as they are."""

    def __init__(self, answer: Answer = objects, tls: ssl.SSLContext | None = None):
        self.answer = answer
        self.tls = tls
        self.seen: list[Seen] = []
        self.connections = 0
        self.open_now = 0
        self.most_open = 0
        self.closed = asyncio.Event()
        self.server: asyncio.Server | None = None

    @property
    def base(self) -> str:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{host}:{port}/v1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                line, *fields = head[:-4].split("\r\n")
                headers = {k.lower(): v for k, v in (f.split(": ", 1) for f in fields)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                seen = Seen(line, headers, body, number)
                self.seen.append(seen)
                data = await self.answer(seen)
                writer.write(data)
                await writer.drain()
                head_out = data.rsplit(b"\r\n\r\n", 1)[0] if data.count(b"\r\n\r\n") else data
                if b"Content-Length:" not in head_out and b"chunked" not in head_out:
                    return  # a body without a length ends with the connection
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            self.open_now -= 1
            writer.close()
            self.closed.set()

    async def start(self, host: str = "127.0.0.1") -> RawUpstream:
        self.server = await asyncio.start_server(self._serve, host, 0, ssl=self.tls)
        return self

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


TIMEOUT = aiohttp.ClientTimeout(total=None, connect=5, sock_read=5)
