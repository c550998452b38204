"""OpenAI batches run by the providers that run them in a shape of their own (Vertex AI,
Gemini, Bedrock): each row, and the batch's endpoint, checked the same way and refused with
the same 400s."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgspec

from ..errors import BadRequest
from ..jsoncodec import ANY as _decode
from .genai_rows import RowError

__all__ = ["CHAT_URL", "EMBEDDINGS_URL", "chat_row", "check_endpoint", "embedding_text"]

CHAT_URL = "/v1/chat/completions"
T = TypeVar("T")


EMBEDDINGS_URL = "/v1/embeddings"


def check_endpoint(body: Mapping[str, Any], endpoint: str, runner: str) -> None:
    """A batch create naming another endpoint than ``endpoint``, the one the account's model
    runs (``runner``: that model, as the message names it), is a 400."""
    if body.get("endpoint") != endpoint:
        raise BadRequest(f"{runner} runs only '{endpoint}' batches.", param="endpoint")


def chat_row(
    number: int,
    line: bytes,
    provider: str,
    convert: Callable[[str, dict[str, Any]], T],
    embed: Callable[[str, dict[str, Any]], T] | None = None,
) -> T:
    """Line ``number`` of a batch file, a chat completion row with its ``custom_id``, made
    into the provider's own row by ``convert(custom_id, body)``.

    A line that is not such a row, or that ``convert`` cannot express (a RowError saying why,
    or a body of the wrong shape), is a 400 naming the line, the provider and the reason.
    """
    try:
        row = _decode.decode(line)
        if not isinstance(row, dict):
            raise RowError("the line is not a JSON object")
        custom_id = row.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            raise RowError("custom_id is missing")
        url = row.get("url", CHAT_URL)
        if url != CHAT_URL and not (embed is not None and url == EMBEDDINGS_URL):
            served = CHAT_URL if embed is None else f"{CHAT_URL} and {EMBEDDINGS_URL}"
            raise RowError(f"only {served} rows can run on {provider}")
        body = row.get("body")
        if not isinstance(body, dict):
            raise RowError("body must be an object")
        return (embed if url == EMBEDDINGS_URL and embed is not None else convert)(custom_id, body)
    except msgspec.DecodeError:
        raise BadRequest(
            f"Line {number} of the batch file is not valid JSON.",
            param="file",
            code="invalid_batch_line",
        ) from None
    except (RowError, AttributeError, TypeError, KeyError, ValueError) as err:
        reason = str(err) if isinstance(err, RowError) else "it is not a chat completion row"
        raise BadRequest(
            f"Line {number} of the batch file cannot run on {provider}: {reason}.",
            param="file",
            code="invalid_batch_line",
        ) from None


def embedding_text(body: Mapping[str, Any], one_row: str, values: str) -> str:
    """The one text an embeddings row holds (``input``: a string or a list of one), refused
    unless ``encoding_format`` is float. ``one_row`` says what the provider makes of a row,
    ``values`` what a float maps to there."""
    text = body.get("input")
    if isinstance(text, list) and len(text) == 1:
        text = text[0]
    if not isinstance(text, str) or not text:
        raise RowError(
            f"'input' must be one non-empty string ({one_row}; put each text on its own line)"
        )
    if body.get("encoding_format", "float") != "float":
        raise RowError(f"only encoding_format 'float' maps to {values}")
    return text
