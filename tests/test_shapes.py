"""The OpenAI objects adapters build from their provider's answers (providers/shapes.py)."""

from __future__ import annotations

import json

from aiohttp_files_router.providers.shapes import error_row, output_row

# OpenAI's batch output line (platform.openai.com/docs/api-reference/batch/request-output):
# id, custom_id, response (null when the request got none), error (null when it got one).
_LINE_KEYS = ["id", "custom_id", "response", "error"]


def test_an_answered_row_is_openai_s_output_line() -> None:
    body = {"error": {"message": "slow down"}}
    row = json.loads(output_row("batch_req_1", "row-1", 429, "req_1", body))
    assert list(row) == _LINE_KEYS
    assert row["response"] == {"status_code": 429, "request_id": "req_1", "body": body}
    assert row["error"] is None


def test_a_row_that_got_no_answer_has_a_null_response_and_an_error() -> None:
    row = json.loads(error_row("batch_req_2", "row-2", "batch_expired", "too late"))
    assert list(row) == _LINE_KEYS
    assert row == {
        "id": "batch_req_2",
        "custom_id": "row-2",
        "response": None,
        "error": {"code": "batch_expired", "message": "too late"},
    }
