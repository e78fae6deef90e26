"""delivery and dedup

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 01:26:28.707237
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("alerts", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_messages_sent_at"), ["sent_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_messages_target"), ["target"], unique=False)

    op.create_table(
        "cluster_alerts",
        sa.Column("cluster", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=200), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_update_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["story_id"], ["stories.id"], name=op.f("fk_cluster_alerts_story_id_stories"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("cluster", "rule", "target", name=op.f("pk_cluster_alerts")),
    )
    op.create_table(
        "story_keys",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["story_id"], ["stories.id"], name=op.f("fk_story_keys_story_id_stories"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_story_keys")),
    )
    with op.batch_alter_table("story_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_story_keys_story_id"), ["story_id"], unique=False)

    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_new_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("health", sa.String(length=16), nullable=False, server_default="ok"))

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="alert"))
        batch_op.add_column(sa.Column("title", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("body", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("message_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("claim_token", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column("hit_id", existing_type=sa.INTEGER(), nullable=True)
        batch_op.alter_column("next_attempt_at", existing_type=sa.DateTime(timezone=True), nullable=True)
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_message_id_messages"),
            "messages",
            ["message_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_outbox_message_id_messages"), type_="foreignkey")
        batch_op.alter_column("next_attempt_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.alter_column("hit_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("first_failed_at")
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claim_token")
        batch_op.drop_column("message_id")
        batch_op.drop_column("body")
        batch_op.drop_column("title")
        batch_op.drop_column("kind")

    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_column("health")
        batch_op.drop_column("last_new_at")

    with op.batch_alter_table("story_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_story_keys_story_id"))

    op.drop_table("story_keys")
    op.drop_table("cluster_alerts")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_target"))
        batch_op.drop_index(batch_op.f("ix_messages_sent_at"))

    op.drop_table("messages")
