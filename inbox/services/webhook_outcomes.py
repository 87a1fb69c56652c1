"""What a webhook (or a batch of them) did, as the intake records it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class WebhookResult:
    """What a webhook did: stored | held | duplicate | ignored | invalid."""

    outcome: str
    message_id: int | None = None
    detail: str = ""


@dataclass
class Batch:
    """What a batch of webhooks did: each handled row's outcome; after the commit, the
    accounts whose list pages changed (page cache) and the live events to publish. Rows
    without an outcome go the one-at-a-time way."""

    outcomes: dict[int, str] = field(default_factory=dict)
    events: list[tuple[int, dict]] = field(default_factory=list)
    accounts: set[int] = field(default_factory=set)
    webhooks: int = 0  # event webhook deliveries written (a job to queue after the commit)

    def add(self, other: Batch) -> None:
        self.outcomes.update(other.outcomes)
        self.events.extend(other.events)
        self.accounts |= other.accounts
        self.webhooks += other.webhooks
