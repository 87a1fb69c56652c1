"""The one place that decides who sees what (inbox/services/access.py), as rules."""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy.dialects import sqlite

from inbox.models import ApiKey, Conversation
from inbox.services import access, api_keys


def _user(*, main=False, every=False, clinics=(), inbox=True, inbox_on=True):
    return SimpleNamespace(
        is_main_admin=main,
        all_clinics=every,
        clinics=[SimpleNamespace(id=i) for i in clinics],
        can_use_inbox=inbox,
        account=SimpleNamespace(inbox_enabled=inbox_on),
    )


def _sql(conditions: tuple) -> list[str]:
    return [
        str(c.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
        for c in conditions
    ]


def test_the_main_admin_and_every_clinic_users_see_every_clinic_and_records_filed_under_none():
    for user in (_user(main=True), _user(every=True, clinics=[1])):
        scope = access.clinic_scope(user)
        assert scope.every
        assert scope.allows(1) and scope.allows(99) and scope.allows(None)
        assert scope.filter(Conversation.clinic_id) == ()


def test_a_user_of_some_clinics_sees_only_theirs_and_nothing_filed_under_none():
    scope = access.clinic_scope(_user(clinics=[3, 1]))
    assert not scope.every
    assert scope.allows(1) and scope.allows(3)
    assert not scope.allows(2) and not scope.allows(None)
    assert _sql(scope.filter(Conversation.clinic_id)) == ["conversations.clinic_id IN (1, 3)"]


def test_a_user_of_no_clinic_sees_nothing():
    scope = access.clinic_scope(_user(clinics=[]))
    assert not scope.allows(1) and not scope.allows(None)
    # An empty IN () is not valid everywhere: it matches no id instead.
    assert _sql(scope.filter(Conversation.clinic_id)) == ["conversations.clinic_id IN (-1)"]


def test_an_api_key_acts_for_every_clinic():
    actor = api_keys.ApiActor(key=ApiKey(id=1, name="k", account_id=1), account=None)
    assert access.clinic_scope(actor).every


def test_the_inbox_needs_the_privilege_and_the_practice_to_have_it_on():
    assert access.uses_inbox(_user())
    assert access.uses_inbox(_user(main=True))
    assert not access.uses_inbox(_user(inbox=False))
    assert not access.uses_inbox(_user(inbox_on=False))


def test_visible_clinics_are_the_practices_active_ones_in_scope():
    active = [SimpleNamespace(id=1), SimpleNamespace(id=2), SimpleNamespace(id=3)]
    limited = _user(clinics=[2, 9])
    limited.account.active_clinics = active
    assert [c.id for c in access.visible_clinics(limited)] == [2]
    everyone = _user(main=True)
    everyone.account.active_clinics = active
    assert [c.id for c in access.visible_clinics(everyone)] == [1, 2, 3]


def test_texting_from_the_inbox_is_refused_in_words_on_the_same_terms():
    assert access.send_refusal(_user()) is None
    off = _user(inbox_on=False)
    off.account.plan, off.account.plan_name = "essentials", "Essentials Plan"
    assert "part of the Accelerator Plan" in access.send_refusal(off)
    off.account.plan = "accelerator"
    assert access.send_refusal(off) == "The Inbox is turned off for this account."
    assert access.send_refusal(_user(inbox=False)) == "You do not have the Inbox privilege."
    for user in (_user(), off, _user(inbox=False)):  # the same rule as uses_inbox
        assert (access.send_refusal(user) is None) == access.uses_inbox(user)
