"""The standalone server: ``aiohttp-files-router --config config.yaml`` or ``--demo``."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import ipaddress
import logging
import os
import sys
from collections.abc import Callable, Sequence

from . import __version__
from .accesslog import JsonFormatter
from .app import create_app
from .config import ConfigError, load_config
from .context import RequestIdFilter
from .serve import CannotListen, serve

__all__ = ["main"]

TEXT_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(upstream_request_id)s]: %(message)s"
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aiohttp-files-router",
        description="OpenAI-compatible /v1/files and /v1/batches in front of many accounts.",
    )
    p.add_argument("--config", help="a LiteLLM-shaped config.yaml")
    p.add_argument(
        "--demo",
        action="store_true",
        help="run with built-in fake upstream accounts (no config, no keys)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=4000, help="port to listen on (default 4000)")
    p.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="serve a non-loopback --host with no proxy key configured",
    )
    p.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    p.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text lines, or one JSON object per line (default text)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port with SO_REUSEPORT (default 1)",
    )
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    # A worker's pipe to its supervisor: it writes one byte there once it listens.
    p.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    # A worker's supervisor: the worker stops when that process is gone.
    p.add_argument("--supervisor-pid", type=int, help=argparse.SUPPRESS)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _logging(args.log_level.upper(), args.log_format)
    if args.demo == bool(args.config):
        _parser().error("give exactly one of --config FILE or --demo")
    if args.workers < 1:
        _parser().error("--workers must be at least 1")
    if args.demo and args.workers > 1:
        # Each worker would hold its own in-memory fake accounts: an ID one issued would be
        # unknown to the others.
        _parser().error("--demo runs one process; drop --workers")
    if args.demo:
        from .demo import demo_app, demo_snippet

        app = demo_app()
        if not args.worker:
            shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
            print(demo_snippet(f"http://{shown}:{args.port}"), flush=True)
    else:
        try:
            config = load_config(args.config)
        except ConfigError as err:
            print(f"aiohttp-files-router: {err}", file=sys.stderr)
            return 2
        keyed = bool(config.general_settings.master_key or config.files_router.keys)
        if not keyed and not _is_loopback(args.host) and not args.allow_unauthenticated:
            print(
                f"aiohttp-files-router: refusing to serve {args.host} with no proxy key: set "
                "general_settings.master_key, or pass --allow-unauthenticated if an open "
                "router is intended.",
                file=sys.stderr,
            )
            return 2
        app = create_app(config, route_prefixes=("", "/v1"))
    if args.workers > 1:
        from .keys import STATE_KEY
        from .supervisor import supervise

        argv_list = list(sys.argv[1:] if argv is None else argv)
        timeout = app[STATE_KEY].config.files_router.shutdown_timeout
        return supervise(_without_workers(argv_list), args.workers, timeout)
    ready_fd: int | None = args.ready_fd

    def ready() -> None:
        if ready_fd is not None:
            os.write(ready_fd, b"r")
            os.close(ready_fd)

    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(
                serve(
                    app,
                    host=args.host,
                    port=args.port,
                    reuse_port=args.worker,
                    log_format=args.log_format,
                    # One write with its newline: the workers share one stdout, and an
                    # unbuffered print() writes the end separately, splicing their lines.
                    print=lambda s: print(s + "\n", end="", flush=True),
                    ready=ready,
                    parent=args.supervisor_pid,
                )
            )
    except CannotListen as err:
        print(f"aiohttp-files-router: {err}", file=sys.stderr)
        return 1
    return 0


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (the optional ``speedups`` extra), else
    asyncio's: it cuts the router's CPU per request by several percent."""
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def _without_workers(argv: list[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--workers":
            skip = True
        elif not arg.startswith("--workers="):
            out.append(arg)
    return out


def _logging(level: str, log_format: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    logging.basicConfig(level=level, handlers=[handler])


if __name__ == "__main__":
    sys.exit(main())
