"""The inbox list's rows, rendered in Python: a page has 50 of them and, as a Jinja macro,
they were half of what a list page cost to render. The markup is the macro's, byte for
byte; the live updates (static/js/app.js, templates/inbox/_live.html) read it: the id
("conv-<id>"), the classes, data-at (the order rows are placed in).

What every row shares is not in it: hx-target, hx-push-url and hx-sync on #conv-list, the
profile icon in the CSS (.conv-row > .expand-link::before). Inner classes are short (cm:
main, ct: top line, tm: time, cs: second line, pv: preview)."""

from __future__ import annotations

from markupsafe import Markup, escape

from ..models import Conversation
from ..services import phones
from ..timefmt import list_time
from .timezones import account_tz

_FAILED = (
    '<i class="bi bi-exclamation-triangle-fill text-danger failed-mark" '
    'title="A text failed to deliver" aria-label="Delivery failed" role="img"></i>'
)
_OPTED_OUT = '<span class="badge text-bg-secondary">Opted out</span>'
_UNKNOWN = '<span class="conv-clinic unknown">Unknown sender</span>'
_OOB = ' hx-swap-oob="true"'
_UNREAD_DOT = '<span class="dot" title="Unread"></span>'
_READ_DOT = '<span class="dot"></span>'


def conv_row(
    c: Conversation, show_url: str, profile_url: str, open_id: int | None, oob: bool = False
) -> Markup:
    """One row of the list. show_url / profile_url: built once per page by the caller."""
    p = c.patient
    full_name = p.full_name
    name = escape(full_name or phones.display(p.phone))
    show = escape(show_url)
    at = c.last_message_at
    clinic = c.clinic
    when = escape(list_time(at, clinic.timezone if clinic else account_tz(c.account_id)))
    unread = c.unread
    classes = "conv-row" + (" unread" if unread else "") + (" selected" if open_id == c.id else "")
    chip = f'<span class="conv-clinic">{escape(clinic.name)}</span>' if clinic else ""
    marks = (_FAILED if c.has_failed else "") + (_OPTED_OUT if c.opted_out else "")
    return Markup(
        f'<li class="{classes}" id="conv-{c.id}" data-at="{at.timestamp() if at else 0}"'
        f"{_OOB if oob else ''}>\n"
        f'<input class="form-check-input conv-check" type="checkbox" name="ids" value="{c.id}" '
        f'aria-label="Select {name}">\n'
        f'<a class="conv-link" href="{show}" hx-get="{show}">'
        f"{_UNREAD_DOT if unread else _READ_DOT}"
        f'<span class="cm"><span class="ct"><span class="conv-name">{name}</span>{marks}'
        f'<span class="tm">{when}</span></span><span class="cs">{chip}'
        f"{_UNKNOWN if p.unknown_sender else ''}"
        f'<span class="pv">{escape(c.last_message_preview)}</span></span></span></a>\n'
        f'<a class="expand-link" href="{escape(profile_url)}" target="_blank" rel="noopener" '
        f'title="Open patient profile in a new tab" '
        f'aria-label="Open {escape(full_name or "patient")}\'s profile in a new tab"></a></li>'
    )
