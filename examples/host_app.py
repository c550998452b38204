"""A host application that mounts the router with its own auth and uses our IDs in its routes.

The host knows its users (here a small table of session tokens; in real life its own sessions
or key database). ``authenticate`` tells the router who calls; the router then enforces the
user's models and team on /v1/files and /v1/batches. The host's own ``/summarise/{file_id}``
route takes one of the router's file IDs and asks ``resolve`` where it lives, with the same
checks: another team's file is simply not found.

python examples/host_app.py examples/config.yaml   (the config needs files_router.id_secret)
curl -H 'Authorization: Bearer session-alice' localhost:4000/v1/files?model=gpt-4o-litellm
"""

from __future__ import annotations

import sys

from aiohttp import web

import aiohttp_files_router
from aiohttp_files_router import Identity, RouterConfig

# The host's own users: session token -> who it is.
SESSIONS = {
    "session-alice": Identity(team="research", models={"gpt-4o-litellm"}),
    "session-bob": Identity(team="support", models=None),
    "session-ops": Identity(admin=True),
}
ROUTER: web.AppKey[web.Application] = web.AppKey("files_router", web.Application)


def user_of(request: web.Request) -> Identity:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    user = SESSIONS.get(token) if scheme.lower() == "bearer" else None
    if user is None:
        raise web.HTTPUnauthorized(reason="Sign in to the host first.")
    return user


async def summarise(request: web.Request) -> web.Response:
    """A route of the host's that accepts the router's file IDs."""
    user = user_of(request)
    try:
        found = await aiohttp_files_router.resolve(
            request.app[ROUTER], request.match_info["file_id"], user
        )
    except LookupError:
        return web.json_response({"error": "no such file"}, status=404)
    # Here the host would call the provider with found.litellm_params and found.provider_id.
    return web.json_response(
        {
            "deployment": found.deployment,
            "model_name": found.model_name,
            "provider_file_id": found.provider_id,
        }
    )


def build(config: RouterConfig) -> web.Application:
    app = web.Application()
    app[ROUTER] = aiohttp_files_router.setup(app, config, prefix="/v1", authenticate=user_of)
    app.router.add_get("/summarise/{file_id}", summarise)
    return app


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "examples/config.yaml"
    web.run_app(build(aiohttp_files_router.load_config(path)), port=4000)
