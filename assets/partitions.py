"""Partitioning: one dynamic partition per ingest batch (never one per clip: per-clip state lives in the catalog)."""

import dagster as dg

ingest_batches = dg.DynamicPartitionsDefinition(name="ingest_batches")
