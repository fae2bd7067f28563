"""The model registry: `models` (list, `show`, `add`), `promote` by hand and `rollback`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from data_engine.cli.output import actor, pass_runtime, print_evaluation, print_rows, score, utc_iso
from data_engine.registry import registry_for
from data_engine.registry.card import model_card
from data_engine.runtime import Runtime
from data_engine.stages.train import add_model


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model version.")
@click.pass_context
def models(ctx: click.Context, as_json: bool) -> None:
    """Model versions in the registry with their metrics, lineage and status (`models show ID`, `models add PATH`)."""
    if ctx.invoked_subcommand is not None:
        return
    runtime: Runtime = ctx.obj
    rows = [model.to_json() for model in registry_for(runtime.catalog, runtime.store, runtime.settings).models()]
    width = max((len(row["id"]) for row in rows), default=0)
    print_rows(
        rows,
        as_json,
        lambda r: (
            f"{r['id']:<{width}}  {r['status'] + (' (archived)' if r['archived'] else ''):<22} "
            f"mAP50 {score(r['map50'])}  "
            f"mAP50-95 {score(r['map50_95'])}  dataset {r['dataset'] or '-'}  parent {r['parent'] or '-'}"
            + (f"  ({r['reason']})" if r["reason"] else "")
        ),
    )


@models.command("show")
@click.argument("model_id")
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
def models_show(runtime: Runtime, model_id: str, as_json: bool) -> None:
    """One model: status and reason, metrics per class and slice, the gate's reasons, lineage and events."""
    card = model_card(registry_for(runtime.catalog, runtime.store, runtime.settings), model_id)
    model, decision, run = card.model, card.decision, card.training_run
    events = [
        {
            "time": utc_iso(event.created_at),
            "kind": event.kind,
            "from": event.from_status,
            "to": event.to_status,
            "actor": event.actor,
            "detail": event.detail,
        }
        for event in card.events
    ]
    lineage = [{"id": ancestor.id, "status": ancestor.status.value} for ancestor in card.ancestors]
    if as_json:
        document = {
            **model.to_json(),
            "weights": None if model.archived else runtime.store.uri(model.weights_key),
            "source": card.source,
            "evaluation": model.metrics or None,
            "gate": decision.to_json() if decision else None,
            "lineage": lineage,
            "training_run": card.training_run_json(),
            "other_evaluations": card.other_evaluations,
            "events": events,
        }
        click.echo(json.dumps(document, indent=2))
        return
    archived = " (archived: weights removed)" if model.archived else ""
    click.echo(f"model {model.id}: {model.status}{archived}" + (f", {model.reason}" if model.reason else ""))
    click.echo(
        f"  weights: {runtime.store.uri(model.weights_key)} (sha256 {model.sha256[:12]}..., {model.size_bytes} bytes)"
    )
    click.echo(f"  source: {card.source}")
    if run is not None:
        click.echo(
            f"  trained: run {run.id} from {run.params.get('model')} on {run.dataset_id}, {run.epochs_completed} "
            f"epochs on {run.device} in "
            f"{run.duration_s:.0f} s ({run.status}), estimated cost {run.estimated_cost:.2f}"
        )
    click.echo(
        "  lineage: "
        + " <- ".join([model.id, *(f"{a['id']} ({a['status']})" for a in lineage)])
        + ("" if lineage else " (no parent in the registry)")
    )
    if model.evaluation is not None:
        print_evaluation(model.evaluation)
    else:
        click.echo("  not evaluated yet: no dataset version existed when it was added")
    for dataset_id, scores in card.other_evaluations.items():
        click.echo(
            f"  also measured on {dataset_id}: mAP50 {score(scores['map50'])}, mAP50-95 {score(scores['map50_95'])}"
        )
    if decision is not None:
        click.echo(f"  gate: {decision.verdict}")
        for note in decision.notes:
            click.echo(f"    note: {note}")
    for event in events:
        click.echo(
            f"  {event['time']}  {event['kind']:<15} {event['from'] or '(new)'} -> {event['to']}"
            f"  by {event['actor'] or '-'}  {json.dumps(event['detail'])}"
        )


@models.command("add")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--id", "model_id", default=None, help="Registry id (default: m-<time>-<sha256 prefix>).")
@click.option("--promote", "promote_now", is_flag=True, help="Make it the champion by hand at once.")
@click.option("--gate", "use_gate", is_flag=True, help="Let the promotion gate decide (needs a dataset version).")
@pass_runtime
def models_add(runtime: Runtime, path: Path, model_id: str | None, promote_now: bool, use_gate: bool) -> None:
    """Register a model trained elsewhere (e.g. a team's own pretrained Ultralytics weights), measured on the
    latest dataset version's frozen test split when there is one."""
    if promote_now and use_gate:
        raise click.UsageError("choose --promote (by hand) or --gate (the gate decides), not both")
    added = add_model(
        runtime.catalog,
        runtime.store,
        runtime.settings,
        path,
        actor=actor(),
        model_id=model_id,
        promote=promote_now,
        use_gate=use_gate,
    )
    click.echo(f"model {added.model.id} added from {path}")
    if added.model.evaluation is not None:
        print_evaluation(added.model.evaluation)
    else:
        click.echo("  not evaluated: there is no dataset version yet")
    click.echo(f"  {added.verdict}")


@click.command()
@click.argument("model_id")
@click.option("--note", default="", help="Why, for the record.")
@pass_runtime
def promote(runtime: Runtime, model_id: str, note: str) -> None:
    """Make a model version the champion by hand, bypassing the gate (recorded as an event)."""
    registry = registry_for(runtime.catalog, runtime.store, runtime.settings)
    before = registry.champion()
    model = registry.promote(model_id, actor=actor(), note=note)
    replaced = (
        f"; {before.id} is retired (`data-engine rollback` brings it back)" if before and before.id != model.id else ""
    )
    click.echo(f"{model.id} is the champion{replaced}")


@click.command()
@click.option("--note", default="", help="Why, for the record.")
@pass_runtime
def rollback(runtime: Runtime, note: str) -> None:
    """Take the champion out and reinstate the previous one (a second rollback goes further back)."""
    registry = registry_for(runtime.catalog, runtime.store, runtime.settings)
    current = registry.champion()
    model = registry.rollback(actor=actor(), note=note)
    click.echo(f"rolled back: {model.id} is the champion again; {current.id if current else '?'} is rolled_back")
