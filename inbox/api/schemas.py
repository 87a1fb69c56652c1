"""The API's request and response shapes. These marshmallow schemas validate requests and
serialize answers, and the OpenAPI document is generated from them (flask-smorest)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ..models.care import APPOINTMENT_STATUS_WORDS

EXTERNAL_ID = validate.Length(min=1, max=64)
PAGE_LIMIT = validate.Range(min=1, max=200)
BATCH_MAX = 1000


class ProblemFieldSchema(Schema):
    field = fields.String(required=True, metadata={"description": "Dotted path of the field"})
    message = fields.String(required=True)


class ProblemSchema(Schema):
    """RFC 9457 problem details."""

    type = fields.String(required=True, metadata={"description": "Stable URI of the problem"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    instance = fields.String()
    errors = fields.List(fields.Nested(ProblemFieldSchema))


class PageArgs(Schema):
    cursor = fields.String(
        validate=validate.Length(max=200),
        metadata={"description": "next_cursor of the previous page"},
    )
    limit = fields.Integer(load_default=50, validate=PAGE_LIMIT)


# ---- patients ----------------------------------------------------------------------------


class PatientSchema(Schema):
    id = fields.Integer(required=True)
    external_id = fields.String(allow_none=True, required=True)
    first_name = fields.String(required=True)
    last_name = fields.String(required=True)
    phone = fields.String(required=True, metadata={"description": "E.164, like +14155550100"})
    email = fields.String(allow_none=True, required=True)
    date_of_birth = fields.Date(allow_none=True, required=True)
    home_clinic_id = fields.Integer(allow_none=True, required=True)
    opted_out = fields.Boolean(required=True, metadata={"description": "Replied STOP"})
    unknown_sender = fields.Boolean(required=True)
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)


class PatientPageSchema(Schema):
    data = fields.List(fields.Nested(PatientSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class PatientListArgs(PageArgs):
    updated_since = fields.AwareDateTime(
        metadata={"description": "Only patients changed at or after this time, oldest first"}
    )
    q = fields.String(
        validate=validate.Length(max=80), metadata={"description": "Name or phone digits"}
    )


_NAME = validate.Length(max=80)


class PatientFieldsSchema(Schema):
    """A patient's fields as the practice's system sends them. Left out: kept as is."""

    first_name = fields.String(validate=_NAME)
    last_name = fields.String(validate=_NAME)
    phone = fields.String(
        validate=validate.Length(min=1, max=40),
        metadata={"description": "A mobile number, any common format; stored as E.164"},
    )
    email = fields.String(validate=validate.Length(max=254), allow_none=True)
    date_of_birth = fields.Date(allow_none=True)
    home_clinic_id = fields.Integer(
        validate=validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "Needed for a new patient when the practice has 2+ clinics"},
    )


class PatientCreateSchema(PatientFieldsSchema):
    phone = fields.String(required=True, validate=validate.Length(min=1, max=40))
    external_id = fields.String(validate=EXTERNAL_ID, allow_none=True)


class PatientUpsertSchema(PatientFieldsSchema):
    phone = fields.String(required=True, validate=validate.Length(min=1, max=40))


class PatientBatchItemSchema(PatientUpsertSchema):
    external_id = fields.String(required=True, validate=EXTERNAL_ID)


class PatientBatchSchema(Schema):
    patients = fields.List(
        fields.Nested(PatientBatchItemSchema),
        required=True,
        validate=validate.Length(min=1, max=BATCH_MAX),
    )


class BatchResultSchema(Schema):
    index = fields.Integer(required=True, metadata={"description": "Position in the batch"})
    status = fields.String(
        required=True, validate=validate.OneOf(["created", "updated", "skipped"])
    )
    id = fields.Integer(allow_none=True, required=True)
    error = fields.String(metadata={"description": "Why it was skipped"})


class BatchSchema(Schema):
    created = fields.Integer(required=True)
    updated = fields.Integer(required=True)
    skipped = fields.Integer(required=True)
    results = fields.List(fields.Nested(BatchResultSchema), required=True)


# ---- clinics ------------------------------------------------------------------------------


class ClinicSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    timezone = fields.String(required=True, metadata={"description": "IANA zone"})
    address = fields.String(allow_none=True, required=True)
    phone = fields.String(allow_none=True, required=True)
    archived = fields.Boolean(required=True)


class ClinicListSchema(Schema):
    data = fields.List(fields.Nested(ClinicSchema), required=True)


# ---- appointments ---------------------------------------------------------------------------

STATUSES = list(APPOINTMENT_STATUS_WORDS)


class AppointmentSchema(Schema):
    id = fields.Integer(required=True)
    external_id = fields.String(allow_none=True, required=True)
    patient_id = fields.Integer(required=True)
    clinic_id = fields.Integer(required=True)
    starts_at = fields.AwareDateTime(required=True)
    duration_minutes = fields.Integer(required=True)
    service = fields.String(required=True)
    provider = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    reminder_status = fields.String(allow_none=True, required=True)
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)


class AppointmentPageSchema(Schema):
    data = fields.List(fields.Nested(AppointmentSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class AppointmentListArgs(PageArgs):
    patient_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    clinic_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    starts_from = fields.AwareDateTime(metadata={"description": "Starting at or after"})
    starts_before = fields.AwareDateTime(metadata={"description": "Starting before"})


class AppointmentFieldsSchema(Schema):
    patient_id = fields.Integer(
        validate=validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "Our patient id; or give patient_external_id"},
    )
    patient_external_id = fields.String(validate=EXTERNAL_ID)
    clinic_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    starts_at = fields.AwareDateTime(
        required=True, metadata={"description": "With its offset, like 2027-01-05T15:00:00-05:00"}
    )
    duration_minutes = fields.Integer(load_default=60, validate=validate.Range(min=5, max=1440))
    service = fields.String(required=True, validate=validate.Length(min=1, max=120))
    provider = fields.String(load_default="", validate=validate.Length(max=120))
    status = fields.String(load_default="booked", validate=validate.OneOf(STATUSES))


class AppointmentBatchItemSchema(AppointmentFieldsSchema):
    external_id = fields.String(required=True, validate=EXTERNAL_ID)


class AppointmentBatchSchema(Schema):
    appointments = fields.List(
        fields.Nested(AppointmentBatchItemSchema),
        required=True,
        validate=validate.Length(min=1, max=BATCH_MAX),
    )


# ---- paperwork ----------------------------------------------------------------------------


class PaperworkSchema(Schema):
    id = fields.Integer(required=True)
    external_id = fields.String(allow_none=True, required=True)
    patient_id = fields.Integer(required=True)
    name = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["outstanding", "completed"]))
    requested_at = fields.AwareDateTime(required=True)
    completed_at = fields.AwareDateTime(allow_none=True, required=True)


class PaperworkUpsertSchema(Schema):
    patient_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    patient_external_id = fields.String(validate=EXTERNAL_ID)
    name = fields.String(required=True, validate=validate.Length(min=1, max=160))


# ---- conversations and messages -------------------------------------------------------------


class MessageSchema(Schema):
    id = fields.Integer(required=True)
    conversation_id = fields.Integer(required=True)
    direction = fields.String(required=True, validate=validate.OneOf(["in", "out"]))
    body = fields.String(required=True)
    status = fields.String(
        required=True,
        metadata={"description": "queued, sending, sent, delivered, failed, unknown, received"},
    )
    failure_reason = fields.String(allow_none=True, required=True)
    kind = fields.String(required=True)
    segments = fields.Integer(required=True)
    sent_at = fields.AwareDateTime(required=True)
    status_changed_at = fields.AwareDateTime(allow_none=True, required=True)


class ConversationSchema(Schema):
    id = fields.Integer(required=True)
    patient_id = fields.Integer(required=True)
    clinic_id = fields.Integer(allow_none=True, required=True)
    unread = fields.Boolean(required=True)
    needs_reply = fields.Boolean(required=True)
    opted_out = fields.Boolean(required=True)
    has_failed = fields.Boolean(required=True)
    last_message_at = fields.AwareDateTime(allow_none=True, required=True)
    last_direction = fields.String(allow_none=True, required=True)


class ConversationPageSchema(Schema):
    data = fields.List(fields.Nested(ConversationSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class ConversationListArgs(PageArgs):
    unread = fields.Boolean(metadata={"description": "true: Unread only; false: Read only"})
    needs_reply = fields.Boolean(metadata={"description": "The patient spoke last"})
    clinic_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    q = fields.String(validate=validate.Length(max=80))


class ConversationDetailSchema(ConversationSchema):
    messages = fields.List(
        fields.Nested(MessageSchema),
        required=True,
        metadata={"description": "Oldest first; the newest page unless `before` is given"},
    )
    before_cursor = fields.String(
        allow_none=True, required=True, metadata={"description": "Pass as before for older"}
    )


class ThreadArgs(Schema):
    before = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=PAGE_LIMIT)


class SendSchema(Schema):
    patient_id = fields.Integer(
        validate=validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "To a patient; or give `to`"},
    )
    to = fields.String(
        validate=validate.Length(min=1, max=40),
        metadata={"description": "A mobile number (a new patient record is made for it)"},
    )
    clinic_id = fields.Integer(
        validate=validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "Defaults to the patient's home clinic"},
    )
    body = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class IdempotencyHeader(Schema):
    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        validate=validate.Length(min=1, max=255),
        metadata={"description": "A retried request with the same key never texts twice"},
    )
