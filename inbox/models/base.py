"""Column types and the one tenant-scoping helper every query of tenant data goes through."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import DateTime, ForeignKey, Integer, Select, select
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from ..extensions import db

if TYPE_CHECKING:
    from .accounts import Account


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class TenantMixin:
    """Tenant data: every row belongs to one account."""

    @declared_attr
    def account_id(cls) -> Mapped[int]:  # noqa: N805
        return mapped_column(Integer, ForeignKey("accounts.id"), nullable=False)

    @declared_attr
    def account(cls) -> Mapped[Account]:  # noqa: N805
        return relationship("Account")


T = TypeVar("T", bound=TenantMixin)


def scoped(model: type[T], account_id: int) -> Select:
    """select(model) limited to one account: the only way tenant data is queried."""
    return select(model).where(model.account_id == account_id)


MAX_ID = 2**31 - 1  # ids are INTEGER: no larger one exists (PostgreSQL refuses to compare)


def get_scoped(model: type[T], object_id: int | str | None, account_id: int) -> T | None:
    try:
        object_id = int(object_id)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not 0 < object_id <= MAX_ID:
        return None
    return db.session.scalars(scoped(model, account_id).where(model.id == object_id)).first()
