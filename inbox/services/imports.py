"""Imports from CSV (Patients › Import): patients, or appointments, as practice-management
systems export them. The file is kept with its columns guessed; a preview names each row's
problem and what each row will do; then the import runs as a job, in batches of bulk
statements (one lookup and one insert / update per batch, never a query per row), its
progress on the import's row. What the rows are is each kind's own module
(`patient_rows`, `appointment_rows`); this one is the import's life."""

from __future__ import annotations

import json
import logging
from types import ModuleType

import redis
from sqlalchemy import update

from ..broker import get_queue, get_redis
from ..extensions import db
from ..models import (
    IMPORT_APPOINTMENTS,
    IMPORT_DONE,
    IMPORT_FAILED,
    IMPORT_PATIENTS,
    IMPORT_PREVIEW,
    IMPORT_QUEUED,
    IMPORT_RUNNING,
    CsvImport,
    User,
    get_scoped,
    scoped,
    utcnow,
)
from . import appointment_rows, audit, patient_rows
from .access import clinic_scope, visible_clinics
from .csv_rows import (
    ImportRefused,
    Plan,
    Row,
    Table,
    chunks,
    clean_mapping,
    csv_text,
    decode,
    read_table,
    skipped_csv,
)

log = logging.getLogger(__name__)

BATCH = 1000
PREVIEW_PROBLEMS = 200  # problem rows listed on the preview page (all are counted)

# Each kind's rules: NOUN, FIELDS, guess_mapping, Reader (rows + write), row_words,
# COLUMNS and UPDATE_WORDS (the preview), TEMPLATE_HEADERS / TEMPLATE_ROWS, AUDIT_ACTION.
KINDS: dict[str, ModuleType] = {
    IMPORT_PATIENTS: patient_rows,
    IMPORT_APPOINTMENTS: appointment_rows,
}


def kind_of(item_or_name: CsvImport | str) -> ModuleType:
    name = item_or_name if isinstance(item_or_name, str) else item_or_name.kind
    return KINDS.get(name, patient_rows)


# ---- the plan: what each row will do ------------------------------------------------------


def uploader(item: CsvImport, viewer: User) -> User:
    """Whose clinics a file is checked against, whoever opens it: the one who uploaded it
    (the job runs as them), so a preview promises what the job will do."""
    found = db.session.get(User, item.user_id) if item.user_id else None
    return found or viewer


def make_plan(user: User, item: CsvImport) -> Plan:
    """Check every row and match it against the practice's records, without writing, as
    the uploader (`user`: who is looking)."""
    user = uploader(item, user)
    kind = kind_of(item)
    reader = kind.Reader(user, mapping_of(item), item.default_clinic_id, item.remind_soon)
    rows: list[Row] = []
    for start, batch in enumerate(chunks(table_of(item).rows, BATCH)):
        rows += reader.rows(batch, start * BATCH + 2)
    return Plan(rows)


def problems_csv(user: User, item: CsvImport) -> str:
    """Before the import: every row it would skip, with its reason, as the file the import
    leaves afterwards (the preview page lists the first PREVIEW_PROBLEMS). Raises
    ImportRefused when the file cannot be read with the chosen columns."""
    plan = make_plan(user, item)
    return skipped_csv(table_of(item).headers, [r for r in plan.rows if r.action == "skip"])


# ---- the import as rows: upload, preview, start ------------------------------------------


def _yours(user: User) -> tuple:
    """The imports `user` may open: the practice's for whoever sees every clinic; their own
    for someone who sees some (a file's rows, previews and skipped rows name patients of any
    clinic)."""
    if clinic_scope(user).every:
        return ()
    return (CsvImport.user_id == user.id,)


def get_import(user: User, import_id: int | str) -> CsvImport | None:
    item = get_scoped(CsvImport, import_id, user.account_id)
    if item is not None and _yours(user) and item.user_id != user.id:
        return None
    return item


def recent_imports(user: User, limit: int = 5) -> list[CsvImport]:
    return list(
        db.session.scalars(
            scoped(CsvImport, user.account_id)
            .where(CsvImport.status != IMPORT_PREVIEW, *_yours(user))
            .order_by(CsvImport.id.desc())
            .limit(limit)
        )
    )


def upload(
    user: User, kind: str, filename: str, data: bytes, default_clinic_id: str, *,
    ip: str | None = None, user_agent: str | None = None,
) -> CsvImport:  # fmt: skip
    """Keep an uploaded file, with its columns guessed. Raises ImportRefused."""
    if kind not in KINDS:
        raise ImportRefused("Choose what the file holds: patients or appointments.")
    if not filename:
        raise ImportRefused("Choose a CSV file to import.")
    text = decode(data)
    table = read_table(text)
    clinic_ids = {str(c.id): c.id for c in visible_clinics(user)}
    item = CsvImport(
        account_id=user.account_id, user_id=user.id, kind=kind, filename=filename[-255:],
        content=text, mapping=json.dumps(KINDS[kind].guess_mapping(table.headers)),
        default_clinic_id=clinic_ids.get(default_clinic_id.strip()),
        total_rows=len(table.rows), ip=ip and ip[:45],
        user_agent=user_agent and " ".join(user_agent.split())[:120],
    )  # fmt: skip
    db.session.add(item)
    db.session.commit()
    return item


def table_of(item: CsvImport) -> Table:
    return read_table(item.content)


def mapping_of(item: CsvImport) -> dict[str, int]:
    return {k: int(v) for k, v in json.loads(item.mapping or "{}").items()}


def choose(item: CsvImport, form: dict[str, str]) -> None:
    """Keep the columns and default clinic chosen on the preview page."""
    if item.status != IMPORT_PREVIEW:
        raise ImportRefused("This import has already started.")
    width = len(table_of(item).headers)
    item.mapping = json.dumps(clean_mapping(form, kind_of(item).FIELDS, width))
    clinic = (form.get("default_clinic_id") or "").strip()
    item.default_clinic_id = int(clinic) if clinic.isdigit() else None
    db.session.commit()


def start(user: User, item: CsvImport, *, remind_soon: bool = False) -> None:
    """Queue the import (checked once more as previewed). `remind_soon` (appointments):
    text the reminder of those starting within a day at once. Raises ImportRefused."""
    if item.status != IMPORT_PREVIEW:
        raise ImportRefused("This import has already started.")
    item.remind_soon = remind_soon
    plan = make_plan(user, item)
    if not plan.to_add and not plan.to_update:
        raise ImportRefused(
            "No row of this file can be imported. Fix the file and upload it again."
        )
    item.status, item.processed_rows = IMPORT_QUEUED, 0
    db.session.commit()
    try:
        get_queue().enqueue(
            "workers.jobs.import_csv", item.id, job_id=job_id(item.id),
            job_timeout=3600, result_ttl=0, failure_ttl=7 * 24 * 3600,
        )  # fmt: skip
    except redis.RedisError:
        item.status = IMPORT_PREVIEW
        db.session.commit()
        raise ImportRefused("The import could not be queued just now. Try again.") from None


def job_id(import_id: int) -> str:
    return f"import-csv-{import_id}"


def settle(item: CsvImport) -> CsvImport:
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
        update(CsvImport)
        .where(
            CsvImport.id == item.id,
            CsvImport.status.in_((IMPORT_QUEUED, IMPORT_RUNNING)),
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


def run(import_id: int) -> dict:
    """The job: check, match and write the file batch by batch, keeping progress on the
    import's row."""
    item = db.session.get(CsvImport, import_id)
    if item is None or item.status not in (IMPORT_QUEUED, IMPORT_RUNNING):
        return {"skipped": "not queued"}
    user = db.session.get(User, item.user_id)
    kind = kind_of(item)
    item.status, item.processed_rows = IMPORT_RUNNING, 0
    db.session.commit()
    try:
        table = table_of(item)
        reader = kind.Reader(user, mapping_of(item), item.default_clinic_id, item.remind_soon)
        added = updated = 0
        skipped: list[Row] = []
        for start in range(0, len(table.rows), BATCH):
            batch = reader.rows(table.rows[start : start + BATCH], start + 2)
            reader.write(batch)
            added += sum(1 for r in batch if r.action == "add")
            updated += sum(1 for r in batch if r.action == "update")
            skipped += [r for r in batch if r.action == "skip"]
            db.session.execute(
                update(CsvImport)
                .where(CsvImport.id == import_id)
                .values(processed_rows=CsvImport.processed_rows + len(batch),
                        added=added, updated=updated),
                execution_options={"synchronize_session": False},
            )  # fmt: skip
            db.session.commit()
        db.session.refresh(item)
        item.added, item.updated, item.skipped = added, updated, len(skipped)
        item.skipped_csv = skipped_csv(table.headers, skipped) if skipped else ""
        item.status, item.finished_at = IMPORT_DONE, utcnow()
        item.content = ""  # the details are kept in their records, not in a copy
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("%s import %s failed", item.kind, import_id)
        item = db.session.get(CsvImport, import_id)
        item.status, item.finished_at, item.content = IMPORT_FAILED, utcnow(), ""
        item.error = "The import stopped on an unexpected error. Rows written before it stay."
        db.session.commit()
        raise
    audit.record(
        user, kind.AUDIT_ACTION,
        summary=f"{item.added} added, {item.updated} updated, {item.skipped} skipped "
        f"of {item.total_rows} rows",
        origin=audit.Origin(item.ip, item.user_agent),
    )  # fmt: skip
    return {"added": item.added, "updated": item.updated, "skipped": item.skipped}


def template_csv(kind: str) -> str:
    rules = kind_of(kind)
    return csv_text(rules.TEMPLATE_HEADERS, rules.TEMPLATE_ROWS)


__all__ = [
    "BATCH", "ImportRefused", "KINDS", "PREVIEW_PROBLEMS", "choose", "get_import", "kind_of",
    "make_plan", "mapping_of", "problems_csv", "recent_imports", "run", "settle", "start",
    "table_of", "template_csv", "upload", "uploader",
]  # fmt: skip
