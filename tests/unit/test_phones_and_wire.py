import pytest

from inbox import carrier
from inbox.services import phones


@pytest.mark.parametrize(
    "raw", ["(917) 555-0199", "917.555.0199", "917-555-0199", "+1 917 555 0199", "19175550199"]
)
def test_normalize_common_formats(raw):
    assert phones.normalize(raw) == "+19175550199"


@pytest.mark.parametrize("raw", ["", "hello", "555", "+1 000 000 0000", "12345678901234567"])
def test_normalize_rejects_with_clear_message(raw):
    with pytest.raises(phones.InvalidPhone) as err:
        phones.normalize(raw)
    assert "not a" in str(err.value)


@pytest.mark.parametrize("raw", ["+1 (917) 555-0199 ext 4", "917-555-0199 x12", "9175550199#7"])
def test_an_extension_is_refused_not_dropped(raw):
    with pytest.raises(phones.InvalidPhone, match="has an extension"):
        phones.normalize(raw)


def test_display():
    assert phones.display("+12125550134") == "(212) 555-0134"
    assert phones.display("+447700900123").startswith("+44 ")
    assert phones.national_digits("+12125550134") == "2125550134"


def test_wire_digits_only_at_the_edge():
    assert carrier.to_wire("+14155550100") == "14155550100"
    assert carrier.from_wire("14155550100") == "+14155550100"
    for bad in ("", "+0123", "abc", "1" * 16):
        with pytest.raises(ValueError):
            carrier.from_wire(bad)


def test_carrier_timestamp_is_utc():
    ts = carrier.parse_timestamp("2026-11-27 09:41:00")
    assert ts.isoformat() == "2026-11-27T09:41:00+00:00"
    assert carrier.parse_timestamp("yesterday") is None


@pytest.mark.parametrize(
    "value",
    ["2026-11-27 09:41:00", " 2026-11-27T23:59:59 ", "2026-02-29 10:00:00", "2024-02-29 10:00:00",
     "2026-13-01 00:00:00", "2026-11-27 24:00:00", "2026-1-5 9:4:0", "2611270941", "", None,
     "2026-11-27 09:41:00Z", "2026-11-27 09:41"],
)  # fmt: skip
def test_carrier_timestamp_reads_what_strptime_reads(value):
    """The fast path for Vonage's usual form gives what the strptime formats give."""
    from datetime import UTC, datetime

    expected = None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%y%m%d%H%M"):
        try:
            expected = datetime.strptime((value or "").strip(), fmt).replace(tzinfo=UTC)
            break
        except ValueError:
            continue
    assert carrier.parse_timestamp(value) == expected


def test_mobile_says_what_normalize_national_digits_and_can_receive_sms_say():
    import pytest

    from inbox.services import phones

    for raw in ("(917) 555-0199", "+44 7911 123456", "212-555-0134", "+1 800 555 0100"):
        e164 = phones.normalize(raw)
        assert phones.mobile(raw) == (
            e164, phones.national_digits(e164), phones.can_receive_sms(e164)
        )  # fmt: skip
    for raw in ("555", "12", "(212) 555-0100 x12", "hello"):
        with pytest.raises(phones.InvalidPhone):
            phones.normalize(raw)
        with pytest.raises(phones.InvalidPhone):
            phones.mobile(raw)


def test_the_shipped_area_code_table_is_phonenumbers_own():
    """The number search's table ships as data (loading the geocoder cost every web process
    ~100 MB and its first search 1.5-5 s): it must stay what the geocoder says. After a
    phonenumbers upgrade, `python -m inbox.services.area_codes` writes it again."""
    from inbox.services import area_codes

    assert area_codes.table() == area_codes.build()
    assert area_codes.table()["212"] == ("NY", "New York, NY")
    assert "911" not in area_codes.table() and "800" not in area_codes.table()
