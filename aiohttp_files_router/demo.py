"""``--demo``: the router plus built-in fake upstream accounts in one process, no keys needed.

Two OpenAI accounts, one Azure OpenAI deployment, one Vertex AI model, one Gemini Developer
API model, one Mistral model, one Anthropic model (its file store a ``file://`` temporary
directory, removed at cleanup) and (with the ``bedrock`` extra installed) one Amazon Bedrock
model, each served by the package's fakes on loopback ports of their own. Two teams share
every account: each key sees only its team's files and batches; the demo key is the admin
and sees both.
"""

from __future__ import annotations

import json
import shlex
import shutil
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .app import create_app
from .config import parse_config
from .fake import (
    AwsCredential,
    FakeAnthropic,
    FakeAzure,
    FakeBedrock,
    FakeGemini,
    FakeMistral,
    FakeOpenAI,
    FakeVertex,
)
from .providers.s3 import botocore_missing

__all__ = ["DEMO_KEY", "DEMO_TEAM_KEYS", "demo_app", "demo_snippet"]

DEMO_KEY = "sk-demo-1234"
# Team keys (files_router.keys[].team): two teams on the same accounts, kept apart.
DEMO_TEAM_KEYS = {"sk-demo-team-a": "team-a", "sk-demo-team-b": "team-b"}
# A demo's IDs are for the demo only: a fixed secret, so a restarted demo reads them again.
DEMO_ID_SECRET = "demo-id-secret-not-for-production"
OPENAI_ACCOUNTS = {
    "gpt-4o-litellm": "sk-fake-account-a",
    "gpt-4o-mini-litellm": "sk-fake-account-b",
}
AZURE_KEY = "fake-azure-key"
AZURE_DEPLOYMENT = "demo-batch-deployment"
VERTEX_EMAIL = "demo@fake-project.iam.gserviceaccount.com"
GEMINI_KEY = "fake-gemini-api-key"
MISTRAL_KEY = "fake-mistral-demo-key"
MISTRAL_MODEL = "mistral-batch"
ANTHROPIC_KEY = "sk-ant-fake-demo-key"
ANTHROPIC_MODEL = "claude-batch"
BEDROCK_KEY_ID, BEDROCK_SECRET = "AKIADEMOFAKEBEDROCK1", "demo-fake-bedrock-secret"
BEDROCK_ACCOUNT = "123456789012"
BEDROCK_MODEL = "claude-bedrock-batch"
BEDROCK_EMBED_MODEL = "titan-embed"
# Bedrock runs a job only with at least 100 records; the demo's fake takes the seed's three.
BEDROCK_DEMO_MIN_RECORDS = 1
HAS_BEDROCK = not botocore_missing()
# The models the banner's chat snippet runs on (titan-embed takes embeddings batches only).
MODELS = (
    *OPENAI_ACCOUNTS,
    "gpt-4o-azure",
    "gemini-batch",
    "gemini-api",
    MISTRAL_MODEL,
    ANTHROPIC_MODEL,
    *((BEDROCK_MODEL,) if HAS_BEDROCK else ()),
)


def _socket() -> tuple[socket.socket, str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


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
        "client_email": VERTEX_EMAIL,
        "token_uri": token_uri,
    }
    return json.dumps(info), public.decode()


def demo_app(phase_seconds: float = 1.0) -> web.Application:
    """A router app whose accounts are fakes served on loopback ports."""
    openai_sock, openai_base = _socket()
    azure_sock, azure_base = _socket()
    vertex_sock, vertex_base = _socket()
    gemini_sock, gemini_base = _socket()
    anthropic_sock, anthropic_base = _socket()
    mistral_sock, mistral_base = _socket()
    # The Gemini API serves no uploaded file back: the router keeps them here for it.
    store = tempfile.mkdtemp(prefix="files-router-demo-")
    credentials, public_key = _service_account(f"{vertex_base}/token")
    fakes: list[tuple[Any, socket.socket]] = [
        (
            FakeOpenAI(
                {key: name for name, key in OPENAI_ACCOUNTS.items()}, phase_seconds=phase_seconds
            ),
            openai_sock,
        ),
        (
            FakeAzure(
                {AZURE_KEY: "azure"}, deployments=[AZURE_DEPLOYMENT], phase_seconds=phase_seconds
            ),
            azure_sock,
        ),
        (
            FakeVertex(
                {VERTEX_EMAIL: public_key}, buckets=["demo-bucket"], phase_seconds=phase_seconds
            ),
            vertex_sock,
        ),
        (FakeGemini({GEMINI_KEY: "demo-project"}, phase_seconds=phase_seconds), gemini_sock),
        (FakeAnthropic({ANTHROPIC_KEY: "demo"}, phase_seconds=phase_seconds), anthropic_sock),
        (FakeMistral({MISTRAL_KEY: "demo"}, phase_seconds=phase_seconds), mistral_sock),
    ]
    model_list: list[dict[str, Any]] = [
        {
            "model_name": name,
            "litellm_params": {
                "model": f"openai/{name.removesuffix('-litellm')}",
                "api_key": key,
                "api_base": f"{openai_base}/v1",
            },
        }
        for name, key in OPENAI_ACCOUNTS.items()
    ]
    model_list.append(
        {
            "model_name": "gpt-4o-azure",
            "litellm_params": {
                "model": f"azure/{AZURE_DEPLOYMENT}",
                "api_key": AZURE_KEY,
                "api_base": azure_base,
                "api_version": "2024-10-21",
                # Azure needs a training type for a fine-tuning job: sent unless given.
                "fine_tuning_training_type": "GlobalStandard",
            },
        }
    )
    model_list.append(
        {
            "model_name": "gemini-batch",
            "litellm_params": {
                "model": "vertex_ai/gemini-2.5-flash",
                "vertex_project": "fake-project",
                "vertex_location": "us-central1",
                "vertex_credentials": credentials,
                "gcs_bucket_name": "demo-bucket/router",
                "api_base": vertex_base,
                "gcs_api_base": vertex_base,
            },
        }
    )
    model_list.append(
        {
            "model_name": "gemini-api",
            "litellm_params": {
                "model": "gemini/gemini-2.5-flash",
                "api_key": GEMINI_KEY,
                "api_base": gemini_base,
                "file_store": f"file://{store}",
            },
        }
    )
    model_list.append(
        {
            "model_name": MISTRAL_MODEL,
            "litellm_params": {
                "model": "mistral/mistral-small-latest",
                "api_key": MISTRAL_KEY,
                "api_base": f"{mistral_base}/v1",
                "file_store": f"file://{store}",
            },
        }
    )
    model_list.append(
        {
            "model_name": ANTHROPIC_MODEL,
            "litellm_params": {
                "model": "anthropic/claude-sonnet-4-5",
                "api_key": ANTHROPIC_KEY,
                "api_base": anthropic_base,
                # One host: a local directory (several hosts need s3:// or gs://).
                "file_store": f"file://{store}",
            },
        }
    )
    if HAS_BEDROCK:
        bedrock_sock, bedrock_base = _socket()
        fakes.append(
            (
                FakeBedrock(
                    {BEDROCK_KEY_ID: AwsCredential(BEDROCK_SECRET, BEDROCK_ACCOUNT)},
                    ["demo-bucket"],
                    phase_seconds=phase_seconds,
                    min_records=BEDROCK_DEMO_MIN_RECORDS,
                ),
                bedrock_sock,
            )
        )
        model_list.append(
            {
                "model_name": BEDROCK_MODEL,
                "litellm_params": {
                    "model": "bedrock/us.anthropic.claude-3-5-sonnet-20240620-v1:0",
                    "aws_region_name": "us-west-2",
                    "aws_access_key_id": BEDROCK_KEY_ID,
                    "aws_secret_access_key": BEDROCK_SECRET,
                    "s3_bucket_name": "demo-bucket/router",
                    "aws_batch_role_arn": f"arn:aws:iam::{BEDROCK_ACCOUNT}:role/DemoBatch",
                    "api_base": bedrock_base,
                    "s3_endpoint_url": bedrock_base,
                    "batch_min_records": BEDROCK_DEMO_MIN_RECORDS,
                },
            }
        )
        model_list.append(
            {
                "model_name": BEDROCK_EMBED_MODEL,
                "litellm_params": {
                    **model_list[-1]["litellm_params"],
                    "model": "bedrock/amazon.titan-embed-text-v2:0",
                },
            }
        )
    config = parse_config(
        {
            "model_list": model_list,
            "general_settings": {"master_key": DEMO_KEY},
            "files_router": {
                "id_secret": DEMO_ID_SECRET,
                "keys": [{"key": key, "team": team} for key, team in DEMO_TEAM_KEYS.items()],
            },
        },
        "<demo>",
    )
    app = create_app(config, route_prefixes=("", "/v1"))

    async def run_fakes(_: web.Application) -> AsyncIterator[None]:
        runners = []
        try:
            for fake, sock in fakes:
                runner = web.AppRunner(fake.app(), access_log=None)
                await runner.setup()
                runners.append(runner)
                await web.SockSite(runner, sock).start()
            yield
        finally:
            for runner in runners:
                await runner.cleanup()
            shutil.rmtree(store, ignore_errors=True)

    app.cleanup_ctx.insert(0, run_fakes)
    return app


def demo_snippet(base_url: str) -> str:
    python = shlex.quote(sys.executable)
    return f'''\
Demo router with fake accounts: {", ".join(MODELS)}
(two OpenAI accounts, an Azure OpenAI deployment, a Vertex AI model, a Gemini API model, a
Mistral model, an Anthropic model, an Amazon Bedrock model when the bedrock extra is installed).
Amazon Bedrock model when the bedrock extra is installed). Proxy key: {DEMO_KEY} (admin).
Two teams share every account, each seeing only its own files and batches:
{", ".join(f"{key} ({team})" for key, team in DEMO_TEAM_KEYS.items())}.
Try it from another shell, with MODEL set to any of those models; first:
{python} -m pip install -q openai

{python} - <<'PY'
import io, json
from openai import OpenAI
MODEL = "gpt-4o-litellm"
client = OpenAI(api_key="{DEMO_KEY}", base_url="{base_url}/v1")
rows = [{{"custom_id": f"r{{i}}", "method": "POST", "url": "/v1/chat/completions",
         "body": {{"model": "gpt-4o", "messages": [{{"role": "user", "content": f"hi {{i}}"}}]}}}}
        for i in range(3)]
data = "\\n".join(json.dumps(r) for r in rows).encode()
f = client.files.create(file=("batch.jsonl", io.BytesIO(data)), purpose="batch",
                        extra_body={{"model": MODEL}})
print("file:", f.id, f.bytes, "bytes")
print("retrieve:", client.files.retrieve(f.id).filename)
print("list:", [x.id for x in client.files.list(extra_query={{"model": MODEL}})])
print("content:", client.files.content(f.id).text[:60], "...")
print("delete:", client.files.delete(f.id).deleted)
PY

The whole batch flow: {python} examples/seed_example.py --model gemini-batch
An embeddings batch: {python} examples/seed_example.py --endpoint /v1/embeddings
  (or --model titan-embed, Bedrock's Titan Text Embeddings V2, with the bedrock extra)
A moderations batch: {python} examples/seed_example.py --endpoint /v1/moderations
A fine-tuning job: {python} examples/fine_tuning_example.py --model gpt-4o-azure
'''
