"""Schemathesis drives the Open Referral API with the profile's own OpenAPI document:
generated requests for every operation (valid and invalid parameters), each response
checked against the profile's schemas, no server error, the right content type.

The case count per operation is bounded (``SP_SCHEMATHESIS_CASES``, default 25) so the
run fits CI; a longer run is the same test with a larger number.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
)

from services.directory.app import create_app
from tests.conftest import make_settings
from tests.openreferral_profile import PROFILE_DIR, profile_openapi

pytestmark = pytest.mark.skipif(not PROFILE_DIR.exists(), reason="no profile copy")

CASES = int(os.environ.get("SP_SCHEMATHESIS_CASES", "25"))


def _app():
    import tempfile
    from pathlib import Path

    tmp = Path(tempfile.mkdtemp(prefix="oruk-st-"))
    return create_app(
        make_settings(
            f"sqlite:///{tmp / 'd.db'}",
            tmp,
            load_demo_data=True,
            run_workers=False,
            openreferral_rate_limit="1000000/minute",
        )
    )


schema = schemathesis.openapi.from_dict(profile_openapi()) if PROFILE_DIR.exists() else None
CHECKS = [
    not_a_server_error,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def app():
    """The directory with the demo data; schemathesis calls it in-process (ASGI)."""
    application = _app()
    yield application
    application.state.runtime.close()


if schema is not None:

    @schema.parametrize()
    @settings(
        max_examples=CASES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def test_the_profile_openapi_document_finds_no_failure(case, app):
        response = case.call(app=app, base_url="http://testserver/openreferral")
        case.validate_response(response, checks=CHECKS)
