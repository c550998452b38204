"""The examples run as a user runs them: against the --demo server, as subprocesses."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

from aiohttp.test_utils import TestServer

from aiohttp_files_router import load_config
from aiohttp_files_router.demo import DEMO_KEY

from .common import free_port
from .production import serving

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


async def test_seed_example_runs_against_the_demo_on_every_provider() -> None:
    port = free_port()
    async with serving(sys.executable, "-m", "aiohttp_files_router", "--demo", "--port", str(port)):
        for model in (
            "gpt-4o-litellm",
            "gpt-4o-azure",
            "gemini-batch",
            "gemini-api",
            "mistral-batch",
            "claude-batch",
            "claude-bedrock-batch",
        ):
            run = await asyncio.create_subprocess_exec(
                sys.executable,
                str(EXAMPLES / "seed_example.py"),
                "--base-url",
                f"http://127.0.0.1:{port}/v1",
                "--model",
                model,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            out = (await asyncio.wait_for(run.communicate(), 120))[0].decode()
            assert run.returncode == 0, out
            # Bedrock's fake answers "Fake answer ..." (Claude's shape), Anthropic's "mock claude
            # reply ...", the others "mock ...".
            answer = "Fake answer" if "bedrock" in model else "mock"
            assert "status completed" in out and f"request-2 -> {answer}" in out, out
            assert re.search(r"cancel batch_\S+ (cancelling|cancelled)", out), out
            assert "deleted input: True" in out
        # One embeddings batch (OpenAI and Bedrock's Titan) and one moderations batch.
        for model, endpoint, answer in (
            ("gpt-4o-litellm", "/v1/embeddings", "embedding of 8 floats"),
            ("titan-embed", "/v1/embeddings", "embedding of 1024 floats"),
            ("gpt-4o-litellm", "/v1/moderations", "flagged=False"),
        ):
            run = await asyncio.create_subprocess_exec(
                sys.executable,
                str(EXAMPLES / "seed_example.py"),
                "--base-url",
                f"http://127.0.0.1:{port}/v1",
                "--model",
                model,
                "--endpoint",
                endpoint,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            out = (await asyncio.wait_for(run.communicate(), 120))[0].decode()
            assert run.returncode == 0, out
            assert "status completed" in out and f"request-2 -> {answer}" in out, out


def test_example_config_loads(upstream: TestServer) -> None:
    config = load_config(
        EXAMPLES / "config.yaml",
        env={
            "OPENAI_LITELLM_API_KEY": "sk-a",
            "OPENAI_TEAM_B_API_KEY": "sk-b",
            "LITELLM_MASTER_KEY": "sk-m",
            "FILES_ROUTER_ID_SECRET": "s",
        },
    )
    assert [m.model_name for m in config.model_list] == ["gpt-4o-litellm", "gpt-4o-team-b"]


async def test_fine_tuning_example_runs_against_the_demo() -> None:
    port = free_port()
    async with serving(sys.executable, "-m", "aiohttp_files_router", "--demo", "--port", str(port)):
        for model, (base, key) in FINE_TUNING_MODELS.items():
            run = await asyncio.create_subprocess_exec(
                sys.executable,
                str(EXAMPLES / "fine_tuning_example.py"),
                "--base-url",
                f"http://127.0.0.1:{port}/v1",
                "--model",
                model,
                "--base-model",
                base,
                "--api-key",
                key,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            out = (await asyncio.wait_for(run.communicate(), 120))[0].decode()
            assert run.returncode == 0, out
            assert "status succeeded" in out and "fine_tuned_model " in out, out
            assert re.search(r"cancel ftjob-\S+ cancelled", out), out


# The demo's deployments whose fakes run fine-tuning jobs, a base model each tunes, and the
# demo key that runs it: the admin, and each team (its jobs owned, listed as its own).
FINE_TUNING_MODELS = {
    "gpt-4o-litellm": ("gpt-4o-mini-2024-07-18", DEMO_KEY),
    "gpt-4o-azure": ("gpt-4o-mini-2024-07-18", "sk-demo-team-a"),
    "gemini-batch": ("gemini-2.5-flash", "sk-demo-team-b"),
}
