"""Model states that say what happened: `archived` becomes a flag (`archived_at`, weights removed) beside the status,
and the statuses written before are rewritten: a champion replaced by a newer one is `retired` (it was listed as
`challenger`), a champion taken back by a rollback is `rolled_back` (it was listed as `rejected`).

Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from data_engine.catalog.migrations.common import TIMESTAMP, add_columns, drop_columns

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    add_columns("model_versions", sa.Column("archived_at", TIMESTAMP, nullable=True))
    connection = op.get_bind()
    models = sa.table(
        "model_versions",
        sa.column("id", sa.String),
        sa.column("status", sa.String),
        sa.column("archived_at", TIMESTAMP),
        sa.column("updated_at", TIMESTAMP),
    )
    events = sa.table(
        "registry_events",
        sa.column("id", sa.BigInteger),
        sa.column("model_id", sa.String),
        sa.column("kind", sa.String),
        sa.column("to_status", sa.String),
    )
    for model_id, status, updated_at in connection.execute(
        sa.select(models.c.id, models.c.status, models.c.updated_at)
    ):
        kinds = [
            (kind, to_status)
            for kind, to_status in connection.execute(
                sa.select(events.c.kind, events.c.to_status).where(events.c.model_id == model_id).order_by(events.c.id)
            )
            if kind != "archive"
        ]
        values: dict[str, object] = {}
        if status == "archived":
            values["archived_at"] = updated_at
            status = kinds[-1][1] if kinds else "rejected"
        last_kind = kinds[-1][0] if kinds else None
        if status == "challenger" and last_kind == "demote":
            status = "retired"
        elif status == "rejected" and last_kind == "rollback":
            status = "rolled_back"
        values["status"] = status
        connection.execute(sa.update(models).where(models.c.id == model_id).values(**values))


def downgrade() -> None:
    connection = op.get_bind()
    models = sa.table("model_versions", sa.column("status", sa.String), sa.column("archived_at", TIMESTAMP))
    connection.execute(sa.update(models).where(models.c.archived_at.is_not(None)).values(status="archived"))
    connection.execute(sa.update(models).where(models.c.status == "retired").values(status="challenger"))
    connection.execute(sa.update(models).where(models.c.status == "rolled_back").values(status="rejected"))
    drop_columns("model_versions", "archived_at")
