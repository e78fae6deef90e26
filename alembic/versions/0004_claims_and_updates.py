"""feeds.claimed_by: a poll claim lapses with its worker's heartbeat; cluster_alerts.update_id:
the follow-up waiting to be sent, which later outlets join

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=36), nullable=True))
    with op.batch_alter_table("cluster_alerts") as batch:
        batch.add_column(sa.Column("update_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+), not batch mode's copy-and-swap: with foreign
    # keys on, dropping the old feeds table would cascade to every story, hit and outbox row.
    with op.batch_alter_table("cluster_alerts", recreate="never") as batch:
        batch.drop_column("update_id")
    with op.batch_alter_table("feeds", recreate="never") as batch:
        batch.drop_column("claimed_by")
