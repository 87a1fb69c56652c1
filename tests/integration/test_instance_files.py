"""instance/ holds the SQLite database and its WAL (every patient's texts), the embedded
Redis (queued texts), the sandbox's phone (names and texts) and the secret key: the folder
is created 0700 and every file in it 0600, whatever the umask."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from inbox.sandbox import SandboxState

ROOT = Path(__file__).resolve().parents[2]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


DEV_START = """
from inbox import create_app, devrun
from inbox.broker import redis_url
app = create_app()
devrun.prepare(app, demo=True)
with app.app_context():
    redis_url()
"""


def test_instance_folder_and_files_are_private(tmp_path):
    instance = tmp_path / "instance"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(INSTANCE_PATH=str(instance), APP_ENV="development", PYTHONUNBUFFERED="1")
    env.pop("SECRET_KEY", None)
    try:
        # As `make dev` starts (in one process, as it does): migrate the default SQLite
        # database, then seed it (which starts the embedded Redis to queue the demo's jobs).
        done = subprocess.run(
            [sys.executable, "-c", DEV_START], cwd=ROOT, env=env, capture_output=True,
            text=True, timeout=120,
            preexec_fn=lambda: os.umask(0o022),  # the usual umask: files would be 0644
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        SandboxState(path=instance / "sandbox-state.json").save()
        # SQLite gives its write-ahead log the database file's mode.
        db = sqlite3.connect(instance / "clinic-inbox.sqlite3")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE wal_probe (x)")
        assert _mode(instance / "clinic-inbox.sqlite3-wal") == 0o600
        db.close()
        assert _mode(instance) == 0o700
        files = [p for p in instance.rglob("*") if p.is_file()]
        names = {p.name for p in files}
        assert {"clinic-inbox.sqlite3", "secret_key", "sandbox-state.json"} <= names, names
        loose = {str(p.relative_to(instance)): oct(_mode(p)) for p in files if _mode(p) & 0o077}
        assert loose == {}
    finally:
        from inbox import embedded_redis

        embedded_redis.stop(instance)


def test_an_existing_instance_folder_is_tightened_but_never_a_shared_one():
    from inbox.config import private_dir

    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "instance"
        old.mkdir(mode=0o755)
        old.chmod(0o755)  # an install from before
        private_dir(old)
        assert _mode(old) == 0o700
        shared = Path(tmp) / "shared"
        shared.mkdir()
        shared.chmod(0o1777)  # sticky, like /tmp
        private_dir(shared)
        assert _mode(shared) == 0o1777
