"""ISO 8601 timestamps (as Azure, GCS and Vertex AI write them) as unix seconds."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["unix_seconds"]


def unix_seconds(value: object) -> int | None:
    """``2024-05-01T12:00:00.123Z`` as unix seconds; None for anything that is not one.

    A time without a zone is UTC (as the services mean it), never the host's local time.
    """
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())
