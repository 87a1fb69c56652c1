"""What staff see and click in the inbox workspace, in Chromium."""

import re

from playwright.sync_api import expect

from tests.e2e.conftest import login, screenshot, settle

DESKTOP = {"width": 1440, "height": 900}
TABLET = {"width": 820, "height": 1180}
PHONE = {"width": 390, "height": 844}


def _tab(page, key: str) -> None:
    """Click Unread or Read and wait until the list has been swapped in."""
    page.locator(f"#tab-{key}").click()
    expect(page.locator(f"#tab-{key}")).to_have_attribute("aria-selected", "true")


def _open(page, stack, name: str):
    """Open a patient's conversation wherever it is (Unread or Read)."""
    page.goto(stack.url + "/inbox?q=" + name.split()[0])
    row = page.locator(".conv-row", has_text=name)
    if row.count() == 0:
        _tab(page, "read")
        row = page.locator(".conv-row", has_text=name)
    row.locator(".conv-link").click()
    expect(page.locator("#conversation-name")).to_have_text(name)


def test_navigation_badge_number_tabs_and_menu(page, stack):
    page.set_viewport_size(DESKTOP)
    login(page, stack, "staff@glow.test")
    expect(page.locator("#inbox-number")).to_have_text("(212) 555-0134")
    badge = page.locator("#inbox-badge")
    unread = int(page.locator("#count-unread").inner_text())
    expect(badge).to_have_text(str(unread))
    assert page.title().startswith(f"({unread}) ")
    for label in ("All conversations", "Unread", "Needs reply", "Failed to deliver", "Opted out",
                  "All Clinics", "Downtown", "Uptown", "Lakeside"):  # fmt: skip
        expect(page.locator("#menu").get_by_text(label, exact=True)).to_be_visible()
    screenshot(page, "inbox")

    page.locator("#menu").get_by_text("Uptown", exact=True).click()
    expect(page).to_have_url(re.compile(r"clinic=\d+"))
    clinics = page.locator(".conv-row .conv-clinic").all_inner_texts()
    assert clinics and set(clinics) == {"Uptown"}

    page.locator("#menu").get_by_text("Failed to deliver").click()
    expect(page).to_have_url(re.compile(r"view=failed"))
    page.locator("#menu").get_by_text("All Clinics").click()
    expect(page).not_to_have_url(re.compile(r"clinic="))
    _tab(page, "read")
    expect(page.locator(".conv-row .failed-mark").first).to_be_visible()

    page.locator("#menu").get_by_text("Opted out").click()
    expect(page).to_have_url(re.compile(r"view=opted_out"))
    _tab(page, "unread")
    expect(page.locator(".conv-row", has_text="Opted out").first).to_be_visible()


def test_search_is_debounced_and_bookmarkable(page, stack):
    page.set_viewport_size(DESKTOP)
    login(page, stack, "staff@glow.test")
    page.get_by_label("Search patient name or phone").press_sequentially("917-555-0100", delay=20)
    expect(page).to_have_url(re.compile(r"q=917-555-0100"))
    _tab(page, "read")
    _tab(page, "unread")
    rows = page.locator(".conv-row")
    names = [n.strip() for n in page.locator(".conv-row .conv-name").all_inner_texts()]
    if not names:
        _tab(page, "read")
        names = [n.strip() for n in page.locator(".conv-row .conv-name").all_inner_texts()]
    assert names == ["Ava Martinez"], names
    page.reload()  # the URL keeps the search
    expect(page.get_by_label("Search patient name or phone")).to_have_value("917-555-0100")
    expect(rows.first).to_contain_text("Ava Martinez")
    # Pasted rather than typed (no key presses, as a right-click Paste): it searches too.
    page.get_by_label("Search patient name or phone").fill("Liam")
    expect(page).to_have_url(re.compile(r"q=Liam"))
    # Liam is in Read or Unread, depending on the tests before (one marks him unread):
    # follow the list's "N in Unread/Read" link when this tab has no match.
    expect(page.locator("#conv-list .conv-row, .conv-empty").first).to_be_visible()
    if page.locator("#conv-list .conv-row", has_text="Liam").count() == 0:
        page.locator("#other-tab-link").click()
    expect(page.locator("#conv-list .conv-row", has_text="Liam Chen")).to_be_visible()
    # Nothing found: no "Select all" over an empty list.
    expect(page.locator("#select-all")).to_be_visible()
    page.get_by_label("Search patient name or phone").fill("zzzz")
    expect(page.locator(".conv-empty")).to_contain_text("match “zzzz”")
    expect(page.locator("#select-all")).to_be_hidden()


def test_bulk_mark_read_then_unread_updates_counts_and_badge(page, stack):
    page.set_viewport_size(DESKTOP)
    login(page, stack, "staff@glow.test")
    button = page.get_by_role("button", name="Mark as read")
    expect(button).to_be_hidden()
    before = int(page.locator("#count-unread").inner_text())
    checks = page.locator(".conv-row .conv-check")
    checks.nth(0).check()
    checks.nth(1).check()
    expect(button).to_be_visible()
    button.click()
    expect(page.locator("#count-unread")).to_have_text(str(before - 2))
    expect(page.locator("#inbox-badge")).to_have_text(str(before - 2))

    _tab(page, "read")
    page.locator("#select-all").check()
    assert all(c.is_checked() for c in page.locator(".conv-row .conv-check").all())
    page.locator("#select-all").uncheck()
    page.locator(".conv-row .conv-check").first.check()
    page.get_by_role("button", name="Mark as unread").click()
    expect(page.locator("#inbox-badge")).to_have_text(str(before - 1))


def test_back_shows_the_list_as_it_is_now(page, stack):
    """Back from a conversation just read shows it read and the counts after it, not a
    snapshot of the list as it was before the click."""
    page.set_viewport_size(DESKTOP)
    login(page, stack, "admin@glow.test")
    page.locator("#menu").get_by_text("Uptown", exact=True).click()
    expect(page).to_have_url(re.compile(r"clinic=\d+"))
    before = int(page.locator("#count-unread").inner_text())
    row = page.locator(".conv-row.unread").first
    row_id = row.get_attribute("id")
    row.locator(".conv-link").click()
    expect(page).to_have_url(re.compile(r"/inbox/c/\d+"))
    expect(page.locator("#count-unread")).to_have_text(str(before - 1))
    # Back and Forward reload the page (htmx keeps no history snapshots): wait for that
    # load, or the checks below pass on the page being left, and Forward races the reload.
    with page.expect_event("load"):
        page.go_back()
    expect(page).to_have_url(re.compile(r"/inbox\?clinic=\d+$"))
    expect(page.locator("#count-unread")).to_have_text(str(before - 1))
    expect(page.locator(f"#{row_id}")).to_have_count(0)
    expect(page.locator(".conv-row.unread")).to_have_count(before - 1)
    with page.expect_event("load"):
        page.go_forward()
    expect(page).to_have_url(re.compile(r"/inbox/c/\d+"))
    expect(page.locator("#conversation-name")).to_be_visible()


def test_conversation_composer_counter_enter_and_shift_enter(page, stack):
    page.set_viewport_size(DESKTOP)
    login(page, stack, "staff@glow.test")
    _open(page, stack, "Liam Chen")
    expect(page.locator("#toggle-unread")).to_have_text(re.compile("Mark as unread"))
    box = page.get_by_label("Reply")
    box.fill("a" * 161)
    expect(page.locator("#segment-counter")).to_contain_text("2 texts")
    box.fill("a" * 930)
    expect(page.locator("#segment-counter")).to_contain_text("Too long: 7 texts")
    box.press("Enter")
    expect(page.locator("#composer-error")).to_contain_text("the limit is 6")
    expect(page.get_by_label("Reply")).to_have_value("a" * 930)  # nothing typed is lost
    # The refusal swapped in a new composer: typing waits until htmx listens to it (a
    # paste within its settle went unheard by the counter, one run in about ten).
    settle(page)
    # A long paste is kept whole (no silent cut at a maxlength), and refused in words.
    box = page.get_by_label("Reply")
    box.fill("b" * 1200)
    expect(box).to_have_value("b" * 1200)
    expect(page.locator("#segment-counter")).to_contain_text("Too long: 8 texts")
    box.press("Enter")
    expect(page.locator("#composer-error")).to_contain_text("as 8 texts; the limit is 6")
    expect(page.get_by_label("Reply")).to_have_value("b" * 1200)
    settle(page)

    box = page.get_by_label("Reply")
    box.fill("")
    expect(page.locator("#composer-error")).to_have_count(0)  # it was about the old text
    box.press_sequentially("Line one")
    box.press("Shift+Enter")
    box.press_sequentially("Line two")
    expect(box).to_have_value("Line one\nLine two")
    box.press("Enter")
    bubble = page.locator(".msg.out").last
    expect(bubble).to_contain_text("Line one\nLine two")
    expect(bubble.locator(".sent-by")).to_have_text("Sam Lee")
    expect(bubble.locator(".status")).to_have_attribute(
        "data-status", re.compile("queued|sending|sent|delivered")
    )
    screenshot(page, "conversation")

    page.locator("#toggle-unread").click()
    expect(page.locator("#toggle-unread")).to_have_text(re.compile("Mark as read"))
    expect(page.locator(".conv-row", has_text="Liam Chen")).to_have_class(re.compile("unread"))


def test_conversation_search_highlights_matches(page, stack):
    page.set_viewport_size(DESKTOP)
    login(page, stack, "staff@glow.test")
    _open(page, stack, "Ava Martinez")
    page.get_by_label("Search this conversation").press_sequentially("thursday", delay=20)
    expect(page.locator("#messages mark").first).to_have_text(re.compile("thursday", re.I))
    expect(page.locator(".conversation-hits")).to_contain_text("match “thursday”")


def test_expand_icon_opens_profile_in_new_tab_with_timeline(page, stack):
    page.set_viewport_size(DESKTOP)
    login(page, stack, "staff@glow.test")
    _open(page, stack, "Ava Martinez")
    inbox_url = page.url
    with page.context.expect_page() as new_tab:
        page.locator("#open-profile").click()
    profile = new_tab.value
    profile.wait_for_load_state()
    expect(profile.locator("#patient-name")).to_have_text("Ava Martinez")
    expect(profile.get_by_role("heading", name="Patient Info")).to_be_visible()
    expect(profile.get_by_role("heading", name="Patient Timeline")).to_be_visible()
    expect(profile.locator(".timeline-item").first).to_be_visible()
    expect(profile.locator("#upcoming li").first).to_be_visible()
    assert page.url == inbox_url  # the inbox stays where it was
    profile.set_viewport_size(DESKTOP)
    if __import__("os").environ.get("SAVE_SCREENSHOTS"):
        screenshot(profile, "profile")


def test_new_message_by_name_and_templates(page, stack):
    page.set_viewport_size(DESKTOP)
    login(page, stack, "staff@glow.test")
    page.get_by_role("link", name="New message").click()
    dialog = page.locator("#compose-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("To").press_sequentially("Nad", delay=30)
    dialog.locator(".patient-option", has_text="Nadia").click()
    expect(dialog.locator("#picked-patient")).to_contain_text("Nadia")
    dialog.get_by_label("Clinic").select_option(label="Lakeside")
    dialog.get_by_label("Message").fill("Hi Nadia, a quick hello from the team!")
    dialog.get_by_role("button", name="Send").click()
    expect(page.locator("#conversation-name")).to_contain_text("Nadia")
    expect(page.locator(".msg.out").last).to_contain_text("a quick hello from the team")
    expect(page.locator(".conversation-title")).to_contain_text("Lakeside")

    page.get_by_text("Templates").click()
    page.locator(".template-item", has_text="Paperwork reminder").click()
    expect(page.get_by_label("Reply")).to_have_value(re.compile(r"^Hi Nadia, this is .*portal"))


def test_opening_templates_leaves_the_conversation_where_it_was_read(page, stack):
    """Only a swap of the conversation scrolls it: opening Templates (its list comes by
    htmx) leaves the conversation where the reader scrolled it."""
    page.set_viewport_size({"width": 1440, "height": 560})
    login(page, stack, "staff@glow.test")
    _open(page, stack, "Ava Martinez")
    messages = page.locator("#messages")
    assert messages.evaluate("el => el.scrollHeight > el.clientHeight + 40")
    messages.evaluate("el => { el.scrollTop = 0; }")
    page.get_by_text("Templates").click()
    expect(page.locator(".template-item").first).to_be_visible()  # swapped in: afterSwap ran
    assert messages.evaluate("el => el.scrollTop") == 0


def test_a_desktop_menu_stays_where_it_was_scrolled(page, stack):
    """The picked view or clinic is scrolled into sight only where the menu is one row that
    scrolls sideways (a phone); a desktop menu scrolled down stays put as conversations
    open."""
    page.set_viewport_size({"width": 1440, "height": 420})
    login(page, stack, "staff@glow.test")
    pane = page.locator(".menu-pane")
    assert pane.evaluate("el => el.scrollHeight > el.clientHeight + 40")
    pane.evaluate("el => { el.scrollTop = el.scrollHeight; }")
    at = pane.evaluate("el => el.scrollTop")
    page.locator(".conv-row .conv-link").first.click()
    expect(page.locator("#conversation-name")).not_to_be_empty()
    settle(page)
    assert pane.evaluate("el => el.scrollTop") == at


def test_keyboard_shortcuts(page, stack):
    page.set_viewport_size(DESKTOP)
    login(page, stack, "staff@glow.test")
    _tab(page, "read")
    page.locator("#inbox-number").click()  # somewhere neutral, not a field
    page.keyboard.press("j")
    page.keyboard.press("j")
    second = page.locator(".conv-row").nth(1)
    expect(second).to_have_class(re.compile("kbd-focus"))
    name = second.locator(".conv-name").inner_text()
    page.keyboard.press("Enter")
    expect(page.locator("#conversation-name")).to_have_text(name)
    expect(page.locator("#segment-counter")).not_to_be_empty()  # the conversation is wired up
    page.keyboard.press("r")
    expect(page.get_by_label("Reply")).to_be_focused()
    page.keyboard.press("Escape")
    page.keyboard.press("u")
    expect(page.locator("#toggle-unread")).to_have_text(re.compile("Mark as read"))
    page.keyboard.press("/")
    expect(page.get_by_label("Search patient name or phone")).to_be_focused()
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    expect(page.locator("#shortcuts-dialog")).to_be_visible()
    expect(page.locator("#shortcuts-dialog")).to_contain_text("Next / previous conversation")


def test_tablet_layout_is_stacked_screens_with_back(page, stack):
    page.set_viewport_size(TABLET)
    login(page, stack, "staff@glow.test")
    expect(page.locator("#list-pane")).to_be_visible()
    expect(page.locator("#conversation-pane")).to_be_hidden()
    row = page.locator(".conv-row .conv-link").first
    assert row.bounding_box()["height"] >= 44
    row.click()
    expect(page.locator("#conversation-pane")).to_be_visible()
    expect(page.locator("#list-pane")).to_be_hidden()
    back = page.get_by_role("link", name="Back to conversations")
    assert back.bounding_box()["height"] >= 44
    screenshot(page, "tablet")
    page.get_by_role("link", name="Patient Info").click()
    expect(page.get_by_role("heading", name="Patient Timeline")).to_be_visible()
    page.get_by_role("link", name="Back to the conversation").click()
    expect(page.locator("#conversation-pane")).to_be_visible()
    page.get_by_role("link", name="Back to conversations").click()
    expect(page.locator("#list-pane")).to_be_visible()


def test_phone_pages_fit_the_screen(browser, stack):
    """At a phone's width nothing widens the page: the menu row, the settings tabs and the
    tables scroll inside their own box, and New message can be tapped."""
    page = browser.new_context(viewport=PHONE).new_page()
    login(page, stack, "admin@glow.test")

    def fits(path: str) -> None:
        page.goto(stack.url + path)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide on a {PHONE['width']}px screen"

    for path in ("/inbox", "/settings/profile", "/settings/teammates", "/settings/audit"):
        fits(path)
    # Tables become a card a row: the article's Manage Privileges is on screen, not in a
    # box scrolled sideways.
    page.goto(stack.url + "/settings/teammates")
    for button in page.get_by_role("link", name="Manage Privileges").all():
        box = button.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    fits("/inbox")
    page.locator(".conv-row .conv-link").first.click()
    expect(page.locator("#conversation-pane")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # The name sits beside the back button, and no action's label breaks over two lines.
    back = page.get_by_role("link", name="Back to conversations").bounding_box()
    name = page.locator("#conversation-name").bounding_box()
    assert name["x"] - (back["x"] + back["width"]) < 40, (back, name)
    for button in page.locator(".conversation-actions .btn:visible").all():
        box = button.bounding_box()
        assert box["height"] <= 46, (button.inner_text(), box)
    page.get_by_role("link", name="Back to conversations").click()
    # The clinic picked stays in sight in the sideways menu, after a reload too.
    page.locator("#menu").get_by_text("Uptown", exact=True).click()
    expect(page).to_have_url(re.compile(r"clinic=\d+"))
    page.reload()
    page.wait_for_timeout(800)  # styles, icon fonts and the live socket have all arrived
    box = page.locator("#menu .menu-item.active[data-clinic]").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    page.get_by_role("link", name="New message").click()  # not covered by another element
    expect(page.locator("#compose-dialog #compose-to")).to_be_visible()


def test_works_without_javascript(browser, stack):
    context = browser.new_context(java_script_enabled=False, viewport=DESKTOP)
    page = context.new_page()
    login(page, stack, "staff@glow.test")
    page.get_by_role("tab", name=re.compile("Read")).last.click()
    expect(page).to_have_url(re.compile("tab=read"))
    page.locator(".conv-row .conv-link").first.click()
    expect(page.locator("#conversation-name")).to_be_visible()
    page.get_by_label("Reply").fill("Sent without JavaScript")
    # Send alone (its icon before it): a conversation with forms outstanding also has "Send
    # paperwork reminder".
    page.get_by_role("button", name=re.compile(r"^\W*Send$")).click()
    expect(page.locator(".msg.out").last).to_contain_text("Sent without JavaScript")
    context.close()


def test_a_click_that_fails_says_so(page, stack):
    """The server refuses (the Inbox was turned off meanwhile: 404), fails (500) or cannot
    be reached: the page says what happened instead of a click that does nothing."""
    page.set_viewport_size(DESKTOP)
    login(page, stack, "staff@glow.test")
    _open(page, stack, "Liam Chen")
    failed = page.locator("#request-failed")
    for answer, words in (
        (lambda route: route.fulfill(status=404, body="gone"), "out of date"),
        (lambda route: route.fulfill(status=500, body="oops"), "server had a problem"),
        (lambda route: route.abort(), "could not be reached"),
    ):
        page.route("**/read-state", answer)
        page.locator("#toggle-unread").click()
        expect(failed).to_contain_text(words)
        expect(failed).to_have_count(1)
        page.unroute("**/read-state")
        failed.get_by_role("button", name="Dismiss").click()  # it sits over the header
        expect(failed).to_have_count(0)
    page.route("**/read-state", lambda route: route.fulfill(status=404, body="gone"))
    page.locator("#toggle-unread").click()
    failed.get_by_role("button", name="Reload").click()  # back to what is true now
    page.wait_for_load_state()
    expect(page.locator("#conversation-name")).to_have_text("Liam Chen")


def test_short_settings_pages_fit_the_window(page, stack):
    """No pointless scroll: a settings page with little on it is the window's height."""
    page.set_viewport_size({"width": 1366, "height": 900})
    login(page, stack, "admin@glow.test")
    for path in ("/settings/profile", "/settings/teammates", "/settings/inbox/setup/done"):
        page.goto(stack.url + path)
        height = page.evaluate("document.documentElement.scrollHeight")
        assert height <= 900, f"{path} is {height}px tall in a 900px window"
