"""``--demo``: the router plus built-in fake upstream accounts in one process, no keys needed."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

from aiohttp import web

from .app import create_app
from .config import parse_config
from .fake import FakeOpenAI

__all__ = ["DEMO_KEY", "demo_app", "demo_snippet"]

DEMO_KEY = "sk-demo-1234"
ACCOUNTS = {"gpt-4o-litellm": "sk-fake-account-a", "gpt-4o-mini-litellm": "sk-fake-account-b"}


def demo_app(phase_seconds: float = 1.0) -> web.Application:
    """A router app whose accounts are fake OpenAI accounts served on a loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    fake = FakeOpenAI({key: name for name, key in ACCOUNTS.items()}, phase_seconds=phase_seconds)
    config = parse_config(
        {
            "model_list": [
                {
                    "model_name": name,
                    "litellm_params": {
                        "model": f"openai/{name.removesuffix('-litellm')}",
                        "api_key": key,
                        "api_base": f"http://127.0.0.1:{port}/v1",
                    },
                }
                for name, key in ACCOUNTS.items()
            ],
            "general_settings": {"master_key": DEMO_KEY},
        },
        "<demo>",
    )
    app = create_app(config, route_prefixes=("", "/v1"))

    async def run_fake(_: web.Application) -> AsyncIterator[None]:
        runner = web.AppRunner(fake.app(), access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        try:
            yield
        finally:
            await runner.cleanup()

    app.cleanup_ctx.insert(0, run_fake)
    return app


def demo_snippet(base_url: str) -> str:
    return f'''\
Demo router with two fake OpenAI accounts: {", ".join(ACCOUNTS)}.
Try it from another shell (pip install openai):

python - <<'PY'
import io, json
from openai import OpenAI
client = OpenAI(api_key="{DEMO_KEY}", base_url="{base_url}/v1")
rows = [{{"custom_id": f"r{{i}}", "method": "POST", "url": "/v1/chat/completions",
         "body": {{"model": "gpt-4o", "messages": [{{"role": "user", "content": f"hi {{i}}"}}]}}}}
        for i in range(3)]
data = "\\n".join(json.dumps(r) for r in rows).encode()
f = client.files.create(file=("batch.jsonl", io.BytesIO(data)), purpose="batch",
                        extra_body={{"model": "gpt-4o-litellm"}})
print("file:", f.id)
print("retrieve:", client.files.retrieve(f.id).filename)
print("list:", [x.id for x in client.files.list(extra_query={{"model": "gpt-4o-litellm"}})])
print("content:", client.files.content(f.id).text[:60], "...")
print("delete:", client.files.delete(f.id).deleted)
PY
'''
