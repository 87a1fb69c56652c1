"""flask commands: create-practice, seed-demo, worker, redis-url."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from .broker import get_redis
from .config import SANDBOX_API_KEY
from .models import LINK_INVITATION
from .timefmt import DEFAULT_TIMEZONE

api_key = AppGroup("api-key", help="API keys for the integration API.")


@api_key.command("create")
@click.option("--practice-id", type=int, required=True, help="The practice (account) id.")
@click.option("--name", required=True, help="Who will use the key, like “EHR sync”.")
@click.option(
    "--scopes", default="read", show_default=True, help="Comma-separated: read,write,send."
)
def api_key_create(practice_id: int, name: str, scopes: str) -> None:
    """Create an API key and print its secret (shown once: only its hash is kept)."""
    from .extensions import db
    from .models import Account
    from .models.audit import AUDIT_CREATED_API_KEY
    from .services import api_keys, audit

    account = db.session.get(Account, practice_id)
    if account is None:
        raise click.ClickException(f"No practice with id {practice_id}.")
    try:
        key, secret = api_keys.create(account.id, name, scopes)
    except api_keys.KeyRefused as exc:
        raise click.ClickException(str(exc)) from None
    audit.record(
        api_keys.actor(key), AUDIT_CREATED_API_KEY, key,
        summary=f"“{key.name}”, scopes {key.scopes}, from the command line",
    )  # fmt: skip
    click.echo(secret)


@click.command("seed-demo")
@with_appcontext
@click.option(
    "--connect/--no-connect", default=True, help="Register the demo number with the carrier."
)
def seed_demo_command(connect: bool) -> None:
    """Create the demo practices, users, patients and conversations (idempotent)."""
    seed_demo(connect)


@click.command("create-practice")
@with_appcontext
@click.argument("name")
@click.option("--admin-email", required=True, help="The Main Admin's email (their login).")
@click.option("--admin-name", required=True, help="The Main Admin's full name.")
@click.option(
    "--timezone",
    default=DEFAULT_TIMEZONE,
    show_default=True,
    help="The first clinic's IANA time zone, e.g. America/Chicago.",
)
@click.option(
    "--plan",
    type=click.Choice(["essentials", "accelerator"]),
    default="essentials",
    show_default=True,
    help="The practice's plan (the Inbox needs accelerator).",
)
def create_practice_command(
    name: str, admin_email: str, admin_name: str, timezone: str, plan: str
) -> None:
    """Create a practice, its first clinic and its Main Admin, and print the one-time
    link where the Main Admin sets a password."""
    from .services import links, practices

    try:
        new = practices.create(name, admin_email, admin_name, timezone, plan)
    except practices.PracticeRefused as exc:
        raise click.ClickException(f"{exc} Nothing was created.") from exc
    url = links.url_for_token(new.token)
    emailed = links.email_link(new.main_admin, LINK_INVITATION, new.token)
    clinic = new.account.clinics[0]
    click.echo(f"Created {new.account.name} ({new.account.plan_name}).")
    click.echo(f"  First clinic: {clinic.name} ({clinic.timezone})")
    click.echo(f"  Main Admin:   {new.main_admin.name} <{new.main_admin.email}>")
    click.echo("")
    click.echo("The Main Admin sets a password here (the link works once, for 72 hours):")
    click.echo(f"  {url}")
    base = current_app.config["PUBLIC_BASE_URL"]
    if current_app.config["ENV_NAME"] == "production" and (
        "//127.0.0.1" in base or "//localhost" in base
    ):
        click.echo(
            f"Note: PUBLIC_BASE_URL is {base}, not this server's public address: emailed "
            "links will point there. Set it; meanwhile open the link above with your "
            "server's address in its place."
        )
    if emailed:
        click.echo(f"It was also emailed to {new.main_admin.email}.")
    else:
        click.echo("No mail server is configured (MAIL_SERVER): pass this link on yourself.")


@click.command("practices")
@with_appcontext
def practices_command() -> None:
    """Print how many practices this server has (0 on a first run)."""
    click.echo(practice_count())


@click.command("worker")
@with_appcontext
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker_command(burst: bool) -> None:
    """Run an RQ worker on this app's Redis (embedded or REDIS_URL)."""
    from rq import Worker

    worker = Worker([current_app.config["RQ_QUEUE"]], connection=get_redis())
    worker.work(with_scheduler=True, burst=burst)


@click.command("redis-url")
@with_appcontext
def redis_url_command() -> None:
    """Print the Redis URL this app uses (starting the embedded server if needed)."""
    from .broker import redis_url

    click.echo(redis_url())


def register_cli(app: Flask) -> None:
    for command in (
        api_key,
        seed_demo_command,
        create_practice_command,
        practices_command,
        worker_command,
        redis_url_command,
    ):
        app.cli.add_command(command)


def seed_demo(connect: bool = True) -> None:
    """`flask seed-demo` (and `make dev`, in its own process): the demo practices, and
    with `connect` their number registered at the carrier (the sandbox, in development)."""
    from . import carrier
    from .services import demo, numbers

    account, created = demo.seed_demo()
    click.echo(
        ("Created" if created else "Already there:") + f" {account.name} and Fresh Face Clinic"
    )
    if not connect:
        return
    number = numbers.active_number(account.id)
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


def practice_count() -> int:
    from sqlalchemy import func, select

    from .extensions import db
    from .models import Account

    return db.session.scalar(select(func.count()).select_from(Account))
