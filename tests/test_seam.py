"""The provider seam: a provider is one module; the core names none and asks the registry."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from aiohttp_files_router import ConfigError, parse_config
from aiohttp_files_router.accounts import Registry
from aiohttp_files_router.providers import PROVIDERS, params_type, provider_name, spec_for

PACKAGE = Path(__file__).resolve().parent.parent / "aiohttp_files_router"
PROVIDER_NAMES = re.compile(
    r"azure|vertex|gemini|bedrock|anthropic|claude|mistral|gcs|google|aws", re.IGNORECASE
)
# Modules outside providers/ and fake/ that may name providers, and why (none: --demo asks
# the fakes' registry, fake.FLAVOURS, for its accounts):
ALLOWED: set[str] = set()


def core_modules() -> list[Path]:
    return sorted(
        p for p in [*PACKAGE.glob("*.py"), *PACKAGE.glob("handlers/*.py")] if p.name not in ALLOWED
    )


def test_core_modules_name_no_provider() -> None:
    modules = core_modules()
    names = {p.name for p in modules}
    for required in ("app.py", "accounts.py", "config.py", "selection.py", "upstream.py"):
        assert required in names
    offenders = [
        f"{p.relative_to(PACKAGE)}:{n}: {line.strip()}"
        for p in modules
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if PROVIDER_NAMES.search(line)
    ]
    assert offenders == []


def test_the_check_would_see_a_provider_name() -> None:
    assert PROVIDER_NAMES.search("    if kind == 'Azure':")
    assert PROVIDER_NAMES.search("# a GCS bucket")
    assert PROVIDER_NAMES.search("Claude rows") and PROVIDER_NAMES.search("a Mistral job")


def test_registry_maps_every_litellm_prefix() -> None:
    assert {p for s in PROVIDERS for p in s.prefixes} == {
        "openai",
        "openai_compatible",
        "azure",
        "vertex_ai",
        "vertex_ai_beta",
        "gemini",
        "bedrock",
        "mistral",
        "anthropic",
    }
    assert provider_name("gpt-4o") == "openai"
    assert provider_name("azure/dep") == "azure"
    assert provider_name("gpt-4o", "azure") == "azure"
    assert spec_for("vertex_ai_beta") is spec_for("vertex_ai")
    assert spec_for("cohere") is None
    for spec in PROVIDERS:
        assert params_type(spec.prefixes[0]) is spec.params
        # Route fields are visible in IDs: never a secret.
        assert not set(spec.route_fields) & spec.params.secret_fields


def test_each_provider_has_its_own_fields() -> None:
    config = {
        "model_list": [
            {"model_name": "a", "litellm_params": {"model": "openai/x", "api_key": "k"}},
            {
                "model_name": "b",
                "litellm_params": {"model": "openai/x", "vertex_project": "p"},
            },
        ]
    }
    # A key LiteLLM defines loads (and is ignored) on a provider that does not use it.
    (_, entry) = parse_config(config, env={}).model_list
    assert not hasattr(entry.litellm_params, "vertex_project")
    config["model_list"][1]["litellm_params"] = {"model": "vertex_ai/x", "vertex_projekt": "p"}
    typo = r"`\$\.model_list\[1\]\.litellm_params\.vertex_projekt`.*`vertex_project`"
    with pytest.raises(ConfigError, match=typo):
        parse_config(config, env={})


def test_errors_name_the_path_inside_litellm_params() -> None:
    def error(params: object, section: str = "model_list") -> str:
        config: dict[str, list[object]]
        if section == "model_list":
            config = {"model_list": [{"model_name": "a", "litellm_params": params}]}
        else:
            config = {"files_settings": [params]}
        with pytest.raises(ConfigError) as info:
            parse_config(config, "cfg.yaml", env={})
        return str(info.value)

    assert error({"api_key": "k"}) == (
        "cfg.yaml: Object missing required field `model` - at `$.model_list[0].litellm_params`"
    )
    assert "`$.model_list[0].litellm_params.timeout`" in error({"model": "azure/d", "timeout": 0})
    assert "`$.model_list[0].litellm_params.num_retries`" in error(
        {"model": "x", "num_retries": -1}
    )
    assert error({"api_key": "k"}, "files_settings") == (
        "cfg.yaml: Object missing required field `custom_llm_provider` - at `$.files_settings[0]`"
    )
    assert error({"custom_llm_provider": "azure", "api_kye": "k"}, "files_settings") == (
        "cfg.yaml: unknown field `$.files_settings[0].api_kye` (neither this provider nor "
        "LiteLLM 1.110.2 defines it); did you mean `api_key`?"
    )
    assert "`$.model_list[0].litellm_params`" in error("openai/x")


def test_unserved_providers_load_leniently_and_report_unusable() -> None:
    config = parse_config(
        {
            "model_list": [
                {
                    "model_name": "claude",
                    "litellm_params": {"model": "anthropic/claude", "api_key": "sk-ant-secret"},
                }
            ]
        },
        env={},
    )
    assert "sk-ant-secret" not in repr(config)
    (account,) = Registry.from_config(config).accounts
    assert account.provider is None and "anthropic" in (account.problem or "")


def test_secrets_of_every_provider_are_hidden() -> None:
    config = parse_config(
        {
            "model_list": [
                {
                    "model_name": "az",
                    "litellm_params": {
                        "model": "azure/d",
                        "api_base": "https://r.example",
                        "api_version": "v1",
                        "azure_ad_token": "tok-azure-secret",
                        "client_secret": "cs-azure-secret",
                        "api_key": "key-azure-secret",
                    },
                },
                {
                    "model_name": "vx",
                    "litellm_params": {"model": "vertex_ai/g", "vertex_credentials": "{sa-secret}"},
                },
            ],
            "files_settings": [{"custom_llm_provider": "openai", "api_key": "sk-legacy-secret"}],
        },
        env={},
    )
    text = repr(config)
    for secret in ("tok-azure-secret", "cs-azure-secret", "key-azure-secret", "{sa-secret}"):
        assert secret not in text
    assert "sk-legacy-secret" not in text and "https://r.example" in text
    assert type(config.files_settings[0]).__name__ == "OpenAIParams"


def test_environment_fallbacks_come_from_the_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_API_BASE", "https://from-env.example")
    monkeypatch.setenv("AZURE_API_VERSION", "2024-10-21")
    monkeypatch.setenv("AZURE_API_KEY", "env-azure-key")
    config = parse_config(
        {"model_list": [{"model_name": "az", "litellm_params": {"model": "azure/d"}}]}, env={}
    )
    (account,) = Registry.from_config(config).accounts
    provider = account.require()
    assert "env-azure-key" in provider.secrets


def old_fingerprint(*fields: str | None) -> str:
    """How derived routes were computed before providers declared their route fields."""
    return hashlib.sha256("\x00".join(f or "" for f in fields).encode()).hexdigest()[:8]


def test_derived_routes_stay_what_they_were() -> None:
    vertex = {
        "model": "vertex_ai/g",
        "vertex_project": "p",
        "vertex_location": "europe-west4",
        "gcs_bucket_name": "b/x",
        "vertex_credentials": "{never-hashed}",
    }
    openai = {"model": "openai/x", "api_base": "http://a", "organization": "o", "api_key": "k"}
    config = parse_config(
        {
            "model_list": [
                {"model_name": "m", "litellm_params": openai},
                {"model_name": "m", "litellm_params": vertex},
            ]
        },
        env={},
    )
    routes = [a.route for a in Registry.from_config(config).accounts]
    assert routes == [
        "m-" + old_fingerprint("openai/x", "http://a", None, "o", None, None, None),
        "m-" + old_fingerprint("vertex_ai/g", None, None, None, "p", "europe-west4", "b/x"),
    ]


# A provider touches its module (or package), one registry entry, its docs page and its tests.
# The one provider other adapters may build on: the OpenAI-shaped base (and the default when a
# model names no provider).
SHARED_BASE = "openai"


def _provider_modules() -> list[str]:
    return [spec.factory.__module__.split(".")[2] for spec in PROVIDERS]


def test_a_provider_is_its_module_one_registry_entry_and_its_docs_page() -> None:
    import ast

    providers = PACKAGE / "providers"
    registry = ast.parse((providers / "__init__.py").read_text())
    named: dict[str, int] = {}
    for node in ast.walk(registry):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            named[node.value.id] = named.get(node.value.id, 0) + 1
    modules = _provider_modules()
    assert len(set(modules)) == len(modules)
    for name in modules:
        assert (providers / f"{name}.py").exists() or (providers / name / "__init__.py").exists()
        assert (PACKAGE.parent / "docs" / "providers" / f"{name}.md").exists(), name
        # In the registry: its SPEC in PROVIDERS, and nothing else of it.
        assert named.get(name) == (2 if name == SHARED_BASE else 1), (name, named.get(name))
        # No other provider's module builds on it (the shared base excepted).
        if name == SHARED_BASE:
            continue
        for path in providers.rglob("*.py"):
            if path.name == "__init__.py" or name in (path.stem, path.parent.name):
                continue
            tree = ast.parse(path.read_text())
            imported = [
                n.module
                for n in ast.walk(tree)
                if isinstance(n, ast.ImportFrom) and n.module and n.module.split(".")[0] == name
            ]
            assert imported == [], (path.name, name)


def test_the_registry_check_sees_the_modules() -> None:
    assert set(_provider_modules()) == {
        "openai",
        "azure",
        "vertex",
        "gemini",
        "bedrock",
        "mistral",
        "anthropic",
    }


# A fake touches its module (or package) and one registry line. Its module is every file in
# fake/ named after it (vertex.py, vertex_tuning.py) or its package; the plumbing every fake
# may use is below, and FakeOpenAI is the one fake others build on.
FAKE_PLUMBING = {"base", "store", "batches", "compress", "finetuning", "__main__", "__init__"}
SHARED_FAKE = "openai"
# Stricter than PROVIDER_NAMES: the fakes' command line and --demo name not even OpenAI's
# kin (their snippet's `openai` is the SDK a user installs).
ANY_PROVIDER = re.compile(
    r"azure|vertex|gemini|bedrock|gcs|google|aws|mistral|anthropic|claude", re.IGNORECASE
)


def _fake_modules() -> list[str]:
    """The modules in fake/ whose FLAVOUR is in the registry."""
    import importlib
    import pkgutil

    from aiohttp_files_router import fake
    from aiohttp_files_router.fake import FLAVOURS

    found = []
    for info in pkgutil.iter_modules(fake.__path__):
        module = importlib.import_module(f"{fake.__name__}.{info.name}")
        if getattr(module, "FLAVOUR", None) in FLAVOURS:
            found.append(info.name)
    assert len(found) == len(FLAVOURS)
    return found


def _owner(stem: str, fakes: list[str]) -> str | None:
    """The fake a file in fake/ belongs to (None for the shared plumbing)."""
    base = stem.split("_", 1)[0]
    return base if base in fakes else None


def test_a_fake_is_its_module_and_one_registry_line() -> None:
    import ast

    fake = PACKAGE / "fake"
    fakes = sorted({_owner(m, []) or m.split("_", 1)[0] for m in _fake_modules()})
    registry = ast.parse((fake / "__init__.py").read_text())
    flavours = next(
        n.value
        for n in ast.walk(registry)
        if isinstance(n, ast.AnnAssign)
        and isinstance(n.target, ast.Name)
        and n.target.id == "FLAVOURS"
    )
    assert isinstance(flavours, ast.Tuple)
    entries = [ast.unparse(e) for e in flavours.elts]
    # One line per fake: its module's FLAVOUR.
    assert sorted(e.split(".")[0].split("_", 1)[0] for e in entries) == fakes
    assert all(e.endswith(".FLAVOUR") for e in entries)
    for path in sorted(fake.rglob("*.py")):
        stem = path.parent.name if path.parent != fake else path.stem
        if stem in FAKE_PLUMBING:
            continue
        mine = _owner(stem, fakes)
        assert mine is not None, f"fake/{path.name} belongs to no fake and is not plumbing"
        imported = [
            n.module.split(".")[0]
            for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.ImportFrom) and n.level == 1 and n.module
        ]
        for module in imported:
            other = _owner(module, fakes)
            assert other in (None, mine, SHARED_FAKE), (path.name, module)


def test_the_fakes_command_line_and_the_demo_name_no_provider() -> None:
    for path in (PACKAGE / "demo.py", PACKAGE / "fake" / "__main__.py"):
        offenders = [
            f"{path.name}:{n}: {line.strip()}"
            for n, line in enumerate(path.read_text().splitlines(), 1)
            if ANY_PROVIDER.search(line)
        ]
        assert offenders == []


def test_the_fake_check_sees_the_fakes() -> None:
    assert {m.split("_", 1)[0] for m in _fake_modules()} == {
        "openai",
        "azure",
        "vertex",
        "gemini",
        "bedrock",
        "mistral",
        "anthropic",
    }
    assert ANY_PROVIDER.search('MODEL = "claude-batch"')


TESTS = Path(__file__).resolve().parent


def _test_modules_imported(source: str) -> list[str]:
    """The ``test_*`` modules a test file imports (a test file shares through fixture modules,
    ``common.py`` and ``conftest.py``, never through another test file)."""
    import ast

    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            paths = [alias.name.split(".") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module.split(".") if node.module else []
            if node.level == 0 and base[:1] != ["tests"]:
                paths = [base]
            else:  # inside the tests package: the module, or the names taken from the package
                base = base[1:] if node.level == 0 else base
                paths = [base] if base else [[alias.name] for alias in node.names]
        else:
            continue
        for path in paths:
            first = path[1:2] if path[:1] == ["tests"] else path[:1]
            found += [name for name in first if name.startswith("test_")]
    return sorted(set(found))


def test_no_test_module_imports_another() -> None:
    modules = sorted(TESTS.glob("test_*.py"))
    assert len(modules) > 50
    offenders = [
        f"{path.name}: {name}"
        for path in modules
        for name in _test_modules_imported(path.read_text())
    ]
    assert offenders == []


def test_the_import_check_sees_every_spelling() -> None:
    for source in (
        "from .test_cli import serving",
        "from . import test_cli",
        "from tests.test_cli import serving",
        "from tests import test_cli",
        "import tests.test_cli",
        "def f() -> None:\n    from .test_cli import serving\n",
    ):
        assert _test_modules_imported(source) != [], source
    for source in (
        "from .common import Clock",
        "from . import azure_fixtures",
        "from aiohttp.test_utils import TestServer",
        "import pytest",
    ):
        assert _test_modules_imported(source) == [], source
