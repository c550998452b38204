"""The two views of a batch's result file.

Vertex (a job's ``predictions.jsonl``), Gemini (a batch's responses file) and Bedrock (a job's
``<input>.jsonl.out``) write one file holding both the rows that succeeded and the rows that
failed; OpenAI gives a batch two files. The batch's ``output_file_id`` and ``error_file_id``
are that one file's ID with ``#succeeded`` or ``#failed`` appended, and each serves only its
rows.
"""

from __future__ import annotations

__all__ = ["FAILED", "SUCCEEDED", "left_out", "result_file_ids", "split_view"]

SUCCEEDED = "succeeded"
FAILED = "failed"


def split_view(file_id: str, result_suffix: str = "") -> tuple[str, str | None]:
    """A file ID as (the stored file's ID, the view or None). Only the IDs of result files,
    those ending with ``result_suffix``, have views; any other ``#...`` is the ID's own."""
    base, sep, view = file_id.rpartition("#")
    if sep and view in (SUCCEEDED, FAILED) and base.endswith(result_suffix):
        return base, view
    return file_id, None


def result_file_ids(result_id: str, succeeded: int, failed: int) -> dict[str, str]:
    """A batch's ``output_file_id`` and ``error_file_id``: each only where the counts say
    its view holds rows."""
    ids = {}
    if succeeded:
        ids["output_file_id"] = f"{result_id}#{SUCCEEDED}"
    if failed:
        ids["error_file_id"] = f"{result_id}#{FAILED}"
    return ids


def left_out(view: str | None, failed: bool) -> bool:
    """Whether a row (failed or not) is outside ``view`` (None: the whole file)."""
    return view == (SUCCEEDED if failed else FAILED)
