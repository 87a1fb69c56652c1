"""gunicorn reads this file from the working directory (the Procfile's web process and the
browser tests run gunicorn from the repository root). Access log lines omit query strings:
webhooks by GET carry patient text and phone numbers there (see inbox/logs.py)."""

from inbox.logs import ACCESS_LOG_FORMAT

access_log_format = ACCESS_LOG_FORMAT
