"""Live events over Redis pub/sub. Only this module knows the channel names.
Events carry ids, never patient text."""

from __future__ import annotations

import json
import logging

import redis
from flask import Flask

from .broker import get_redis

log = logging.getLogger(__name__)


def channel(account_id: int) -> str:
    return f"clinic-inbox:account:{account_id}"


def publish(account_id: int, event: dict, app: Flask | None = None) -> None:
    """Best effort: a lost event costs a live update, never data (pages re-read the DB)."""
    try:
        get_redis(app).publish(channel(account_id), json.dumps(event))
    except redis.RedisError:
        log.warning("could not publish %s for account %s", event.get("type"), account_id)
