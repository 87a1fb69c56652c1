"""The password policy: long enough, not common, not built on the person's own name, email
or practice. Guessability is zxcvbn's estimate (Dropbox's, maintained as the `zxcvbn`
package: dictionaries of common passwords, names, words, keyboard patterns, dates)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from zxcvbn import zxcvbn

MIN_LENGTH = 10
MAX_LENGTH = 128
# zxcvbn's scale: 0 too guessable ... 4 very unguessable. 3 is "safely unguessable",
# its authors' advice for a password that guards something worth having.
MIN_SCORE = 3


class PasswordRefused(ValueError):
    """The reason, in words for the person choosing it."""


def _personal_words(inputs: Iterable[str | None]) -> list[str]:
    """The pieces of a name, email or practice name someone might build a password from."""
    words: set[str] = set()
    for value in inputs:
        value = (value or "").lower()
        if "@" in value:
            # you@clinic.example.com: "you" and "clinic", not the "com" every address ends in.
            local, _, domain = value.rpartition("@")
            value = local + " " + " ".join(domain.split(".")[:-1])
        for word in re.split(r"[^a-z0-9]+", value):
            if len(word) >= 3:
                words.add(word)
    # Longest first, so "aesthetics" goes before a shorter word inside it.
    return sorted(words, key=len, reverse=True)


def _feedback(result: dict) -> str:
    feedback = result.get("feedback") or {}
    parts = [feedback.get("warning") or "", *(feedback.get("suggestions") or [])]
    return " ".join(p.strip() for p in parts if p and p.strip())


def check(password: str, *, personal: Iterable[str | None] = ()) -> None:
    """Raise PasswordRefused with the reason, or return if the password will do.
    `personal`: the person's name, email and practice name."""
    password = password or ""
    if len(password) < MIN_LENGTH:
        raise PasswordRefused(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise PasswordRefused(f"Use at most {MAX_LENGTH} characters.")
    words = _personal_words(personal)
    lowered = password.lower()
    rest = lowered
    for word in words:
        rest = rest.replace(word, "")
    if rest != lowered and zxcvbn(rest)["score"] < MIN_SCORE:
        raise PasswordRefused(
            "That password is built on your name, email or practice name. "
            "Choose one that has nothing to do with them."
        )
    result = zxcvbn(password, user_inputs=words)
    if result["score"] < MIN_SCORE:
        advice = _feedback(result)
        raise PasswordRefused(
            "That password is too easy to guess. "
            + (advice or "A few unrelated words make a strong one.")
        )
