"""A snapshot of the Dagster surface, compared with the committed file: a change to asset keys, groups, checks,
jobs, sensors, schedules or resources shows in review as a diff of definitions_snapshot.json.

After an intended change, rewrite it: `DATA_ENGINE_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest` on this file.
"""

import json
import os
from pathlib import Path
from typing import Any

import dagster as dg

from definitions import defs

SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")


def surface(definitions: dg.Definitions) -> dict[str, Any]:
    """Everything a reviewer should see change, as sorted plain data."""
    graph = definitions.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "partitions": node.partitions_def.name
            if isinstance(node.partitions_def, dg.DynamicPartitionsDefinition)
            else None,
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "pool": definitions.resolve_assets_def(key).op.pool,
            "checks": {
                spec.name: {"blocking": spec.blocking}
                for spec in sorted(definitions.resolve_assets_def(key).check_specs, key=lambda s: s.name)
                if spec.asset_key == key
            },
        }
    jobs = {
        job.name: sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys)
        for job in sorted(definitions.resolve_all_job_defs(), key=lambda j: j.name)
        if not job.name.startswith("__")
    }
    sensors = {
        sensor.name: {
            "jobs": sorted(target.job_name for target in sensor.targets),
            "default_status": sensor.default_status.value,
            "minimum_interval_seconds": sensor.minimum_interval_seconds,
        }
        for sensor in sorted(definitions.sensors or [], key=lambda s: s.name)
    }
    schedules = {
        schedule.name: {
            "job": schedule.job_name,
            "cron": schedule.cron_schedule,
            "default_status": schedule.default_status.value,
        }
        for schedule in sorted(definitions.schedules or [], key=lambda s: s.name)
    }
    resources = {
        name: {
            "type": type(resource).__name__,
            "nested": sorted(getattr(resource, "nested_resources", {}) or {}),
            "fields": sorted(set(type(resource).model_fields) - set(getattr(resource, "nested_resources", {}) or {})),
        }
        for name, resource in sorted((definitions.resources or {}).items())
    }
    return {"assets": assets, "jobs": jobs, "sensors": sensors, "schedules": schedules, "resources": resources}


def test_the_dagster_surface_matches_the_committed_snapshot() -> None:
    current = surface(defs)
    if os.environ.get("DATA_ENGINE_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    assert current == json.loads(SNAPSHOT.read_text()), (
        f"the Dagster surface changed; review the difference and rewrite {SNAPSHOT.name} with "
        "DATA_ENGINE_UPDATE_SNAPSHOT=1 if it is intended"
    )
