"""The RQ worker class for the Procfile: SimpleWorker (no fork per job) that builds the
Flask app once at start, so the first text does not wait for it."""

from rq import SimpleWorker


class InboxWorker(SimpleWorker):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from workers.jobs import _get_app

        _get_app()
