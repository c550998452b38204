"""``--demo``: the router plus built-in fake upstream accounts in one process, no keys needed.

Each fake in ``fake.FLAVOURS`` that can run here (an extra it needs installed) serves the
accounts its flavour describes on a loopback port of its own; accounts that need a
``file_store`` share one ``file://`` temporary directory, removed at cleanup. Two teams share
every account: each key sees only its team's files and batches; the demo key is the admin
and sees both. This module names no provider: the fakes' flavours do.
"""

from __future__ import annotations

import shlex
import shutil
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from .app import create_app
from .config import parse_config
from .fake import FLAVOURS, DemoAccounts, DemoPlace

__all__ = ["DEMO_KEY", "DEMO_TEAM_KEYS", "MODELS", "demo_app", "demo_snippet"]

DEMO_KEY = "sk-demo-1234"
# Team keys (files_router.keys[].team): two teams on the same accounts, kept apart.
DEMO_TEAM_KEYS = {"sk-demo-team-a": "team-a", "sk-demo-team-b": "team-b"}
# A demo's IDs are for the demo only: a fixed secret, so a restarted demo reads them again.
DEMO_ID_SECRET = "demo-id-secret-not-for-production"
_FLAVOURS = tuple(f for f in FLAVOURS if f.in_demo())
# The models the banner's chat snippet runs on.
MODELS = tuple(m for f in _FLAVOURS for m in f.demo_models)


def _socket() -> tuple[socket.socket, str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


def _accounts(phase_seconds: float, store: Path) -> list[tuple[DemoAccounts, socket.socket]]:
    served = []
    for flavour in _FLAVOURS:
        assert flavour.demo is not None  # in_demo() said so
        sock, base = _socket()
        served.append((flavour.demo(DemoPlace(base, phase_seconds, store)), sock))
    return served


def demo_app(phase_seconds: float = 1.0) -> web.Application:
    """A router app whose accounts are fakes served on loopback ports."""
    store = tempfile.mkdtemp(prefix="files-router-demo-")
    served = _accounts(phase_seconds, Path(store))
    model_list: list[dict[str, Any]] = [e for accounts, _ in served for e in accounts.model_list]
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
            for accounts, sock in served:
                runner = web.AppRunner(accounts.fake.app(), access_log=None)
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
    described = ", ".join(f.demo_described for f in _FLAVOURS)
    left_out = "".join(f" ({f.name}: needs {f.needs})" for f in FLAVOURS if not f.in_demo())
    hints = "".join(f"{h.replace('{python}', python)}\n" for f in _FLAVOURS for h in f.demo_hints)
    return f'''\
Demo router with fake accounts: {", ".join(MODELS)}
({described}){left_out}. Proxy key: {DEMO_KEY} (admin).
Two teams share every account, each seeing only its own files and batches:
{", ".join(f"{key} ({team})" for key, team in DEMO_TEAM_KEYS.items())}.
Try it from another shell, with MODEL set to any of those models; first:
{python} -m pip install -q openai

{python} - <<'PY'
import io, json
from openai import OpenAI
MODEL = "{MODELS[0]}"
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

The whole batch flow: {python} examples/seed_example.py --model MODEL
An embeddings batch: {python} examples/seed_example.py --endpoint /v1/embeddings
A moderations batch: {python} examples/seed_example.py --endpoint /v1/moderations
{hints}'''
