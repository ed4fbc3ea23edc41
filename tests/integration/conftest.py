"""The referrals API client fixture (``api``), shared by the integration tests."""

from tests.integration.test_referrals_api import api  # noqa: F401 (a fixture)
