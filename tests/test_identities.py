"""Identities from JWTs and from a host's own ``authenticate``; ``resolve`` for host routes.

Refused tokens: expired, not yet valid, another audience or issuer, an unknown key, ``alg:
none``, HS256 signed with the public key. Each is a 401 saying why without the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from openai import AuthenticationError, NotFoundError

import aiohttp_files_router
from aiohttp_files_router import Identity, parse_config, resolve
from aiohttp_files_router.fake import FakeOpenAI

from .conftest import MASTER, ONE_ROW, RouterFactory, ServerFactory, base_config, client, error_of

ISSUER = "https://idp.example"
AUDIENCE = "files-router"
SECRET = "identities-secret"
MODEL = {"model": "gpt-4o-litellm"}


class Idp:
    """An identity provider on loopback: its JWKS, and tokens signed with its keys."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.fetches = 0
        self.jwks_kid = "k1"

    def jwks(self) -> dict[str, Any]:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.jwks_kid, "use": "sig", "alg": "RS256"}]}

    async def serve(self, request: web.Request) -> web.Response:
        self.fetches += 1
        return web.json_response(self.jwks())

    def token(self, key: Any = None, kid: str = "k1", **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "exp": now + 300,
            "team": "alpha",
            "models": ["gpt-4o-litellm", "gpt-4o-other"],
            **claims,
        }
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": kid})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def idp() -> Idp:
    return Idp()


@pytest.fixture
async def jwt_router(
    idp: Idp, aiohttp_server: ServerFactory, start_router: RouterFactory, upstream: TestServer
) -> TestServer:
    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", idp.serve)
    issuer = await aiohttp_server(app)
    config = base_config(
        upstream,
        id_secret=SECRET,
        jwt={
            "jwks_url": str(issuer.make_url("/.well-known/jwks.json")),
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "models_claim": "models",
            "admin_claim": "admin",
        },
    )
    return await start_router(config)


async def test_a_token_names_the_team_and_teams_are_kept_apart(
    jwt_router: TestServer, idp: Idp
) -> None:
    async with (
        client(jwt_router, idp.token()) as alpha,
        client(jwt_router, idp.token(team="beta")) as beta,
        client(jwt_router, idp.token(team=None, admin=True)) as admin,
        client(jwt_router, MASTER) as master,
    ):
        file = await alpha.files.create(
            file=("a.jsonl", io.BytesIO(ONE_ROW)), purpose="batch", extra_body=MODEL
        )
        assert (await alpha.files.retrieve(file.id)).filename == "a.jsonl"
        with pytest.raises(NotFoundError):
            await beta.files.retrieve(file.id)
        assert (await admin.files.retrieve(file.id)).id == file.id
        assert (await master.files.retrieve(file.id)).id == file.id
    assert idp.fetches == 1  # cached


async def test_models_claim_bounds_the_models(jwt_router: TestServer, idp: Idp) -> None:
    async with client(jwt_router, idp.token(models=["gpt-4o-other"])) as scoped:
        with pytest.raises(aiohttp_files_router_permission()):
            await scoped.files.list(extra_query=MODEL)
        assert (await scoped.files.list(extra_query={"model": "gpt-4o-other"})).data == []


def aiohttp_files_router_permission() -> type[Exception]:
    from openai import PermissionDeniedError

    return PermissionDeniedError


def _refused(idp: Idp) -> list[tuple[str, str]]:
    now = int(time.time())
    public_pem = idp.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "team": "alpha"}
    head_hs = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    body = _b64(json.dumps(claims).encode())
    signed = f"{head_hs}.{body}".encode()
    hs256 = f"{head_hs}.{body}.{_b64(hmac.new(public_pem, signed, hashlib.sha256).digest())}"
    head_none = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return [
        (idp.token(exp=now - 10), "expired"),
        (idp.token(nbf=now + 600), "not valid yet"),
        (idp.token(aud="another-service"), "another audience"),
        (idp.token(iss="https://evil.example"), "another issuer"),
        (idp.token(key=idp.other, kid="k2"), "unknown key"),
        (idp.token(key=idp.other), "signature"),
        (f"{head_none}.{body}.", "algorithm"),
        (hs256, "algorithm"),
        (idp.token(team=None), "'team' claim"),
        ("not.a.jwt", "well-formed"),
    ]


async def test_refused_tokens_are_401_saying_why_without_the_token(
    jwt_router: TestServer, idp: Idp, fake: FakeOpenAI
) -> None:
    for token, why in _refused(idp):
        async with client(jwt_router, token) as sdk:
            with pytest.raises(AuthenticationError) as info:
                await sdk.files.list(extra_query=MODEL)
        err = error_of(info.value.response.json())
        assert why in err["message"], (why, err)
        assert token not in info.value.response.text
    assert fake.requests == []
    # The first token fetched the JWKS; the unknown kid came within the minute: no refetch.
    assert idp.fetches == 1


async def test_no_token_is_no_access_with_jwt_and_no_keys(jwt_router: TestServer) -> None:
    async with client(jwt_router, "sk-not-a-key") as sdk:
        with pytest.raises(AuthenticationError):
            await sdk.files.list(extra_query=MODEL)


# -- the host's own authenticate, and resolve() -------------------------------------------


def host_app(
    upstream: TestServer, authenticate: Callable[[web.Request], Any]
) -> tuple[web.Application, web.Application]:
    app = web.Application()
    config = parse_config(base_config(upstream, id_secret=SECRET))
    sub = aiohttp_files_router.setup(app, config, authenticate=authenticate)
    return app, sub


def by_header(request: web.Request) -> Identity:
    who = request.headers.get("x-user", "")
    if who == "raise":
        raise RuntimeError("the session store said: password=hunter2")
    if who == "forbidden":
        raise web.HTTPForbidden(reason="Suspended account.")
    if who in ("alpha", "beta"):
        return Identity(team=who, models=None)
    if who == "root":
        return Identity(admin=True)
    raise web.HTTPUnauthorized(reason="Sign in first.")


async def test_authenticate_gives_the_identity_and_its_errors_are_openai_shaped(
    aiohttp_client: Callable[..., Any], upstream: TestServer
) -> None:
    app, _ = host_app(upstream, by_header)
    http: TestClient[web.Request, web.Application] = await aiohttp_client(app)
    form = {"purpose": "batch", "model": "gpt-4o-litellm"}

    async def upload(who: str) -> Any:
        data = {**form, "file": io.BytesIO(ONE_ROW)}
        resp = await http.post("/v1/files", data=data, headers={"x-user": who})
        return resp.status, await resp.json()

    status, created = await upload("alpha")
    assert status == 200
    resp = await http.get(f"/v1/files/{created['id']}", headers={"x-user": "beta"})
    assert resp.status == 404
    resp = await http.get(f"/v1/files/{created['id']}", headers={"x-user": "alpha"})
    assert resp.status == 200
    for who, status_expected, text in (
        ("nobody", 401, "Sign in first."),
        ("forbidden", 403, "Suspended account."),
        ("raise", 500, "The router failed unexpectedly"),
    ):
        resp = await http.get("/v1/files?model=gpt-4o-litellm", headers={"x-user": who})
        assert resp.status == status_expected
        body = await resp.text()
        assert text in error_of(json.loads(body))["message"]
        assert "hunter2" not in body


async def test_async_authenticate_and_resolve_in_a_host_route(
    aiohttp_client: Callable[..., Any], upstream: TestServer
) -> None:
    async def authenticate(request: web.Request) -> Identity:
        return by_header(request)

    app, sub = host_app(upstream, authenticate)

    async def use(request: web.Request) -> web.Response:
        try:
            found = await resolve(sub, request.match_info["id"], by_header(request))
        except LookupError:
            return web.json_response({"found": False}, status=404)
        return web.json_response(
            {
                "deployment": found.deployment,
                "model_name": found.model_name,
                "provider_id": found.provider_id,
                "model": found.litellm_params.model,
            }
        )

    app.router.add_get("/mine/{id}", use)
    http: TestClient[web.Request, web.Application] = await aiohttp_client(app)
    data = {"purpose": "batch", "model": "gpt-4o-litellm", "file": io.BytesIO(ONE_ROW)}
    resp = await http.post("/v1/files", data=data, headers={"x-user": "alpha"})
    created = await resp.json()
    resp = await http.get(f"/mine/{created['id']}", headers={"x-user": "alpha"})
    found = await resp.json()
    assert found["deployment"] == "gpt-4o-litellm" and found["model"] == "openai/gpt-4o"
    assert found["provider_id"].startswith("file-") and found["provider_id"] != created["id"]
    for who, value in (
        ("beta", created["id"]),
        ("alpha", found["provider_id"]),  # a raw ID
        ("alpha", created["id"][:-2] + "AA"),  # forged
        ("alpha", "nonsense"),
    ):
        resp = await http.get(f"/mine/{value}", headers={"x-user": who})
        assert resp.status == 404
    resp = await http.get(f"/mine/{created['id']}", headers={"x-user": "root"})
    assert resp.status == 200


async def test_a_rotated_key_is_fetched_when_a_token_names_it(
    jwt_router: TestServer, idp: Idp
) -> None:
    from aiohttp_files_router import STATE_KEY

    async with client(jwt_router, idp.token()) as sdk:
        await sdk.files.list(extra_query=MODEL)
    verifier = jwt_router.app[STATE_KEY].jwt
    assert verifier is not None
    verifier.refetch_seconds = 0.0  # the minute has passed
    idp.key = idp.other  # the issuer rotates: the JWKS now holds the new key, as k1 still
    async with client(jwt_router, idp.token(key=idp.other, kid="k1")) as sdk:
        with pytest.raises(AuthenticationError):  # a cached k1 does not verify it
            await sdk.files.list(extra_query=MODEL)
    assert idp.fetches == 1  # a known kid never refetches
    rotated = idp.token(key=idp.other, kid="k1-rotated")
    idp.jwks_kid = "k1-rotated"
    async with client(jwt_router, rotated) as sdk:
        assert (await sdk.files.list(extra_query=MODEL)).data == []
    assert idp.fetches == 2


@pytest.mark.parametrize(
    ("jwt_settings", "keys", "field"),
    [
        ({"algorithms": ["HS256"]}, [], "jwt.algorithms"),
        ({"algorithms": ["none"]}, [], "jwt.algorithms"),
        ({}, [{"key": "sk-x", "team": ""}], "keys[0].team"),
    ],
)
def test_settings_that_would_weaken_teams_are_refused(
    upstream: TestServer, jwt_settings: dict[str, Any], keys: list[dict[str, Any]], field: str
) -> None:
    from aiohttp_files_router import ConfigError

    settings: dict[str, Any] = {"id_secret": SECRET, "keys": keys}
    if jwt_settings:
        settings["jwt"] = {
            "jwks_url": "https://idp.example/jwks",
            "issuer": ISSUER,
            "audience": AUDIENCE,
            **jwt_settings,
        }
    with pytest.raises(ConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_config(base_config(upstream, **settings))
    no_secret = {k: v for k, v in settings.items() if k != "id_secret"}
    if jwt_settings and "HS256" in str(jwt_settings):
        return
    with pytest.raises(ConfigError):
        parse_config(base_config(upstream, **no_secret))


async def test_an_identity_without_a_team_is_403_under_private_ownership(
    aiohttp_client: Callable[..., Any], upstream: TestServer
) -> None:
    app, _ = host_app(upstream, lambda request: Identity(models=None))
    http: TestClient[web.Request, web.Application] = await aiohttp_client(app)
    resp = await http.get("/v1/files?model=gpt-4o-litellm")
    assert resp.status == 403
    assert error_of(await resp.json())["code"] == "no_team"
