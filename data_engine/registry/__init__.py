"""The model registry: versions with metrics and lineage, a promotion gate, a champion."""
