"""Azure's answers in OpenAI's shape: the normaliser alone, on the shapes Azure sends."""

from __future__ import annotations

import json
from typing import Any

from aiohttp_files_router.config import parse_config
from aiohttp_files_router.providers.azure import normalise_azure

from .spec import check


def normalised(obj: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(normalise_azure(json.dumps(obj).encode()))
    return out


def azure_batch(**changes: Any) -> dict[str, Any]:
    """A batch as Azure's batch guide prints it while validating."""
    batch: dict[str, Any] = {
        "id": "batch_6caaf24d-54a5-46be-b1b7-518884fcbdde",
        "object": "batch",
        "endpoint": "/chat/completions",
        "errors": None,
        "input_file_id": "file-655111ec9cfc44489d9af078f08116ef",
        "completion_window": "24h",
        "status": "validating",
        "output_file_id": None,
        "error_file_id": None,
        "created_at": 1743391067,
        "in_progress_at": None,
        "expires_at": 1743477467,
        "finalizing_at": None,
        "completed_at": None,
        "failed_at": None,
        "expired_at": None,
        "cancelling_at": None,
        "cancelled_at": None,
        "request_counts": {"completed": 0, "failed": 0, "total": 0},
        "metadata": None,
    }
    batch.update(changes)
    return batch


def test_validating_batch_counts_and_endpoint() -> None:
    out = normalised(
        azure_batch(
            request_counts={"completed": None, "failed": None, "total": None},
            output_file_id="",
            error_file_id="",
        )
    )
    assert out["request_counts"] == {"completed": 0, "failed": 0, "total": 0}
    assert out["endpoint"] == "/v1/chat/completions"
    assert out["output_file_id"] is None and out["error_file_id"] is None
    check("Batch", {k: v for k, v in out.items() if v is not None})


def test_empty_error_file_of_a_clean_batch_is_dropped() -> None:
    out = normalised(
        azure_batch(
            status="Completed",
            completed_at="2025-03-31T03:30:00Z",
            output_file_id="file-out",
            error_file_id="file-err",
            request_counts={"completed": 3, "failed": 0, "total": 3},
        )
    )
    assert out["status"] == "completed" and out["completed_at"] == 1743391800
    assert out["output_file_id"] == "file-out" and out["error_file_id"] is None


def test_error_file_with_failed_or_unrun_rows_is_kept() -> None:
    failed = normalised(
        azure_batch(
            status="Completed",
            output_file_id="file-out",
            error_file_id="file-err",
            request_counts={"completed": 2, "failed": 1, "total": 3},
        )
    )
    assert failed["error_file_id"] == "file-err"
    expired = normalised(
        azure_batch(
            status="Expired",
            output_file_id="file-out",
            error_file_id="file-err",
            request_counts={"completed": 1, "failed": 0, "total": 3},
        )
    )
    assert expired["status"] == "expired" and expired["error_file_id"] == "file-err"


def test_token_limit_failure_keeps_its_code_and_other_bytes() -> None:
    errors = {
        "object": "list",
        "data": [
            {
                "code": "token_limit_exceeded",
                "message": "The number of enqueued tokens has surpassed the configured limit.",
                "param": None,
                "line": None,
            }
        ],
    }
    out = normalised(
        azure_batch(
            status="Failed",
            failed_at="2025-03-31T03:30:00Z",
            errors=errors,
            output_file_id="file-empty-out",
            error_file_id="file-empty-err",
            request_counts={"completed": 0, "failed": 0, "total": 3},
        )
    )
    assert out["status"] == "failed" and out["errors"] == errors
    assert out["endpoint"] == "/v1/chat/completions"
    assert out["output_file_id"] is None and out["error_file_id"] is None


def test_files_of_a_running_batch_are_left_alone() -> None:
    out = normalised(
        azure_batch(
            status="InProgress",
            output_file_id="file-out",
            error_file_id="file-err",
            request_counts={"completed": 0, "failed": 0, "total": 3},
        )
    )
    assert out["output_file_id"] == "file-out" and out["error_file_id"] == "file-err"


def test_listing_items_and_other_endpoints() -> None:
    listing = {
        "object": "list",
        "data": [
            azure_batch(endpoint="/embeddings", request_counts=None),
            azure_batch(endpoint="/v1/responses"),
            azure_batch(endpoint=None),
        ],
        "first_id": "a",
        "last_id": "b",
        "has_more": False,
    }
    out = normalised(listing)
    assert [b["endpoint"] for b in out["data"]] == ["/v1/embeddings", "/v1/responses", None]
    assert out["data"][0]["request_counts"] is None


def test_file_ready_timeout_setting() -> None:
    assert parse_config({}).files_router.file_ready_timeout == 120
    config = parse_config({"files_router": {"file_ready_timeout": 0.5}})
    assert config.files_router.file_ready_timeout == 0.5
