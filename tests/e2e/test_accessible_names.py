"""Every control's accessible name is its words: decorative icons (Bootstrap Icons draw
with private-use characters) are hidden from assistive technology, so "Inbox Settings"
is not read as a glyph plus "Inbox Settings", nor "Send" as " Send"."""

import re

from tests.e2e.conftest import login
from tests.e2e.test_care import _ava

PRIVATE_USE = re.compile("[\ue000-\uf8ff]")
NAME = re.compile(r'- [a-z]+ "((?:[^"\\]|\\.)*)"')
PAGES = ["/inbox", "/inbox/c/{conv}", "/inbox/new", "/patients", "/patients/{patient}",
         "/settings/profile", "/settings/inbox", "/settings/inbox/replies",
         "/settings/teammates", "/settings/billing", "/settings/audit", "/account"]  # fmt: skip


def test_no_control_or_heading_is_named_by_an_icon(app, page, stack):
    page.set_viewport_size({"width": 1366, "height": 900})
    login(page, stack, "admin@glow.test")
    offenders = []
    patient, conv = _ava(app)
    for path in PAGES:
        path = path.format(patient=patient, conv=conv)
        r = page.goto(stack.url + path)
        assert r.status == 200, path
        page.wait_for_load_state("networkidle")
        tree = page.locator("body").aria_snapshot()
        for line in tree.splitlines():
            # A role's name (in quotes), or text read out as it is: never a glyph. (An
            # image's own glyph after its name is its picture, not its name.)
            named = NAME.match(line.strip())
            said = named.group(1) if named else line.strip()
            if PRIVATE_USE.search(said) and not line.strip().startswith("- img "):
                offenders.append(f"{path}: {line.strip()}")
    assert offenders == []
