"""Contract test: schemathesis reads the running app's OpenAPI document over HTTP and sends
every operation generated valid and invalid data. No answer may be a 5xx, and every answer
must match what the document says (status, content type, schema). Derandomized, with a
fixed number of examples per operation, so it cannot flake and stays under a minute."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from inbox.services import api_keys

EXAMPLES = {GenerationMode.POSITIVE: 10, GenerationMode.NEGATIVE: 6}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_every_operation_keeps_its_contract(app, demo):
    _, secret = api_keys.create(demo.id, "contract", "read,write,send")
    headers = {"Authorization": f"Bearer {secret}"}
    base = app.config["PUBLIC_BASE_URL"]
    schema = schemathesis.openapi.from_url(base + "/api/v1/openapi.json")
    app.config["API_RATE_LIMIT"] = "1000000/minute"
    operations = 0
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1
            for mode, examples in EXAMPLES.items():

                @settings(
                    max_examples=examples,
                    derandomize=True,
                    database=None,
                    deadline=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=operation.as_strategy(mode))
                def call(case) -> None:
                    case.call_and_validate(base_url=base, headers=headers, checks=CHECKS)

                call()
    finally:
        app.config["API_RATE_LIMIT"] = "600/minute"
    assert operations >= 17
