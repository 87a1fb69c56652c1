from .app import create_sandbox_app, send_inbound, sign_params
from .server import SandboxServer, register_phonebook
from .state import Fault, SandboxState

__all__ = [
    "Fault", "SandboxServer", "SandboxState", "create_sandbox_app", "register_phonebook",
    "send_inbound", "sign_params",
]  # fmt: skip
