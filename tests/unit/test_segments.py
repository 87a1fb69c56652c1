import pytest

from inbox.services import segments


@pytest.mark.parametrize(
    ("text", "encoding", "segs"),
    [
        ("", "GSM-7", 0),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),  # extension characters cost two units
        ("€" * 81, "GSM-7", 2),
        ("é" * 160, "GSM-7", 1),  # é is in the GSM-7 basic table
        ("ę" * 70, "UCS-2", 1),
        ("ę" * 71, "UCS-2", 2),
        ("😀" * 35, "UCS-2", 1),  # astral characters cost two UTF-16 units
        ("😀" * 36, "UCS-2", 2),
    ],
)
def test_count(text, encoding, segs):
    info = segments.count(text)
    assert (info.encoding, info.segments) == (encoding, segs)


def test_one_emoji_switches_whole_text_to_ucs2():
    assert segments.count("Thanks! " * 10 + "🙂").encoding == "UCS-2"
    assert segments.count("Thanks! " * 10 + "🙂").segments == 2


def test_two_unit_character_never_straddles_parts():
    text = "a" * 152 + "€" + "b" * 10  # € would take units 153-154 of part one
    parts = segments.split(text)
    assert parts == ["a" * 152, "€" + "b" * 10]
    assert segments.count(text).segments == 2


def test_surrogate_pair_never_split():
    text = "x" * 66 + "😀" + "y" * 10
    parts = segments.split(text)
    assert parts[0] == "x" * 66 and parts[1].startswith("😀")


def test_limits_and_labels():
    assert segments.count("a" * 153 * 6).too_long is False
    assert segments.count("a" * (153 * 6 + 1)).too_long is True
    assert segments.count("hi").label == "1 text"
    assert segments.count("a" * 200).label == "2 texts"
