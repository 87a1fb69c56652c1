from flask import Flask


def register_blueprints(app: Flask) -> None:
    from . import auth, conversations, home, webhooks

    app.register_blueprint(auth.bp)
    app.register_blueprint(home.bp)
    app.register_blueprint(conversations.bp)
    app.register_blueprint(webhooks.bp)
