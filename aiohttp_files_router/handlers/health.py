"""Health for load balancers and /metrics for Prometheus; no proxy key needed for health."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..errors import Unauthorized
from ..jsoncodec import ENCODER as _json
from ..metrics import exposition
from .common import router_state

__all__ = ["PUBLIC_HANDLERS", "routes"]


def _answer(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=_json.encode(body), content_type="application/json")


async def liveliness(request: web.Request) -> web.Response:
    return _answer(200, {"status": "ok"})


async def readiness(request: web.Request) -> web.Response:
    state = router_state(request)
    accounts = state.registry.accounts + list(state.registry.legacy.values())
    usable = any(a.provider is not None for a in accounts)
    body: dict[str, Any]
    if state.draining:
        status, body = 503, {"status": "draining"}
    elif usable:
        status, body = 200, {"status": "ready"}
    else:
        status, body = 503, {"status": "no usable account"}
    if state.keyring.is_master(request):
        # Names and states only: an account's problem names a variable or a setting, and
        # the config's secrets never reach it.
        body["accounts"] = [
            {
                "model": a.name,
                "route": a.route,
                "provider": a.provider_kind,
                "legacy": a.legacy,
                "state": "usable" if a.provider is not None else "unusable",
                "reason": a.problem,
            }
            for a in dict.fromkeys(accounts)
        ]
    return _answer(status, body)


async def metrics(request: web.Request) -> web.Response:
    state = router_state(request)
    if not state.config.files_router.metrics_public and not state.keyring.is_master(request):
        raise Unauthorized("/metrics needs the master key (or files_router.metrics_public).")
    body, content_type = exposition()
    resp = web.Response(body=body)
    resp.headers["Content-Type"] = content_type
    return resp


PUBLIC_HANDLERS = frozenset({liveliness, readiness, metrics})


def routes(prefix: str) -> list[web.RouteDef]:
    return [
        web.get(f"{prefix}/health/liveliness", liveliness),
        web.get(f"{prefix}/health/readiness", readiness),
        web.get(f"{prefix}/metrics", metrics),
    ]
