"""What a patient's reply asks for: to stop texts, to start them again, or help.

A keyword counts only as the whole message (give or take case, punctuation and
spaces): "Cancel" opts out, "Can I cancel my appointment?" does not. Besides the
keywords, a short sentence that plainly asks us to stop texting also opts out."""

from __future__ import annotations

import re
import unicodedata

STOP = "stop"
START = "start"
HELP = "help"

STOP_WORDS = frozenset(
    {"stop", "stopall", "stop all", "unsubscribe", "cancel", "end", "quit", "revoke",
     "opt out", "optout", "opt-out"}
)  # fmt: skip
START_WORDS = frozenset({"start", "unstop", "subscribe", "yes start", "opt in", "optin"})
HELP_WORDS = frozenset({"help", "info"})

# "please stop texting me", "stop sending me messages", "unsubscribe me",
# "take me off your list", "don't text me anymore", "remove me from your texts".
_STOP_SENTENCES = (
    re.compile(r"\b(stop|quit|cease)\s+(texting|messaging|sending|contacting|txting)\b"),
    re.compile(r"\b(stop|no more)\s+(texts|messages|sms)\b"),
    re.compile(r"\b(do ?n[o']?t|never)\s+(text|message|contact|sms)\s+me\b"),
    re.compile(r"\bunsubscribe\s+me\b"),
    re.compile(r"\bopt\s*me\s+out\b"),
    re.compile(r"\b(take|remove)\s+me\s+(off|from)\b.*\b(list|texts|messages|texting)\b"),
)
_SENTENCE_MAX_WORDS = 12  # a long message that mentions stopping is a conversation


def normalize(text: str) -> str:
    """Lowercase, accents and punctuation gone, spaces collapsed."""
    folded = unicodedata.normalize("NFKD", text or "")
    folded = "".join(c for c in folded if not unicodedata.combining(c)).lower()
    folded = folded.replace("\u2019", "'")
    folded = re.sub(r"[^a-z0-9' -]+", " ", folded)
    folded = folded.replace("-", " ")
    return " ".join(folded.split()).strip(" '")


def classify(text: str) -> str | None:
    """STOP, START, HELP or None for an inbound text."""
    words = normalize(text)
    if not words:
        return None
    if words in STOP_WORDS or words.replace(" ", "") in STOP_WORDS:
        return STOP
    if words in START_WORDS:
        return START
    if words in HELP_WORDS:
        return HELP
    if len(words.split()) <= _SENTENCE_MAX_WORDS and any(p.search(words) for p in _STOP_SENTENCES):
        return STOP
    return None
