"""Reading the inbox: which conversations a user may see, filtered by view, tab,
clinic and search; counts; read/unread; the conversation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Integer,
    Select,
    and_,
    bindparam,
    event,
    false,
    func,
    literal_column,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.orm import Session, defaultload

from .. import events
from ..extensions import db
from ..models import (
    DIRECTION_IN,
    NUMBER_ACTIVE,
    PAPERWORK_OUTSTANDING,
    Conversation,
    ConversationCount,
    InboxNumber,
    Message,
    PaperworkItem,
    Patient,
    ReplyTemplate,
    User,
    WebhookEndpoint,
    get_scoped,
    scoped,
)
from ..models.base import MAX_ID
from . import access, event_hooks, page_cache, search_text
from .numbers import active_number

PAGE_SIZE = 50


@dataclass(frozen=True)
class View:
    """An Inbox view, defined once: its menu entry, and which conversations it holds as
    the facts the counters are kept by (None: either way). The list's WHERE (`where`), the
    counts over the counter buckets and a conversation's own test (`holds`) all follow from
    these facts; tests/integration/test_counts.py checks the triggers' buckets against
    the list for every view."""

    key: str
    label: str
    icon: str
    last_in: bool | None = None  # the newest text is the patient's
    has_failed: bool | None = None  # some text of ours failed to deliver
    opted_out: bool | None = None  # the patient replied STOP
    counted: bool = False  # the menu shows how many

    def where(self) -> list:
        return [
            when_true if wanted else when_false
            for name, (when_true, when_false) in _FACT_SQL.items()
            if (wanted := getattr(self, name)) is not None
        ]

    def holds(self, facts: Any) -> bool:
        """A bucket, or anything with last_in, has_failed and opted_out, is in this view."""
        return all(
            getattr(self, name) is None or bool(getattr(facts, name)) == getattr(self, name)
            for name in _FACT_SQL
        )


# Each fact of a View as SQL: (when true, when false), never NULL.
_FACT_SQL = {
    "last_in": (
        Conversation.last_direction == DIRECTION_IN,
        or_(Conversation.last_direction.is_(None), Conversation.last_direction != DIRECTION_IN),
    ),
    "has_failed": (Conversation.has_failed.is_(True), Conversation.has_failed.is_(False)),
    "opted_out": (Conversation.opted_out.is_(True), Conversation.opted_out.is_(False)),
}


def facts(conv: Conversation) -> Bucket:
    """A conversation's own facts, as a bucket of one."""
    return Bucket(bool(conv.unread), conv.last_direction == DIRECTION_IN,
                  bool(conv.has_failed), bool(conv.opted_out), 1)  # fmt: skip


VIEWS = {
    v.key: v
    for v in (
        View("all", "All conversations", "chat-square-text"),
        View("unread", "Unread", "envelope", counted=True),  # all, on the Unread tab
        View("needs_reply", "Needs reply", "reply", last_in=True, opted_out=False, counted=True),
        View("failed", "Failed to deliver", "exclamation-triangle", has_failed=True, counted=True),
        View("opted_out", "Opted out", "slash-circle", opted_out=True),
    )
}
TABS = {"unread": "Unread", "read": "Read"}


@dataclass(frozen=True)
class Filters:
    """What the user has on screen: view, Unread/Read tab, clinic, search."""

    view: str = "all"
    tab: str = "unread"
    clinic_id: int | None = None
    q: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, str], user: User) -> Filters:
        view = args.get("view", "all")
        view = view if view in VIEWS else "all"
        tab = args.get("tab", "unread")
        tab = tab if tab in TABS else "unread"
        if view == "unread":
            tab = "unread"
        clinic_id = None
        raw_clinic = args.get("clinic", "")
        if raw_clinic.isdigit() and int(raw_clinic) in {c.id for c in access.visible_clinics(user)}:
            clinic_id = int(raw_clinic)
        q = " ".join((args.get("q") or "").split())[:80]
        return cls(view, tab, clinic_id, q)

    def args(self, **changes) -> dict[str, str | int]:
        """Query-string arguments for url_for, leaving out defaults."""
        f = replace(self, **changes) if changes else self
        out: dict[str, str | int] = {}
        if f.view != "all":
            out["view"] = f.view
        if f.tab != "unread" or f.view == "unread":
            out["tab"] = f.tab
        if f.clinic_id:
            out["clinic"] = f.clinic_id
        if f.q:
            out["q"] = f.q
        return out


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Cursor:
    """Keyset position: the (time, id) of the last row shown (a conversation's
    last_message_at, or a message's sent_at). Encoded in whole microseconds, exactly."""

    at: datetime
    id: int

    def encode(self) -> str:
        return f"{(self.at - _EPOCH) // timedelta(microseconds=1)}_{self.id}"

    @classmethod
    def decode(cls, raw: str | None) -> Cursor | None:
        if not raw:
            return None
        try:
            ts, _, ident = raw.partition("_")
            if "." in ts:  # the older float-seconds form
                return cls(datetime.fromtimestamp(float(ts), UTC), int(ident))
            return cls(_EPOCH + timedelta(microseconds=int(ts)), int(ident))
        except (ValueError, OverflowError, OSError):
            return None


# ---- per-unit-of-work memo --------------------------------------------------------------
#
# One page asks for the active number and the counts several times (list, tabs, menu,
# badge). They are remembered in the session's `info` until it flushes, commits or rolls
# back, so a page runs each query once and never sees a stale answer after a write.

_MEMO = "clinic_inbox_memo"


def _memo(key: tuple, compute):
    memo = db.session.info.setdefault(_MEMO, {})
    if key not in memo:
        memo[key] = compute()
    return memo[key]


@event.listens_for(Session, "after_flush")
@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_soft_rollback")
def _forget(session, *_args) -> None:
    session.info.pop(_MEMO, None)


def inbox_number(user: User) -> InboxNumber | None:
    """The account's active number when its Inbox is on (None otherwise)."""
    if not user.account.inbox_enabled:
        return None
    return _memo(("number", user.account_id), lambda: active_number(user.account_id))


# ---- who sees what ----------------------------------------------------------------------


def visible(user: User) -> Select:
    """Conversations this user may see: their account, the active number of an enabled
    Inbox, their clinics."""
    number = inbox_number(user)
    stmt = scoped(Conversation, user.account_id).where(
        Conversation.inbox_number_id == (number.id if number else -1),
        Conversation.last_message_at.is_not(None),
        *access.clinic_scope(user).filter(Conversation.clinic_id),
    )
    return stmt


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _prefix(column, key: str):
    """column starts with key, as an index range (the keys compare byte-wise)."""
    upper = key[:-1] + chr(ord(key[-1]) + 1)
    return and_(column >= key, column < upper)


def _phone_fts_available() -> bool:
    """SQLite keeps patients_phone_fts (FTS5 trigram) when its build supports it."""
    bind = db.session.get_bind()
    cached = _phone_fts.get(id(bind))
    if cached is None:
        cached = bind.dialect.name == "sqlite" and bool(
            db.session.execute(
                text("SELECT 1 FROM sqlite_master WHERE name = 'patients_phone_fts'")
            ).scalar()
        )
        _phone_fts[id(bind)] = cached
    return cached


_phone_fts: dict[int, bool] = {}


def _phone_digits(q: str) -> str | None:
    """The digits of a search that is a phone number or part of one (no letters)."""
    digits = "".join(ch for ch in q if ch.isdigit())
    if not digits or any(ch.isalpha() for ch in q):
        return None
    return digits[1:] if len(digits) == 11 and digits.startswith("1") else digits


def _name_ranges(key: str) -> list:
    """A prefix of "first last" (name_search starts with it) or of "last first"
    (name_reversed): each an index range on (account_id, key, id)."""
    return [_prefix(Patient.name_search, key), _prefix(Patient.name_reversed, key)]


def search_condition(q: str):
    """Patients by first or last name prefix, full name, or phone digits in any format.

    Names: either name range, as one OR (a UNION of the two measured slower where the
    database joins patients to conversations: bench/RESULTS.md). Phone: the digits
    anywhere in the number, through a trigram index (pg_trgm on PostgreSQL, FTS5 on
    SQLite) when there are three or more."""
    digits = _phone_digits(q)
    if digits is not None:
        pattern = f"%{_like_escape(digits)}%"
        if len(digits) >= 3 and _phone_fts_available():
            return Patient.id.in_(
                select(literal_column("patients_phone_fts.rowid"))
                .select_from(text("patients_phone_fts"))
                .where(literal_column("patients_phone_fts.phone_digits").like(pattern))
            )
        return Patient.phone_digits.like(pattern, escape="\\")
    key = search_text.fold(q)
    if not key:
        return false()
    return or_(*_name_ranges(key))


def _named(account_id: int, key: str) -> CompoundSelect:
    """The ids of the account's patients a name search matches, each range on its own
    (UNION ALL), so both are read from their indexes alone."""
    return union_all(
        *(select(Patient.id).where(Patient.account_id == account_id, r) for r in _name_ranges(key))
    )


# A name search matching at least this many patients is broad: its page walks the list
# index newest first, testing each conversation against the matched ids held in a hash,
# and stops at a page. (A narrow one starts from its few patients' conversations.)
BROAD_SEARCH = 500
# From this many on (PostgreSQL), the database's own plan wins: it walks the list and
# looks up each entry's patient by its key, fewer lookups than there are ids to hash.
# (It also keeps the set well inside work_mem: one that does not fit is not hashed but
# scanned for every entry.) SQLite has no such plan, and its IN builds an index. Both
# measured on the bench data set (bench/RESULTS.md).
VERY_BROAD_SEARCH = 10_000


def _hashed_key(user: User, q: str) -> str | None:
    """The folded name when a page of this search is best read by the hashed walk (see
    _filtered), else None. The matched patients are counted from the name indexes, no
    further than it takes to decide. A phone search never walks: its trigram index
    yields the matches all at once, so counting them first would cost a second search."""
    if _phone_digits(q) is not None:
        return None
    key = search_text.fold(q)
    if not key:
        return None
    postgres = db.session.get_bind().dialect.name == "postgresql"
    cap = VERY_BROAD_SEARCH if postgres else BROAD_SEARCH
    capped = _named(user.account_id, key).limit(cap).subquery()
    n = db.session.scalar(select(func.count()).select_from(capped))
    if n < BROAD_SEARCH or (postgres and n >= VERY_BROAD_SEARCH):
        return None
    return key


def _filtered(
    user: User, f: Filters, *, tab: bool = True, view: bool = True, walk: str | None = None
) -> Select:
    """The user's conversations in view, tab, clinic and search. `walk`: the folded name
    of a broad search, for a page read in list order (see _hashed_key)."""
    stmt = visible(user)
    if f.clinic_id:
        stmt = stmt.where(Conversation.clinic_id == f.clinic_id)
    if view:
        stmt = stmt.where(*VIEWS[f.view].where())
    if walk:
        # IS TRUE keeps PostgreSQL from making the IN a join (it does so only at the top of
        # WHERE): the matched ids become one hashed set, tested as the list index (which
        # carries patient_id) is read newest first, so a page of a broad search costs
        # about a page over its share of the list. SQLite reads it the same way.
        stmt = stmt.where(Conversation.patient_id.in_(_named(user.account_id, walk)).is_(True))
    elif f.q:
        stmt = stmt.where(
            Conversation.patient_id.in_(
                select(Patient.id).where(
                    Patient.account_id == user.account_id, search_condition(f.q)
                )
            )
        )
    if tab and f.tab in TABS:  # any other tab (the API's "any"): read and unread alike
        stmt = stmt.where(Conversation.unread.is_(f.tab == "unread"))
    return stmt


def in_list(user: User, f: Filters, conversation_id: int) -> bool:
    """Whether the list the user has on screen (view, tab, clinic, search) holds it."""
    stmt = _filtered(user, f).where(Conversation.id == conversation_id)
    return db.session.scalar(stmt.with_only_columns(Conversation.id)) is not None


def keep_open_row(
    user: User,
    f: Filters,
    rows: list[Conversation],
    cursor: Cursor | None,
    conv: Conversation | None,
) -> list[Conversation]:
    """The Unread list around the conversation being read: its row stays, in its place,
    though reading it moved it to Read (as a live update leaves it in the tab reading it).
    So a reload, a deep link or New message shows the open conversation in the list."""
    if conv is None or f.tab != "unread" or conv.unread or conv.last_message_at is None:
        return rows
    if any(r.id == conv.id for r in rows) or not in_list(user, replace(f, tab="read"), conv.id):
        return rows

    def key(c: Conversation) -> tuple:
        return (c.last_message_at, c.id)

    if cursor is not None and rows and key(conv) < key(rows[-1]):
        return rows  # further down the list than this page
    return sorted([*rows, conv], key=key, reverse=True)


def list_page(
    user: User, f: Filters, cursor: Cursor | None = None, limit: int = PAGE_SIZE
) -> tuple[list[Conversation], Cursor | None]:
    """One page of the list, newest activity first, by keyset (never OFFSET).

    Two steps (a "deferred join"): the page's ids from an index alone, then those rows
    with their patient and clinic. The ids: the list index read newest first; for a
    narrow search, its patients' entries in the (number, patient) index, sorted; for a
    broad one, the list index again, each entry tested against the matched patients."""
    stmt = _filtered(user, f, walk=_hashed_key(user, f.q) if f.q else None)
    if cursor is not None:
        stmt = stmt.where(
            or_(
                Conversation.last_message_at < cursor.at,
                and_(Conversation.last_message_at == cursor.at, Conversation.id < cursor.id),
            )
        )
    stmt = stmt.order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
    ids = list(db.session.scalars(stmt.with_only_columns(Conversation.id).limit(limit + 1)))
    more = len(ids) > limit
    ids = ids[:limit]
    by_id = {
        c.id: c
        for c in db.session.scalars(
            # A row shows the patient and the clinic, never the patient's home clinic.
            select(Conversation)
            .where(Conversation.id.in_(ids))
            .options(defaultload(Conversation.patient).lazyload(Patient.home_clinic))
        ).unique()
    }
    rows = [by_id[i] for i in ids if i in by_id]
    next_cursor = Cursor(rows[-1].last_message_at, rows[-1].id) if more and rows else None
    return rows, next_cursor


# ---- counts ---------------------------------------------------------------------------
#
# Counts come from conversation_counts, a few dozen rows per account kept exact by
# triggers (see ConversationCount), never from COUNT(*) over conversations or messages.
# Only a search is counted by query: its matches are few and not known in advance.


@dataclass(frozen=True)
class Bucket:
    unread: bool
    last_in: bool
    has_failed: bool
    opted_out: bool
    n: int


def buckets(user: User, clinic_id: int | None = None) -> list[Bucket]:
    """The user's visible conversations, counted per (unread, last inbound, failed,
    opted out): one query over the counters table."""
    number = inbox_number(user)
    if number is None:
        return []
    return _memo(("buckets", user.id, clinic_id), lambda: _buckets(user, number, clinic_id))


def _buckets(user: User, number: InboxNumber, clinic_id: int | None) -> list[Bucket]:
    cc = ConversationCount
    stmt = (
        select(cc.unread, cc.last_in, cc.has_failed, cc.opted_out, func.sum(cc.n))
        .where(cc.account_id == user.account_id, cc.inbox_number_id == number.id)
        .group_by(cc.unread, cc.last_in, cc.has_failed, cc.opted_out)
        .where(*access.clinic_scope(user).filter(cc.clinic_key))
    )
    if clinic_id:
        stmt = stmt.where(cc.clinic_key == clinic_id)
    return [Bucket(bool(u), bool(i), bool(fl), bool(o), int(n or 0))
            for u, i, fl, o, n in db.session.execute(stmt)]  # fmt: skip


def tab_counts(user: User, f: Filters) -> dict[str, int]:
    """Unread and Read counts for what is on screen."""
    counts = {"unread": 0, "read": 0}
    if f.q:
        sub = _filtered(user, f, tab=False).with_only_columns(Conversation.unread).subquery()
        for unread, n in db.session.execute(
            select(sub.c.unread, func.count()).group_by(sub.c.unread)
        ):
            counts["unread" if unread else "read"] = n
        return counts
    for b in buckets(user, f.clinic_id):
        if VIEWS[f.view].holds(b):
            counts["unread" if b.unread else "read"] += b.n
    return counts


def menu_counts(user: User, clinic_id: int | None, tab: str = "unread") -> dict[str, Any]:
    """Unread, Needs reply and Failed counts for the left menu, and the tab each view opens
    on (`landing`): the one on screen (`tab`), unless it holds none of the view's
    conversations and the other does (three failed texts, all read, are not an empty
    Unread tab)."""
    rows = buckets(user, clinic_id)
    out: dict[str, Any] = {"unread": sum(b.n for b in rows if b.unread), "landing": {}}
    other = "read" if tab == "unread" else "unread"
    for view in ("needs_reply", "failed", "opted_out"):
        n = {"unread": 0, "read": 0}
        for b in rows:
            if VIEWS[view].holds(b):
                n["unread" if b.unread else "read"] += b.n
        out[view] = n["unread"] + n["read"]
        out["landing"][view] = other if not n[tab] and n[other] else tab
    return out


def unread_count(user: User) -> int:
    """The Inbox tab's badge: unread conversations across every clinic the user may see."""
    return sum(b.n for b in buckets(user) if b.unread)


def recount(user: User, clinic_id: int | None = None) -> list[Bucket]:
    """The same buckets counted from the conversations themselves (checks and tests)."""
    f = Filters(clinic_id=clinic_id)
    sub = (
        _filtered(user, f, tab=False, view=False)
        .with_only_columns(
            Conversation.unread,
            func.coalesce(Conversation.last_direction == DIRECTION_IN, False).label("last_in"),
            Conversation.has_failed,
            Conversation.opted_out,
        )  # fmt: skip
        .subquery()
    )
    stmt = select(sub.c.unread, sub.c.last_in, sub.c.has_failed, sub.c.opted_out, func.count())
    stmt = stmt.group_by(sub.c.unread, sub.c.last_in, sub.c.has_failed, sub.c.opted_out)
    return [Bucket(bool(u), bool(i), bool(fl), bool(o), int(n))
            for u, i, fl, o, n in db.session.execute(stmt)]  # fmt: skip


# ---- one conversation -------------------------------------------------------------------


def get_visible(user: User, conversation_id: int | str) -> Conversation | None:
    conv = get_scoped(Conversation, conversation_id, user.account_id)
    if conv is None:
        return None
    number = inbox_number(user)
    if number is None or conv.inbox_number_id != number.id:
        return None
    if not access.clinic_scope(user).allows(conv.clinic_id):
        return None
    return conv


@dataclass
class Opened:
    """A conversation being opened, read with what its pane shows besides its messages, in
    one statement: its number (the active one, else it is not visible), whether the account
    has saved replies (the Templates menu; its items load when it is opened) and the
    patient's outstanding forms (how many, and when they were last texted about)."""

    conv: Conversation
    number: InboxNumber
    has_templates: bool
    paperwork: int
    paperwork_last: datetime | None  # the last reminder, however long ago
    has_webhooks: bool  # an enabled endpoint: reading it is offered to event_hooks


@cache
def _open_statement(limited: bool) -> Select:
    """open_visible's query, built once per shape (a user of some clinics or of all):
    building it costs more than running it."""
    outstanding = (
        PaperworkItem.account_id == Conversation.account_id,
        PaperworkItem.patient_id == Conversation.patient_id,
        PaperworkItem.status == PAPERWORK_OUTSTANDING,
    )
    account_id = bindparam("account_id")
    return (
        scoped(Conversation, account_id)
        .join(InboxNumber, InboxNumber.id == Conversation.inbox_number_id)
        .where(
            Conversation.id == bindparam("conversation_id"),
            InboxNumber.account_id == account_id,
            InboxNumber.status == NUMBER_ACTIVE,
            *(
                [Conversation.clinic_id.in_(bindparam("clinic_ids", expanding=True))]
                if limited
                else []
            ),
        )  # fmt: skip
        .options(defaultload(Conversation.patient).lazyload(Patient.home_clinic))
        .add_columns(
            InboxNumber,
            select(ReplyTemplate.id)
            .where(ReplyTemplate.account_id == Conversation.account_id)
            .exists()
            .label("has_templates"),
            select(WebhookEndpoint.id)
            .where(
                WebhookEndpoint.account_id == Conversation.account_id,
                WebhookEndpoint.enabled.is_(True),
            )
            .exists()
            .label("has_webhooks"),
            select(func.count()).where(*outstanding).scalar_subquery().label("paperwork"),
            select(func.max(PaperworkItem.reminded_at))
            .where(*outstanding)
            .scalar_subquery()
            .label("paperwork_last"),
        )
    )


def open_visible(user: User, conversation_id: int | str) -> Opened | None:
    """get_visible() and the composer's facts (see Opened) in one query; None when the user
    may not see it (another account, not the active number of an enabled Inbox, another
    clinic: the same rules as access.clinic_scope)."""
    try:
        cid = int(conversation_id)
    except (TypeError, ValueError):
        return None
    if not 0 < cid <= MAX_ID or not user.account.inbox_enabled:
        return None
    scope = access.clinic_scope(user)
    params: dict[str, Any] = {"account_id": user.account_id, "conversation_id": cid}
    if not scope.every:
        params["clinic_ids"] = sorted(scope.ids) or [-1]
    row = db.session.execute(_open_statement(not scope.every), params).unique().first()
    if row is None:
        return None
    conv, number, has_templates, has_webhooks, paperwork, last = row
    _memo(("number", user.account_id), lambda: number)
    return Opened(conv, number, bool(has_templates), int(paperwork or 0), last,
                  bool(has_webhooks))  # fmt: skip


def mark_opened(user: User, opened: Opened) -> bool:
    """Opening reads a conversation. Commits what the request has pending with it (the audit
    row of the view) in one transaction, and only when there is something to write;
    whether the read state changed. A read conversation is offered to the practice's
    webhook endpoints as mark_many() does (only when it has one: see Opened). What the request
    loaded stays loaded (nothing in it changed but what it wrote), and the live event goes
    to Redis in the same round trip as the page-cache generation."""
    conv = opened.conv
    changed = conv.unread
    if changed:
        conv.unread = False
        if opened.has_webhooks:  # (the same event as mark_many(); no endpoint, no statement)
            event_hooks.emit([event_hooks.conversation_read(conv.account_id, conv.id)])
        page_cache.announce(conv.account_id, events.read_changed([conv.id]))
    session = db.session()
    if changed or session.new or session.dirty:
        session.expire_on_commit = False
        try:
            session.commit()
        finally:
            session.expire_on_commit = True
        _memo(("number", user.account_id), lambda: opened.number)  # forgotten by the commit
    return changed


MESSAGE_PAGE = 50


def message_page(
    conv: Conversation, before: Cursor | None = None, limit: int = MESSAGE_PAGE
) -> tuple[list[Message], Cursor | None]:
    """The newest `limit` messages of the conversation (before `before`, when scrolling back),
    oldest first, and the cursor for the screen before them (None: the conversation starts
    here). One index range on (conversation_id, sent_at, id) whatever the conversation's length."""
    if before is None:  # the first screen: the statement built once
        stmt = _first_screen()
        params = {"account_id": conv.account_id, "conversation_id": conv.id, "n": limit + 1}
        rows = list(db.session.scalars(stmt, params).unique())
        return _screen(rows, limit)
    stmt = scoped(Message, conv.account_id).where(
        Message.conversation_id == conv.id,
        or_(
            Message.sent_at < before.at,
            and_(Message.sent_at == before.at, Message.id < before.id),
        ),
    )
    stmt = stmt.order_by(Message.sent_at.desc(), Message.id.desc()).limit(limit + 1)
    # A bubble names who sent it, never their account.
    stmt = stmt.options(defaultload(Message.sent_by).lazyload(User.account))
    return _screen(list(db.session.scalars(stmt).unique()), limit)


@cache
def _first_screen() -> Select:
    return (
        scoped(Message, bindparam("account_id"))
        .where(Message.conversation_id == bindparam("conversation_id"))
        .order_by(Message.sent_at.desc(), Message.id.desc())
        .limit(bindparam("n", type_=Integer))
        # A bubble names who sent it, never their account.
        .options(defaultload(Message.sent_by).lazyload(User.account))
    )


def _screen(rows: list[Message], limit: int) -> tuple[list[Message], Cursor | None]:
    """Newest first, one more than a screen -> the screen oldest first, and the cursor
    before it (None: the conversation starts here)."""
    older = None
    if len(rows) > limit:
        rows = rows[:limit]
        older = Cursor(rows[-1].sent_at, rows[-1].id)
    rows.reverse()
    return rows, older


def mark_many(user: User, ids: Iterable[int | str], *, unread: bool) -> int:
    """Mark as read / unread (one conversation is a batch of one), only conversations the
    user may see and only those it changes; how many. Opening a conversation reads it
    through mark_opened, in the same transaction as its audit row."""
    wanted = {int(i) for i in ids if str(i).isdigit()}
    if not wanted:
        return 0
    allowed = (
        visible(user)
        .where(Conversation.id.in_(wanted), Conversation.unread.is_(not unread))
        .with_only_columns(Conversation.id)
    )
    changing = list(db.session.scalars(allowed))
    if not changing:
        return 0
    db.session.execute(
        update(Conversation)
        .where(Conversation.id.in_(changing))
        .values(unread=unread)
        .execution_options(synchronize_session=False)
    )
    if not unread:
        event_hooks.emit([event_hooks.conversation_read(user.account_id, c) for c in changing])
    db.session.commit()
    events.publish(user.account_id, events.read_changed(changing))
    return len(changing)
