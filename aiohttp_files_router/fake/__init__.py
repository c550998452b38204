"""A stateful fake upstream: OpenAI-compatible accounts on loopback, for tests and the demo.

Shipped in the package so users can test their own setups against it too::

    fake = FakeOpenAI({"sk-account-a": "a", "sk-account-b": "b"})
    runner = web.AppRunner(fake.app())

``FLAVOURS`` is the only list of fakes: ``python -m aiohttp_files_router.fake`` and
``--demo`` ask it and name no provider. A fake adds itself with one line here (its module's
``FLAVOUR``, a ``base.FakeFlavour`` made by ``base.flavour`` or ``base.keyed_flavour``).
"""

from . import anthropic, azure, bedrock, gemini, mistral, openai, vertex
from .anthropic import FakeAnthropic
from .azure import FakeAzure
from .base import DemoAccounts, DemoPlace, FakeFlavour
from .bedrock import AwsCredential, FakeBedrock
from .gemini import FakeGemini
from .mistral import FakeMistral
from .openai import FakeOpenAI, RecordedRequest
from .vertex import FakeVertex

__all__ = [
    "FLAVOURS",
    "AwsCredential",
    "DemoAccounts",
    "DemoPlace",
    "FakeAnthropic",
    "FakeAzure",
    "FakeBedrock",
    "FakeFlavour",
    "FakeGemini",
    "FakeMistral",
    "FakeOpenAI",
    "FakeVertex",
    "RecordedRequest",
]

# In --demo's order; the first is the command line's default.
FLAVOURS: tuple[FakeFlavour, ...] = (
    openai.FLAVOUR,
    azure.FLAVOUR,
    vertex.FLAVOUR,
    gemini.FLAVOUR,
    mistral.FLAVOUR,
    anthropic.FLAVOUR,
    bedrock.FLAVOUR,
)
if len({f.name for f in FLAVOURS}) != len(FLAVOURS):
    raise RuntimeError("two fakes claim one flavour")
