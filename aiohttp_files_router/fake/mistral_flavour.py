"""FakeMistral as the command line and ``--demo`` see it (``fake/__init__.py`` lists it).

Kept beside ``mistral.py`` rather than in it while another branch edits that module; it
folds into ``mistral.py`` once both have landed.
"""

from __future__ import annotations

from .base import keyed_flavour
from .mistral import FakeMistral

__all__ = ["FLAVOUR"]

DEMO_KEY = "fake-mistral-demo-key"
DEMO_MODEL = "mistral-batch"


FLAVOUR = keyed_flavour(
    "mistral",
    FakeMistral,
    described="a Mistral model",
    model_name=DEMO_MODEL,
    key=DEMO_KEY,
    # A file store, so the demo serves uploads back as they were sent (docs/providers/mistral.md).
    params=lambda place: {
        "model": "mistral/mistral-small-latest",
        "api_base": f"{place.base}/v1",
        "file_store": f"file://{place.store}",
    },
)
