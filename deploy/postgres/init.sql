-- Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d).
-- Each service owns its own database; none reads another's tables.
-- Each service creates its tables itself with Alembic at start-up (SP_MIGRATE_ON_START).
CREATE DATABASE referrals OWNER socialrx;
CREATE DATABASE directory OWNER socialrx;
CREATE DATABASE matcher OWNER socialrx;
