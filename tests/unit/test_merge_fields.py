"""Merge fields a person types into a reminder: every mistake gets words, none a 500."""

import pytest

from inbox.services.templates import field_error

ALLOWED = ("first_name", "clinic_name")


@pytest.mark.parametrize(
    "text",
    [
        "Hi {first_name}, see you at {clinic_name}.",
        "No fields at all.",
        "Literal braces {{like this}} are fine, {first_name}.",
        "",
    ],
)
def test_well_formed_texts_pass(text):
    assert field_error(text, ALLOWED) is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Hi {first_name", "has no partner"),
        ("Hi }first_name{", "has no partner"),
        ("Hi {first_name}}", "has no partner"),
        ("Hi {}", "empty merge field"),
        ("Hi {0}", "empty merge field"),
        ("Hi {first_name!r}", "not {first_name!r}"),
        ("Hi {first_name:>50}", "not {first_name:>50}"),
        ("Hi {pet_name} and {age}", "Unknown merge field {age}, {pet_name}"),
        ("Hi {first_name.upper}", "Unknown merge field {first_name.upper}"),
    ],
)
def test_each_mistake_is_named(text, words):
    error = field_error(text, ALLOWED)
    assert error is not None and words in error
    if "has no partner" in error or "Unknown" in error or "empty" in error:
        assert "{first_name}, {clinic_name}" in error  # what to use instead
