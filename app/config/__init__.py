"""Admin-facing configuration: YAML file -> validated `HoldfastConfig` -> core `CoreSettings`.

cfg = load_config("holdfast.yaml")   # raises ConfigError listing every problem
cfg = check_config("holdfast.yaml")  # the same, but unset ${VAR} secrets are placeholders (check-config)
core = cfg.core()                    # app.core.settings.CoreSettings
print(summarize(cfg))
restart_needed(running, new)   # key paths a reload accepts but only a restart applies
"""

from app.config.durations import DurationError, format_duration, parse_duration
from app.config.loader import ConfigError, check_config, load_config, parse_config, unset_secrets, validate_config
from app.config.restart import RESTART_KEYS, restart_needed
from app.config.schema import (
    AgentConfig,
    AnnounceConfig,
    AsteriskConfig,
    CallbackConfig,
    EligibilityConfig,
    FeatureCodes,
    HoldfastConfig,
    HoursConfig,
    PromptsConfig,
    QueueConfig,
    ServiceConfig,
    UnsetSecret,
)
from app.config.summary import summarize

__all__ = [
    "RESTART_KEYS",
    "AgentConfig",
    "AnnounceConfig",
    "AsteriskConfig",
    "CallbackConfig",
    "ConfigError",
    "DurationError",
    "EligibilityConfig",
    "FeatureCodes",
    "HoldfastConfig",
    "HoursConfig",
    "PromptsConfig",
    "QueueConfig",
    "ServiceConfig",
    "UnsetSecret",
    "check_config",
    "format_duration",
    "load_config",
    "parse_config",
    "parse_duration",
    "restart_needed",
    "summarize",
    "unset_secrets",
    "validate_config",
]
