"""Building the router application: standalone or mounted into an existing aiohttp app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence

import aiohttp
from aiohttp import web

from .config import ConfigError, RouterConfig
from .handlers import batches, files, fine_tuning, health
from .identities import Authenticate
from .keys import STATE_KEY
from .middleware import quiet_refused_bodies, router_middleware
from .state import RouterState
from .upstream import STREAM_BUFFER

__all__ = ["create_app", "setup"]

logger = logging.getLogger(__package__)


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE_KEY]
    settings = state.config.files_router
    # One session for the app's life. No shared cookies between callers, bytes untouched
    # (JSON answers are decoded per request, downloads only for a client that needs it:
    # upstream.py), no total timeout (gigabyte uploads) but connect and read timeouts.
    state.attach_http(
        aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            read_bufsize=STREAM_BUFFER,
            timeout=aiohttp.ClientTimeout(
                total=None, connect=settings.connect_timeout, sock_read=settings.read_timeout
            ),
        )
    )
    try:
        yield
    finally:
        await state.close()


async def _start_draining(app: web.Application) -> None:
    # The standalone server drains before this runs; under gunicorn or a host app this is
    # the first word of shutdown.
    app[STATE_KEY].draining = True


def create_app(
    config: RouterConfig,
    *,
    route_prefixes: Sequence[str] = ("",),
    authenticate: Authenticate | None = None,
) -> web.Application:
    """The router as an aiohttp application serving ``/files`` and ``/batches``.

    ``/health/liveliness``, ``/health/readiness`` and ``/metrics`` are served at its root.

    ``route_prefixes`` serves the routes under several prefixes at once; the standalone
    server uses ``("", "/v1")`` so both of the openai SDK's base_url styles work.
    ``authenticate``: see ``setup``.
    """
    if not isinstance(config, RouterConfig):
        raise TypeError("create_app() takes a RouterConfig: use load_config() or parse_config().")
    if authenticate is not None:
        if not callable(authenticate):
            raise TypeError("authenticate must be a callable taking the request")
        if config.files_router.ownership == "private" and not config.id_secrets:
            raise ConfigError(
                "aiohttp_files_router: authenticate= is given and $.files_router.ownership is "
                "private (the default), but $.files_router.id_secret is not set: owners travel "
                "in signed IDs; set id_secret, or ownership: shared"
            )
    app = web.Application(middlewares=[router_middleware])
    quiet_refused_bodies()
    app[STATE_KEY] = RouterState.from_config(config, authenticate)
    app.cleanup_ctx.append(_client_session)
    app.on_shutdown.append(_start_draining)
    app.add_routes(health.routes(""))
    for prefix in route_prefixes:
        app.add_routes(files.routes(prefix))
        app.add_routes(batches.routes(prefix))
        app.add_routes(fine_tuning.routes(prefix))
    return app


def setup(
    app: web.Application,
    config: RouterConfig,
    prefix: str = "/v1",
    *,
    authenticate: Authenticate | None = None,
) -> web.Application:
    """Mount the router into ``app`` under ``prefix``; returns the sub-application.

    ``authenticate(request)`` (sync or async) gives the caller's ``Identity`` from the host's
    own sessions or keys; the router then checks no key of its own, and enforces the
    identity's models and team. Raising ``web.HTTPUnauthorized`` or ``web.HTTPForbidden``
    answers that status in OpenAI's error shape; any other exception, a 500.
    """
    if not prefix.startswith("/") or prefix == "/":
        raise ValueError(
            f"aiohttp_files_router.setup(prefix={prefix!r}): the prefix must be a path such as "
            "'/v1'; to serve at the root, run create_app(config) as the application itself."
        )
    sub = create_app(config, authenticate=authenticate)
    if authenticate is None and not sub[STATE_KEY].keyring.enabled and sub[STATE_KEY].jwt is None:
        # The host may authenticate in its own middleware; say so once, at set-up.
        logger.warning(
            "aiohttp_files_router.setup(): no proxy key is configured (general_settings."
            "master_key or files_router.keys): every caller of %s reaches every account "
            "unless the host application authenticates them",
            prefix,
        )
    app.add_subapp(prefix.rstrip("/"), sub)
    return sub
