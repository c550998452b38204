"""Config: LiteLLM's shape loads as is; errors name the file and field; secrets stay hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiohttp_files_router import ConfigError, load_config
from aiohttp_files_router.accounts import Registry
from aiohttp_files_router.providers.gemini import GeminiParams
from aiohttp_files_router.providers.openai import OpenAIParams

LITELLM_CONFIG = """
model_list:
  - model_name: gpt-4o-litellm
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/OPENAI_LITELLM_API_KEY
      api_base: https://api.openai.com/v1
      organization: org-123
      rpm: 100
  - model_name: gpt-4o-azure
    litellm_params:
      model: azure/my-batch-deployment
      api_base: https://my-resource.openai.azure.com
      api_key: os.environ/AZURE_API_KEY
      api_version: "2024-10-21"
  - model_name: gemini-batch
    litellm_params:
      model: vertex_ai/gemini-2.5-flash
      vertex_project: my-project
      vertex_location: us-central1
      vertex_credentials: os.environ/VERTEX_SA_JSON
      gcs_bucket_name: my-bucket
    model_info:
      id: gemini-eu-1
      mode: batch
files_settings:
  - custom_llm_provider: openai
    api_key: os.environ/OPENAI_API_KEY
litellm_settings:
  drop_params: true
router_settings:
  routing_strategy: simple-shuffle
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  database_url: postgres://ignored
files_router:
  id_secret: os.environ/FILES_ROUTER_ID_SECRET
"""

ENV = {
    "OPENAI_LITELLM_API_KEY": "sk-openai-secret",
    "LITELLM_MASTER_KEY": "sk-master-secret",
    "FILES_ROUTER_ID_SECRET": "id-secret-value",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_litellm_config_loads_and_env_refs_resolve(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, LITELLM_CONFIG), env=ENV)
    params = config.model_list[0].litellm_params
    assert isinstance(params, OpenAIParams)
    assert params.api_key == "sk-openai-secret" and params.organization == "org-123"
    assert config.general_settings.master_key == "sk-master-secret"
    assert config.id_secrets == ("id-secret-value",)
    assert ("$.model_list[1].litellm_params.api_key", "AZURE_API_KEY") in config.missing_env
    registry = Registry.from_config(config)
    usable = {a.name: a.problem for a in registry.accounts}
    assert usable["gpt-4o-litellm"] is None
    assert "AZURE_API_KEY" in (usable["gpt-4o-azure"] or "")
    assert registry.by_route["gemini-eu-1"].name == "gemini-batch"


def test_secrets_are_redacted_in_repr(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, LITELLM_CONFIG), env=ENV)
    text = repr(config)
    for secret in ENV.values():
        assert secret not in text
    assert "org-123" in text


def test_unknown_key_names_file_and_path(tmp_path: Path) -> None:
    path = write(tmp_path, LITELLM_CONFIG.replace("api_version:", "api_verison:"))
    with pytest.raises(ConfigError) as info:
        load_config(path, env=ENV)
    assert str(path) in str(info.value)
    assert "$.model_list[1].litellm_params.api_verison" in str(info.value)


def test_bad_values_name_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, "files_router:\n  max_upload_bytes: 0\n")
    with pytest.raises(ConfigError, match=r"\$\.files_router\.max_upload_bytes"):
        load_config(path)
    path = write(tmp_path, "files_router:\n  default_model: nope\n")
    with pytest.raises(ConfigError, match="default_model"):
        load_config(path)


def test_missing_security_env_is_fatal(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LITELLM_MASTER_KEY"):
        load_config(write(tmp_path, LITELLM_CONFIG), env={})
    keyed = "model_list: []\nfiles_router:\n  keys:\n    - key: os.environ/TEAM_KEY\n"
    with pytest.raises(ConfigError, match=r"\$\.files_router\.keys\[0\]\.key needs .*TEAM_KEY"):
        load_config(write(tmp_path, keyed), env={})


def test_yaml_errors_do_not_echo_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "model_list:\n  - model_name: x\n    api_key: 'sk-leaky\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "sk-leaky" not in str(info.value) and "line" in str(info.value)


def test_duplicate_deployment_ids_and_unreadable_file(tmp_path: Path) -> None:
    text = """
model_list:
  - model_name: a
    litellm_params: {model: openai/x}
    model_info: {id: same}
  - model_name: b
    litellm_params: {model: openai/x}
    model_info: {id: same}
"""
    with pytest.raises(ConfigError, match="repeats"):
        load_config(write(tmp_path, text))
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")


GEMINI_CONFIG = """
model_list:
  - model_name: gemini-api
    litellm_params:
      model: gemini/gemini-2.5-flash
      api_key: os.environ/GEMINI_KEY_A
  - model_name: gemini-fallback
    litellm_params:
      model: gemini/gemini-2.5-pro
      api_base: https://gemini.example.test
"""


def test_gemini_config_key_fallback_repr_and_unknown_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-from-the-environment")
    config = load_config(write(tmp_path, GEMINI_CONFIG), env={"GEMINI_KEY_A": "AIza-secret-a"})
    params = config.model_list[0].litellm_params
    assert isinstance(params, GeminiParams) and params.api_key == "AIza-secret-a"
    assert "AIza-secret-a" not in repr(config)
    registry = Registry.from_config(config)
    accounts = {a.name: a for a in registry.accounts}
    assert all(a.problem is None for a in accounts.values())
    fallback = accounts["gemini-fallback"].require()
    assert fallback.secrets == ("AIza-from-the-environment",)
    assert fallback.upstream.base == "https://gemini.example.test"
    assert accounts["gemini-api"].require().upstream.base == (
        "https://generativelanguage.googleapis.com"
    )
    monkeypatch.delenv("GEMINI_API_KEY")
    usable = {a.name: a.problem for a in Registry.from_config(config).accounts}
    assert "GEMINI_API_KEY" in (usable["gemini-fallback"] or "")

    # vertex_project is a LiteLLM key (loaded, unused here); api_bsae is nobody's key.
    load_config(write(tmp_path, GEMINI_CONFIG.replace("api_base:", "vertex_project:")))
    path = write(tmp_path, GEMINI_CONFIG.replace("api_base:", "api_bsae:"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "$.model_list[1].litellm_params.api_bsae" in str(info.value)
    assert "did you mean `api_base`?" in str(info.value)


BEDROCK_CONFIG = """
model_list:
  - model_name: claude-batch
    litellm_params:
      model: bedrock/us.anthropic.claude-3-5-sonnet-20240620-v1:0
      aws_region_name: us-west-2
      aws_access_key_id: os.environ/AWS_ACCESS_KEY_ID
      aws_secret_access_key: os.environ/AWS_SECRET_ACCESS_KEY
      aws_session_token: os.environ/AWS_SESSION_TOKEN
      aws_profile_name: default
      s3_bucket_name: my-batch-bucket/prefix
      s3_region_name: us-east-1
      s3_access_key_id: AKIAS3ONLYKEY0000001
      s3_secret_access_key: os.environ/S3_SECRET
      s3_encryption_key_id: arn:aws:kms:us-west-2:123456789012:key/abc
      aws_batch_role_arn: arn:aws:iam::123456789012:role/BedrockBatch
      api_base: https://bedrock.us-west-2.amazonaws.com
      s3_endpoint_url: https://s3.us-west-2.amazonaws.com
      allowed_file_uris: ["s3://shared-images/"]
"""
BEDROCK_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEY000001",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-access-key-value",
    "AWS_SESSION_TOKEN": "aws-session-token-value",
    "S3_SECRET": "s3-secret-access-key-value",
}


def test_bedrock_config_as_the_issue_writes_it(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BEDROCK_CONFIG), env=BEDROCK_ENV)
    params = config.model_list[0].litellm_params
    assert getattr(params, "aws_batch_role_arn", "").endswith("role/BedrockBatch")
    text = repr(config)
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "S3_SECRET"):
        assert BEDROCK_ENV[name] not in text
    registry = Registry.from_config(config)
    assert [a.problem for a in registry.accounts] == [None]
    path = write(tmp_path, BEDROCK_CONFIG.replace("aws_batch_role_arn:", "aws_batch_role:"))
    with pytest.raises(ConfigError, match=r"\$\.model_list\[0\]\.litellm_params\.aws_batch_role"):
        load_config(path, env=BEDROCK_ENV)


LITELLM_CI_CONFIG = """
model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: sk-test
      base_model: gpt-4o-mini
      temperature: 0.2
      use_in_pass_through: true
      merge_reasoning_content_in_choices: false
    model_info:
      base_model: gpt-4o-mini
      mode: chat
      my_custom_key: anything
  - model_name: claude-batch
    litellm_params:
      model: bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0
      region_name: us-west-2
      aws_region_name: us-west-2
      s3_bucket_name: my-bucket
      aws_batch_role_arn: arn:aws:iam::123456789012:role/b
      input_cost_per_token: 0.000003
  - model_name: gemini-batch
    litellm_params:
      model: vertex_ai/gemini-2.5-flash
      vertex_project: p
      vertex_location: us-central1
      gcs_bucket_name: b
      region_name: us-central1
      vertex_ai_project: ignored-alias
"""


def test_keys_litellm_defines_load_on_every_provider(tmp_path: Path) -> None:
    # LiteLLM's own CI configs carry region_name, base_model and completion defaults.
    typo = "      vertex_ai_project: ignored-alias\n"
    path = write(tmp_path, LITELLM_CI_CONFIG.replace(typo, ""))
    config = load_config(path)
    assert [e.model_name for e in config.model_list] == [
        "gpt-4o-mini",
        "claude-batch",
        "gemini-batch",
    ]
    assert config.model_list[0].model_info is not None
    # A key neither LiteLLM nor the provider defines is a typo, with the closest key named.
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, LITELLM_CI_CONFIG))
    assert "`$.model_list[2].litellm_params.vertex_ai_project`" in str(info.value)
    assert "did you mean `vertex_project`?" in str(info.value)


ANTHROPIC_MISTRAL_CONFIG = """
model_list:
  - model_name: claude-batch
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_key: os.environ/ANTHROPIC_KEY_A
      file_store: file:///var/lib/files-router
  - model_name: claude-v1
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_key: sk-ant-inline-key-0001
      api_base: https://anthropic.example.test/v1/
      file_store: s3://my-bucket/claude
      aws_region_name: eu-west-1
  - model_name: mistral-batch
    litellm_params:
      model: mistral/mistral-small-latest
      api_key: os.environ/MISTRAL_KEY_A
  - model_name: mistral-nov1
    litellm_params:
      model: mistral/mistral-small-latest
      api_key: mistral-inline-key
      api_base: https://mistral.example.test
"""


def test_anthropic_and_mistral_config(tmp_path: Path) -> None:
    env = {"ANTHROPIC_KEY_A": "sk-ant-secret-a", "MISTRAL_KEY_A": "mistral-secret-a"}
    config = load_config(write(tmp_path, ANTHROPIC_MISTRAL_CONFIG), env=env)
    text = repr(config)
    for secret in (*env.values(), "sk-ant-inline-key-0001", "mistral-inline-key"):
        assert secret not in text
    accounts = {a.name: a for a in Registry.from_config(config).accounts}
    assert all(a.problem is None for a in accounts.values())
    # api_base with or without /v1 (LiteLLM's defaults differ per provider).
    bases = {name: a.require().upstream.base for name, a in accounts.items()}
    assert bases == {
        "claude-batch": "https://api.anthropic.com/v1",
        "claude-v1": "https://anthropic.example.test/v1",
        "mistral-batch": "https://api.mistral.ai/v1",
        "mistral-nov1": "https://mistral.example.test/v1",
    }
    no_store = ANTHROPIC_MISTRAL_CONFIG.replace(
        "      file_store: file:///var/lib/files-router\n", ""
    )
    problems = {
        a.name: a.problem
        for a in Registry.from_config(load_config(write(tmp_path, no_store), env=env)).accounts
    }
    assert "file_store" in (problems["claude-batch"] or "")
    path = write(tmp_path, ANTHROPIC_MISTRAL_CONFIG.replace("file_store: s3", "file_stor: s3"))
    with pytest.raises(ConfigError, match=r"\$\.model_list\[1\]\.litellm_params\.file_stor"):
        load_config(path, env=env)
    path = write(
        tmp_path,
        ANTHROPIC_MISTRAL_CONFIG.replace("api_base: https://mistral", "api_bas: https://mistral"),
    )
    with pytest.raises(ConfigError, match=r"\$\.model_list\[3\]\.litellm_params\.api_bas"):
        load_config(path, env=env)
