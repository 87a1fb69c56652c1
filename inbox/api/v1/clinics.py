"""REST API v1, the practice's clinics."""

from __future__ import annotations

from ...extensions import db
from ...models import Clinic, scoped
from ...web.guards import API_READ, access
from .. import schemas as s
from ..auth import current_actor
from .common import bp, documented_errors

# ---- clinics ---------------------------------------------------------------------------------


@bp.route("/clinics", methods=["GET"])
@access(API_READ)
@bp.response(200, s.ClinicListSchema)
@documented_errors(401, 403, 429)
def list_clinics():
    """List clinics (archived ones too, marked)"""
    clinics = db.session.scalars(
        scoped(Clinic, current_actor().account_id).order_by(Clinic.name, Clinic.id)
    )
    return {
        "data": [
            {"id": c.id, "name": c.name, "timezone": c.timezone, "address": c.address,
             "phone": c.phone, "archived": c.archived}
            for c in clinics
        ]
    }  # fmt: skip
