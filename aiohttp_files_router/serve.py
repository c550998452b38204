"""Running the router as a server: one process with a graceful drain, or under gunicorn.

aiohttp's own shutdown (``web.run_app``) stops listening, then calls the application's
shutdown and cleanup around cancelling what is still running, so an upload in flight can
lose the rest of its body. Here a signal first turns readiness to 503, stops listening, and
waits for the requests inside the router to finish (up to ``files_router.shutdown_timeout``);
only then does aiohttp's cleanup run, with nothing left to cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .accesslog import ACCESS_LOGGER, AccessLogger
from .app import create_app
from .config import load_config
from .keys import STATE_KEY
from .observe import PARSER_LIMIT

__all__ = ["CONFIG_ENV", "CannotListen", "DrainingRunner", "app_factory", "serve"]

logger = logging.getLogger(__package__)

CONFIG_ENV = "FILES_ROUTER_CONFIG"
# gunicorn's access logger: it has a handler when gunicorn writes an access log
# (--access-logfile, --log-syslog, or a logging config that gives it one).
GUNICORN_ACCESS = "gunicorn.access"
GUNICORN_ERROR = "gunicorn.error"
# Larger reads per request: an upload reaches the multipart reader in fewer, bigger pieces
# (1 GiB uploads went from about 0.55 to about 0.67 of direct; 4 MiB gained nothing more).
READ_BUFSIZE = 1024 * 1024


class CannotListen(Exception):
    """The server could not open its listening socket (the port is taken, say)."""


class DrainingRunner(web.AppRunner):
    """An AppRunner for a router app whose cleanup drains first: readiness 503, stop
    listening, wait for the router's requests (up to ``files_router.shutdown_timeout``)."""

    def __init__(self, app: web.Application, *, log_format: str = "text", **kwargs: Any):
        kwargs.setdefault("shutdown_timeout", app[STATE_KEY].config.files_router.shutdown_timeout)
        kwargs.setdefault("access_log_class", AccessLogger)
        kwargs.setdefault("access_log", ACCESS_LOGGER)
        kwargs.setdefault("access_log_format", log_format)
        kwargs.setdefault("read_bufsize", READ_BUFSIZE)
        kwargs.setdefault("max_line_size", PARSER_LIMIT)
        kwargs.setdefault("max_field_size", PARSER_LIMIT)
        super().__init__(app, **kwargs)

    async def cleanup(self) -> None:
        state = self.app[STATE_KEY]
        timeout = state.config.files_router.shutdown_timeout
        state.draining = True
        for site in list(self.sites):
            await site.stop()
        await asyncio.sleep(0)  # let a connection accepted just now reach the router
        if state.in_flight:
            logger.info(
                "shutting down: waiting up to %gs for %d request(s)", timeout, state.in_flight
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.idle.wait(), timeout)
        if state.in_flight:
            logger.warning(
                "shutdown_timeout (%gs) reached: cutting %d request(s)", timeout, state.in_flight
            )
        await super().cleanup()


async def app_factory() -> web.AppRunner:
    """The router for gunicorn's aiohttp worker::

        FILES_ROUTER_CONFIG=config.yaml gunicorn aiohttp_files_router.serve:app_factory \\
            --worker-class aiohttp.GunicornWebWorker

    Returns a runner, so the worker serves with our access log, limits and drain. The
    worker then makes no runner of its own, so gunicorn's access log would stay empty:
    where gunicorn writes one, our access lines go into it instead; where it writes none,
    there are none. The router's other lines go to gunicorn's error log.
    """
    path = os.environ.get(CONFIG_ENV)
    if not path:
        raise RuntimeError(f"aiohttp_files_router: set {CONFIG_ENV} to the config file's path.")
    _log_to_gunicorn()
    app = create_app(load_config(path), route_prefixes=("", "/v1"))
    gunicorn_access = logging.getLogger(GUNICORN_ACCESS)
    access_log = gunicorn_access if gunicorn_access.handlers else None
    return DrainingRunner(app, handle_signals=False, access_log=access_log)


def _log_to_gunicorn() -> None:
    """The router's own lines (unusable accounts, upstream failures, the drain) through
    gunicorn's error log handlers, at its ``--log-level``: gunicorn configures only its own
    loggers, so without this they would reach no handler. A logging config that already
    gives our logger or the root logger a handler is left to route them."""
    ours = logging.getLogger(__package__)
    errors = logging.getLogger(GUNICORN_ERROR)
    if ours.handlers or logging.getLogger().handlers or not errors.handlers:
        return
    for handler in errors.handlers:
        ours.addHandler(handler)
    ours.setLevel(errors.level)


async def serve(
    app: web.Application,
    *,
    host: str,
    port: int,
    reuse_port: bool = False,
    log_format: str = "text",
    print: Callable[[str], None] = print,
    ready: Callable[[], None] | None = None,
    parent: int | None = None,
) -> None:
    """Serve ``app`` (a router from create_app) until SIGTERM or SIGINT, then drain.

    ``ready`` is called once the server listens; CannotListen if it cannot. With ``parent``
    (a supervisor's pid), the server also stops when that process is gone.
    """
    runner = DrainingRunner(app, handle_signals=False, log_format=log_format)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
        shown = f"[{host}]" if ":" in host else host
        try:
            await site.start()
        except OSError as err:
            # asyncio's message repeats the address; the errno's own text says it all.
            reason = os.strerror(err.errno) if err.errno else str(err)
            raise CannotListen(f"cannot listen on {shown}:{port}: {reason}") from None
        # The supervisor hears "ready" before the line is printed: whoever acts on the line
        # (an operator, a test killing the worker) finds the worker counted as booted.
        if ready is not None:
            ready()
        print(f"======== Running on http://{shown}:{port} (pid {os.getpid()}) ========")
        watch = None if parent is None else asyncio.create_task(_watch_parent(parent, stop))
        try:
            await stop.wait()
        finally:
            if watch is not None:
                watch.cancel()
    finally:
        try:
            await runner.cleanup()  # a second signal meanwhile changes nothing
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    """Sets ``stop`` once ``parent`` is no longer this process's parent: a worker whose
    supervisor was killed drains and exits instead of serving on unsupervised."""
    while True:
        await asyncio.sleep(1.0)
        if os.getppid() != parent:
            break
    logger.warning("the supervisor (pid %d) is gone: stopping", parent)
    stop.set()
