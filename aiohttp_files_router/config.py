"""Configuration: a LiteLLM-shaped config.yaml, typed with msgspec.

Sections the router does not use (``litellm_settings``, ``router_settings``, ...) are ignored.
Inside ``model_list``, ``files_settings`` and ``files_router`` an unknown key is an error naming
the file and the field path. ``os.environ/NAME`` values are read from the environment; a missing
variable is recorded (``RouterConfig.missing_env``) rather than fatal, so one broken account does
not stop the others.
"""

from __future__ import annotations

import difflib
import os
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

from .params import ConfigStruct, ProviderParams
from .providers import LITELLM_PARAMS, LITELLM_VERSION, params_type, provider_name

__all__ = [
    "ConfigError",
    "FilesRouterSettings",
    "GeneralSettings",
    "JwtSettings",
    "ModelEntry",
    "ModelInfo",
    "ProviderParams",
    "ProxyKey",
    "RouterConfig",
    "load_config",
    "parse_config",
]

ENV_PREFIX = "os.environ/"


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the file and the field."""


class ModelInfo(msgspec.Struct, kw_only=True, frozen=True):
    """LiteLLM's free-form model metadata; only ``id`` matters here."""

    id: str | None = None


class ModelEntry(ConfigStruct, kw_only=True, frozen=True):
    model_name: str
    # Of the struct its provider declares (providers/): parse_config converts it.
    litellm_params: ProviderParams
    model_info: ModelInfo | None = None


class GeneralSettings(msgspec.Struct, kw_only=True, frozen=True):
    """LiteLLM's general settings; only ``master_key`` matters here."""

    master_key: str | None = None

    def __repr__(self) -> str:
        return f"GeneralSettings(master_key={'***' if self.master_key else None})"


class ProxyKey(ConfigStruct, kw_only=True, frozen=True):
    secret_fields = frozenset({"key"})

    key: str
    models: list[str] | None = None  # None: every model
    # Keys of one team share their objects; a key without a team owns its objects alone.
    team: str | None = None
    # Reaches every object of every team (and objects with no owner).
    admin: bool = False


class JwtSettings(ConfigStruct, kw_only=True, frozen=True):
    """Bearer tokens from an identity provider: checked against its JWKS."""

    jwks_url: str
    issuer: str
    audience: str | list[str]
    algorithms: list[str] = msgspec.field(default_factory=lambda: ["RS256"])
    team_claim: str = "team"
    models_claim: str | None = None  # unset: every model
    admin_claim: str | None = None


class FilesRouterSettings(ConfigStruct, kw_only=True, frozen=True):
    secret_fields = frozenset({"id_secret"})

    id_secret: str | list[str] | None = None
    allow_unsigned_ids: bool = False
    default_model: str | None = None
    keys: list[ProxyKey] = []
    max_upload_bytes: Annotated[int, msgspec.Meta(ge=1)] = 8 * 1024**3
    max_field_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 64 * 1024
    spool_dir: str | None = None
    connect_timeout: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    read_timeout: Annotated[float, msgspec.Meta(gt=0)] = 600.0
    metrics_public: bool = False
    shutdown_timeout: Annotated[float, msgspec.Meta(ge=0)] = 60.0
    # How long a batch create may wait for an account to finish processing its input file.
    file_ready_timeout: Annotated[float, msgspec.Meta(gt=0)] = 120.0
    # Check purpose=batch uploads line by line as they stream (400 naming the line).
    validate_batch_files: bool = True
    # private: a caller reaches only its team's objects; shared: every object of the
    # deployments its key may use (before teams, the only behaviour).
    ownership: Literal["private", "shared"] = "private"
    # How many upstream pages one filtered listing request reads at most.
    list_scan_pages: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 10
    jwt: JwtSettings | None = None
    # Check purpose=fine-tune uploads line by line as they stream (400 naming the line).
    validate_tuning_files: bool = True


class RouterConfig(msgspec.Struct, kw_only=True, frozen=True):
    model_list: list[ModelEntry] = []
    # Legacy accounts picked by custom_llm_provider; each of its provider's struct.
    files_settings: list[ProviderParams] = []
    general_settings: GeneralSettings = GeneralSettings()
    files_router: FilesRouterSettings = FilesRouterSettings()
    # Unset os.environ/ references: (field path, variable name). Filled by parse_config.
    missing_env: tuple[tuple[str, str], ...] = ()

    @property
    def id_secrets(self) -> tuple[str, ...]:
        secret = self.files_router.id_secret
        if secret is None:
            return ()
        return (secret,) if isinstance(secret, str) else tuple(secret)

    def missing_under(self, path_prefix: str) -> list[str]:
        return [name for path, name in self.missing_env if path.startswith(path_prefix)]


def _resolve_env(
    node: Any, path: str, env: Mapping[str, str], missing: list[tuple[str, str]]
) -> Any:
    if isinstance(node, dict):
        return {k: _resolve_env(v, f"{path}.{k}", env, missing) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve_env(v, f"{path}[{i}]", env, missing) for i, v in enumerate(node)]
    if isinstance(node, str) and node.startswith(ENV_PREFIX):
        name = node[len(ENV_PREFIX) :]
        if name in env:
            return env[name]
        missing.append((path, name))
    return node


_UNKNOWN = re.compile(r"Object contains unknown field `(?P<field>[^`]*)` - at `(?P<at>[^`]*)`")


def _describe(err: msgspec.ValidationError, at: str = "$") -> str:
    """msgspec's message for a value converted at path ``at`` of the whole file."""
    text = str(err)
    if " - at `$" in text:
        text = text.replace(" - at `$", f" - at `{at}", 1)
    elif at != "$":
        text = f"{text} - at `{at}`"
    m = _UNKNOWN.fullmatch(text)
    if m:
        return f"unknown field `{m['at']}.{m['field']}`"
    return text


def _litellm_keys_only(
    node: dict[str, Any], struct: type[ProviderParams], at: str
) -> dict[str, Any]:
    """``node`` without the LiteLLM keys ``struct`` does not use; a key nobody knows is an error.

    A LiteLLM config loads as it is (providers/litellm_keys.py names LiteLLM's own keys); a key
    neither LiteLLM nor the provider declares is a typo, reported with the closest known key.
    """
    if not struct.__struct_config__.forbid_unknown_fields:
        return node
    fields = set(struct.__struct_fields__)
    kept: dict[str, Any] = {}
    for key, value in node.items():
        if key in fields:
            kept[key] = value
        elif key not in LITELLM_PARAMS:
            close = difflib.get_close_matches(key, sorted(fields | LITELLM_PARAMS), n=1)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            raise ConfigError(
                f"unknown field `{at}.{key}` (neither this provider nor LiteLLM "
                f"{LITELLM_VERSION} defines it){hint}"
            )
    return kept


def _provider_params(node: Any, at: str, required: str) -> ProviderParams | None:
    """``node`` as its provider's params struct; None when it is no mapping (msgspec says so).

    ``required`` is the key this section needs (``model`` or ``custom_llm_provider``),
    reported in msgspec's own words since the struct itself has it optional.
    """
    if not isinstance(node, dict):
        return None
    if not isinstance(node.get(required), str):
        if required not in node:
            raise msgspec.ValidationError(f"Object missing required field `{required}` - at `{at}`")
        raise msgspec.ValidationError(f"Expected `str` - at `{at}.{required}`")
    kind = provider_name(node.get("model"), node.get("custom_llm_provider"))
    struct = params_type(kind)
    try:
        return msgspec.convert(_litellm_keys_only(node, struct, at), struct)
    except msgspec.ValidationError as err:
        raise msgspec.ValidationError(_describe(err, at)) from None


def _convert(resolved: dict[str, Any]) -> RouterConfig:
    """The whole tree as a RouterConfig; each litellm_params as its provider's struct."""
    entries: list[ProviderParams | None] = []
    settings: list[ProviderParams | None] = []
    tree = dict(resolved)
    model_list = tree.get("model_list")
    if isinstance(model_list, list):
        tree["model_list"] = []
        for i, entry in enumerate(model_list):
            if isinstance(entry, dict) and "litellm_params" in entry:
                at = f"$.model_list[{i}].litellm_params"
                params = _provider_params(entry["litellm_params"], at, "model")
                entries.append(params)
                if params is not None:
                    entry = {**entry, "litellm_params": {}}
            else:
                entries.append(None)
            tree["model_list"].append(entry)
    files_settings = tree.get("files_settings")
    if isinstance(files_settings, list):
        settings = [
            _provider_params(node, f"$.files_settings[{i}]", "custom_llm_provider")
            for i, node in enumerate(files_settings)
        ]
        tree["files_settings"] = [
            {} if p is not None else n for p, n in zip(settings, files_settings, strict=True)
        ]
    config = msgspec.convert(tree, RouterConfig)
    return msgspec.structs.replace(
        config,
        model_list=[
            e if p is None else msgspec.structs.replace(e, litellm_params=p)
            for e, p in zip(config.model_list, entries, strict=True)
        ],
        files_settings=[
            f if p is None else p for f, p in zip(config.files_settings, settings, strict=True)
        ],
    )


def parse_config(
    data: Any, source: str = "<config>", env: Mapping[str, str] | None = None
) -> RouterConfig:
    """Build a RouterConfig from an already-loaded YAML/JSON tree."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    missing: list[tuple[str, str]] = []
    resolved = _resolve_env(data, "$", os.environ if env is None else env, missing)
    try:
        config = _convert(resolved)
    except msgspec.ValidationError as err:
        raise ConfigError(f"{source}: {_describe(err)}") from None
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    config = msgspec.structs.replace(config, missing_env=tuple(missing))
    _check(config, source)
    return config


def _blank(value: str | None) -> bool:
    return value is not None and not value.strip()


def _check_secrets(config: RouterConfig, source: str) -> None:
    """A secret that resolves to nothing would silently open the router or make IDs forgeable."""
    blank: list[str] = []
    if _blank(config.general_settings.master_key):
        blank.append("$.general_settings.master_key")
    secret = config.files_router.id_secret
    if isinstance(secret, list):
        if not secret:
            blank.append("$.files_router.id_secret")
        blank += [f"$.files_router.id_secret[{i}]" for i, s in enumerate(secret) if _blank(s)]
    elif _blank(secret):
        blank.append("$.files_router.id_secret")
    blank += [
        f"$.files_router.keys[{k}].key"
        for k, key in enumerate(config.files_router.keys)
        if _blank(key.key)
    ]
    if blank:
        raise ConfigError(
            f"{source}: {blank[0]} is empty; a secret must not be empty or whitespace "
            "(remove it to leave it unset)"
        )


def _check(config: RouterConfig, source: str) -> None:
    for path, name in config.missing_env:
        if path == "$.general_settings.master_key" or path.startswith("$.files_router"):
            # Proxy keys and ID secrets never fall back: the literal text would become a key.
            raise ConfigError(f"{source}: {path} needs environment variable {name}")
    _check_secrets(config, source)
    names = Counter(entry.model_name for entry in config.model_list)
    ids: set[str] = set()
    for i, entry in enumerate(config.model_list):
        dep_id = entry.model_info.id if entry.model_info else None
        if ";" in entry.model_name or (dep_id and ";" in dep_id):
            # IDs carry the name between ";"-separated fields.
            raise ConfigError(f"{source}: $.model_list[{i}] names may not contain ';'")
        if dep_id is not None:
            # Selecting by an ID that is also another entry's model_name would send that
            # model's traffic (and its key scope) to this deployment.
            if names[dep_id] > (1 if dep_id == entry.model_name else 0):
                raise ConfigError(
                    f"{source}: $.model_list[{i}].model_info.id {dep_id!r} is the model_name "
                    "of another entry"
                )
            if dep_id in ids:
                raise ConfigError(f"{source}: $.model_list[{i}].model_info.id {dep_id!r} repeats")
            ids.add(dep_id)
    _check_ownership(config, source)
    known = {e.model_name for e in config.model_list} | ids
    default = config.files_router.default_model
    if default is not None and default not in known:
        raise ConfigError(
            f"{source}: $.files_router.default_model {default!r} is not in model_list"
        )
    for k, key in enumerate(config.files_router.keys):
        for model in key.models or ():
            if model not in known and not any(
                s.custom_llm_provider == model for s in config.files_settings
            ):
                raise ConfigError(
                    f"{source}: $.files_router.keys[{k}].models names unknown model {model!r}"
                )


_ASYMMETRIC = frozenset(
    ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
)


def _check_ownership(config: RouterConfig, source: str) -> None:
    """Private ownership needs an ``id_secret``: the owner travels in the signed ID."""
    settings = config.files_router
    for k, key in enumerate(settings.keys):
        if key.team is not None and (not key.team.strip() or ";" in key.team):
            raise ConfigError(
                f"{source}: $.files_router.keys[{k}].team must be a non-empty name without ';'"
            )
    jwt = settings.jwt
    if jwt is not None:
        bad = [a for a in jwt.algorithms if a not in _ASYMMETRIC]
        if bad or not jwt.algorithms:
            # A shared-secret algorithm would let anyone holding the public JWKS sign tokens.
            raise ConfigError(
                f"{source}: $.files_router.jwt.algorithms must list public-key algorithms "
                f"({', '.join(sorted(_ASYMMETRIC))}); got {bad or 'none'}"
            )
    if settings.ownership != "private" or config.id_secrets:
        return
    if jwt is not None:
        raise ConfigError(
            f"{source}: $.files_router.ownership is private (the default) and "
            "$.files_router.jwt is set, but $.files_router.id_secret is not: owners travel in "
            "signed IDs; set id_secret, or ownership: shared"
        )
    for k, key in enumerate(settings.keys):
        if not key.admin:
            raise ConfigError(
                f"{source}: $.files_router.ownership is private (the default) and "
                f"$.files_router.keys[{k}] is not an admin key, but $.files_router.id_secret "
                "is not set: owners travel in signed IDs; set id_secret, or ownership: shared"
            )


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> RouterConfig:
    """Read a config.yaml (LiteLLM's shape plus the ``files_router`` section)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{source}: cannot read: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        # Only the position: the offending line itself may hold a key.
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "syntax error"
        raise ConfigError(f"{source}: not valid YAML{where}: {problem}") from None
    return parse_config(data, source, env)
