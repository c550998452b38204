"""Every app key the router uses (typed web.AppKey objects, never strings)."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from .state import RouterState

__all__ = ["STATE_KEY", "state_of"]

STATE_KEY: Final = web.AppKey("aiohttp_files_router.state", RouterState)


def state_of(request: web.Request) -> RouterState:
    """``request.config_dict[STATE_KEY]`` without building a ChainMapProxy on each call.

    config_dict looks in the current app first, then outwards: so does this.
    """
    state = request.app.get(STATE_KEY)
    if state is None:
        return request.config_dict[STATE_KEY]
    return state
