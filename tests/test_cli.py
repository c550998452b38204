"""The standalone server as a user starts it: a subprocess, a config file, real requests."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp.test_utils import TestServer

from aiohttp_files_router.fake import FakeOpenAI

from .common import free_port
from .conftest import KEY_A, MASTER, base_config
from .production import SCRIPT, serving


async def test_cli_serves_a_config_file(
    tmp_path: Path, upstream: TestServer, fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.yaml"
    data = base_config(upstream)
    data["model_list"][0]["litellm_params"]["api_key"] = "os.environ/CLI_TEST_KEY"
    config.write_text(yaml.safe_dump(data))
    port = free_port()
    monkeypatch.setenv("CLI_TEST_KEY", KEY_A)
    async with serving(str(SCRIPT), "--config", str(config), "--port", str(port)):
        async with aiohttp.ClientSession() as http:
            for path in ("/v1/files", "/files"):
                async with http.get(
                    f"http://127.0.0.1:{port}{path}?model=gpt-4o-litellm",
                    headers={"Authorization": f"Bearer {MASTER}"},
                ) as resp:
                    assert resp.status == 200, await resp.text()
                    assert (await resp.json())["object"] == "list"
    assert [r.key for r in fake.requests] == [KEY_A, KEY_A]


async def test_python_m_and_demo_snippet_runs(tmp_path: Path) -> None:
    """The banner's snippet runs to the end on every model the banner offers."""
    port = free_port()
    async with serving(
        sys.executable, "-m", "aiohttp_files_router", "--demo", "--port", str(port)
    ) as (_, lines):
        text = "".join(lines)
        match = re.search(r"\n(\S+) - <<'PY'\n(.*?)\nPY\n", text, re.S)
        assert match and match.group(1) == sys.executable, text
        models = re.search(r"fake accounts: (.*)\n", text)
        assert models and 'MODEL = "gpt-4o-litellm"' in match.group(2)
        offered = models.group(1).split(", ")
        assert "gpt-4o-mini-litellm" in offered and "gemini-api" in offered
        for model in offered:
            script = tmp_path / f"{model}.py"
            script.write_text(
                match.group(2).replace('MODEL = "gpt-4o-litellm"', f"MODEL = {model!r}")
            )
            run = await asyncio.create_subprocess_exec(
                sys.executable,
                str(script),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            out = (await asyncio.wait_for(run.communicate(), 60))[0].decode()
            assert run.returncode == 0, (model, out)
            assert "delete: True" in out and "file: file-" in out, (model, out)
            # The rows the snippet uploaded come back as they were sent; from Azure, as
            # Azure holds them (its deployment in body.model, docs/providers/azure.md).
            sent = '{"custom_id": "r0", "method": "POST", "url": "/v1/chat'
            held = '{"custom_id":"r0","method":"POST","url":"/v1/chat/'
            assert f"content: {held if model == 'gpt-4o-azure' else sent}" in out, (model, out)


async def test_refuses_open_non_loopback_bind_and_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("model_list: []\n")
    proc = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        "--config",
        str(config),
        "--host",
        "0.0.0.0",
        "--port",
        str(free_port()),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2 and b"--allow-unauthenticated" in err

    config.write_text(
        "model_list:\n  - model_name: x\n    litellm_params: {model: a, api_kye: b}\n"
    )
    proc = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert b"$.model_list[0].litellm_params.api_kye" in err and b"Traceback" not in err
