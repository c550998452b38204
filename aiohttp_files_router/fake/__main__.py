"""Run the fake upstream alone: ``python -m aiohttp_files_router.fake --key sk-a=a``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from . import FLAVOURS


def build(argv: Sequence[str] | None = None) -> tuple[Any, str, int]:
    """The fake the command line describes, and the host and port to serve it on."""
    p = argparse.ArgumentParser(prog="python -m aiohttp_files_router.fake")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4100)
    p.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="KEY=ACCOUNT",
        help="an API key and the account it opens (repeatable)",
    )
    p.add_argument("--storage", type=Path, help="where file contents go (default: a temp dir)")
    p.add_argument(
        "--phase-seconds", type=float, default=0.0, help="seconds a batch spends in each phase"
    )
    p.add_argument("--flavour", choices=[f.name for f in FLAVOURS], default=FLAVOURS[0].name)
    p.add_argument(
        "--bucket", action="append", default=[], help="a bucket, for fakes with object storage"
    )
    # Each fake's own options; their help starts with the flavour they belong to.
    for flavour in FLAVOURS:
        flavour.add_arguments(p)
    args = p.parse_args(argv)
    keys = dict(item.split("=", 1) for item in args.key) or {"sk-fake": "default"}
    flavour = next(f for f in FLAVOURS if f.name == args.flavour)
    return flavour.build(args, keys, p.error), args.host, args.port


def main(argv: Sequence[str] | None = None) -> int:
    fake, host, port = build(argv)
    web.run_app(
        fake.app(),
        host=host,
        port=port,
        access_log=None,
        print=lambda s: print(s, flush=True),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
