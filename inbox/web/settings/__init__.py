"""Settings: Profile, Inbox Settings (the number wizard, saved replies), Billing,
Teammates, Clinics and Integrations' API keys. One blueprint; a module per area registers
its pages on it."""

from . import api_keys, billing, clinics, inbox, profile, teammates  # noqa: F401 (routes)
from .blueprint import bp

__all__ = ["bp"]
