"""Teams' side of tests: two teams, a key without one and an admin on the conftest account."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer

from .conftest import base_config

SECRET = "team-test-secret"
ALPHA_1 = "sk-alpha-one"
ALPHA_2 = "sk-alpha-two"
BETA = "sk-beta"
LONE = "sk-lone"
ADMIN = "sk-admin"


def team_config(upstream: TestServer, **extra: Any) -> dict[str, Any]:
    return base_config(
        upstream,
        id_secret=SECRET,
        keys=[
            {"key": ALPHA_1, "team": "alpha"},
            {"key": ALPHA_2, "team": "alpha", "models": ["gpt-4o-litellm"]},
            {"key": BETA, "team": "beta"},
            {"key": LONE},
            {"key": ADMIN, "admin": True},
        ],
        **extra,
    )
