"""The ``breakers`` section: failover groups of providers, and each provider's circuit-breaker policy."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ._model import Duration, Name, PositiveDuration, Secret, Section


class BreakerPolicy(Section):
    """When a provider's breaker opens, how it is tried again, and which signals feed it.

    It opens after ``fail_max`` consecutive failures, or, with ``error_ratio`` set,
    when at least that share of the calls over ``window`` failed (and there were
    at least ``min_calls``); after ``reset_timeout`` it lets trial calls through
    (half-open), and ``success_threshold`` successes in a row close it again.
    """

    fail_max: int = Field(5, ge=1)
    error_ratio: Annotated[float, Field(gt=0, le=1)] | None = None
    window: PositiveDuration = 60.0
    min_calls: int = Field(20, ge=1)
    reset_timeout: PositiveDuration = 30.0
    success_threshold: int = Field(2, ge=1)
    probe: Name | None = None  # a probe going down opens the breaker; its successes can be the trial calls
    # Client spans whose peer.service or server.address matches one of these globs (case-insensitive)
    # are this provider's calls, e.g. "api.anthropic.com" or "*anthropic*".
    match: tuple[Annotated[str, Field(min_length=1, max_length=256)], ...] = ()


class BreakersConfig(Section):
    """Failover groups (providers in priority order) and the providers' breaker policies."""

    groups: dict[Name, Annotated[tuple[Name, ...], Field(min_length=1)]] = {}
    providers: dict[Name, BreakerPolicy] = {}  # a provider not listed here gets the default policy
    all_open: Literal["fail_static", "fail_closed"] = "fail_static"  # keep the last active, or report none (503)
    # A recovered preferred provider takes traffic back after being closed this long.
    min_dwell: Annotated[Duration, Field(ge=0)] = 60.0
    shared_state: Secret | None = None  # redis://host:port/db: breaker state shared by replicas through Redis

    @model_validator(mode="after")
    def _one_group_per_provider(self) -> BreakersConfig:
        seen: dict[str, str] = {}
        for group, providers in self.groups.items():
            for provider in providers:
                if provider in seen:
                    where = (
                        "twice in that group"
                        if seen[provider] == group
                        else f"in groups {seen[provider]!r} and {group!r}"
                    )
                    raise ValueError(f"provider {provider!r} is listed {where}; a provider belongs to one group")
                seen[provider] = group
        stray = sorted(set(self.providers) - set(seen))
        if stray:
            raise ValueError(f"providers {stray} are in no group")
        if self.shared_state is not None and not self.shared_state.get_secret_value().startswith(
            ("redis://", "rediss://")
        ):
            raise ValueError("shared_state must be a redis:// or rediss:// URL")
        return self

    def policy(self, provider: str) -> BreakerPolicy:
        """``provider``'s policy (the default one when it has none of its own)."""
        return self.providers.get(provider) or _DEFAULT_POLICY

    def group_of(self, provider: str) -> str | None:
        """The group ``provider`` belongs to."""
        return next((group for group, providers in self.groups.items() if provider in providers), None)


_DEFAULT_POLICY = BreakerPolicy()
