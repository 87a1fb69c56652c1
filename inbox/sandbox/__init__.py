from .app import create_sandbox_app
from .server import SandboxServer, register_phonebook
from .state import Fault, SandboxState
from .webhooks import send_inbound, sign_params

__all__ = [
    "Fault", "SandboxServer", "SandboxState", "create_sandbox_app", "register_phonebook",
    "send_inbound", "sign_params",
]  # fmt: skip
