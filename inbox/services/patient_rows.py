"""The rows of a patients CSV: columns, checks, matching against the practice's patients
and the bulk writes. Re-importing updates: rows are matched on the practice's own id
(`external_id`) when that column is mapped, else on the mobile number."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import bindparam, insert, select, update

from ..extensions import db
from ..models import Conversation, Patient, User, utcnow
from ..models.audit import AUDIT_IMPORTED_PATIENTS
from . import phones, search_text
from .access import ClinicScope, clinic_scope, visible_clinics
from .csv_rows import ImportRefused, Row, cell, guess_columns, parse_date, split_name

NOUN = "patients"
AUDIT_ACTION = AUDIT_IMPORTED_PATIENTS
NAME_CHARS = 80
EXTERNAL_ID_CHARS = 64

# What a column can be, in the order the mapping form lists them.
FIELDS: dict[str, str] = {
    "first_name": "First name",
    "last_name": "Last name",
    "full_name": "Full name (split into first and last)",
    "phone": "Mobile number",
    "email": "Email",
    "date_of_birth": "Date of birth",
    "external_id": "Patient ID (from your system)",
    "clinic": "Home clinic (by name)",
}

# Headers as exported by common systems, lower-cased with punctuation and spaces removed.
PHONE_HEADERS = (
    "mobile", "mobilephone", "mobilenumber", "cell", "cellphone", "cellnumber",
    "phone", "phonenumber", "telephone", "tel", "mobileno", "sms", "primaryphone",
)  # fmt: skip
PATIENT_ID_HEADERS = (
    "patientid", "externalid", "chartnumber", "chartno", "chart", "mrn", "clientid",
    "patientnumber", "accountnumber",
)  # fmt: skip
CLINIC_HEADERS = ("clinic", "location", "homeclinic", "office", "site", "branch")
_GUESSES: dict[str, tuple[str, ...]] = {
    "first_name": ("firstname", "first", "givenname", "forename", "patientfirstname", "fname"),
    "last_name": ("lastname", "last", "surname", "familyname", "patientlastname", "lname"),
    "full_name": ("name", "patientname", "fullname", "patient", "clientname", "client"),
    "phone": PHONE_HEADERS,
    "email": ("email", "emailaddress", "mail", "e-mail"),
    "date_of_birth": ("dob", "dateofbirth", "birthdate", "birthday", "born"),
    "external_id": (*PATIENT_ID_HEADERS, "id"),
    "clinic": CLINIC_HEADERS,
}

TEMPLATE_HEADERS = [
    "Patient ID", "First Name", "Last Name", "Mobile", "Email", "Date of Birth", "Clinic",
]  # fmt: skip
TEMPLATE_ROWS = [
    ["10001", "Ava", "Martinez", "(917) 555-0199", "ava@example.com", "1988-04-12", ""],
    ["10002", "Liam", "Chen", "917-555-0142", "", "07/30/1991", ""],
]

# Preview: what the two middle columns show, and what an update is in words.
COLUMNS = ("Name", "Mobile")
UPDATE_WORDS = "Already a patient: will be updated"


def guess_mapping(headers: Sequence[str]) -> dict[str, int]:
    """A "Name" column is only used when there are no separate first and last names."""
    mapping = guess_columns(headers, _GUESSES)
    if "first_name" in mapping or "last_name" in mapping:
        mapping.pop("full_name", None)
    return mapping


def check_row(line: int, cells: list[str], mapping: dict[str, int], clinics: dict[str, int]) -> Row:
    """The row's values (first_name, last_name, phone, ... home_clinic_id when the row
    names a clinic) or its problem in words. `clinics` maps lower-cased clinic names to
    ids (the user's clinics); a new patient without one gets the import's default clinic
    when written, and a patient already there keeps theirs."""
    row = Row(line, cells)
    first, last = cell(cells, mapping, "first_name"), cell(cells, mapping, "last_name")
    if not first and not last and "full_name" in mapping:
        first, last = split_name(cell(cells, mapping, "full_name"))
    first, last = " ".join(first.split()), " ".join(last.split())
    if not first and not last:
        row.problem = "Missing name"
        return row
    if len(first) > NAME_CHARS or len(last) > NAME_CHARS:
        row.problem = f"Name longer than {NAME_CHARS} characters"
        return row
    raw_phone = cell(cells, mapping, "phone")
    if not raw_phone:
        row.problem = "Missing mobile number"
        return row
    try:
        e164, digits, textable = phones.mobile(raw_phone)
    except phones.InvalidPhone:
        row.problem = f"Bad mobile number “{raw_phone[:30]}”"
        return row
    if not textable:
        row.problem = f"{phones.display(e164)} cannot receive texts"
        return row
    values: dict = dict(
        first_name=first, last_name=last, phone=e164, phone_digits=digits,
        name_search=search_text.name_key(first, last),
    )  # fmt: skip
    values["name_reversed"] = values["name_search"].partition("|")[2]
    email = cell(cells, mapping, "email")
    if email:
        try:
            values["email"] = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError:
            row.problem = f"Bad email “{email[:60]}”"
            return row
    born = cell(cells, mapping, "date_of_birth")
    if born:
        try:
            values["date_of_birth"] = parse_date(born)
        except ValueError:
            row.problem = f"Bad date of birth “{born[:20]}”"
            return row
        if not date(1900, 1, 1) <= values["date_of_birth"] <= utcnow().date():
            row.problem = f"Date of birth {born[:20]} is not possible"
            return row
    external = cell(cells, mapping, "external_id")
    if len(external) > EXTERNAL_ID_CHARS:
        row.problem = f"Patient ID longer than {EXTERNAL_ID_CHARS} characters"
        return row
    if external:
        values["external_id"] = external
    clinic = cell(cells, mapping, "clinic")
    if clinic:
        clinic_id = clinics.get(" ".join(clinic.lower().split()))
        if clinic_id is None:
            row.problem = f"Unknown clinic “{clinic[:60]}”"
            return row
        values["home_clinic_id"] = clinic_id
    row.values = values
    return row


def row_words(row: Row, mapping: dict[str, int]) -> tuple[str, str]:
    """The name and mobile number of a row as the file has them (for the preview)."""
    name = " ".join(
        cell(row.cells, mapping, f) for f in ("first_name", "last_name") if f in mapping
    ) or cell(row.cells, mapping, "full_name")
    return " ".join(name.split()), cell(row.cells, mapping, "phone")


def dedupe(rows: Sequence[Row], seen_phone: dict[str, int], seen_external: dict[str, int]) -> None:
    """Rows repeating an earlier row's Patient ID or mobile number are skipped. Batch by
    batch: pass the same `seen_*` dicts for every batch of one file."""
    for row in rows:
        if row.problem:
            continue
        external = row.values.get("external_id")
        if external and external in seen_external:
            row.problem = f"Same Patient ID as row {seen_external[external]}"
            continue
        phone = row.values["phone"]
        if phone in seen_phone:
            row.problem = f"Same mobile number as row {seen_phone[phone]}"
            continue
        seen_phone[phone] = row.line
        if external:
            seen_external[external] = row.line


def match(account_id: int, rows: Sequence[Row], scope: ClinicScope) -> None:
    """Decide add / update / skip for a batch of checked rows: one query for the patients
    these rows' Patient IDs and mobile numbers already belong to."""
    good = [r for r in rows if not r.problem]
    phones_ = [r.values["phone"] for r in good]
    externals = [r.values["external_id"] for r in good if r.values.get("external_id")]
    cols = (Patient.id, Patient.phone, Patient.external_id, Patient.home_clinic_id)
    by_phone: dict[str, tuple] = {}
    by_external: dict[str, tuple] = {}
    if phones_:
        for found in db.session.execute(
            select(*cols).where(Patient.account_id == account_id, Patient.phone.in_(phones_))
        ):
            by_phone[found.phone] = found
    if externals:
        for found in db.session.execute(
            select(*cols).where(
                Patient.account_id == account_id, Patient.external_id.in_(externals)
            )
        ):
            by_external[found.external_id] = found
    for row in rows:
        if row.problem:
            row.action = "skip"
            continue
        external = row.values.get("external_id")
        target = by_external.get(external) if external else None
        owner = by_phone.get(row.values["phone"])
        if target is None and owner is not None:
            if external and owner.external_id and owner.external_id != external:
                row.problem, row.action = (
                    "Mobile number belongs to a patient with another Patient ID", "skip",
                )  # fmt: skip
                continue
            target = owner
        elif target is not None and owner is not None and owner.id != target.id:
            row.problem, row.action = "Mobile number belongs to another patient", "skip"
            continue
        if target is not None:
            if not scope.allows(target.home_clinic_id):
                row.problem = "Already a patient of a clinic you do not have access to"
                row.action = "skip"
                continue
            row.action, row.target_id = "update", target.id
        else:
            row.action = "add"


_UPDATED_FIELDS = (
    "first_name", "last_name", "phone", "phone_digits", "name_search", "name_reversed",
    "email", "date_of_birth", "external_id", "home_clinic_id",
)  # fmt: skip


def write(account_id: int, rows: Sequence[Row], default_clinic_id: int | None) -> None:
    """One batch: an executemany insert of the new patients, and one executemany update
    per set of columns the updated rows carry."""
    table = Patient.__table__
    now = utcnow()
    adds = []
    for row in rows:
        if row.action != "add":
            continue
        v = row.values
        adds.append({
            "account_id": account_id, "first_name": v["first_name"],
            "last_name": v["last_name"], "phone": v["phone"],
            "phone_digits": v["phone_digits"], "name_search": v["name_search"],
            "name_reversed": v["name_reversed"], "email": v.get("email"),
            "date_of_birth": v.get("date_of_birth"), "external_id": v.get("external_id"),
            "home_clinic_id": v.get("home_clinic_id", default_clinic_id),
            "unknown_sender": False, "created_at": now, "updated_at": now,
        })  # fmt: skip
    if adds:
        db.session.execute(insert(table), adds)
    groups: dict[tuple[str, ...], list[dict]] = {}
    for row in rows:
        if row.action != "update":
            continue
        names = tuple(f for f in _UPDATED_FIELDS if f in row.values)
        params = {f"v_{f}": row.values[f] for f in names}
        params["b_id"] = row.target_id
        groups.setdefault(names, []).append(params)
    for names, params in groups.items():
        stmt = (
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.account_id == account_id)
            .values(
                unknown_sender=False, updated_at=now,
                **{f: bindparam(f"v_{f}") for f in names},
            )
        )  # fmt: skip
        db.session.connection().execute(stmt, params)
    updated_ids = [r.target_id for r in rows if r.action == "update"]
    if updated_ids:
        # An unknown sender named by the import: their unfiled conversations follow them to
        # their home clinic, as Add as new patient does.
        home = (
            select(Patient.home_clinic_id)
            .where(Patient.id == Conversation.patient_id)
            .scalar_subquery()
        )
        db.session.execute(
            update(Conversation)
            .where(
                Conversation.account_id == account_id,
                Conversation.patient_id.in_(updated_ids),
                Conversation.clinic_id.is_(None),
            )
            .values(clinic_id=home),
            execution_options={"synchronize_session": False},
        )


class Reader:
    """One file's rows, batch by batch: checked, deduplicated across the whole file, and
    matched against the practice's patients; `write` saves a batch."""

    def __init__(self, user: User, mapping: dict[str, int], default_clinic_id: int | None,
                 remind_soon: bool = False) -> None:  # fmt: skip
        if "phone" not in mapping:
            raise ImportRefused("Choose the column that holds the mobile number.")
        if not {"first_name", "last_name", "full_name"} & mapping.keys():
            raise ImportRefused("Choose the column (or columns) that hold the patient's name.")
        clinics = visible_clinics(user)
        if default_clinic_id not in {c.id for c in clinics}:
            raise ImportRefused("Pick the home clinic for new patients.")
        self.account_id = user.account_id
        self.mapping = mapping
        self.default_clinic_id = default_clinic_id
        self.clinics = {" ".join(c.name.lower().split()): c.id for c in clinics}
        self.scope = clinic_scope(user)
        self.seen_phone: dict[str, int] = {}
        self.seen_external: dict[str, int] = {}

    def rows(self, batch: Sequence[list[str]], first_line: int) -> list[Row]:
        rows = [
            check_row(n, cells, self.mapping, self.clinics)
            for n, cells in enumerate(batch, start=first_line)
        ]
        dedupe(rows, self.seen_phone, self.seen_external)
        match(self.account_id, rows, self.scope)
        return rows

    def write(self, rows: Sequence[Row]) -> None:
        write(self.account_id, rows, self.default_clinic_id)
