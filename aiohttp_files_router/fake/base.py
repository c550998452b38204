"""What every fake shares: the record of each request, answering early, storage and clock.

Each fake (OpenAI, Azure, Vertex AI, Gemini, Bedrock, Anthropic, Mistral) is built from its
own provider's documentation; only this plumbing is common, with the one message two
providers' documentation describes alike (Google's GenerateContentResponse, for the Gemini API
and Vertex AI fakes, which may not import each other).
"""

from __future__ import annotations

import argparse
import builtins
import importlib.util
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypedDict, TypeVar, Unpack

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .store import make_root, remove_root

__all__ = [
    "Answer",
    "DemoAccounts",
    "DemoPlace",
    "FakeFlavour",
    "FakeService",
    "KeyedOptions",
    "KeyedService",
    "Option",
    "RecordedRequest",
    "ServiceOptions",
    "answers",
    "bearer",
    "check_rows",
    "content_response",
    "flavour",
    "keyed_build",
    "keyed_flavour",
    "route",
]

logger = logging.getLogger(__package__)
# An answer nobody reads: the client went away (nginx's 499).
GONE = 499


@web.middleware
async def answers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The fakes' one error middleware (outermost): an ``Answer`` raised anywhere inside
    is the response; a client that drops its request mid-body (a router refusing an upload
    it was forwarding does) is one INFO line, not aiohttp's ERROR traceback."""
    try:
        return await handler(request)
    except Answer as answer:
        return answer.response
    except ConnectionResetError:
        logger.info("fake: %s %s: the client went away", request.method, request.path)
        return web.Response(status=GONE)


@dataclass
class RecordedRequest:
    """What the fake saw of one request, for tests to assert on."""

    method: str
    path: str
    raw_path: str  # as sent, before percent-decoding
    query: dict[str, str]
    account: str | None  # the account whose credential was used, None if none was valid
    key: str | None  # the credential presented (API key or bearer token)
    chunked: bool
    content_type: str
    bytes: int = 0  # file bytes received on upload
    form: dict[str, str] = field(default_factory=dict)  # text fields of an upload
    json: Any = None  # JSON body, if any
    file_head: builtins.bytes = b""  # the first bytes of an uploaded file
    client_request_id: str | None = None  # the X-Client-Request-Id the caller sent
    response_request_id: str = ""  # the x-request-id this fake answered with
    # request headers a fake keeps for tests (a version or beta header; never a credential)
    headers: dict[str, str] = field(default_factory=dict)


class Answer(Exception):
    """Raised inside a handler to answer with ``response`` at once."""

    def __init__(self, response: web.Response):
        super().__init__(response.status)
        self.response = response


@dataclass(frozen=True)
class DemoPlace:
    """Where ``--demo`` serves a fake: its loopback base URL, the batch phase length, and a
    local directory (removed at cleanup) for accounts that need a ``file_store``."""

    base: str
    phase_seconds: float
    store: Path


@dataclass(frozen=True)
class DemoAccounts:
    """What one fake adds to ``--demo``: the fake and its ``model_list`` entries."""

    fake: Any  # a FakeService with app()
    model_list: Sequence[dict[str, Any]]


@dataclass(frozen=True)
class FakeFlavour:
    """One fake, as ``python -m aiohttp_files_router.fake`` and ``--demo`` see it; each fake
    module defines one (``FLAVOUR``) and ``fake/__init__.py`` lists them.

    ``add_arguments`` adds the fake's own command-line options (``--key``, ``--storage``,
    ``--phase-seconds`` and ``--bucket`` are common); ``build`` makes the fake from the
    parsed arguments and the ``--key`` map (``error`` reports a bad option); ``demo`` makes
    the fake and the accounts ``--demo`` serves on it, whose chat models are
    ``demo_models``, described in the banner as ``demo_described`` with further
    ``demo_hints`` (``{python}`` stands for the interpreter); ``needs`` names a module the
    fake cannot run without (an extra), whose absence leaves it out of ``--demo``."""

    name: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    build: Callable[[argparse.Namespace, dict[str, str], Callable[[str], Any]], Any]
    demo: Callable[[DemoPlace], DemoAccounts] | None = None
    demo_models: tuple[str, ...] = ()
    demo_described: str = ""
    demo_hints: tuple[str, ...] = ()
    needs: str | None = None

    def in_demo(self) -> bool:
        return self.demo is not None and (
            self.needs is None or importlib.util.find_spec(self.needs) is not None
        )


def bearer(request: web.Request) -> str | None:
    """The credential of an ``Authorization: Bearer <credential>`` header, if any."""
    header = request.headers.get("Authorization", "")
    return header[7:] if header.startswith("Bearer ") else None


def check_rows(
    lines: Iterable[tuple[int, bytes]],
    envelope: str,
    problem: Callable[[dict[str, Any]], str | None],
) -> tuple[int, str | None]:
    """Check a batch's JSONL input before it runs: ``lines`` are (line number, line), each a
    JSON object holding an object under ``envelope`` (the request), and ``problem`` says what
    else is wrong with such a row (None: nothing). The rows read, and ``"line N <what is
    wrong>"`` for the first bad one (None if there is none)."""
    count = 0
    for number, line in lines:
        count += 1
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        found: str | None
        if not isinstance(row, dict):
            found = "is not a JSON object"
        elif not isinstance(row.get(envelope), dict):
            found = f"has no {envelope} object"
        else:
            found = problem(row)
        if found:
            return count, f"line {number} {found}"
    return count, None


# The fewest prompt tokens an implicit cache hit covers (the larger of Google's minimums).
IMPLICIT_CACHE_MIN = 2048


def content_response(
    model: str, parts: list[dict[str, Any]], finish: str, prompt: int
) -> dict[str, Any]:
    """A GenerateContentResponse's candidate and usage, the same message in the Gemini API
    (ai.google.dev/api/generate-content) and Vertex AI
    (cloud.google.com/vertex-ai/docs/reference/rest/v1/GenerateContentResponse); the fake
    that answers adds its own ``modelVersion`` (and ``responseId``)."""
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": 5,
        "totalTokenCount": prompt + 5,
    }
    if "2.5" in model:
        # Thinking models report thoughtsTokenCount beside candidatesTokenCount, and the
        # total counts them too (UsageMetadata in both references).
        usage["thoughtsTokenCount"] = 7
        usage["totalTokenCount"] += 7
        if prompt >= IMPLICIT_CACHE_MIN:
            # Implicit caching is on for Gemini 2.5 models; a hit reports
            # cachedContentTokenCount, part of promptTokenCount
            # (ai.google.dev/gemini-api/docs/caching; Vertex "Context caching overview").
            # Every long enough prompt is taken as a repeat.
            usage["cachedContentTokenCount"] = prompt - prompt % IMPLICIT_CACHE_MIN
    return {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}
        ],
        "usageMetadata": usage,
    }


class ServiceOptions(TypedDict, total=False):
    """What every fake's constructor takes and passes on to ``FakeService``."""

    storage: Path | None
    phase_seconds: float
    cancel_seconds: float
    clock: Callable[[], float]


class KeyedOptions(ServiceOptions, total=False):
    """What a ``KeyedService`` constructor also passes on: the ``models`` batches or jobs may
    name."""

    models: tuple[str, ...] | None


AccountT = TypeVar("AccountT")
HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])
_ROUTES = "_fake_routes"


def route(method: str, path: str) -> Callable[[HandlerT], HandlerT]:
    """Declare the handler method below as serving ``method`` at ``path`` (after the prefix
    ``FakeService.routes`` is given); stacked, it serves each."""

    def declare(handler: HandlerT) -> HandlerT:
        setattr(handler, _ROUTES, ((method, path), *getattr(handler, _ROUTES, ())))
        return handler

    return declare


class FakeService:
    """A fake's storage root (removed at cleanup when it made it), its batch clock
    (``clock``, ``phase_seconds``, ``cancel_seconds``; a test may replace ``clock`` to move
    time) and the requests it saw."""

    def __init__(
        self,
        *,
        storage: Path | None = None,
        phase_seconds: float = 0.0,
        cancel_seconds: float = 0.0,
        clock: Callable[[], float] = time.time,
    ):
        self.root, self._owns_root = make_root(storage)
        self.phase_seconds, self.cancel_seconds = phase_seconds, cancel_seconds
        self.clock = clock
        self.requests: list[RecordedRequest] = []
        self.keys: dict[str, str] = {}

    def phase(self, elapsed: float, waiting: str, running: str, done: str) -> str:
        """The state of a job ``elapsed`` seconds after its creation on the fake's batch
        clock: ``waiting`` for ``phase_seconds``, ``running`` as long again, then ``done``."""
        if elapsed < self.phase_seconds:
            return waiting
        if elapsed < 2 * self.phase_seconds:
            return running
        return done

    def account_of(self, key: str | None) -> str | None:
        """The account an API key opens (``keys``), None for none or an unknown key."""
        return self.keys.get(key) if key else None

    def routes(self, prefix: str = "") -> list[web.RouteDef]:
        """The routes the fake's handler methods declare (``route``), each path after
        ``prefix``, in the order they are defined (a base class's first); a subclass that
        overrides a handler serves its own."""
        declared: dict[tuple[str, str], str] = {}
        for cls in reversed(type(self).__mro__):
            for name, value in vars(cls).items():
                for method_path in getattr(value, _ROUTES, ()):
                    declared[method_path] = name
        return [
            web.route(method, prefix + path, getattr(self, name))
            for (method, path), name in declared.items()
        ]

    def make_app(
        self,
        *middlewares: Middleware,
        routes: Iterable[web.AbstractRouteDef] | None = None,
        client_max_size: int = 1024**2,
    ) -> web.Application:
        """The fake's application serving ``routes`` (its ``routes()`` unless given): the
        shared ``answers`` middleware outermost, then ``middlewares``; the storage root is
        removed at cleanup when the fake made it."""
        app = web.Application(middlewares=[answers, *middlewares], client_max_size=client_max_size)
        app.add_routes(self.routes() if routes is None else routes)
        app.on_cleanup.append(self._cleanup)
        return app

    async def _cleanup(self, app: web.Application) -> None:
        if self._owns_root:
            remove_root(self.root)

    def requests_to(self, account: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.account == account]

    def record(
        self,
        request: web.Request,
        *,
        account: str | None,
        key: str | None,
        raw_path: str | None = None,
        **extra: Any,
    ) -> RecordedRequest:
        """A new record of ``request``, kept in ``requests``."""
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            raw_path=request.raw_path.split("?", 1)[0] if raw_path is None else raw_path,
            query=dict(request.query),
            account=account,
            key=key,
            chunked="chunked" in request.headers.get("Transfer-Encoding", "").lower(),
            content_type=request.content_type,
            **extra,
        )
        self.requests.append(record)
        return record


class KeyedService(FakeService, Generic[AccountT]):
    """A fake whose accounts API keys open: ``keys`` (API key to account name) kept as
    ``keys``, each account made by ``account`` with its name and its own directory under the
    storage root. ``models`` are the models a batch or job may name; None: any name of the
    provider's ``families``."""

    families: tuple[str, ...] = ()

    def __init__(
        self,
        keys: Mapping[str, str],
        account: Callable[[str, Path], AccountT],
        *,
        models: tuple[str, ...] | None = None,
        **service: Unpack[ServiceOptions],
    ):
        super().__init__(**service)
        self.keys = dict(keys)
        self.accounts = {name: account(name, self.root / name) for name in set(self.keys.values())}
        self.models = models

    def serves(self, model: str) -> bool:
        """Whether a batch or job may name ``model`` (``models``, else ``families``)."""
        if self.models is not None:
            return model in self.models
        return model.startswith(self.families)


# -- a fake's FLAVOUR ----------------------------------------------------------------------
Build = Callable[[argparse.Namespace, dict[str, str], Callable[[str], Any]], Any]
# What ``--demo`` serves of a fake: the fake and each account's ``litellm_params`` by its
# model name.
Demo = Callable[[DemoPlace], tuple[Any, dict[str, dict[str, Any]]]]


@dataclass(frozen=True)
class Option:
    """One of a fake's own command-line options (its help starts with the fake's name); a
    ``repeated`` one may be given again and collects a list, empty if never given."""

    flag: str
    help: str
    default: Any = None
    type: Callable[[str], Any] = str
    metavar: str | None = None
    repeated: bool = False


def flavour(
    name: str,
    build: Build,
    demo: Demo,
    *options: Option,
    models: Sequence[str],
    described: str,
    hints: Sequence[str] = (),
    needs: str | None = None,
) -> FakeFlavour:
    """A fake's ``FLAVOUR``: ``--flavour name``, its own ``options`` (which ``build`` reads),
    and for ``--demo`` a ``model_list`` entry per account ``demo`` gives; the banner's chat
    snippet runs on ``models`` (the others are for ``hints``)."""

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        for option in options:
            parser.add_argument(
                option.flag,
                action="append" if option.repeated else "store",
                default=[] if option.repeated else option.default,
                type=option.type,
                metavar=option.metavar,
                help=option.help,
            )

    def accounts(place: DemoPlace) -> DemoAccounts:
        fake, params = demo(place)
        entries = [{"model_name": model, "litellm_params": p} for model, p in params.items()]
        return DemoAccounts(fake, entries)

    return FakeFlavour(
        name, add_arguments, build, accounts, tuple(models), described, tuple(hints), needs
    )


def keyed_build(fake: Callable[..., Any]) -> Build:
    """``build`` of a fake opened by API keys alone, from ``--key``: ``fake(keys, storage=,
    phase_seconds=)``."""

    def build(args: argparse.Namespace, keys: dict[str, str], error: Callable[[str], Any]) -> Any:
        return fake(keys, storage=args.storage, phase_seconds=args.phase_seconds)

    return build


def keyed_flavour(
    name: str,
    fake: Callable[..., Any],
    *,
    described: str,
    model_name: str,
    params: Callable[[DemoPlace], dict[str, Any]],
    key: str | None = None,
    account: str = "demo",
) -> FakeFlavour:
    """The ``flavour`` of a fake opened by API keys alone (``keyed_build``), whose ``--demo``
    account is ``key`` (``fake-<name>-demo-key`` unless given) on ``model_name`` with the
    ``litellm_params`` that ``params`` gives (the key added)."""
    demo_key = key or f"fake-{name}-demo-key"

    def demo(place: DemoPlace) -> tuple[Any, dict[str, dict[str, Any]]]:
        served = fake({demo_key: account}, phase_seconds=place.phase_seconds)
        return served, {model_name: {**params(place), "api_key": demo_key}}

    return flavour(name, keyed_build(fake), demo, models=(model_name,), described=described)
