"""One OpenAI-compatible /v1/files and /v1/batches endpoint in front of many provider accounts."""

from .app import create_app, setup
from .auth import Identity
from .config import ConfigError, RouterConfig, load_config, parse_config
from .keys import STATE_KEY
from .lookup import Resolved, resolve

__version__ = "0.1.0"

__all__ = [
    "STATE_KEY",
    "ConfigError",
    "Identity",
    "Resolved",
    "RouterConfig",
    "__version__",
    "create_app",
    "load_config",
    "parse_config",
    "resolve",
    "setup",
]
