"""The fault suite's settings: a short form for ``make test``, the long form with
``SP_FAULTS_LONG=1`` (10,000 referrals, 30 s outages, more generated garbage)."""

from __future__ import annotations

import os

FAULTS_LONG = os.environ.get("SP_FAULTS_LONG") == "1"
