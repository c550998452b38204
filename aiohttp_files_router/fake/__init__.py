"""A stateful fake upstream: OpenAI-compatible accounts on loopback, for tests and the demo.

Shipped in the package so users can test their own setups against it too::

    fake = FakeOpenAI({"sk-account-a": "a", "sk-account-b": "b"})
    runner = web.AppRunner(fake.app())
"""

from .anthropic import FakeAnthropic
from .azure import FakeAzure
from .bedrock import AwsCredential, FakeBedrock
from .gemini import FakeGemini
from .mistral import FakeMistral
from .openai import FakeOpenAI, RecordedRequest
from .vertex import FakeVertex

__all__ = [
    "AwsCredential",
    "FakeAnthropic",
    "FakeAzure",
    "FakeBedrock",
    "FakeGemini",
    "FakeMistral",
    "FakeOpenAI",
    "FakeVertex",
    "RecordedRequest",
]
