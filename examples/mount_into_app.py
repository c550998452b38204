"""Mount the router into an aiohttp application you already run.

python examples/mount_into_app.py examples/config.yaml
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
    web.run_app(build(sys.argv[1] if len(sys.argv) > 1 else "examples/config.yaml"), port=4000)
