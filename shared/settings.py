"""Settings for every process, read from environment variables prefixed ``SP_``.

The defaults are the embedded mode: one SQLite file, the SQL event log as the bus,
everything on localhost. Production sets ``SP_BUS=kafka`` and PostgreSQL URLs.
Settings are built by each process's composition root, never at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ENV_PREFIX", "Settings"]

ENV_PREFIX = "SP_"


class Settings(BaseSettings):
    """Everything a service process needs to know about its surroundings."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    # Storage
    database_url: str = Field(
        "sqlite:///var/socialrx.db",
        description="SQLAlchemy URL of this service's own database.",
    )
    data_dir: Path = Field(Path("var"), description="Where embedded mode keeps files.")

    # Event bus
    bus: Literal["sql", "kafka"] = Field("sql", description="Event bus adapter.")
    bus_database_url: str | None = Field(
        None, description="Database of the SQL event log (defaults to database_url)."
    )
    kafka_bootstrap_servers: str = "localhost:9092"
    kafka_partitions: int = Field(6, ge=1, description="Partitions for topics we create.")
    kafka_replication_factor: int = Field(1, ge=1)
    kafka_session_timeout_ms: int = Field(10_000, ge=1_000)
    kafka_heartbeat_interval_ms: int = Field(3_000, ge=100)
    kafka_request_timeout_ms: int = Field(30_000, ge=1_000)
    topic_prefix: str = Field("", description="Prepended to every topic name (tests, tenants).")
    instance_id: str = Field("local", description="Names this process in metrics and logs.")

    # Workers
    run_workers: bool = Field(True, description="Run the relay and consumers in this process.")
    poll_interval_s: float = Field(0.2, gt=0, description="Idle wait between empty polls.")
    max_handler_attempts: int = Field(3, ge=1, description="Failures before dead-lettering.")
    retry_backoff_s: float = Field(0.05, ge=0)

    # HTTP
    host: str = "127.0.0.1"
    port: int = 8000
    reuse_port: bool = Field(
        False,
        description="Listen with SO_REUSEPORT, so that several processes of one service share"
        " its port and the kernel spreads connections across them.",
    )
    referrals_processes: int = Field(
        2,
        ge=0,
        le=16,
        description="Embedded mode: processes serving the referrals API on its one port (the"
        " service's relay and consumers run in the embedded process; 0: it serves the API"
        " too).",
    )
    referrals_url: str = "http://127.0.0.1:8001"
    directory_url: str = "http://127.0.0.1:8002"
    matcher_url: str = "http://127.0.0.1:8003"
    matcher_snapshots: bool = Field(
        False,
        description="Keep a snapshot of the matcher's index in data_dir, so a restart serves"
        " at once instead of rebuilding it from the replica.",
    )

    # Security
    jwt_secret: str | None = Field(
        None, description="HMAC key for bearer tokens; embedded mode generates one in data_dir."
    )
    jwt_issuer: str = "social-prescribing"
    token_ttl_minutes: int = Field(8 * 60, ge=1)
    max_request_bytes: int = Field(
        1_000_000, ge=1_000, description="Larger request bodies are refused with 413."
    )

    # Start-up
    migrate_on_start: bool = Field(True, description="Apply Alembic migrations at start-up.")
    load_demo_data: bool = Field(False, description="Load the demo directory and users if empty.")
    access_log: bool = Field(
        True, description="Log every HTTP request (embedded mode turns it off for its services)."
    )
    demo_activity: bool = Field(
        False,
        description="Embedded mode: on a first start (no referrals yet), play a back-dated"
        " year of demo referrals through the use cases so the worklist and reports have"
        " figures (`make run` sets it).",
    )
    demo_activity_referrals: int = Field(
        1200, ge=1, le=20000, description="People referred over the demo period."
    )
    demo_activity_months: int = Field(
        12, ge=1, le=36, description="Calendar months of demo history, to this one."
    )

    # Referrals: when a new referral repeats an open one (same person, similar needs)
    referrals_duplicate_window_days: int = Field(14, ge=0)
    referrals_duplicate_needs_similarity: float = Field(
        60.0, ge=0, le=100, description="rapidfuzz token_set_ratio of the needs texts"
    )
    referrals_duplicate_name_similarity: float = Field(
        85.0, ge=0, le=100, description="rapidfuzz WRatio of the names (same date of birth)"
    )

    # Reporting
    small_number_threshold: int = Field(
        5, ge=1, description="Aggregate counts below this are suppressed in reports."
    )

    # Directory: Open Referral API and keeping entries fresh
    openreferral_rate_limit: str = Field(
        "600/minute", description="Requests per client address to /openreferral/ (limits syntax)."
    )
    review_after_months: int = Field(
        6, ge=1, description="Months after an entry was assured that its review falls due."
    )

    @property
    def event_log_url(self) -> str:
        return self.bus_database_url or self.database_url

    def resolved_jwt_secret(self) -> str:
        """The configured key, or one generated once and kept in ``data_dir``."""
        if self.jwt_secret:
            return self.jwt_secret
        import os
        import secrets

        path = self.data_dir / "jwt-secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            descriptor = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as secret:
                secret.write(secrets.token_urlsafe(48))
        return path.read_text().strip()
