"""The shared walk of token-paged provider listings to an OpenAI ``after`` cursor, and the
two views of a batch's result file (providers/paging.py, providers/result_views.py)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from aiohttp_files_router.providers.paging import Listing, Page, list_after
from aiohttp_files_router.providers.result_views import (
    left_out,
    result_file_ids,
    split_view,
)
from aiohttp_files_router.upstream import UpstreamReply

# Three provider pages of three items: the cursor can fall on any page, or on a page edge.
PAGES = {None: (["a", "b", "c"], "t1"), "t1": (["d", "e", "f"], "t2"), "t2": (["g", "h"], None)}


def pages(
    fetched: list[str | None], fail_at: str | None = ""
) -> Callable[[str | None], Awaitable[Page[str]]]:
    async def fetch(token: str | None) -> Page[str]:
        fetched.append(token)
        if token == fail_at:
            return Page(UpstreamReply(503, b'{"error": {"message": "down"}}'))
        items, following = PAGES[token]
        return Page(UpstreamReply(200, b"", {"x-page": str(token)}), items, following)

    return fetch


async def walk(
    after: str | None,
    limit: int,
    fail_at: str | None = "",
    keep: Callable[[str], bool] | None = None,
) -> tuple[list[str], bool, list[str | None], int]:
    fetched: list[str | None] = []
    listing: Listing[str] = await list_after(
        pages(fetched, fail_at), after=after, limit=limit, id_of=str, keep=keep
    )
    return listing.data, listing.has_more, fetched, listing.reply.status


async def test_from_the_start_stops_at_the_page_past_the_limit() -> None:
    assert await walk(None, 2) == (["a", "b"], True, [None], 200)
    # A full page leaves has_more open: the next page is read to know.
    assert await walk(None, 3) == (["a", "b", "c"], True, [None, "t1"], 200)
    assert await walk(None, 4) == (["a", "b", "c", "d"], True, [None, "t1"], 200)
    assert await walk(None, 8) == (list("abcdefgh"), False, [None, "t1", "t2"], 200)


async def test_after_skips_up_to_and_including_the_cursor_across_pages() -> None:
    assert await walk("c", 2) == (["d", "e"], True, [None, "t1"], 200)
    assert await walk("e", 10) == (["f", "g", "h"], False, [None, "t1", "t2"], 200)
    assert await walk("h", 10) == ([], False, [None, "t1", "t2"], 200)
    # A cursor no page holds (another deployment's, or gone) lists nothing.
    assert await walk("zz", 10) == ([], False, [None, "t1", "t2"], 200)


async def test_keep_filters_only_past_the_cursor() -> None:
    vowels = set("aeiou")
    # The cursor "b" is no vowel, yet it is found; then only vowels are kept.
    data, more, _, _ = await walk("b", 10, keep=lambda x: x in vowels)
    assert (data, more) == (["e"], False)


async def test_a_failed_page_is_the_answer() -> None:
    data, more, fetched, status = await walk("c", 10, fail_at="t1")
    assert (data, more, fetched, status) == ([], False, [None, "t1"], 503)
    listing = await list_after(pages([], "t1"), after=None, limit=10, id_of=str)
    assert listing.answer([{"id": "x"}]).status == 503


async def test_answer_is_an_openai_list_page_with_the_last_pages_headers() -> None:
    listing = await list_after(pages([]), after="a", limit=3, id_of=str)
    reply = listing.answer([{"id": x} for x in listing.data])
    assert reply.status == 200 and reply.headers == {"x-page": "t1"}
    assert json.loads(reply.body) == {
        "object": "list",
        "data": [{"id": "b"}, {"id": "c"}, {"id": "d"}],
        "first_id": "b",
        "last_id": "d",
        "has_more": True,
    }


def test_result_views() -> None:
    out = "gs://b/files-router/x/batch-output/p/predictions.jsonl"
    assert result_file_ids(out, 2, 1) == {
        "output_file_id": out + "#succeeded",
        "error_file_id": out + "#failed",
    }
    assert result_file_ids(out, 0, 3) == {"error_file_id": out + "#failed"}
    assert result_file_ids(out, 0, 0) == {}
    assert split_view(out + "#failed", "/predictions.jsonl") == (out, "failed")
    # Only result files have views: any other "#..." stays part of the ID.
    assert split_view("gs://b/f.jsonl#failed", "/predictions.jsonl") == (
        "gs://b/f.jsonl#failed",
        None,
    )
    assert split_view("gs://b/f.jsonl#other", "") == ("gs://b/f.jsonl#other", None)
    assert split_view("batch-123#succeeded") == ("batch-123", "succeeded")
    # (view, failed row) -> left out of the view
    views = (None, "succeeded", "failed")
    cases = {(view, failed): left_out(view, failed) for view in views for failed in (False, True)}
    assert [pair for pair, out in cases.items() if out] == [("succeeded", True), ("failed", False)]
