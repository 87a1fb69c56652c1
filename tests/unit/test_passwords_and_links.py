"""The rules behind passwords and one-time links, without I/O: the policy (length,
guessability by zxcvbn, built on the person's own name or email) and a link's life
(hashed, single use, expiry, replaced)."""

from datetime import UTC, datetime, timedelta
from hashlib import sha256

import pytest

from inbox.models import LINK_INVITATION, LINK_RESET, OneTimeLink
from inbox.services import links
from inbox.services.passwords import MIN_LENGTH, PasswordRefused, check

DANA = ["Dana Reyes", "dana.reyes@bloom-medspa.com", "Bloom Med Spa"]
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "password",
    ["correct horse battery staple", "Tr0ub4dor&3-lantern", "mJ8#kq2!Lp", "velvet orbit quarry"],
)
def test_strong_passwords_pass(password):
    check(password, personal=DANA)  # raises if refused


@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("short", f"at least {MIN_LENGTH} characters"),
        ("x" * 129, "at most 128"),
        ("password123", "too easy to guess"),
        ("qwertyuiop", "too easy to guess"),
        ("aaaaaaaaaaaa", "too easy to guess"),
        ("iloveyou2024", "too easy to guess"),
        ("danareyes2024", "name, email or practice"),
        ("Dana.Reyes!1", "name, email or practice"),
        ("bloommedspa1", "name, email or practice"),
        ("bloom-medspa2026", "name, email or practice"),
    ],
)
def test_weak_or_personal_passwords_are_refused_with_the_reason(password, says):
    with pytest.raises(PasswordRefused) as refused:
        check(password, personal=DANA)
    assert says in str(refused.value)


def test_common_words_of_an_address_are_not_personal():
    """'com' ends every address: a password that contains it is not built on the email."""
    check("welcome orbit quarry", personal=["Al Bo", "al@bo.com"])


def test_tokens_are_random_and_only_their_hash_is_kept():
    a, b = links.new_token(), links.new_token()
    assert a != b and len(a) >= 43  # 256 bits, URL-safe
    assert links.hash_token(a) == sha256(a.encode()).hexdigest()
    assert a not in links.hash_token(a)


def test_invitations_last_72_hours_and_resets_one():
    assert links.expiry(LINK_INVITATION, NOW) == NOW + timedelta(hours=72)
    assert links.expiry(LINK_RESET, NOW) == NOW + timedelta(hours=1)


def _link(**kw) -> OneTimeLink:
    return OneTimeLink(purpose=LINK_RESET, expires_at=NOW + timedelta(hours=1), **kw)


def test_a_link_works_until_it_expires_is_used_or_replaced():
    assert links.refusal(_link(), NOW) is None
    assert links.refusal(_link(), NOW + timedelta(minutes=59)) is None
    assert links.refusal(_link(), NOW + timedelta(hours=1)) == links.EXPIRED
    assert links.refusal(_link(used_at=NOW), NOW) == links.USED
    assert links.refusal(_link(voided_at=NOW), NOW) == links.REPLACED
    assert links.refusal(None, NOW) == links.UNKNOWN
    # Used beats expired: the person is told what happened first.
    assert links.refusal(_link(used_at=NOW), NOW + timedelta(days=3)) == links.USED
