"""gunicorn reads this file from the working directory (the Procfile's web process and the
browser tests run gunicorn from the repository root). Access log lines omit query strings:
webhooks by GET carry patient text and phone numbers there (see inbox/logs.py), and the
tokens of password links."""

from inbox.logs import ACCESS_LOG_FORMAT

access_log_format = ACCESS_LOG_FORMAT
# The same, with one-time password links' tokens cut from the path.
logger_class = "inbox.logs.RedactingGunicornLogger"


def post_worker_init(worker) -> None:
    """Everything loaded so far (the app, SQLAlchemy's mappers, Jinja, the vonage SDK) lives
    as long as the process: keep it out of the cyclic collector. A full collection over those
    ~200k objects paused a request for ~100 ms every few hundred list pages (the p99)."""
    import gc

    gc.collect()
    gc.freeze()
