"""STOP / START / HELP: whole-message keywords and plain opt-out sentences only."""

import pytest

from inbox.services.keywords import HELP, START, STOP, classify


@pytest.mark.parametrize(
    "text",
    ["STOP", "stop", " Stop. ", "STOP!!!", "StopAll", "stop all", "UNSUBSCRIBE", "Cancel",
     "END", "quit", "Revoke", "opt out", "OPT-OUT", "optout", "“Stop”", "stöp",
     "please stop texting me", "Stop sending me messages", "unsubscribe me please",
     "Don't text me anymore", "take me off your list", "no more texts", "STOP TEXTING"],
)  # fmt: skip
def test_opt_out_words_and_sentences(text):
    assert classify(text) == STOP


@pytest.mark.parametrize("text", ["START", "start", "Unstop", "UNSTOP!", " start. "])
def test_opt_in_words(text):
    assert classify(text) == START


@pytest.mark.parametrize("text", ["HELP", "help?", "Help!", "info"])
def test_help_words(text):
    assert classify(text) == HELP


@pytest.mark.parametrize(
    "text",
    ["Can I cancel my appointment?", "I want to stop by tomorrow", "Stopped at the pharmacy",
     "see you at the end of the day", "Please help me reschedule", "Starting my new job",
     "Thanks!", "", "   ", "stop by at 4?",
     "I was going to say stop texting me but actually I love these reminders and want to "
     "keep them coming every week please"],
)  # fmt: skip
def test_ordinary_messages_are_not_keywords(text):
    assert classify(text) is None
