"""Every app key the router uses (typed web.AppKey objects, never strings)."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from .state import RouterState

__all__ = ["STATE_KEY"]

STATE_KEY: Final = web.AppKey("aiohttp_files_router.state", RouterState)
