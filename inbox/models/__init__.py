from .accounts import (
    PLAN_ACCELERATOR,
    PLAN_ESSENTIALS,
    PRIVILEGE_INBOX,
    ROLE_ADMIN,
    ROLE_MAIN_ADMIN,
    ROLE_STAFF,
    Account,
    Clinic,
    User,
)
from .audit import AuditEvent, AuditLogIsAppendOnly
from .base import get_scoped, scoped, utcnow
from .billing import INBOX_ADDON_CENTS, LINE_INBOX, LINE_PLAN, BillingLine, Charge
from .care import (
    APPOINTMENT_BOOKED,
    APPOINTMENT_CANCELLED,
    APPOINTMENT_COMPLETED,
    PAPERWORK_COMPLETED,
    PAPERWORK_OUTSTANDING,
    Appointment,
    PaperworkItem,
    ReplyTemplate,
)
from .conversations import (
    CARRIER_VONAGE,
    DIRECTION_IN,
    DIRECTION_OUT,
    KIND_AUTO_REPLY,
    KIND_OPTOUT_CONFIRM,
    KIND_PAPERWORK,
    KIND_REMINDER,
    KIND_TEXT,
    STATUS_DELIVERED,
    STATUS_FAILED,
    STATUS_QUEUED,
    STATUS_RECEIVED,
    STATUS_SENDING,
    STATUS_SENT,
    STATUS_UNKNOWN,
    Conversation,
    ConversationCount,
    InboundPart,
    Message,
)
from .hooks import (
    DELIVERY_DELIVERED,
    DELIVERY_FAILED,
    DELIVERY_PENDING,
    EVENT_TYPES,
    WebhookDelivery,
    WebhookEndpoint,
)
from .links import LINK_INVITATION, LINK_PURPOSES, LINK_RESET, OneTimeLink
from .numbers import (
    NUMBER_ACTIVE,
    NUMBER_PROVISIONING,
    NUMBER_RELEASED,
    NUMBER_RELEASING,
    InboxNumber,
)
from .patients import (
    IMPORT_APPOINTMENTS,
    IMPORT_DONE,
    IMPORT_FAILED,
    IMPORT_PATIENTS,
    IMPORT_PREVIEW,
    IMPORT_QUEUED,
    IMPORT_RUNNING,
    CsvImport,
    Patient,
)
from .webhooks import KIND_INBOUND, KIND_RECEIPT, ReceivedWebhook

__all__ = [
    "AuditEvent", "AuditLogIsAppendOnly",
    "APPOINTMENT_BOOKED", "APPOINTMENT_CANCELLED", "APPOINTMENT_COMPLETED",
    "PAPERWORK_COMPLETED", "PAPERWORK_OUTSTANDING",
    "Appointment", "PaperworkItem", "ReplyTemplate",
    "BillingLine", "Charge", "INBOX_ADDON_CENTS", "LINE_INBOX", "LINE_PLAN",
    "Account", "Clinic", "User", "Patient", "CsvImport", "IMPORT_APPOINTMENTS",
    "IMPORT_PATIENTS", "IMPORT_DONE", "IMPORT_FAILED",
    "IMPORT_PREVIEW", "IMPORT_QUEUED", "IMPORT_RUNNING", "InboxNumber", "Conversation",
    "ConversationCount",
    "Message", "CARRIER_VONAGE", "InboundPart",
    "KIND_AUTO_REPLY", "KIND_OPTOUT_CONFIRM", "KIND_PAPERWORK", "KIND_REMINDER", "KIND_TEXT",
    "PLAN_ACCELERATOR", "PLAN_ESSENTIALS", "PRIVILEGE_INBOX",
    "ROLE_ADMIN", "ROLE_MAIN_ADMIN", "ROLE_STAFF",
    "DIRECTION_IN", "DIRECTION_OUT",
    "STATUS_DELIVERED", "STATUS_FAILED", "STATUS_QUEUED", "STATUS_RECEIVED",
    "STATUS_SENDING", "STATUS_SENT", "STATUS_UNKNOWN",
    "NUMBER_ACTIVE", "NUMBER_PROVISIONING", "NUMBER_RELEASED", "NUMBER_RELEASING",
    "KIND_INBOUND", "KIND_RECEIPT", "ReceivedWebhook",
    "LINK_INVITATION", "LINK_PURPOSES", "LINK_RESET", "OneTimeLink",
    "DELIVERY_DELIVERED", "DELIVERY_FAILED", "DELIVERY_PENDING", "EVENT_TYPES",
    "WebhookDelivery", "WebhookEndpoint",
    "get_scoped", "scoped", "utcnow",
]  # fmt: skip
