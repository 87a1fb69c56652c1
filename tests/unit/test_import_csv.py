"""Reading a CSV as practice systems and Excel save it, and the column and row rules of
Patients › Import patients (no database)."""

from __future__ import annotations

from datetime import date

import pytest

from inbox.services import csv_rows, imports, patient_rows


def _table(data: bytes) -> csv_rows.Table:
    return csv_rows.read_table(csv_rows.decode(data))


def test_utf8_with_a_byte_order_mark_and_without():
    for data in (b"\xef\xbb\xbfFirst Name,Last Name\nZo\xc3\xab,Adler\n",
                 b"First Name,Last Name\nZo\xc3\xab,Adler\n"):  # fmt: skip
        table = _table(data)
        assert table.headers == ["First Name", "Last Name"]  # no "\ufeff" before the header
        assert table.rows == [["Zoë", "Adler"]]


def test_excel_cp1252_falls_back():
    table = _table("First Name;Last Name\r\nRené;Müller\r\n".encode("cp1252"))
    assert table.rows == [["René", "Müller"]]


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_the_delimiter_is_sniffed(sep):
    text = sep.join(["Name", "Mobile", "Email"]) + "\n"
    text += sep.join(["Ava Martinez", "(917) 555-0199", "ava@example.com"]) + "\n"
    table = _table(text.encode())
    assert table.headers == ["Name", "Mobile", "Email"]
    assert table.rows[0][1] == "(917) 555-0199"


def test_semicolons_with_commas_inside_quoted_cells():
    table = _table(b'Name;Mobile\n"Martinez, Ava";917 555 0199\n"Chen, Liam";917 555 0142\n')
    assert table.rows[0] == ["Martinez, Ava", "917 555 0199"]


def test_blank_lines_dropped_and_short_rows_padded():
    table = _table(b"First Name,Last Name,Mobile\n\nAva,Martinez\n,,\n")
    assert table.rows == [["Ava", "Martinez", ""]]


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "empty"),
        (b"First Name,Mobile\n", "no rows under it"),
        (b"\x00\x01PK\x03\x04", "not a CSV"),
    ],
)
def test_files_that_cannot_be_imported_say_why(data, words):
    with pytest.raises(csv_rows.ImportRefused, match=words):
        _table(data)


def test_common_headers_are_guessed():
    headers = ["Chart Number", "First Name", "Last Name", "Cell Phone", "E-mail", "DOB", "Location"]
    assert patient_rows.guess_mapping(headers) == {
        "external_id": 0, "first_name": 1, "last_name": 2, "phone": 3, "email": 4,
        "date_of_birth": 5, "clinic": 6,
    }  # fmt: skip
    guessed = patient_rows.guess_mapping(["Patient Name", "Mobile", "Date of Birth", "Patient ID"])
    assert guessed == {
        "full_name": 0, "phone": 1, "date_of_birth": 2, "external_id": 3,
    }  # fmt: skip
    # "Phone" when there is no mobile column; "Name" not used beside first and last names.
    assert patient_rows.guess_mapping(["Name", "First", "Last", "Phone"]) == {
        "first_name": 1, "last_name": 2, "phone": 3,
    }  # fmt: skip
    assert patient_rows.guess_mapping(["External ID", "Mobile", "Phone"])["phone"] == 1
    assert patient_rows.guess_mapping(["Notes", "Balance"]) == {}


def test_the_mapping_form_is_checked():
    assert csv_rows.clean_mapping(
        {"phone": "2", "email": "", "first_name": "9", "x": "1"}, patient_rows.FIELDS, 3
    ) == {"phone": 2}


@pytest.mark.parametrize(
    "text, born",
    [("1988-04-12", date(1988, 4, 12)), ("4/12/1988", date(1988, 4, 12)),
     ("04/12/1988", date(1988, 4, 12)), ("12-31-1975", date(1975, 12, 31)),
     ("1988-04-12 00:00:00", date(1988, 4, 12)), ("4/12/88", date(1988, 4, 12)),
     ("1/2/05", date(2005, 1, 2)), ("", None)],
)  # fmt: skip
def test_dates_iso_and_us(text, born):
    assert csv_rows.parse_date(text) == born


@pytest.mark.parametrize("text", ["13/01/1988", "April 12", "1988-02-30", "12.04"])
def test_dates_that_are_not_dates(text):
    with pytest.raises(ValueError):
        csv_rows.parse_date(text)


def test_names_split():
    assert csv_rows.split_name("Martinez, Ava") == ("Ava", "Martinez")
    assert csv_rows.split_name("Ava  Rose Martinez") == ("Ava Rose", "Martinez")
    assert csv_rows.split_name("Cher") == ("Cher", "")


MAP = {"first_name": 0, "last_name": 1, "phone": 2, "email": 3, "date_of_birth": 4,
       "external_id": 5, "clinic": 6}  # fmt: skip
CLINICS = {"downtown": 1, "uptown": 2}


def _row(*cells):
    cells = list(cells) + [""] * (7 - len(cells))
    return patient_rows.check_row(2, cells, MAP, CLINICS)


def test_a_good_row_is_normalised():
    row = _row("Ava", "Martinez", "(917) 555-0199", "Ava@Example.com", "4/12/1988", "A-1",
               "  UPTOWN ")  # fmt: skip
    assert row.problem == ""
    v = row.values
    assert v["phone"] == "+19175550199" and v["phone_digits"] == "9175550199"
    assert v["email"] == "Ava@example.com" and v["date_of_birth"] == date(1988, 4, 12)
    assert v["external_id"] == "A-1" and v["home_clinic_id"] == 2
    assert v["name_search"].startswith("ava martinez|") and v["name_reversed"] == "martinez ava"


@pytest.mark.parametrize(
    "cells, problem",
    [(("", "", "9175550199"), "Missing name"),
     (("Ava", "M", ""), "Missing mobile number"),
     (("Ava", "M", "12"), "Bad mobile number “12”"),
     (("Ava", "M", "9175550199", "not-an-email"), "Bad email"),
     (("Ava", "M", "9175550199", "", "31/12/1988"), "Bad date of birth"),
     (("Ava", "M", "9175550199", "", "1/1/1850"), "is not possible"),
     (("Ava", "M", "9175550199", "", "", "", "Lakeside"), "Unknown clinic “Lakeside”")],
)  # fmt: skip
def test_each_rows_problem_is_named(cells, problem):
    assert problem in _row(*cells).problem


def test_duplicates_in_the_file_name_the_first_row():
    rows = [
        patient_rows.check_row(2, ["Ava", "M", "9175550199", "", "", "A-1", ""], MAP, CLINICS),
        patient_rows.check_row(3, ["Ava", "M", "(917) 555-0199", "", "", "A-2", ""], MAP, CLINICS),
        patient_rows.check_row(4, ["Liam", "C", "9175550142", "", "", "A-1", ""], MAP, CLINICS),
        patient_rows.check_row(5, ["Noah", "P", "9175550143", "", "", "", ""], MAP, CLINICS),
    ]
    patient_rows.dedupe(rows, {}, {})
    assert [r.problem for r in rows] == [
        "", "Same mobile number as row 2", "Same Patient ID as row 2", "",
    ]  # fmt: skip


def test_the_template_csv_reads_back_with_every_column_guessed():
    table = csv_rows.read_table(imports.template_csv("patients"))
    assert set(patient_rows.guess_mapping(table.headers)) == set(patient_rows.FIELDS) - {
        "full_name"
    }
