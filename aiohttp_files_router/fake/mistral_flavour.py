"""FakeMistral as the command line and ``--demo`` see it (``fake/__init__.py`` lists it).

Kept beside ``mistral.py`` rather than in it while another branch edits that module; it
folds into ``mistral.py`` once both have landed.
"""

from __future__ import annotations

from .base import DemoAccounts, DemoPlace, FakeFlavour, no_arguments
from .mistral import FakeMistral

__all__ = ["FLAVOUR"]

DEMO_KEY = "fake-mistral-demo-key"
DEMO_MODEL = "mistral-batch"


def _demo(place: DemoPlace) -> DemoAccounts:
    fake = FakeMistral({DEMO_KEY: "demo"}, phase_seconds=place.phase_seconds)
    entry = {
        "model_name": DEMO_MODEL,
        "litellm_params": {
            "model": "mistral/mistral-small-latest",
            "api_key": DEMO_KEY,
            "api_base": f"{place.base}/v1",
        },
    }
    return DemoAccounts(fake, [entry])


FLAVOUR = FakeFlavour(
    name="mistral",
    add_arguments=no_arguments,
    build=lambda args, keys, error: FakeMistral(
        keys, storage=args.storage, phase_seconds=args.phase_seconds
    ),
    demo=_demo,
    demo_models=(DEMO_MODEL,),
    demo_described="a Mistral model",
)
