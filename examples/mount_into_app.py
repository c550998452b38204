"""Mount the router into an aiohttp application you already run.

.venv/bin/python examples/mount_into_app.py examples/config.yaml

It listens on 127.0.0.1:8080: this host only, as the standalone server does by default, and
not the demo's port 4000, so both can run at once.
"""

from __future__ import annotations

import sys

from aiohttp import web

import aiohttp_files_router


async def health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def build(config_path: str) -> web.Application:
    app = web.Application()
    app.router.add_get("/health", health)  # the host's own routes keep working
    aiohttp_files_router.setup(app, aiohttp_files_router.load_config(config_path), prefix="/v1")
    return app


if __name__ == "__main__":
    config = sys.argv[1] if len(sys.argv) > 1 else "examples/config.yaml"
    web.run_app(build(config), host="127.0.0.1", port=8080)
