"""The fault suite's settings: a short form for ``make test``, the long form with
``SP_FAULTS_LONG=1`` (10,000 referrals, 30 s outages, more generated garbage)."""

from __future__ import annotations

import os

import pytest

FAULTS_LONG = os.environ.get("SP_FAULTS_LONG") == "1"


def private_postgres():
    """A PostgreSQL server of the test's own (see private_postgres.py), for a fixture to
    yield from; the tests that need one fail, not skip, where initdb is missing."""
    from tests.faults.private_postgres import PrivatePostgres, postgres_binaries

    binaries = postgres_binaries()
    if binaries is None:
        pytest.fail("no /usr/lib/postgresql/*/bin/initdb: install PostgreSQL's server package")
    server = PrivatePostgres(binaries).start()
    try:
        yield server
    finally:
        server.close()
