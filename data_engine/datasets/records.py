"""Dataset versions as catalog rows: the dataset package records what it builds, and training, the registry and the
reports read those records from here (below them), so no package reaches up to read them."""

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, mapped_column

from data_engine.catalog import Catalog
from data_engine.catalog.models import Base, utcnow


class DatasetVersionRecord(Base):
    """An immutable dataset version: its manifest lives in the store, the split of every group is kept here so
    that the next version can keep test groups in test."""

    __tablename__ = "dataset_versions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    manifest_key: Mapped[str] = mapped_column(Text)
    class_map: Mapped[dict[str, Any]] = mapped_column(default=dict)
    splits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DatasetRecords:
    """The dataset-version rows in the catalog database; every write is one short transaction."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def dataset_versions(self) -> list[DatasetVersionRecord]:
        with self.catalog.session() as session:
            return list(session.scalars(select(DatasetVersionRecord).order_by(DatasetVersionRecord.number)))

    def latest_dataset(self) -> DatasetVersionRecord | None:
        with self.catalog.session() as session:
            query = select(DatasetVersionRecord).order_by(DatasetVersionRecord.number.desc()).limit(1)
            return session.scalars(query).first()

    def get_dataset(self, dataset_id: str) -> DatasetVersionRecord | None:
        with self.catalog.session() as session:
            return session.get(DatasetVersionRecord, dataset_id)

    def next_dataset_number(self) -> int:
        with self.catalog.session() as session:
            return int(session.scalar(select(func.max(DatasetVersionRecord.number))) or 0) + 1

    def add_dataset(self, **fields: Any) -> DatasetVersionRecord:
        with self.catalog.session() as session:
            row = DatasetVersionRecord(**fields)
            session.add(row)
            return row
