"""The standalone server's log lines: JSON with --log-format json, request IDs on each."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from aiohttp_files_router.__main__ import TEXT_FORMAT
from aiohttp_files_router.accesslog import TextFormatter
from aiohttp_files_router.fake import FakeOpenAI

from .common import free_port
from .conftest import MASTER, base_config
from .production import SCRIPT, running, write_config


async def test_json_log_lines_carry_both_request_ids(
    tmp_path: Path, upstream: TestServer, fake: FakeOpenAI
) -> None:
    config = write_config(tmp_path / "config.yaml", base_config(upstream))
    port = free_port()
    args = (str(SCRIPT), "--config", str(config), "--port", str(port), "--log-format", "json")
    async with running(*args) as served:
        async with aiohttp.ClientSession() as http:
            async with http.get(
                f"http://127.0.0.1:{port}/v1/files?model=gpt-4o-litellm",
                headers={"Authorization": f"Bearer {MASTER}", "X-Request-Id": "json-1"},
            ) as resp:
                assert resp.status == 200
        await served.wait_for_line('"request_id":"json-1"')
        assert await served.stop() == 0
    lines = [json.loads(line) for line in served.lines if not line.startswith("========")]
    (access,) = [line for line in lines if line["logger"] == "aiohttp_files_router.access"]
    assert access["request_id"] == "json-1"
    assert access["upstream_request_id"] == fake.requests[-1].response_request_id
    assert access["route"] == "/v1/files" and access["status"] == 200
    assert access["model"] == "gpt-4o-litellm" and access["upstream_status"] == "200"
    assert fake.requests[-1].client_request_id == "json-1"


def test_text_formatter_writes_what_logging_formatter_writes() -> None:
    # The time text is reused within a second: across second boundaries, with and without
    # a datefmt, the lines are exactly the standard formatter's.
    for fmt, datefmt in ((TEXT_FORMAT, None), ("%(asctime)s %(message)s", "%H:%M:%S")):
        ours, standard = TextFormatter(fmt, datefmt), logging.Formatter(fmt, datefmt)
        for created in (1_700_000_000.001, 1_700_000_000.999, 1_700_000_001.0, 1_700_000_000.5):
            record = logging.makeLogRecord(
                {"msg": "m", "created": created, "msecs": (created % 1) * 1000}
            )
            record.request_id = record.upstream_request_id = "r"
            assert ours.format(record) == standard.format(record)
            assert ours.formatTime(record) == standard.formatTime(record)
