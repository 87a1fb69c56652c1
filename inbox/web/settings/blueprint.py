"""The Settings blueprint, on which each area's module registers its pages."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("settings", __name__, url_prefix="/settings")
