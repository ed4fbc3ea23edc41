"""Every service documents its API: each request body has an example to start from."""

from __future__ import annotations

import pytest

from services.directory.app import create_app as directory_app
from services.referrals.app import create_app as referrals_app
from tests.conftest import make_settings


@pytest.mark.parametrize(
    "create_app", [referrals_app, directory_app], ids=["referrals", "directory"]
)
def test_request_bodies_carry_examples(create_app, tmp_path):
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, run_workers=False))
    spec = app.openapi()
    bodies = {
        op["requestBody"]["content"][media]["schema"].get("$ref", "").rsplit("/", 1)[-1]
        for path in spec["paths"].values()
        for op in path.values()
        if "requestBody" in op
        for media in op["requestBody"]["content"]
    }
    schemas = spec["components"]["schemas"]
    documented = {name for name in bodies if name in schemas}
    missing = [
        name for name in documented if name.endswith("In") and "examples" not in schemas[name]
    ]
    assert documented, "request bodies are described by named schemas"
    assert missing == []
    app.state.runtime.close()
