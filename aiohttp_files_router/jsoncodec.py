"""The JSON decoders and encoder every module shares, built once (msgspec's advice).

``RAW_OBJECT`` / ``RAW_ITEMS`` keep each value's bytes as they came (``msgspec.Raw``): an
answer is rewritten field by field and every other byte survives.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["ANY", "ENCODER", "OBJECT", "RAW_ITEMS", "RAW_OBJECT"]

ANY = msgspec.json.Decoder()
OBJECT = msgspec.json.Decoder(dict[str, Any])
RAW_OBJECT = msgspec.json.Decoder(dict[str, msgspec.Raw])
RAW_ITEMS = msgspec.json.Decoder(list[msgspec.Raw])
ENCODER = msgspec.json.Encoder()
