"""The Azure OpenAI flavour of the fake: Azure's paths, auth, quirks and batch rules.

- dated paths ``/openai/files?api-version=...`` (required) and v1 paths ``/openai/v1/files``;
- ``api-key`` header, or a bearer token from its own Entra ID token endpoint
  (``POST /{tenant}/oauth2/v2.0/token``, client credentials);
- answers as Azure gives them: a new file is ``pending``, batch statuses are ``InProgress``,
  batch timestamps are ISO strings, absent output/error files are ``""``, errors are
  ``{"error": {"code", "message"}}``;
- the dated API reads ``expires_after.seconds`` (dotted) and wants 14 to 30 days;
- batch rows must name a deployment of the resource in ``body.model``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .batches import error_entry
from .openai import Answer, FakeOpenAI, Kind, mask
from .store import FakeAccount

__all__ = ["FakeAzure"]

DATED_VERSIONS = ("2024-10-21", "2025-03-01-preview", "2025-04-01-preview")
_TIMES = (
    "created_at",
    "expires_at",
    "in_progress_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
)
_STATUS = {
    "validating": "Validating",
    "in_progress": "InProgress",
    "finalizing": "Finalizing",
    "completed": "Completed",
    "failed": "Failed",
    "cancelling": "Cancelling",
    "cancelled": "Cancelled",
    "expired": "Expired",
}


def _iso(value: int) -> str:
    return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeAzure(FakeOpenAI):
    """An Azure OpenAI resource: ``keys`` maps api-keys to accounts, ``clients`` maps
    (tenant, client_id, client_secret) to accounts for Entra ID tokens."""

    expiry_range = (1209600, 2592000)

    def __init__(
        self,
        keys: Mapping[str, str],
        *,
        deployments: Iterable[str],
        clients: Mapping[tuple[str, str, str], str] | None = None,
        token_seconds: int = 3600,
        **kwargs: Any,
    ):
        super().__init__(keys, prefix="/openai", **kwargs)
        self.deployments = set(deployments)
        self.clients = dict(clients or {})
        for name in self.clients.values():
            self.accounts.setdefault(name, FakeAccount(name, self.root / name))
        self.token_seconds = token_seconds
        self.tokens: dict[str, str] = {}
        self.token_requests = 0

    def routes(self, p: str) -> list[web.RouteDef]:
        return [
            *super().routes(p),
            *super().routes(f"{p}/v1"),
            web.post("/{tenant}/oauth2/v2.0/token", self.issue_token),
        ]

    def public(self, request: web.Request) -> bool:
        return request.path.endswith("/oauth2/v2.0/token")

    def _v1(self, request: web.Request) -> bool:
        return request.path.startswith("/openai/v1/")

    def credential(self, request: web.Request) -> tuple[str | None, str | None]:
        key = request.headers.get("api-key")
        if key is not None:
            return key, self.keys.get(key)
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else None
        return token, self.tokens.get(token) if token else None

    def refuse(self, request: web.Request, key: str | None, account: str | None) -> None:
        version = request.query.get("api-version")
        if self._v1(request):
            if version not in (None, "preview"):
                raise Answer(
                    self.error(
                        400,
                        f"api-version '{version}' is not valid for the v1 API.",
                        code="BadRequest",
                    )
                )
        elif version is None:
            raise Answer(self.error(404, "Resource not found", code="404"))
        elif version not in DATED_VERSIONS:
            raise Answer(self.error(400, "Unsupported api-version.", code="BadRequest"))
        if key is None:
            raise Answer(
                self.error(401, "Access denied due to missing subscription key.", code="401")
            )
        if account is None:
            raise Answer(
                self.error(
                    401, f"Access denied due to invalid subscription key {mask(key)}.", code="401"
                )
            )

    def error(
        self, status: int, message: str, param: str | None = None, code: str | None = None
    ) -> web.Response:
        return web.json_response(
            {"error": {"code": code or str(status), "message": message}}, status=status
        )

    def expiry_field(self, request: web.Request) -> str:
        return "expires_after[seconds]" if self._v1(request) else "expires_after.seconds"

    def answer(self, obj: dict[str, Any], kind: Kind) -> web.Response:
        if kind == "file_created":
            obj = obj | {"status": "pending"}
        elif kind == "batch":
            obj = self._batch_quirks(obj)
        elif kind == "batch_list":
            obj = obj | {"data": [self._batch_quirks(b) for b in obj["data"]]}
        return web.json_response(obj)

    @staticmethod
    def _batch_quirks(obj: dict[str, Any]) -> dict[str, Any]:
        out = dict(obj)
        out["status"] = _STATUS.get(obj["status"], obj["status"])
        for name in _TIMES:
            if isinstance(obj.get(name), int):
                out[name] = _iso(obj[name])
        for name in ("output_file_id", "error_file_id"):
            out.setdefault(name, "")
        return out

    def check_rows(self, rows: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
        errors = []
        for number, row in rows:
            model = row.get("body", {}).get("model")
            if model not in self.deployments:
                errors.append(
                    error_entry(
                        "model_not_found",
                        f"The provided model deployment '{model}' does not exist in this resource.",
                        number,
                        "body.model",
                    )
                )
        return errors

    async def issue_token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = await request.post()
        creds = (
            request.match_info["tenant"],
            str(form.get("client_id")),
            str(form.get("client_secret")),
        )
        account = self.clients.get(creds)
        if form.get("grant_type") != "client_credentials" or account is None:
            return web.json_response(
                {"error": "invalid_client", "error_description": "Invalid client secret provided."},
                status=401,
            )
        token = "fake-entra-" + secrets.token_hex(16)
        self.tokens[token] = account
        return web.json_response(
            {"token_type": "Bearer", "expires_in": self.token_seconds, "access_token": token}
        )
