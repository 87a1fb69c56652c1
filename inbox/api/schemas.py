"""The API's request and response shapes. These marshmallow schemas validate requests and
serialize answers, and the OpenAPI document is generated from them (flask-smorest)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from ..models.care import APPOINTMENT_STATUS_WORDS
from ..models.hooks import EVENT_TYPES


class Text(fields.String):
    """A string without NUL characters (PostgreSQL text cannot hold them)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("Must not contain NUL characters.")
        return text


EXTERNAL_ID = validate.Length(min=1, max=64)
PAGE_LIMIT = validate.Range(min=1, max=200)
BATCH_MAX = 1000


class ProblemFieldSchema(Schema):
    field = Text(required=True, metadata={"description": "Dotted path of the field"})
    message = Text(required=True)


class ProblemSchema(Schema):
    """RFC 9457 problem details."""

    type = Text(required=True, metadata={"description": "Stable URI of the problem"})
    title = Text(required=True)
    status = fields.Integer(required=True)
    detail = Text(required=True)
    instance = Text()
    errors = fields.List(fields.Nested(ProblemFieldSchema))


class PageArgs(Schema):
    cursor = Text(
        validate=validate.Length(max=200),
        metadata={"description": "next_cursor of the previous page"},
    )
    limit = fields.Integer(load_default=50, validate=PAGE_LIMIT)


# ---- patients ----------------------------------------------------------------------------


class PatientSchema(Schema):
    id = fields.Integer(required=True)
    external_id = Text(allow_none=True, required=True)
    first_name = Text(required=True)
    last_name = Text(required=True)
    phone = Text(required=True, metadata={"description": "E.164, like +14155550100"})
    email = Text(allow_none=True, required=True)
    date_of_birth = fields.Date(allow_none=True, required=True)
    home_clinic_id = fields.Integer(allow_none=True, required=True)
    opted_out = fields.Boolean(required=True, metadata={"description": "Replied STOP"})
    unknown_sender = fields.Boolean(required=True)
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)


class PatientPageSchema(Schema):
    data = fields.List(fields.Nested(PatientSchema), required=True)
    next_cursor = Text(allow_none=True, required=True)


class PatientListArgs(PageArgs):
    updated_since = fields.AwareDateTime(
        metadata={"description": "Only patients changed at or after this time, oldest first"}
    )
    q = Text(validate=validate.Length(max=80), metadata={"description": "Name or phone digits"})


_NAME = validate.Length(max=80)


class PatientFieldsSchema(Schema):
    """A patient's fields as the practice's system sends them. Left out: kept as is."""

    first_name = Text(validate=_NAME)
    last_name = Text(validate=_NAME)
    phone = Text(
        validate=validate.Length(min=1, max=40),
        metadata={"description": "A mobile number, any common format; stored as E.164"},
    )
    email = Text(validate=validate.Length(max=254), allow_none=True)
    date_of_birth = fields.Date(allow_none=True)
    home_clinic_id = fields.Integer(
        validate=validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "Needed for a new patient when the practice has 2+ clinics"},
    )


class PatientCreateSchema(PatientFieldsSchema):
    phone = Text(required=True, validate=validate.Length(min=1, max=40))
    external_id = Text(validate=EXTERNAL_ID, allow_none=True)


class PatientUpsertSchema(PatientFieldsSchema):
    phone = Text(required=True, validate=validate.Length(min=1, max=40))


class PatientBatchItemSchema(PatientUpsertSchema):
    external_id = Text(required=True, validate=EXTERNAL_ID)


class PatientBatchSchema(Schema):
    patients = fields.List(
        fields.Nested(PatientBatchItemSchema),
        required=True,
        validate=validate.Length(min=1, max=BATCH_MAX),
    )


class BatchResultSchema(Schema):
    index = fields.Integer(required=True, metadata={"description": "Position in the batch"})
    status = Text(required=True, validate=validate.OneOf(["created", "updated", "skipped"]))
    id = fields.Integer(allow_none=True, required=True)
    error = Text(metadata={"description": "Why it was skipped"})


class BatchSchema(Schema):
    created = fields.Integer(required=True)
    updated = fields.Integer(required=True)
    skipped = fields.Integer(required=True)
    results = fields.List(fields.Nested(BatchResultSchema), required=True)


# ---- clinics ------------------------------------------------------------------------------


class ClinicSchema(Schema):
    id = fields.Integer(required=True)
    name = Text(required=True)
    timezone = Text(required=True, metadata={"description": "IANA zone"})
    address = Text(allow_none=True, required=True)
    phone = Text(allow_none=True, required=True)
    archived = fields.Boolean(required=True)


class ClinicListSchema(Schema):
    data = fields.List(fields.Nested(ClinicSchema), required=True)


# ---- appointments ---------------------------------------------------------------------------

STATUSES = list(APPOINTMENT_STATUS_WORDS)


class AppointmentSchema(Schema):
    id = fields.Integer(required=True)
    external_id = Text(allow_none=True, required=True)
    patient_id = fields.Integer(required=True)
    clinic_id = fields.Integer(required=True)
    starts_at = fields.AwareDateTime(required=True)
    duration_minutes = fields.Integer(required=True)
    service = Text(required=True)
    provider = Text(required=True)
    status = Text(required=True, validate=validate.OneOf(STATUSES))
    reminder_status = Text(allow_none=True, required=True)
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)


class AppointmentPageSchema(Schema):
    data = fields.List(fields.Nested(AppointmentSchema), required=True)
    next_cursor = Text(allow_none=True, required=True)


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
    patient_external_id = Text(validate=EXTERNAL_ID)
    clinic_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    starts_at = fields.AwareDateTime(
        required=True, metadata={"description": "With its offset, like 2027-01-05T15:00:00-05:00"}
    )
    duration_minutes = fields.Integer(load_default=60, validate=validate.Range(min=5, max=1440))
    service = Text(required=True, validate=validate.Length(min=1, max=120))
    provider = Text(load_default="", validate=validate.Length(max=120))
    status = Text(load_default="booked", validate=validate.OneOf(STATUSES))


class AppointmentBatchItemSchema(AppointmentFieldsSchema):
    external_id = Text(required=True, validate=EXTERNAL_ID)


class AppointmentBatchSchema(Schema):
    appointments = fields.List(
        fields.Nested(AppointmentBatchItemSchema),
        required=True,
        validate=validate.Length(min=1, max=BATCH_MAX),
    )


# ---- paperwork ----------------------------------------------------------------------------


class PaperworkSchema(Schema):
    id = fields.Integer(required=True)
    external_id = Text(allow_none=True, required=True)
    patient_id = fields.Integer(required=True)
    name = Text(required=True)
    status = Text(required=True, validate=validate.OneOf(["outstanding", "completed"]))
    requested_at = fields.AwareDateTime(required=True)
    completed_at = fields.AwareDateTime(allow_none=True, required=True)


class PaperworkUpsertSchema(Schema):
    patient_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    patient_external_id = Text(validate=EXTERNAL_ID)
    name = Text(required=True, validate=validate.Length(min=1, max=160))


# ---- conversations and messages -------------------------------------------------------------


class MessageSchema(Schema):
    id = fields.Integer(required=True)
    conversation_id = fields.Integer(required=True)
    direction = Text(required=True, validate=validate.OneOf(["in", "out"]))
    body = Text(required=True)
    status = Text(
        required=True,
        metadata={"description": "queued, sending, sent, delivered, failed, unknown, received"},
    )
    failure_reason = Text(allow_none=True, required=True)
    kind = Text(required=True)
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
    last_direction = Text(allow_none=True, required=True)


class ConversationPageSchema(Schema):
    data = fields.List(fields.Nested(ConversationSchema), required=True)
    next_cursor = Text(allow_none=True, required=True)


class ConversationListArgs(PageArgs):
    unread = fields.Boolean(metadata={"description": "true: Unread only; false: Read only"})
    needs_reply = fields.Boolean(
        validate=validate.Equal(True, error="Only needs_reply=true filters: leave it out for all."),
        metadata={"description": "true: only those where the patient spoke last"},
    )
    clinic_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    q = Text(validate=validate.Length(max=80))


class ConversationDetailSchema(ConversationSchema):
    messages = fields.List(
        fields.Nested(MessageSchema),
        required=True,
        metadata={"description": "Oldest first; the newest page unless `before` is given"},
    )
    before_cursor = Text(
        allow_none=True, required=True, metadata={"description": "Pass as before for older"}
    )


class MessagePageArgs(Schema):
    before = Text(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=PAGE_LIMIT)


class SendSchema(Schema):
    patient_id = fields.Integer(
        validate=validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "To a patient; or give `to`"},
    )
    to = Text(
        validate=validate.Length(min=1, max=40),
        metadata={"description": "A mobile number (a new patient record is made for it)"},
    )
    clinic_id = fields.Integer(
        validate=validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "Defaults to the patient's home clinic"},
    )
    body = Text(required=True, validate=validate.Length(min=1, max=2000))


class IdempotencyHeader(Schema):
    idempotency_key = Text(
        data_key="Idempotency-Key",
        validate=validate.Length(min=1, max=255),
        metadata={"description": "A retried request with the same key never texts twice"},
    )


# ---- event webhook endpoints -------------------------------------------------------------


class WebhookEndpointSchema(Schema):
    id = fields.Integer(required=True)
    url = Text(required=True)
    events = fields.List(Text(validate=validate.OneOf(EVENT_TYPES)), required=True)
    include_text = fields.Boolean(
        required=True, metadata={"description": "Texts' words in message events"}
    )
    enabled = fields.Boolean(required=True)
    disabled_reason = Text(allow_none=True, required=True)
    created_at = fields.DateTime(required=True)


class WebhookEndpointCreatedSchema(WebhookEndpointSchema):
    secret = Text(
        required=True,
        metadata={"description": "The signing secret (whsec_...): shown on creation only"},
    )


class WebhookEndpointListSchema(Schema):
    data = fields.List(fields.Nested(WebhookEndpointSchema), required=True)


class WebhookEndpointFieldsSchema(Schema):
    url = Text(required=True, validate=validate.Length(min=1, max=2000))
    events = fields.List(
        Text(validate=validate.OneOf(EVENT_TYPES)), required=True,
        validate=validate.Length(min=1, max=len(EVENT_TYPES)),
    )  # fmt: skip
    include_text = fields.Boolean(load_default=False)


class WebhookEndpointUpdateSchema(Schema):
    url = Text(validate=validate.Length(min=1, max=2000))
    events = fields.List(
        Text(validate=validate.OneOf(EVENT_TYPES)),
        validate=validate.Length(min=1, max=len(EVENT_TYPES)),
    )
    include_text = fields.Boolean()
