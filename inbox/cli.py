"""flask commands: seed-demo, connect-number, worker."""

from __future__ import annotations

import click
from flask import Flask, current_app

from .broker import get_redis
from .config import SANDBOX_API_KEY


def register_cli(app: Flask) -> None:
    @app.cli.command("seed-demo")
    @click.option(
        "--connect/--no-connect", default=True, help="Register the demo number with the carrier."
    )
    def seed_demo_command(connect: bool) -> None:
        """Create the demo practices, users, patients and conversations (idempotent)."""
        from . import carrier
        from .services import demo, messaging, numbers

        account, created = demo.seed_demo()
        click.echo(
            ("Created" if created else "Already there:") + f" {account.name} and Fresh Face Clinic"
        )
        if not connect:
            return
        number = messaging.active_number(account.id)
        try:
            numbers.connect(number)
        except carrier.CarrierError as exc:
            click.echo(f"Warning: could not connect {number.e164} at the carrier: {exc.reason}")
            return
        click.echo(f"{number.e164} is connected to {numbers.inbound_webhook_url()}")
        if current_app.config["VONAGE_API_KEY"] == SANDBOX_API_KEY:
            from .sandbox import register_phonebook

            register_phonebook(
                "http://" + current_app.config["VONAGE_REST_HOST"], demo.phonebook(account)
            )

    @app.cli.command("worker")
    @click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
    def worker_command(burst: bool) -> None:
        """Run an RQ worker on this app's Redis (embedded or REDIS_URL)."""
        from rq import Worker

        worker = Worker([current_app.config["RQ_QUEUE"]], connection=get_redis())
        worker.work(with_scheduler=True, burst=burst)

    @app.cli.command("redis-url")
    def redis_url_command() -> None:
        """Print the Redis URL this app uses (starting the embedded server if needed)."""
        from .broker import redis_url

        click.echo(redis_url())
