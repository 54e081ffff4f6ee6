"""The ``statuspage`` section: public components, caching, and where changes are pushed."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from ._model import Name, PositiveDuration, Secret, Section


class StatusComponentConfig(Section):
    """A public component: its display name, and the probes and breaker groups that feed it.

    Alerts and incidents feed the component whose id is their ``component`` label.
    """

    id: Name
    name: Annotated[str, Field(min_length=1, max_length=100)]
    description: Annotated[str, Field(max_length=500)] = ""
    probes: tuple[Name, ...] | None = None  # default: the probes whose component is this id
    breaker_groups: tuple[Name, ...] = ()


class StatuspagePush(Section):
    """An Atlassian Statuspage page to keep in step (management API)."""

    api_key: Secret
    page_id: Annotated[str, Field(min_length=1, max_length=64)]
    components: dict[Name, str] = {}  # component id -> Statuspage component id
    base_url: Annotated[str, Field(pattern=r"^https?://")] = "https://api.statuspage.io/v1"


class WebhookPush(Section):
    """A webhook that gets every change, signed with HMAC-SHA256."""

    name: Name
    url: Annotated[str, Field(pattern=r"^https?://")]
    secret: Secret


class StatusPageConfig(Section):
    """The public status page (``/status``, ``/api/v2/*.json``, ``/status/feed.atom``) and its pushes."""

    title: Annotated[str, Field(min_length=1, max_length=100)] = "Service status"
    url: Annotated[str, Field(pattern=r"^https?://")] | None = None  # the page's public address, for links
    page_id: Name = "sidecar"
    components: tuple[StatusComponentConfig, ...] | None = None  # default: one per probe component
    cache_max_age: PositiveDuration = 10.0  # Cache-Control max-age of the public answers
    refresh_interval: PositiveDuration = 30.0  # recomputed at least this often (maintenance starts, uptime bars)
    debounce: PositiveDuration = 1.0  # changes within this long are computed and pushed once
    statuspage: StatuspagePush | None = None
    webhooks: tuple[WebhookPush, ...] = ()

    @model_validator(mode="after")
    def _webhook_names(self) -> StatusPageConfig:
        names = [hook.name for hook in self.webhooks]
        if len(set(names)) != len(names) or "statuspage" in names:
            raise ValueError("webhook names must be unique and not 'statuspage' (it names the Statuspage target)")
        return self
