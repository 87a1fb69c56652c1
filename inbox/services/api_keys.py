"""API keys: created by the Main Admin (the secret shown once, only its hash kept),
listed, revoked; and the lookup every API request makes. A key acts for its whole
practice (all clinics) as an actor the services understand (ApiActor)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update

from ..extensions import db
from ..models import SCOPES, Account, ApiKey, Clinic, User, scoped, utcnow

SECRET_PREFIX = "ci_"
PREFIX_CHARS = 10  # "ci_" and 7 characters of the secret, shown in lists
NAME_CHARS = 80
# last_used_at is written at most this often per key: no write per request.
TOUCH_EVERY = timedelta(minutes=1)


class KeyRefused(ValueError):
    """A key that cannot be created; the message says why."""


@dataclass
class ApiActor:
    """An API key acting for its practice, shaped like the User the services take: every
    clinic, the Inbox privilege, and its own name in the audit log."""

    key: ApiKey
    account: Account
    role: str = "api"
    all_clinics: bool = True
    clinics: list[Clinic] = field(default_factory=list)

    @property
    def id(self) -> None:
        return None  # no user row: the audit log names the key instead

    @property
    def api_key_id(self) -> int:
        return self.key.id

    @property
    def account_id(self) -> int:
        return self.account.id

    @property
    def name(self) -> str:
        return f"API key “{self.key.name}”"

    @property
    def is_main_admin(self) -> bool:
        return False

    @property
    def can_use_inbox(self) -> bool:
        return True

    def has_privilege(self, _privilege: str) -> bool:
        return True


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def clean_scopes(raw: list[str] | str) -> list[str]:
    items = raw.split(",") if isinstance(raw, str) else raw
    chosen = {s.strip().lower() for s in items if s and s.strip()}
    unknown = chosen - set(SCOPES)
    if unknown:
        raise KeyRefused(f"Unknown scope “{sorted(unknown)[0]}”. Scopes are {', '.join(SCOPES)}.")
    if not chosen:
        raise KeyRefused("Pick at least one scope: what the key may do.")
    return [s for s in SCOPES if s in chosen]


def create(
    account_id: int, name: str, scopes: list[str] | str, created_by: User | None = None
) -> tuple[ApiKey, str]:
    """A new key and its secret (returned once, never stored). Raises KeyRefused."""
    name = " ".join((name or "").split())
    if not name:
        raise KeyRefused("Name the key after the system that will use it, like “EHR sync”.")
    if len(name) > NAME_CHARS:
        raise KeyRefused(f"Keep the name to {NAME_CHARS} characters.")
    chosen = clean_scopes(scopes)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        account_id=account_id, name=name, prefix=secret[:PREFIX_CHARS],
        secret_hash=hash_secret(secret), scopes=",".join(chosen),
        created_by_user_id=created_by.id if created_by else None,
    )  # fmt: skip
    db.session.add(key)
    db.session.commit()
    return key, secret


def keys(account_id: int) -> list[ApiKey]:
    """The practice's keys, live ones first, newest first."""
    return list(
        db.session.scalars(
            scoped(ApiKey, account_id).order_by(ApiKey.revoked_at.is_not(None), ApiKey.id.desc())
        ).unique()
    )


def get(account_id: int, key_id: int | str) -> ApiKey | None:
    from ..models import get_scoped

    return get_scoped(ApiKey, key_id, account_id)


def revoke(key: ApiKey) -> bool:
    """Revoked from the next request on. False when it already was."""
    if key.revoked_at is not None:
        return False
    key.revoked_at = utcnow()
    db.session.commit()
    return True


def authenticate(secret: str) -> ApiKey | None:
    """The live key this secret belongs to, or None. The lookup is by the secret's hash
    (an index); the hashes are compared again in constant time."""
    if not secret or not secret.startswith(SECRET_PREFIX) or len(secret) > 200:
        return None
    digest = hash_secret(secret)
    key = db.session.scalars(select(ApiKey).where(ApiKey.secret_hash == digest)).first()
    if key is None or not hmac.compare_digest(key.secret_hash, digest):
        return None
    if key.revoked_at is not None:
        return None
    return key


def touch(key: ApiKey, now: datetime | None = None) -> None:
    """Record the key's use, at most once per TOUCH_EVERY (a conditional UPDATE, so many
    processes write it once)."""
    now = now or utcnow()
    if key.last_used_at is not None and now - key.last_used_at < TOUCH_EVERY:
        return
    stale = now - TOUCH_EVERY
    db.session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key.id,
            (ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < stale),
        )
        .values(last_used_at=now),
        execution_options={"synchronize_session": False},
    )
    db.session.commit()


def actor(key: ApiKey) -> ApiActor:
    return ApiActor(key=key, account=key.account)
