"""What a webhook (or a batch of them) did, as the intake records it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from . import event_hooks, page_cache


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
    message_ids: dict[int, int] = field(default_factory=dict)  # the text each row concerned
    after: list[Callable[[], None]] = field(default_factory=list)  # to run after the commit

    def add(self, other: Batch) -> None:
        self.outcomes.update(other.outcomes)
        self.events.extend(other.events)
        self.accounts |= other.accounts
        self.webhooks += other.webhooks
        self.message_ids.update(other.message_ids)
        self.after.extend(other.after)


def announce(done: Batch) -> None:
    """Once a batch is committed, in one round trip to Redis: its accounts' cached list
    pages are old, then its live events go out (a browser that hears one loads a page that
    shows it); then what waited for the commit (an opt-out's own event), and the event
    webhooks' job."""
    if done.accounts or done.events:
        page_cache.replace(done.accounts, announce=done.events)
    for after in done.after:
        after()
    if done.webhooks:
        event_hooks.kick()
