"""OpenAI objects that adapters of non-OpenAI providers build from their provider's answers."""

from __future__ import annotations

from typing import Any

__all__ = ["ENDED_AT", "batch_errors", "list_page"]

# The batch field that dates each final status.
ENDED_AT = {
    "completed": "completed_at",
    "failed": "failed_at",
    "cancelled": "cancelled_at",
    "expired": "expired_at",
}


def list_page(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """A list page as OpenAI answers it (``first_id``/``last_id`` null when empty)."""
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


def batch_errors(code: str, message: str) -> dict[str, Any]:
    """A batch's ``errors`` holding the one job-level error a provider reports."""
    return {
        "object": "list",
        "data": [{"code": code, "message": message, "param": None, "line": None}],
    }
