"""A real practice from an empty database, as a new installation meets it: the login page
says how to begin, `flask create-practice` prints the Main Admin's link, the Main Admin sets
a password and is logged in, later forgets it, gets a reset email at a real SMTP server
(aiosmtpd, in its own process), follows it, chooses a new one and logs in with it."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.e2e.conftest import DESKTOP, ROOT, choose_password, empty_stack, login, shoot
from tests.mailserver import link_in

EMAIL = "dana.reyes@bloommedspa.com"
FIRST = "velvet orbit quarry lantern"
SECOND = "amber kettle drizzle canyon"


def test_a_practice_from_an_empty_database_to_a_reset_password(
    app, database_url, redis_url, page, mail_server
):
    page.set_viewport_size(DESKTOP)
    sender = "Bloom Med Spa <no-reply@bloommedspa.com>"
    with empty_stack(app, database_url, redis_url, mail_server, sender) as stack:
        # Nothing on the server yet: "/" says how to begin.
        page.goto(stack.url + "/")
        page.get_by_role("heading", name="No practice here yet").wait_for()
        assert "create-practice" in page.locator("#no-practice").inner_text()
        shoot(page, "first-run", "no-practice")

        created = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", "create-practice", "Bloom Med Spa",
             "--admin-email", EMAIL, "--admin-name", "Dana Reyes",
             "--timezone", "America/Chicago"],
            cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert created.returncode == 0, created.stdout + created.stderr
        link = re.search(r"http://\S+/password/set/\S+", created.stdout).group(0)
        assert link.startswith(stack.url)
        invitation = mail_server.wait_for(1)[0]  # it was emailed too
        assert link_in(invitation) == link and invitation["To"] == EMAIL
        mail_server.clear()

        # The Main Admin opens the printed link and sets a password; a weak one is refused.
        page.goto(link)
        page.get_by_role("heading", name="Set your password").wait_for()
        choose_password(page, "bloommedspa2026", "Set password and log in")
        page.get_by_role("alert").filter(has_text="name, email or practice name").wait_for()
        shoot(page, "first-run", "set-password-refused")
        choose_password(page, FIRST, "Set password and log in")
        page.get_by_role("heading", name="Hello, Dana").wait_for()
        assert page.url.rstrip("/") == stack.url
        shoot(page, "first-run", "signed-in")

        # Your account, from the top navigation.
        page.locator("#nav-account").click()
        page.get_by_role("heading", name="Your account").wait_for()
        assert EMAIL in page.locator("#account-email").inner_text()
        shoot(page, "first-run", "your-account")
        page.get_by_role("button", name="Log out").click()
        page.get_by_role("heading", name="Welcome back").wait_for()
        shoot(page, "first-run", "login")

        # Forgot password? sends a reset email.
        page.get_by_role("link", name="Forgot password?").click()
        page.get_by_role("heading", name="Forgot your password?").wait_for()
        shoot(page, "first-run", "forgot")
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_role("button", name="Email me a link").click()
        page.get_by_role("heading", name="Check your email").wait_for()
        shoot(page, "first-run", "forgot-sent")
        [reset] = mail_server.wait_for(1)
        assert reset["Subject"] == "Reset your Clinic Inbox password"
        assert reset["From"] == "Bloom Med Spa <no-reply@bloommedspa.com>"

        page.goto(link_in(reset))
        page.get_by_role("heading", name="Choose a new password").wait_for()
        shoot(page, "first-run", "reset")
        choose_password(page, SECOND, "Save and log in")
        page.get_by_role("heading", name="Hello, Dana").wait_for()

        # The reset link is used up; the old password is gone; the new one logs in.
        page.goto(link_in(reset))
        page.get_by_role("heading", name="This link does not work").wait_for()
        shoot(page, "first-run", "link-used")
        page.goto(stack.url + "/")
        page.get_by_role("button", name="Log out").click()
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Password").fill(FIRST)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("alert").filter(has_text="do not match").wait_for()
        login(page, stack, EMAIL, SECOND)
        page.get_by_role("heading", name="Hello, Dana").wait_for()
