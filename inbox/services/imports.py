"""Patients › Import patients: a CSV as practice-management systems export it, its columns
mapped (common headers guessed), a preview naming each row's problem, then the import as a
job, in batches of bulk statements (one lookup and one insert / update per batch, never a
query per row). Re-importing updates: rows are matched on the practice's own id
(`external_id`) when that column is mapped, else on the mobile number."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date

import redis
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import bindparam, insert, select, update

from ..broker import get_queue, get_redis
from ..extensions import db
from ..models import (
    IMPORT_DONE,
    IMPORT_FAILED,
    IMPORT_PREVIEW,
    IMPORT_QUEUED,
    IMPORT_RUNNING,
    Conversation,
    Patient,
    PatientImport,
    User,
    get_scoped,
    scoped,
    utcnow,
)
from ..models.audit import AUDIT_IMPORTED_PATIENTS
from . import audit, phones, search_text
from .conversations import visible_clinics

log = logging.getLogger(__name__)

BATCH = 1000
PREVIEW_PROBLEMS = 200  # problem rows listed on the preview page (all are counted)
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
_GUESSES: dict[str, tuple[str, ...]] = {
    "first_name": ("firstname", "first", "givenname", "forename", "patientfirstname", "fname"),
    "last_name": ("lastname", "last", "surname", "familyname", "patientlastname", "lname"),
    "full_name": ("name", "patientname", "fullname", "patient", "clientname", "client"),
    "phone": (
        "mobile", "mobilephone", "mobilenumber", "cell", "cellphone", "cellnumber",
        "phone", "phonenumber", "telephone", "tel", "mobileno", "sms", "primaryphone",
    ),
    "email": ("email", "emailaddress", "mail", "e-mail"),
    "date_of_birth": ("dob", "dateofbirth", "birthdate", "birthday", "born"),
    "external_id": (
        "patientid", "externalid", "chartnumber", "chartno", "chart", "mrn", "clientid",
        "patientnumber", "accountnumber", "id",
    ),
    "clinic": ("clinic", "location", "homeclinic", "office", "site", "branch"),
}  # fmt: skip

TEMPLATE_HEADERS = [
    "Patient ID", "First Name", "Last Name", "Mobile", "Email", "Date of Birth", "Clinic",
]  # fmt: skip
TEMPLATE_ROWS = [
    ["10001", "Ava", "Martinez", "(917) 555-0199", "ava@example.com", "1988-04-12", ""],
    ["10002", "Liam", "Chen", "917-555-0142", "", "07/30/1991", ""],
]


class ImportRefused(ValueError):
    """A file or a choice the import cannot go on with; the message says why."""


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


# ---- reading the file ---------------------------------------------------------------------


def decode(data: bytes) -> str:
    """UTF-8 (with or without a byte-order mark), else Windows-1252 as Excel writes it."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _delimiter(text: str) -> str:
    sample = text[:16384]
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        return max((",", ";", "\t"), key=first.count)


def read_table(text: str) -> Table:
    """Headers and rows of a CSV text (comma, semicolon or tab, sniffed); blank lines
    dropped, short rows padded."""
    if not text.strip():
        raise ImportRefused("The file is empty. Choose a CSV file with a header row.")
    if "\x00" in text[:4096]:
        raise ImportRefused("That is not a CSV file. Save it from your spreadsheet as CSV.")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        rows = [r for r in reader if any(cell.strip() for cell in r)]
    except csv.Error as exc:
        raise ImportRefused(f"The file could not be read as CSV ({exc}).") from None
    if not rows:
        raise ImportRefused("The file is empty. Choose a CSV file with a header row.")
    headers = [h.strip() for h in rows[0]]
    width = len(headers)
    body = [(r + [""] * (width - len(r)))[:width] if len(r) != width else r for r in rows[1:]]
    if not body:
        raise ImportRefused("The file has a header row but no patients under it.")
    return Table(headers, body)


def _key(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


def guess_mapping(headers: Sequence[str]) -> dict[str, int]:
    """field -> column index, for the headers that say what they are. A "Name" column is
    only used when there are no separate first and last name columns."""
    keys = [_key(h) for h in headers]
    mapping: dict[str, int] = {}
    for name, words in _GUESSES.items():
        for word in words:  # the more specific words first
            if word in keys and keys.index(word) not in mapping.values():
                mapping[name] = keys.index(word)
                break
    if "first_name" in mapping or "last_name" in mapping:
        mapping.pop("full_name", None)
    return mapping


def clean_mapping(raw: dict[str, str], width: int) -> dict[str, int]:
    """The mapping form's choices (field -> "column index" or ""), checked."""
    mapping: dict[str, int] = {}
    for name in FIELDS:
        value = (raw.get(name) or "").strip()
        if value.isdigit() and int(value) < width:
            mapping[name] = int(value)
    return mapping


# ---- one row ----------------------------------------------------------------------------

_US_DATE = re.compile(r"(\d{1,2})[/\-.](\d{1,2})[/\-.](\d{4}|\d{2})")


def parse_date(text: str) -> date | None:
    """ISO (1988-04-12, with or without a time after it) or US month/day/year
    (04/12/1988, 4/12/88). Raises ValueError for anything else."""
    text = text.strip()
    if not text:
        return None
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?", text)
    if iso:
        return date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    us = _US_DATE.fullmatch(text.split(" ")[0])
    if us:
        year = int(us.group(3))
        if year < 100:  # two digits: the most recent such year not in the future
            year += 2000 if 2000 + year <= utcnow().year else 1900
        return date(year, int(us.group(1)), int(us.group(2)))
    raise ValueError(text)


def split_name(full: str) -> tuple[str, str]:
    """ "Last, First" or "First Middle Last" -> (first, last)."""
    full = " ".join(full.split())
    if "," in full:
        last, _, first = full.partition(",")
        return first.strip(), last.strip()
    first, _, last = full.rpartition(" ")
    return (first, last) if first else (last, "")


@dataclass
class Row:
    """One data row of the file, checked: values to save, or the reason it is skipped."""

    line: int  # the row's line in the file (the header is line 1)
    cells: list[str]
    values: dict = field(default_factory=dict)
    problem: str = ""
    action: str = ""  # add | update | skip (after matching)
    patient_id: int | None = None


def _cell(cells: list[str], mapping: dict[str, int], name: str) -> str:
    index = mapping.get(name)
    return cells[index].strip() if index is not None else ""


def check_row(line: int, cells: list[str], mapping: dict[str, int], clinics: dict[str, int]) -> Row:
    """The row's values (first_name, last_name, phone, ... home_clinic_id when the row
    names a clinic) or its problem in words. `clinics` maps lower-cased clinic names to
    ids (the user's clinics); a new patient without one gets the import's default clinic
    when written, and a patient already there keeps theirs."""
    row = Row(line, cells)
    first, last = _cell(cells, mapping, "first_name"), _cell(cells, mapping, "last_name")
    if not first and not last and "full_name" in mapping:
        first, last = split_name(_cell(cells, mapping, "full_name"))
    first, last = " ".join(first.split()), " ".join(last.split())
    if not first and not last:
        row.problem = "Missing name"
        return row
    if len(first) > NAME_CHARS or len(last) > NAME_CHARS:
        row.problem = f"Name longer than {NAME_CHARS} characters"
        return row
    raw_phone = _cell(cells, mapping, "phone")
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
    email = _cell(cells, mapping, "email")
    if email:
        try:
            values["email"] = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError:
            row.problem = f"Bad email “{email[:60]}”"
            return row
    born = _cell(cells, mapping, "date_of_birth")
    if born:
        try:
            values["date_of_birth"] = parse_date(born)
        except ValueError:
            row.problem = f"Bad date of birth “{born[:20]}”"
            return row
        if not date(1900, 1, 1) <= values["date_of_birth"] <= utcnow().date():
            row.problem = f"Date of birth {born[:20]} is not possible"
            return row
    external = _cell(cells, mapping, "external_id")
    if len(external) > EXTERNAL_ID_CHARS:
        row.problem = f"Patient ID longer than {EXTERNAL_ID_CHARS} characters"
        return row
    if external:
        values["external_id"] = external
    clinic = _cell(cells, mapping, "clinic")
    if clinic:
        clinic_id = clinics.get(" ".join(clinic.lower().split()))
        if clinic_id is None:
            row.problem = f"Unknown clinic “{clinic[:60]}”"
            return row
        values["home_clinic_id"] = clinic_id
    row.values = values
    return row


# ---- the plan: what each row will do ------------------------------------------------------


def row_words(row: Row, mapping: dict[str, int]) -> tuple[str, str]:
    """The name and mobile number of a row as the file has them (for the preview)."""
    name = " ".join(
        _cell(row.cells, mapping, f) for f in ("first_name", "last_name") if f in mapping
    ) or _cell(row.cells, mapping, "full_name")
    return " ".join(name.split()), _cell(row.cells, mapping, "phone")


@dataclass
class Plan:
    rows: list[Row]
    to_add: int = 0
    to_update: int = 0
    to_skip: int = 0

    @property
    def noted(self) -> list[Row]:
        """Rows the preview names: those skipped, and those that update a patient."""
        return [r for r in self.rows if r.action != "add"]


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _dedupe(
    rows: Sequence[Row],
    seen_phone: dict[str, int] | None = None,
    seen_external: dict[str, int] | None = None,
) -> None:
    """Rows repeating an earlier row's Patient ID or mobile number are skipped. Batch by
    batch: pass the same `seen_*` dicts for every batch of one file."""
    seen_phone = {} if seen_phone is None else seen_phone
    seen_external = {} if seen_external is None else seen_external
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


def _match(account_id: int, rows: Sequence[Row], allowed: set[int] | None) -> None:
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
            if allowed is not None and target.home_clinic_id not in allowed:
                row.problem = "Already a patient of a clinic you do not have access to"
                row.action = "skip"
                continue
            row.action, row.patient_id = "update", target.id
        else:
            row.action = "add"


def make_plan(
    user: User, table: Table, mapping: dict[str, int], default_clinic_id: int | None
) -> Plan:
    """Check every row and match it against the practice's patients, without writing."""
    if "phone" not in mapping:
        raise ImportRefused("Choose the column that holds the mobile number.")
    if not {"first_name", "last_name", "full_name"} & mapping.keys():
        raise ImportRefused("Choose the column (or columns) that hold the patient's name.")
    clinics = visible_clinics(user)
    by_name = {" ".join(c.name.lower().split()): c.id for c in clinics}
    if default_clinic_id not in {c.id for c in clinics}:
        raise ImportRefused("Pick the home clinic for new patients.")
    rows = [check_row(n, cells, mapping, by_name) for n, cells in enumerate(table.rows, start=2)]
    _dedupe(rows)
    ids = user.visible_clinic_ids()
    allowed = set(ids) if ids is not None else None
    for batch in _chunks(rows, BATCH):
        _match(user.account_id, batch, allowed)
    plan = Plan(rows)
    for row in rows:
        if row.action == "add":
            plan.to_add += 1
        elif row.action == "update":
            plan.to_update += 1
        else:
            plan.to_skip += 1
    return plan


# ---- the import as rows: upload, preview, start ------------------------------------------


def get_import(user: User, import_id: int | str) -> PatientImport | None:
    return get_scoped(PatientImport, import_id, user.account_id)


def recent_imports(user: User, limit: int = 5) -> list[PatientImport]:
    return list(
        db.session.scalars(
            scoped(PatientImport, user.account_id)
            .where(PatientImport.status != IMPORT_PREVIEW)
            .order_by(PatientImport.id.desc())
            .limit(limit)
        )
    )


def upload(
    user: User, filename: str, data: bytes, default_clinic_id: str, *,
    ip: str | None = None, user_agent: str | None = None,
) -> PatientImport:  # fmt: skip
    """Keep an uploaded file, with its columns guessed. Raises ImportRefused."""
    if not filename:
        raise ImportRefused("Choose a CSV file to import.")
    text = decode(data)
    table = read_table(text)
    clinic_ids = {str(c.id): c.id for c in visible_clinics(user)}
    item = PatientImport(
        account_id=user.account_id, user_id=user.id, filename=filename[-255:], content=text,
        mapping=json.dumps(guess_mapping(table.headers)),
        default_clinic_id=clinic_ids.get(default_clinic_id.strip()),
        total_rows=len(table.rows), ip=ip and ip[:45],
        user_agent=user_agent and " ".join(user_agent.split())[:120],
    )  # fmt: skip
    db.session.add(item)
    db.session.commit()
    return item


def table_of(item: PatientImport) -> Table:
    return read_table(item.content)


def mapping_of(item: PatientImport) -> dict[str, int]:
    return {k: int(v) for k, v in json.loads(item.mapping or "{}").items()}


def choose(item: PatientImport, mapping: dict[str, int], default_clinic_id: str) -> None:
    """Keep the columns and default clinic chosen on the preview page."""
    if item.status != IMPORT_PREVIEW:
        raise ImportRefused("This import has already started.")
    item.mapping = json.dumps(mapping)
    item.default_clinic_id = int(default_clinic_id) if default_clinic_id.isdigit() else None
    db.session.commit()


def start(user: User, item: PatientImport) -> None:
    """Queue the import (checked once more as previewed). Raises ImportRefused."""
    if item.status != IMPORT_PREVIEW:
        raise ImportRefused("This import has already started.")
    plan = make_plan(user, table_of(item), mapping_of(item), item.default_clinic_id)
    if not plan.to_add and not plan.to_update:
        raise ImportRefused(
            "No row of this file can be imported. Fix the file and upload it again."
        )
    item.status, item.processed_rows = IMPORT_QUEUED, 0
    db.session.commit()
    try:
        get_queue().enqueue(
            "workers.jobs.import_patients", item.id, job_id=job_id(item.id),
            job_timeout=3600, result_ttl=0, failure_ttl=7 * 24 * 3600,
        )  # fmt: skip
    except redis.RedisError:
        item.status = IMPORT_PREVIEW
        db.session.commit()
        raise ImportRefused("The import could not be queued just now. Try again.") from None


def job_id(import_id: int) -> str:
    return f"import-patients-{import_id}"


def settle(item: PatientImport) -> PatientImport:
    """An import shown as running whose job no longer exists, or failed (a worker killed
    mid-file, Redis restarted empty), is marked stopped, so its page stops waiting. The
    row is re-read first: a job that finished has already written it done."""
    if not item.running:
        return item
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    try:
        status = Job.fetch(job_id(item.id), connection=get_redis()).get_status()
    except NoSuchJobError:
        status = None
    except redis.RedisError:
        return item  # cannot tell: keep waiting
    if status not in (None, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
        return item
    db.session.execute(
        update(PatientImport)
        .where(
            PatientImport.id == item.id,
            PatientImport.status.in_((IMPORT_QUEUED, IMPORT_RUNNING)),
        )
        .values(
            status=IMPORT_FAILED, finished_at=utcnow(), content="",
            error="The import stopped before the end of the file (its worker ended).",
        ),
        execution_options={"synchronize_session": False},
    )  # fmt: skip
    db.session.commit()
    db.session.refresh(item)
    return item


# ---- the job ----------------------------------------------------------------------------

_UPDATED_FIELDS = (
    "first_name", "last_name", "phone", "phone_digits", "name_search", "name_reversed",
    "email", "date_of_birth", "external_id", "home_clinic_id",
)  # fmt: skip


def _write(account_id: int, rows: Sequence[Row], default_clinic_id: int | None) -> None:
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
            "unknown_sender": False, "created_at": now,
        })  # fmt: skip
    if adds:
        db.session.execute(insert(table), adds)
    groups: dict[tuple[str, ...], list[dict]] = {}
    for row in rows:
        if row.action != "update":
            continue
        names = tuple(f for f in _UPDATED_FIELDS if f in row.values)
        params = {f"v_{f}": row.values[f] for f in names}
        params["b_id"] = row.patient_id
        groups.setdefault(names, []).append(params)
    for names, params in groups.items():
        stmt = (
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.account_id == account_id)
            .values(unknown_sender=False, **{f: bindparam(f"v_{f}") for f in names})
        )
        db.session.connection().execute(stmt, params)
    updated_ids = [r.patient_id for r in rows if r.action == "update"]
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


def skipped_csv(headers: list[str], rows: Sequence[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Row", "Reason", *headers])
    for row in rows:
        writer.writerow([row.line, row.problem, *row.cells])
    return out.getvalue()


def run(import_id: int) -> dict:
    """The job: check every row, then write batch by batch, keeping progress on the row."""
    item = db.session.get(PatientImport, import_id)
    if item is None or item.status not in (IMPORT_QUEUED, IMPORT_RUNNING):
        return {"skipped": "not queued"}
    user = db.session.get(User, item.user_id)
    item.status, item.processed_rows = IMPORT_RUNNING, 0
    db.session.commit()
    try:
        table = table_of(item)
        mapping = mapping_of(item)
        clinics = visible_clinics(user)
        by_name = {" ".join(c.name.lower().split()): c.id for c in clinics}
        ids = user.visible_clinic_ids()
        allowed = set(ids) if ids is not None else None
        added = updated = 0
        account_id = item.account_id
        seen_phone: dict[str, int] = {}
        seen_external: dict[str, int] = {}
        skipped: list[Row] = []
        for start in range(0, len(table.rows), BATCH):
            batch = [
                check_row(n, cells, mapping, by_name)
                for n, cells in enumerate(table.rows[start : start + BATCH], start=start + 2)
            ]
            _dedupe(batch, seen_phone, seen_external)
            _match(account_id, batch, allowed)
            _write(account_id, batch, item.default_clinic_id)
            added += sum(1 for r in batch if r.action == "add")
            updated += sum(1 for r in batch if r.action == "update")
            skipped += [r for r in batch if r.action == "skip"]
            db.session.execute(
                update(PatientImport)
                .where(PatientImport.id == import_id)
                .values(processed_rows=PatientImport.processed_rows + len(batch),
                        added=added, updated=updated),
                execution_options={"synchronize_session": False},
            )  # fmt: skip
            db.session.commit()
        db.session.refresh(item)
        item.added, item.updated, item.skipped = added, updated, len(skipped)
        item.skipped_csv = skipped_csv(table.headers, skipped) if skipped else ""
        item.status, item.finished_at = IMPORT_DONE, utcnow()
        item.content = ""  # patients' details are kept in their records, not in a copy
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("patient import %s failed", import_id)
        item = db.session.get(PatientImport, import_id)
        item.status, item.finished_at, item.content = IMPORT_FAILED, utcnow(), ""
        item.error = "The import stopped on an unexpected error. Rows written before it stay."
        db.session.commit()
        raise
    audit.record(
        user, AUDIT_IMPORTED_PATIENTS,
        summary=f"{item.added} added, {item.updated} updated, {item.skipped} skipped "
        f"of {item.total_rows} rows",
        origin=audit.Origin(item.ip, item.user_agent),
    )  # fmt: skip
    return {"added": item.added, "updated": item.updated, "skipped": item.skipped}


def template_csv() -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(TEMPLATE_HEADERS)
    writer.writerows(TEMPLATE_ROWS)
    return out.getvalue()


__all__ = [
    "FIELDS", "ImportRefused", "Plan", "Row", "Table", "check_row", "choose", "clean_mapping",
    "decode", "get_import", "guess_mapping", "make_plan", "parse_date", "read_table",
    "recent_imports", "row_words", "run", "settle", "split_name", "start", "template_csv", "upload",
]  # fmt: skip
