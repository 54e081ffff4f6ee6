"""Typed, immutable configuration parsed once at start."""

from ._interpolate import EnvStr, interpolate
from ._loader import ENV_TOKENS, load_config, parse_config, render_config
from ._model import (
    SCOPES,
    AuthConfig,
    Config,
    LoggingConfig,
    MetricsConfig,
    PostgresConfig,
    RateLimitConfig,
    Scope,
    Section,
    ServerConfig,
    SqliteConfig,
    StorageConfig,
    TelemetryConfig,
    TokenConfig,
    TracingConfig,
)
from ._units import ByteSize, Duration, format_duration, format_size, parse_duration, parse_size

__all__ = [
    "ENV_TOKENS",
    "SCOPES",
    "AuthConfig",
    "ByteSize",
    "Config",
    "Duration",
    "EnvStr",
    "LoggingConfig",
    "MetricsConfig",
    "PostgresConfig",
    "RateLimitConfig",
    "Scope",
    "Section",
    "ServerConfig",
    "SqliteConfig",
    "StorageConfig",
    "TelemetryConfig",
    "TokenConfig",
    "TracingConfig",
    "format_duration",
    "format_size",
    "interpolate",
    "load_config",
    "parse_config",
    "parse_duration",
    "parse_size",
    "render_config",
]
