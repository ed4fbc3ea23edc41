"""audit log: purpose a closed list, a detail column, append-only by trigger

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

PURPOSES = (
    "care",
    "link worker review",
    "referrer follow-up",
    "safeguarding",
    "data quality",
    "group referral",
    "message to the GP",
    "audit",
)
_LIST = ", ".join(f"'{p}'" for p in PURPOSES)
REFUSAL = "the audit log is append-only"


def upgrade() -> None:
    with op.batch_alter_table("referrals_audit_log") as batch:
        batch.add_column(sa.Column("detail", sa.String(length=200), nullable=True))
    # What used to be free text in purpose becomes the detail; purpose takes the list.
    op.execute(
        "UPDATE referrals_audit_log SET detail = purpose, purpose = CASE "
        f"WHEN purpose IN ({_LIST}) THEN purpose "
        "WHEN purpose LIKE 'group%' THEN 'group referral' "
        "ELSE 'care' END"
    )
    with op.batch_alter_table("referrals_audit_log") as batch:
        batch.create_check_constraint("ck_referrals_audit_purpose", f"purpose IN ({_LIST})")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION referrals_audit_log_append_only() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{REFUSAL}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER referrals_audit_log_append_only "
            "BEFORE UPDATE OR DELETE ON referrals_audit_log "
            "FOR EACH ROW EXECUTE FUNCTION referrals_audit_log_append_only()"
        )
        op.execute(
            "CREATE TRIGGER referrals_audit_log_no_truncate "
            "BEFORE TRUNCATE ON referrals_audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION referrals_audit_log_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER referrals_audit_log_no_{verb.lower()} "
                f"BEFORE {verb} ON referrals_audit_log "
                f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER referrals_audit_log_no_truncate ON referrals_audit_log")
        op.execute("DROP TRIGGER referrals_audit_log_append_only ON referrals_audit_log")
        op.execute("DROP FUNCTION referrals_audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER referrals_audit_log_no_update")
        op.execute("DROP TRIGGER referrals_audit_log_no_delete")
    with op.batch_alter_table("referrals_audit_log") as batch:
        batch.drop_constraint("ck_referrals_audit_purpose", type_="check")
        batch.drop_column("detail")
