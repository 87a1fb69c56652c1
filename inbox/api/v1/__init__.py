"""REST API v1: thin views over the same services the pages use, scoped to the key's
practice. Each view declares its scope with @access (checked by web.guards, with the key,
before the view runs); reads of patient data are written to the audit log. One blueprint;
a module per resource registers its routes on it."""

from . import care, clinics, conversations, patients, webhook_endpoints  # noqa: F401 (routes)
from .common import bp

__all__ = ["bp"]
