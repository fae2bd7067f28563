"""Measuring the engine: `evaluate` on labelled footage, the `proving-ground` on synthetic videos, and `synth`,
which writes one such video with its truth."""

from __future__ import annotations

import json
from pathlib import Path

import click

from data_engine.cli.bars import progress_bar
from data_engine.cli.output import pass_runtime
from data_engine.evaluation.footage import EvaluationReport, FootageScoring, evaluate_footage, evaluate_sequences
from data_engine.experiments.mining_triggers import (
    evaluate_models_on_proving_ground,
    evaluate_proving_ground,
    format_model_table,
    format_table,
)
from data_engine.experiments.proving_ground import (
    ProvingGroundConfig,
    ProvingGroundError,
    answer_bundle_from_truth_files,
    run_proving_ground_seeds,
)
from data_engine.registry import detectors_in_use
from data_engine.runtime import Runtime
from data_engine.synthetic import HardCases, generate


def _parse_size(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in value.lower().split("x"))
    except ValueError as error:
        raise click.BadParameter(f"expected WIDTHxHEIGHT such as 320x240, got {value!r}") from error
    return width, height


@click.command()
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same video and truth.")
@click.option("--seconds", type=float, default=10.0, show_default=True)
@click.option("--size", default="320x240", show_default=True, callback=_parse_size, help="WIDTHxHEIGHT")
@click.option("--fps", type=float, default=25.0, show_default=True)
@click.option(
    "--hard-cases",
    "hard_share",
    type=float,
    default=None,
    help="An easy scene with this share of frames under rare hard conditions (a rare look, a lighting change, a long "
    "occlusion, motion blur, an object at the border), e.g. 0.04; without it the classic proving ground with events "
    "everywhere.",
)
def synth(out_dir: str, seed: int, seconds: float, size: tuple[int, int], fps: float, hard_share: float | None) -> None:
    """Write a proving-ground video (H.264 mp4) and its exact ground truth (JSON)."""
    hard = None if hard_share is None else HardCases(share=hard_share)
    video = generate(out_dir, seed=seed, seconds=seconds, size=size, fps=fps, hard_cases=hard)
    truth = video.truth()
    click.echo(f"video: {video.video_path}")
    click.echo(f"truth: {video.truth_path} ({len(truth.frames)} frames, {len(truth.events)} injected events)")
    if hard is not None:
        click.echo(
            f"hard frames: {len(truth.hard_frames())} of {truth.frame_count} (conditions per frame in the events)"
        )


@click.group("proving-ground", invoke_without_command=True)
@click.option("--seeds", "seed_count", type=int, default=1, show_default=True, help="Repeat for seeds SEED..SEED+N-1.")
@click.option("--seed", type=int, default=0, show_default=True, help="The first seed.")
@click.option("--rounds", type=int, default=3, show_default=True)
@click.option("--budget", type=int, default=40, show_default=True, help="Frames labelled per round.")
@click.option(
    "--hard-share", type=float, default=0.04, show_default=True, help="Share of frames under a rare hard condition."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Working folder (default: DATA_ENGINE_HOME/proving-ground); finished seeds there are reused.",
)
@click.option(
    "--triggers",
    "triggers_only",
    is_flag=True,
    help="Instead of the loop: precision and recall of each trigger against the truth of one video per seed "
    "(model-level triggers with the configured detectors, when there are any).",
)
@click.option("--seconds", type=float, default=20.0, show_default=True, help="With --triggers: each video's length.")
@click.pass_context
def proving_ground(
    ctx: click.Context,
    seed_count: int,
    seed: int,
    rounds: int,
    budget: int,
    hard_share: float,
    out_dir: str | None,
    triggers_only: bool,
    seconds: float,
) -> None:
    """The data-engine loop measured on synthetic videos with rare hard cases: mining vs random vs uncertainty
    labelling at the same budget, test mAP overall and on the rare cases per round, over seeds with 95 % intervals.
    `proving-ground answer BUNDLE` is its simulated annotator."""
    if ctx.invoked_subcommand is not None:
        return
    runtime: Runtime = ctx.obj

    if seed_count < 1:
        raise ProvingGroundError(f"--seeds must be at least 1, got {seed_count}")
    folder = Path(out_dir) if out_dir else runtime.settings.home / "proving-ground"
    seeds = list(range(seed, seed + seed_count))
    if triggers_only:
        _score_triggers(runtime, seeds, folder, seconds)
        return
    config = ProvingGroundConfig(rounds=rounds, budget=budget, hard_share=hard_share)
    with progress_bar(0, "proving ground", "step") as bar:

        def step(message: str) -> None:
            bar.set_postfix_str(message[:70], refresh=False)
            bar.update()

        report = run_proving_ground_seeds(folder, seeds, config, progress=step)
    (folder / "report.json").write_text(json.dumps(report.to_json(), indent=1))
    click.echo(report.table())
    click.echo(f"plot: {report.write_plot(folder / 'curves.png')}")
    click.echo(f"report: {folder / 'report.json'}")


@proving_ground.command("answer")
@click.argument("bundle", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--truth",
    "truth_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder of the videos' truth files (default: beside each video, where `synth` writes them).",
)
@pass_runtime
def proving_ground_answer(runtime: Runtime, bundle: Path, truth_dir: Path | None) -> None:
    """Answer a pushed bundle of synthetic videos from their ground truth, as an annotator would (for demos and
    tests of the loop); then `data-engine import-annotations BUNDLE` brings the answers in."""
    answered = answer_bundle_from_truth_files(runtime.catalog, bundle, truth_dir)
    click.echo(f"answered {answered.frames} frames from the ground truth: {answered.path}")


def _score_triggers(runtime: Runtime, seeds: list[int], folder: Path, seconds: float) -> None:
    click.echo(format_table(evaluate_proving_ground(seeds, folder / "triggers", seconds=seconds)))
    detectors = detectors_in_use(runtime.catalog, runtime.store, runtime.settings)
    if detectors:
        reference = detectors[1] if len(detectors) > 1 else None
        scores = evaluate_models_on_proving_ground(seeds, folder / "triggers", detectors[0], reference, seconds)
        click.echo(format_model_table(scores))
    else:
        click.echo("no detector configured: model-level triggers not scored (set DATA_ENGINE_DETECTORS)")


@click.command()
@click.argument("sources", nargs=-1, type=click.Path(exists=True))
@click.option(
    "--gt",
    "ground_truth",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="MOTChallenge ground truth (default: SOURCE/gt/gt.txt of a sequence folder).",
)
@click.option(
    "--predictions",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Score this MOTChallenge result file (any detector's or tracker's) instead of running the detectors.",
)
@click.option(
    "--class", "class_name", default="person", show_default=True, help="The detectors' class the ground truth labels."
)
@click.option(
    "--threshold",
    type=float,
    default=0.25,
    show_default=True,
    help="Confidence from which raw detector boxes count for P/R/F1 (mAP50 uses all).",
)
@click.option(
    "--min-visibility",
    type=float,
    default=0.0,
    show_default=True,
    help="Ground-truth boxes less visible than this (visibility column) are don't-care.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
def evaluate(
    runtime: Runtime,
    sources: tuple[str, ...],
    ground_truth: str | None,
    predictions: str | None,
    class_name: str,
    threshold: float,
    min_visibility: float,
    as_json: bool,
) -> None:
    """Measure the engine on labelled footage: videos, folders of frames or MOTChallenge sequences with
    MOTChallenge ground truth (several sequences: one row each and the pooled figures). Raw detections, hindsight
    labels and ByteTrack's tracks (P/R/F1 at IoU 0.5, AP50), tracking quality (HOTA, MOTA, IDF1), and the lift of
    the engine's selection and of each trigger: errors per chosen frame over errors per frame of all frames."""
    if len(sources) > 1 and (ground_truth or predictions):
        raise click.UsageError("--gt and --predictions score one footage; give one SOURCE with them")
    detectors = [] if predictions else detectors_in_use(runtime.catalog, runtime.store, runtime.settings)

    def say(message: str) -> None:
        click.echo(message, err=True)

    scoring = FootageScoring(class_name, threshold, min_visibility)
    if len(sources) > 1:
        report = evaluate_sequences(sources, detectors=detectors, scoring=scoring, progress=say)
    else:
        one = evaluate_footage(
            sources[0] if sources else None,
            ground_truth,
            detectors=detectors,
            predictions=predictions,
            scoring=scoring,
            progress=say,
        )
        report = EvaluationReport((one,), one)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo("\n".join(report.lines()))
