"""Dagster assets, one module per pipeline stage; each asset makes one domain call."""
