"""Template filters and globals shared by every page."""

from __future__ import annotations

import re

from flask import Flask
from flask_login import current_user
from markupsafe import Markup, escape

from ..services import page_cache, phones
from ..services.access import clinic_scope, uses_inbox
from ..services.conversations import VIEWS
from ..services.receipts import SHOWN_RANK
from ..services.segments import MAX_SEGMENTS
from ..timefmt import clock, day_label, list_time, long_time
from .rows import conv_row
from .timezones import account_tz

STATUS_WORDS = {
    "queued": "Queued",
    "sending": "Sending…",
    "sent": "Sent",
    "delivered": "Delivered",
    "failed": "Failed",
    "unknown": "Not confirmed",
    "received": "Received",
}


def highlight(text: str, q: str | None) -> Markup:
    """Escape text, then wrap each case-insensitive match of q in <mark>."""
    if not q:
        return escape(text)
    pattern = re.compile(re.escape(q), re.IGNORECASE)
    out, last = [], 0
    for match in pattern.finditer(text):
        out.append(escape(text[last : match.start()]))
        out.append(Markup("<mark>") + escape(match.group(0)) + Markup("</mark>"))
        last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def register_template_helpers(app: Flask) -> None:
    app.jinja_env.filters["phone"] = phones.display
    app.jinja_env.filters["list_time"] = list_time
    app.jinja_env.filters["clock"] = clock
    app.jinja_env.filters["day_label"] = day_label
    app.jinja_env.filters["long_time"] = long_time
    app.jinja_env.filters["highlight"] = highlight
    app.jinja_env.tests["search_match"] = lambda text, q: (
        bool(q) and q.casefold() in (text or "").casefold()
    )
    app.jinja_env.globals["STATUS_WORDS"] = STATUS_WORDS
    app.jinja_env.globals["STATUS_RANK"] = SHOWN_RANK
    app.jinja_env.globals["MAX_SEGMENTS"] = MAX_SEGMENTS
    app.jinja_env.globals["INBOX_VIEWS"] = VIEWS

    app.add_template_global(account_tz)
    app.add_template_global(clinic_scope)
    app.add_template_global(uses_inbox)
    app.add_template_global(conv_row)

    @app.template_global()
    def conv_tz(conv) -> str:
        """A conversation's times: in its clinic's timezone, else the account's."""
        return conv.clinic.timezone if conv.clinic else account_tz(conv.account_id)

    @app.context_processor
    def nav_context():
        def inbox_unread() -> int:
            """The Inbox tab's badge, computed only where a template shows it."""
            if not current_user.is_authenticated or not uses_inbox(current_user):
                return 0
            from ..services.conversations import unread_count

            return unread_count(current_user)

        return {"inbox_unread": inbox_unread, "live_generation": page_cache.page_label}
