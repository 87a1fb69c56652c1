from flask import Flask


def register_blueprints(app: Flask) -> None:
    from . import (
        account,
        auth,
        conversations,
        home,
        integrations,
        live,
        patients,
        records,
        settings,
        webhooks,
    )

    app.register_blueprint(auth.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(home.bp)
    app.register_blueprint(conversations.bp)
    app.register_blueprint(patients.bp)
    app.register_blueprint(settings.bp)
    app.register_blueprint(records.bp)
    app.register_blueprint(integrations.bp)
    app.register_blueprint(live.bp)
    app.register_blueprint(webhooks.bp)
