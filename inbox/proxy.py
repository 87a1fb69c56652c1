"""The Procfile's `proxy` process: nginx (Debian's package) in front of gunicorn.

nginx takes a client's whole request (headers within 10 s, body bytes never more than 10 s
apart) before gunicorn sees it, so clients that send slowly, or stop halfway, cost nginx a
few bytes each instead of one of gunicorn's threads. It listens on PORT (all interfaces
unless PROXY_BIND says otherwise) and passes requests to gunicorn on WEB_BIND (loopback).
The config is `deploy/nginx.conf.template`, rendered into a private runtime folder."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from .config import IMPORT_PATH, ROOT

TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
DEFAULT_WEB_BIND = "127.0.0.1:8000"


def render(
    *, listen: str, upstream: str, max_body: int, runtime: Path, import_max_body: int = 0
) -> str:
    """The nginx config: ${NAME} placeholders filled (nginx's own $variables left alone)."""
    values = {
        "LISTEN": listen,
        "UPSTREAM": upstream,
        "MAX_BODY": f"{max(1, max_body // 1024)}k",
        "IMPORT_PATH": IMPORT_PATH,
        "IMPORT_MAX_BODY": f"{max(1, max(import_max_body, max_body) // 1024)}k",
        "RUNTIME": str(runtime),
    }
    return re.sub(r"\$\{([A-Z_]+)\}", lambda m: values[m.group(1)], TEMPLATE.read_text())


def command(env: dict[str, str] | None = None, runtime: Path | None = None) -> list[str]:
    """Write the config for this environment and return the nginx command that serves it."""
    from .config import Config

    env = dict(os.environ if env is None else env)
    config = Config()
    runtime = runtime or Path(tempfile.mkdtemp(prefix="clinic-inbox-proxy-"))
    runtime.chmod(0o711)  # nginx's workers (nobody, when started as root) pass through
    listen = f"{env.get('PROXY_BIND', '0.0.0.0')}:{env.get('PORT', '5000')}"
    conf = runtime / "nginx.conf"
    conf.write_text(
        render(
            listen=listen,
            upstream=env.get("WEB_BIND", DEFAULT_WEB_BIND),
            max_body=max(config.MAX_CONTENT_LENGTH, config.WEBHOOK_MAX_BYTES),
            import_max_body=config.IMPORT_MAX_BYTES,
            runtime=runtime,
        )
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    return [nginx, "-e", "stderr", "-p", str(runtime), "-c", str(conf)]


def main() -> None:
    cmd = command()
    if not Path(cmd[0]).exists():
        sys.exit("nginx is not installed: apt-get install nginx (Debian's package)")
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
