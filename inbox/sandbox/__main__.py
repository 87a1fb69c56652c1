"""python -m inbox.sandbox: the Vonage sandbox on SANDBOX_PORT (default 5001)."""

from __future__ import annotations

import os

from werkzeug.serving import run_simple

from ..config import INSTANCE, Config
from .app import create_sandbox_app
from .state import SandboxState


def main() -> None:
    config = Config()
    app_url = config.PUBLIC_BASE_URL
    state = SandboxState(
        api_key=config.VONAGE_API_KEY,
        api_secret=config.VONAGE_API_SECRET,
        signature_secret=config.VONAGE_SIGNATURE_SECRET,
        signature_method=config.VONAGE_SIGNATURE_METHOD,
        default_status_url=f"{app_url}/webhooks/vonage/status",
        default_inbound_url=f"{app_url}/webhooks/vonage/inbound",
        path=INSTANCE / "sandbox-state.json",
    )
    state.load()
    port = int(os.environ.get("SANDBOX_PORT", config.SANDBOX_PORT))
    run_simple("127.0.0.1", port, create_sandbox_app(state), threaded=True)


if __name__ == "__main__":
    main()
