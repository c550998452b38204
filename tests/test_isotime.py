"""One ISO 8601 parser for every provider's timestamps."""

from __future__ import annotations

import pytest

from aiohttp_files_router.providers.isotime import unix_seconds


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T12:00:00Z", 1714564800),
        ("2024-05-01T12:00:00.123456789Z"[:26] + "Z", 1714564800),
        ("2024-05-01T14:00:00+02:00", 1714564800),
        ("2024-05-01T12:00:00", 1714564800),  # no zone: UTC, never the host's local time
        ("yesterday", None),
        ("", None),
        (1714564800, None),
        (None, None),
    ],
)
def test_unix_seconds(value: object, expected: int | None) -> None:
    assert unix_seconds(value) == expected
