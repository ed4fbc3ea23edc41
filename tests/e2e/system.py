"""The whole system under test: the three services' real apps, with their workers
running, talking over a real bus, driven through HTTP like its users drive it."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from fastapi.testclient import TestClient

from shared.settings import Settings


class System:
    def __init__(self, settings: dict[str, Settings]) -> None:
        from services.directory.app import create_app as directory_app
        from services.matcher.app import create_app as matcher_app
        from services.referrals.app import create_app as referrals_app

        self._stack = ExitStack()
        self.directory = self._client(directory_app(settings["directory"]))
        self.matcher = self._client(matcher_app(settings["matcher"]))
        self.referrals = self._client(referrals_app(settings["referrals"]))
        self._tokens: dict[str, str] = {}

    def _client(self, app) -> TestClient:
        return self._stack.enter_context(TestClient(app, raise_server_exceptions=True))

    def close(self) -> None:
        self._stack.close()

    def token(self, username: str) -> dict[str, str]:
        if username not in self._tokens:
            response = self.referrals.post(
                "/auth/token", data={"username": username, "password": "demo"}
            )
            assert response.status_code == 200, response.text
            self._tokens[username] = response.json()["access_token"]
        return {"Authorization": f"Bearer {self._tokens[username]}"}

    def as_user(self, username: str, client: TestClient, method: str, url: str, **kwargs):
        headers = {**kwargs.pop("headers", {}), **self.token(username)}
        return client.request(method, url, headers=headers, **kwargs)


def eventually(check: Callable[[], Any], timeout_s: float = 60.0, every_s: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy, or fail with its last value."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every_s)
    raise AssertionError(f"condition not met within {timeout_s}s; last value: {last!r}")


REFERRAL = {
    "given_name": "Margaret",
    "family_name": "Okafor",
    "nhs_number": "9434765919",
    "birth_date": "1948-03-02",
    "gender": "female",
    "postcode": "DA5 1GP",
    "phone": "020 7946 0018",
    "preferred_contact": "phone",
    "languages": ["English"],
    "accessibility_needs": [],
    "needs": "78F lonley since husband d. in March, struggling with bereavment, loves gardening",
    "urgency": "routine",
    "consent_to_refer": True,
    "consent_to_share": True,
}
