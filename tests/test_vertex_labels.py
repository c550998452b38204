"""The custom_id label codec (LiteLLM's format) and the Vertex row transforms around it."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiohttp_files_router.errors import BadRequest
from aiohttp_files_router.providers.jsonl import map_lines
from aiohttp_files_router.providers.vertex_labels import (
    custom_id_from_labels,
    custom_id_labels,
    label_problem,
)
from aiohttp_files_router.providers.vertex_rows import (
    FAILED,
    SUCCEEDED,
    openai_to_vertex_line,
    vertex_to_openai_line,
)

# What Vertex accepts in a label value (ASCII subset our own labels must stay within).
SAFE = re.compile(r"[a-z0-9_-]{0,63}")


def test_litellm_examples() -> None:
    # LiteLLM's tests: "request-1" keeps its lossy label as is; the raw label is not the id
    # and is itself label-safe.
    labels = custom_id_labels("request-1")
    assert labels["litellm_custom_id"] == "request-1"
    assert labels["litellm_custom_id_raw"] == "b32_ojsxc5lfon2c2mi"  # base32 of "request-1"
    assert set(labels) == {"litellm_custom_id", "litellm_custom_id_raw"}
    # Two long ids sharing a prefix longer than one piece both come back whole and distinct.
    a = "shared-prefix-that-is-longer-than-thirty-six-bytes-A"
    b = "shared-prefix-that-is-longer-than-thirty-six-bytes-B"
    la, lb = custom_id_labels(a), custom_id_labels(b)
    assert "litellm_custom_id_raw_1" in la and la != lb
    assert custom_id_labels("REQ-1")["litellm_custom_id"] == "req-1"  # lossy: collides
    # LiteLLM writes an empty custom_id as one empty piece; it reads back empty.
    assert custom_id_labels("") == {"litellm_custom_id": "", "litellm_custom_id_raw": "b32_"}
    assert custom_id_from_labels(custom_id_labels("")) == ""
    assert (custom_id_from_labels(la), custom_id_from_labels(lb)) == (a, b)


def test_lossy_label_rules() -> None:
    assert custom_id_labels("Ns:Item/7 é")["litellm_custom_id"] == "ns_item_7__"
    assert custom_id_labels("A" * 80)["litellm_custom_id"] == "a" * 63


@given(st.text(min_size=1, max_size=400))
def test_round_trip(custom_id: str) -> None:
    try:
        custom_id.encode()
    except UnicodeEncodeError:
        return  # lone surrogates cannot be in a JSON batch row
    labels = custom_id_labels(custom_id)
    assert custom_id_from_labels(labels) == custom_id
    assert all(SAFE.fullmatch(v) for v in labels.values())
    assert label_problem({k: v for k, v in labels.items() if k != "litellm_custom_id"}) is not None
    # Pieces: index order, no gaps, each at most 63 characters with its b32_ prefix.
    raw = [k for k in labels if k.startswith("litellm_custom_id_raw")]
    assert raw == ["litellm_custom_id_raw"] + [
        f"litellm_custom_id_raw_{i}" for i in range(1, len(raw))
    ]
    joined = "".join(labels[k][4:] for k in raw).upper()
    assert base64.b32decode(joined + "=" * (-len(joined) % 8)).decode() == custom_id
    # The row's own labels beside them, in any order, do not disturb the reading.
    mixed = {"team": "x", **dict(reversed(list(labels.items()))), "zz": "y"}
    assert custom_id_from_labels(mixed) == custom_id


def test_reading_prefers_raw_then_lossy() -> None:
    assert custom_id_from_labels({"litellm_custom_id": "only_lossy"}) == "only_lossy"
    assert custom_id_from_labels({"litellm_custom_id_raw": "not-b32", "litellm_custom_id": "l"})
    assert custom_id_from_labels({"litellm_custom_id_raw": "b32_1"}) is None  # "1" not base32
    assert custom_id_from_labels({}) is None and custom_id_from_labels(None) is None


def _row(custom_id: str, **body: object) -> bytes:
    messages = [{"role": "user", "content": "hi"}]
    row = {
        "custom_id": custom_id,
        "url": "/v1/chat/completions",
        "body": {"messages": messages, **body},
    }
    return json.dumps(row).encode()


def test_upload_row_is_request_only_with_labels() -> None:
    plain = json.loads(openai_to_vertex_line(1, _row("r", labels=None)))
    assert plain["request"]["labels"] == custom_id_labels("r")
    out = json.loads(openai_to_vertex_line(1, _row("Id/1", labels={"team": "ünïcode-ok"})))
    assert list(out) == ["request"]
    labels = out["request"]["labels"]
    assert labels["team"] == "ünïcode-ok" and custom_id_from_labels(labels) == "Id/1"


@pytest.mark.parametrize(
    ("labels", "words"),
    [
        ({"1team": "x"}, "label rules"),
        ({"": "x"}, "label rules"),
        ({"team": "a b"}, "label rules"),
        ({"t" * 64: "x"}, "label rules"),
        ({"team": "x" * 64}, "label rules"),
        ({"team": 3}, "must be a string"),
        ({"litellm_custom_id_raw_9": "x"}, "reserved"),
        ({"litellm_custom_idx": "x"}, "reserved"),
    ],
)
def test_bad_own_labels(labels: object, words: str) -> None:
    with pytest.raises(BadRequest) as info:
        openai_to_vertex_line(7, _row("x", labels=labels))
    assert "Line 7 " in info.value.message and words in info.value.message


def _prediction(labels: dict[str, str] | None, failed: bool) -> bytes:
    request: dict[str, object] = {"contents": [{"role": "user", "parts": [{"text": "q"}]}]}
    if labels is not None:
        request["labels"] = labels
    if failed:
        return json.dumps({"status": "Bad Request: nope", "request": request}).encode()
    response = {"candidates": [{"content": {"parts": [{"text": "a"}]}}]}
    return json.dumps({"status": "", "request": request, "response": response}).encode()


async def test_views_and_line_numbers() -> None:
    lines = [
        _prediction(custom_id_labels("a"), failed=False),
        b"",
        _prediction(None, failed=True),
        _prediction(custom_id_labels("c"), failed=True),
        _prediction(None, failed=False),
    ]
    data = b"\n".join(lines)  # no final newline

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 7):  # lines split across chunks
            yield data[i : i + 7]

    async def run(view: str | None) -> tuple[list[str], list[int]]:
        missed: list[int] = []
        fn = vertex_to_openai_line("m", view, missed.append)
        out = b"".join([c async for c in map_lines(chunks(), fn)])
        return [json.loads(x)["custom_id"] for x in out.splitlines()], missed

    assert await run(None) == (["a", "line-3", "c", "line-5"], [3, 5])
    assert await run(SUCCEEDED) == (["a", "line-5"], [5])
    assert await run(FAILED) == (["line-3", "c"], [3])
