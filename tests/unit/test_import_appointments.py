"""Reading a booking system's schedule (no database): times, starts in a clinic's zone,
lengths, statuses, and the columns guessed from common export headers."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from inbox.services import appointment_rows as rows
from inbox.services import csv_rows, imports

NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    "text, expected",
    [("14:30", time(14, 30)), ("2:30 PM", time(14, 30)), ("2:30pm", time(14, 30)),
     ("2 PM", time(14)), ("12:15 am", time(0, 15)), ("12 pm", time(12)),
     ("9.15 a.m.", time(9, 15)), ("09:00:30", time(9, 0, 30))],
)  # fmt: skip
def test_times_as_schedules_write_them(text, expected):
    assert rows.parse_time(text) == expected


@pytest.mark.parametrize("text", ["25:00", "14", "13 PM", "noon", "", "10:75"])
def test_what_is_not_a_time_is_refused(text):
    with pytest.raises(ValueError):
        rows.parse_time(text)


def test_a_start_is_read_in_the_clinics_zone_unless_it_carries_an_offset():
    utc = datetime(2027, 1, 14, 19, 30, tzinfo=UTC)  # 2:30 PM in New York (EST)
    for text in ("2027-01-14 14:30", "01/14/2027 2:30 PM", "2027-01-14T14:30:00",
                 "2027-01-14T11:30:00-08:00", "2027-01-14T19:30:00Z"):  # fmt: skip
        assert rows.parse_start(text, NEW_YORK) == utc, text
    summer = rows.parse_start("2027-07-14 14:30", NEW_YORK)
    assert summer == datetime(2027, 7, 14, 18, 30, tzinfo=UTC)  # EDT


def test_a_time_the_clocks_skip_is_refused_in_words():
    with pytest.raises(ValueError, match="2:30 AM does not exist on Mar 14, 2027"):
        rows.parse_start("2027-03-14 2:30 AM", NEW_YORK)
    # The hour that happens twice in November: the first one.
    first = rows.parse_start("2027-11-07 1:30 AM", NEW_YORK)
    assert first == datetime(2027, 11, 7, 5, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "text, minutes",
    [("45", 45), ("45 min", 45), ("45 minutes", 45), ("1:15", 75), ("1.5 h", 90), ("2 hours", 120)],
)
def test_lengths(text, minutes):
    assert rows.parse_minutes(text) == minutes


@pytest.mark.parametrize(
    "text, status",
    [("Cancelled", "cancelled"), ("canceled", "cancelled"), ("Late Cancel", "cancelled"),
     ("No Show", "no_show"), ("no-show", "no_show"), ("Checked out", "completed"),
     ("Confirmed", "booked"), ("Arrived", "booked"), ("", "booked")],
)  # fmt: skip
def test_statuses_in_our_words(text, status):
    assert rows.status_of(text) == status


def test_columns_are_guessed_from_common_exports():
    # Date and time apart (the single Start column is then not used).
    headers = ["Appointment ID", "Client ID", "Client Name", "Mobile Phone", "Date",
               "Start Time", "Duration", "Service", "Staff", "Location", "Status"]  # fmt: skip
    assert rows.guess_mapping(headers) == {
        "external_id": 0, "patient_external_id": 1, "phone": 3, "date": 4, "time": 5,
        "duration": 6, "service": 7, "provider": 8, "clinic": 9, "status": 10,
    }  # fmt: skip
    assert rows.guess_mapping(["Chart Number", "Start", "Appointment Type", "Provider"]) == {
        "patient_external_id": 0, "start": 1, "service": 2, "provider": 3,
    }  # fmt: skip


def test_the_template_reads_back_with_every_column_guessed_but_start():
    table = csv_rows.read_table(imports.template_csv("appointments"))
    assert set(rows.guess_mapping(table.headers)) == set(rows.FIELDS) - {"start"}
