"""Catalog-aware pipeline stages: each takes clips from the catalog, calls the domain code, records the result."""
