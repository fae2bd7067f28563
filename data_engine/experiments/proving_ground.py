"""The data-engine loop measured: does mining-selected labelling beat random labelling at the same budget?

On proving-ground videos (with ground truth) the real engine path runs end to end: ingest, mine, select, push a
bundle, a simulated annotator answers its tasks from the truth, import, build a dataset, fine-tune, evaluate on a
fixed test split. A shared seed phase labels a small seed set plus a fixed validation and test set and trains the
seed model; it is then copied into two engine homes, one per strategy. Each round brings a new batch of pool
videos: the mining home selects frames with the engine's selection and its current model, the random home
labels the same number of frames drawn uniformly from the same batch. Both retrain from their previous model
and are evaluated on the same frozen test split.
"""

from __future__ import annotations

import itertools
import random
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from data_engine.annotation import AnnotationRun, FrameAnswer, answer_bundle
from data_engine.catalog import Catalog, ClipState
from data_engine.datasets.build import DatasetConfig, DatasetVersion
from data_engine.datasets.splits import SplitConfig
from data_engine.errors import EngineError
from data_engine.evaluation import evaluate_model
from data_engine.layout import features_key
from data_engine.mining.features import read_features
from data_engine.reports.plots import learning_curves_png
from data_engine.runtime import Runtime, compute_backend
from data_engine.settings import Settings
from data_engine.stages.annotate import import_answers, push_selected
from data_engine.stages.autolabel import load_detectors
from data_engine.stages.ingest import ingest
from data_engine.stages.mine import (
    MiningConfig,
    compute_batch_features,
    mine_batch_triggers,
    record_selection,
    select_batch,
)
from data_engine.stages.train import build_training_dataset
from data_engine.synthetic import SyntheticVideo, generate
from data_engine.synthetic.dataset import MIN_LABEL_VISIBILITY
from data_engine.synthetic.generator import CLASS_NAMES
from data_engine.synthetic.truth import GroundTruth, load_truth
from data_engine.training.run import TrainingConfig, run_training
from data_engine.training.tiny import tiny_model_yaml
from data_engine.training.train import TrainingError

STRATEGIES = ("mining", "random")
ANNOTATOR = "simulated-annotator"
Progress = Callable[[str], None]


class ProvingGroundError(EngineError):
    """The loop could not go on (a training run that left no weights, settings that cannot work)."""


@dataclass(frozen=True)
class ProvingGroundConfig:
    """Sizes of the experiment. Videos are `video_seconds` long at `size`; each round brings `pool_videos` new
    videos of which `budget` frames may be labelled; the seed set is every `seed_every`-th frame of `seed_videos`
    videos, the fixed val/test sets every `eval_every`-th frame of theirs."""

    rounds: int = 3
    budget: int = 40
    seed: int = 0
    video_seconds: float = 8.0
    size: tuple[int, int] = (320, 240)
    clip_seconds: float = 2.0
    seed_videos: int = 2
    seed_every: int = 4
    val_videos: int = 1
    test_videos: int = 2
    eval_every: int = 5
    pool_videos: int = 3
    seed_epochs: int = 25
    epochs: int = 5
    imgsz: int = 160
    batch: int = 8

    def __post_init__(self) -> None:
        if self.rounds < 1 or self.budget < 1:
            raise ProvingGroundError(f"rounds and budget must be at least 1 (got {self.rounds}, {self.budget})")


@dataclass(frozen=True)
class RoundResult:
    """One strategy after one round: labels added so far (beyond the seed set), the test metrics and timings."""

    strategy: str
    round: int
    labels: int
    map50: float
    map50_95: float
    train_s: float
    dataset_id: str
    weights: Path


@dataclass(frozen=True)
class LoopReport:
    """Both curves (round 0 is the shared seed model) and the seconds the whole loop took."""

    results: tuple[RoundResult, ...]
    seed_labels: int
    test_images: int
    duration_s: float
    config: ProvingGroundConfig

    def curve(self, strategy: str) -> list[RoundResult]:
        return sorted((r for r in self.results if r.strategy == strategy), key=lambda r: r.round)

    def labels_to_match_random(self) -> float | None:
        """New labels the mining curve needs to reach the random strategy's final mAP50-95 (linear between
        rounds), or None when it never does."""
        target = self.curve("random")[-1].map50_95
        mining = self.curve("mining")
        if mining[0].map50_95 >= target:
            return float(mining[0].labels)
        for before, after in itertools.pairwise(mining):
            if after.map50_95 >= target:
                share = (target - before.map50_95) / (after.map50_95 - before.map50_95)
                return before.labels + share * (after.labels - before.labels)
        return None

    def table(self) -> str:
        """Test mAP per round for both strategies, and the labels mining needs to match random's final mAP."""
        mining, randomly = self.curve("mining"), self.curve("random")
        lines = [
            f"test set: {self.test_images} images (fixed); seed set: {self.seed_labels} labelled frames; "
            f"budget {self.config.budget} frames/round; {self.config.epochs} epochs/round at {self.config.imgsz} px",
            f"{'round':>5} | {'labels':>6} | {'mining mAP50-95':>15} | {'random mAP50-95':>15} | "
            f"{'mining mAP50':>12} | {'random mAP50':>12}",
        ]
        for m, r in zip(mining, randomly, strict=True):
            lines.append(
                f"{m.round:>5} | {m.labels:>6} | {m.map50_95:>15.4f} | {r.map50_95:>15.4f} | "
                f"{m.map50:>12.4f} | {r.map50:>12.4f}"
            )
        needed = self.labels_to_match_random()
        final = randomly[-1]
        lines.append(
            f"labels to reach random's final mAP50-95 ({final.map50_95:.4f} with {final.labels} labels): "
            + ("not reached" if needed is None else f"{needed:.0f} with mining")
        )
        lines.append(f"loop time: {self.duration_s:.0f} s")
        return "\n".join(lines)

    def write_plot(self, path: str | Path) -> Path:
        """A PNG of test mAP50-95 against labels added, one line per strategy."""
        return learning_curves_png(
            path,
            {strategy: [(r.labels, r.map50_95) for r in self.curve(strategy)] for strategy in STRATEGIES},
            xlabel=f"labels added beyond the seed set ({self.seed_labels})",
            ylabel="test mAP50-95",
            title=f"proving ground: {self.config.budget} labels/round",
        )


@dataclass
class _Videos:
    """The generated videos by role, and the truth of each by file name."""

    seed: list[SyntheticVideo] = field(default_factory=list)
    val: list[SyntheticVideo] = field(default_factory=list)
    test: list[SyntheticVideo] = field(default_factory=list)
    pool: list[list[SyntheticVideo]] = field(default_factory=list)
    truth: dict[str, GroundTruth] = field(default_factory=dict)


def run_proving_ground(
    out_dir: str | Path,
    rounds: int = 3,
    budget: int = 40,
    seed: int = 0,
    progress: Progress | None = None,
    config: ProvingGroundConfig | None = None,
) -> LoopReport:
    """Run the seed phase and `rounds` rounds of both strategies under `out_dir`; returns both curves.

    `config` sets the sizes (its rounds/budget/seed are replaced by the arguments)."""
    config = replace(config or ProvingGroundConfig(), rounds=rounds, budget=budget, seed=seed)
    say = progress or (lambda _message: None)
    out_dir = Path(out_dir)
    started = time.monotonic()
    videos = _generate_videos(out_dir / "videos", config)
    say(f"generated {sum(len(v) for v in (videos.seed, videos.val, videos.test, *videos.pool))} videos")

    seed_runtime = _runtime(out_dir / "homes" / "seed")
    fixed = _ingest(seed_runtime, [*videos.val, *videos.test], config)
    seeds = _ingest(seed_runtime, videos.seed, config)
    _select_every(seed_runtime, seeds, config.seed_every, "seed")
    _select_every(seed_runtime, fixed, config.eval_every, "fixed")
    _annotate(seed_runtime, videos)
    split = _split_config(seed_runtime.catalog, videos)
    dataset = build_training_dataset(seed_runtime.catalog, seed_runtime.store, DatasetConfig(split=split))
    say(f"seed dataset {dataset.dataset_id}: {dataset.manifest.counts()}")
    seed_weights, seed_s = _train(dataset, out_dir / "runs" / "seed", str(tiny_model_yaml(out_dir)), config, True)
    seed_eval = evaluate_model(seed_weights, dataset, imgsz=config.imgsz, split="test")
    say(f"seed model: test mAP50-95 {seed_eval.map50_95:.4f}")

    results: list[RoundResult] = []
    homes: dict[str, Runtime] = {}
    weights: dict[str, Path] = {}
    for strategy in STRATEGIES:
        shutil.copytree(out_dir / "homes" / "seed", out_dir / "homes" / strategy)
        homes[strategy] = _runtime(out_dir / "homes" / strategy)
        weights[strategy] = seed_weights
        results.append(
            RoundResult(strategy, 0, 0, seed_eval.map50, seed_eval.map50_95, seed_s, dataset.dataset_id, seed_weights)
        )
    labels = 0
    for round_number in range(1, config.rounds + 1):
        batch = {s: _ingest(homes[s], videos.pool[round_number - 1], config) for s in STRATEGIES}
        chosen = _select_mining(homes["mining"], batch["mining"], weights["mining"], config, round_number)
        _select_random(homes["random"], batch["random"], chosen, config.seed * 1000 + round_number)
        labels += chosen
        say(f"round {round_number}: {chosen} frames selected by mining, as many at random")
        for strategy in STRATEGIES:
            runtime = homes[strategy]
            _annotate(runtime, videos)
            version = build_training_dataset(runtime.catalog, runtime.store, DatasetConfig(split=split))
            run_dir = out_dir / "runs" / f"{strategy}-round{round_number}"
            weights[strategy], train_s = _train(version, run_dir, str(weights[strategy]), config, False)
            evaluation = evaluate_model(weights[strategy], version, imgsz=config.imgsz, split="test")
            results.append(
                RoundResult(
                    strategy,
                    round_number,
                    labels,
                    evaluation.map50,
                    evaluation.map50_95,
                    train_s,
                    version.dataset_id,
                    weights[strategy],
                )
            )
            say(f"round {round_number} {strategy}: test mAP50-95 {evaluation.map50_95:.4f}")
    return LoopReport(
        tuple(results),
        seed_labels=len(dataset.manifest.frames_in("train")),
        test_images=seed_eval.images,
        duration_s=time.monotonic() - started,
        config=config,
    )


def _generate_videos(folder: Path, config: ProvingGroundConfig) -> _Videos:
    videos = _Videos()
    next_seed = iter(range(config.seed * 1000 + 1, config.seed * 1000 + 1000))

    def make(count: int) -> list[SyntheticVideo]:
        made = [
            generate(folder, seed=next(next_seed), seconds=config.video_seconds, size=config.size) for _ in range(count)
        ]
        for video in made:
            videos.truth[video.video_path.name] = load_truth(video.truth_path)
        return made

    videos.seed, videos.val, videos.test = make(config.seed_videos), make(config.val_videos), make(config.test_videos)
    videos.pool = [make(config.pool_videos) for _ in range(config.rounds)]
    return videos


def _runtime(home: Path) -> Runtime:
    settings = Settings(
        home=home,
        classes=tuple(CLASS_NAMES[class_id] for class_id in sorted(CLASS_NAMES)),
        detector_imgsz=160,
        compute="inprocess",
        workers=1,
        settle_seconds=0.0,
    )
    return Runtime(settings)


def _ingest(runtime: Runtime, videos: Sequence[SyntheticVideo], config: ProvingGroundConfig) -> str:
    """Ingest the videos as one new batch, compute its features and return its key."""
    settings = replace(runtime.settings, clip_seconds=config.clip_seconds, batch_max_videos=1000)
    paths = [str(video.video_path) for video in videos]
    report = ingest(runtime.catalog, runtime.store, settings, paths, watch_inbox=False, origin="proving-ground")
    if len(report.new_batches) != 1:
        raise ProvingGroundError(f"expected the videos to form one new batch, got {len(report.new_batches)}")
    with compute_backend(settings) as backend:
        compute_batch_features(runtime.catalog, runtime.store, report.new_batches[0], backend)
    return report.new_batches[0]


def _select_every(runtime: Runtime, batch_key: str, every: int, day: str) -> None:
    """Select every `every`-th frame of the batch's clips (the seed set and the fixed val/test sets)."""
    clips = runtime.catalog.clips(batch_key=batch_key, status=ClipState.EXTRACTED)
    rows = []
    for clip in clips:
        features = read_features(runtime.store.fetch(features_key(clip)))
        for frame, phash in zip(features["frame_index"], features["phash"], strict=True):
            if int(frame) % every == 0:
                rows.append(_selected_row(clip.id, int(frame), int(phash), day))
    record_selection(runtime.catalog, rows, detail={"set": day})


def _selected_row(clip_id: str, frame: int, phash: int, day: str) -> dict[str, object]:
    return {"clip_id": clip_id, "frame": frame, "phash": phash, "reasons": {"trigger": day}, "budget_day": day}


def _select_mining(
    runtime: Runtime, batch_key: str, weights: Path, config: ProvingGroundConfig, round_number: int
) -> int:
    """The engine's own selection: triggers with the current model, then `select_batch` under the budget."""
    settings = replace(runtime.settings, detectors=(str(weights),))
    mining = MiningConfig(budget_per_day=config.budget)
    mine_batch_triggers(runtime.catalog, runtime.store, batch_key, load_detectors(settings), config=mining)
    report = select_batch(runtime.catalog, runtime.store, batch_key, config=mining, today=f"round-{round_number}")
    if report.selected == 0:
        raise ProvingGroundError(f"round {round_number}: mining selected no frame; give a larger budget or pool")
    return report.selected


def _select_random(runtime: Runtime, batch_key: str, count: int, seed: int) -> None:
    """`count` frames drawn uniformly from every frame of the batch (the same budget, no mining)."""
    catalog, store = runtime.catalog, runtime.store
    mine_batch_triggers(catalog, store, batch_key, ())
    pool = []
    for clip in catalog.clips(batch_key=batch_key, status=ClipState.MINED):
        features = read_features(store.fetch(features_key(clip)))
        pool += [(clip.id, int(f), int(h)) for f, h in zip(features["frame_index"], features["phash"], strict=True)]
    chosen = random.Random(seed).sample(pool, min(count, len(pool)))
    record_selection(catalog, [_selected_row(clip_id, frame, phash, "random") for clip_id, frame, phash in chosen])


def _annotate(runtime: Runtime, videos: _Videos) -> None:
    """Push the selected clips as a bundle, answer every task from the ground truth, import the answers."""
    catalog, store = runtime.catalog, runtime.store
    pushed = push_selected(catalog, store, runtime.settings, catalog.clips(status=ClipState.SELECTED))
    if pushed.run_id is None:
        raise ProvingGroundError("nothing was selected, so there is nothing to annotate")
    import_answers(catalog, store, answer_bundle_from_truth(runtime, pushed.run_id, videos.truth))


def answer_bundle_from_truth(runtime: Runtime, run_id: str, truth: Mapping[str, GroundTruth]) -> Path:
    """The simulated annotator: answer every frame of bundle `run_id` with the true boxes (objects at least 40 %
    visible) of its frame, in the bundle's answer format; `truth` maps a video's file name to its ground truth.
    Returns the answered file, ready for `import_answers`."""
    catalog = runtime.catalog
    offsets = {}
    for clip in catalog.clips(status=ClipState.PUSHED):
        video = catalog.get_video(clip.video_id)
        offsets[clip.id] = (truth[Path(video.source_uri).name], clip.first_frame)
    run = _run(catalog, run_id)
    answers = {}
    for frame in run.frames:
        video_truth, first_frame = offsets[frame.clip_id]
        boxes = video_truth.boxes_at(first_frame + frame.frame, min_visibility=MIN_LABEL_VISIBILITY)
        answers[(frame.clip_id, frame.frame)] = FrameAnswer(boxes, annotator=ANNOTATOR)
    return answer_bundle(run, answers)


def _run(catalog: Catalog, run_id: str) -> AnnotationRun:
    for record in catalog.annotation_runs():
        if record.id == run_id:
            return AnnotationRun.from_json(record.record)
    raise ProvingGroundError(f"annotation run {run_id} is not in the catalog")


def _split_config(catalog: Catalog, videos: _Videos) -> SplitConfig:
    """Everything selected goes to train; the fixed videos are assigned to val and test once and for all."""
    by_name = {Path(video.source_uri).name: video.id for video in catalog.videos()}
    assign = {by_name[v.video_path.name]: "val" for v in videos.val}
    assign |= {by_name[v.video_path.name]: "test" for v in videos.test}
    return SplitConfig(fractions=(1.0, 0.0, 0.0), assign=assign)


def _train(
    dataset: DatasetVersion, run_dir: Path, model: str, config: ProvingGroundConfig, from_scratch: bool
) -> tuple[Path, float]:
    """Train (the seed model from scratch, later ones fine-tuned from the previous model); best weights and seconds."""
    training = TrainingConfig(
        model=model,
        epochs=config.seed_epochs if from_scratch else config.epochs,
        imgsz=config.imgsz,
        batch=config.batch,
        seed=config.seed,
        budget_s=1800.0,
        grace_s=60.0,
        options={
            "optimizer": "AdamW",
            "lr0": 0.004 if from_scratch else 0.002,
            "warmup_epochs": 1 if from_scratch else 0,
        },
    )
    try:
        result = run_training(dataset.data_yaml, run_dir, training)
    except TrainingError as error:
        raise ProvingGroundError(f"training on {dataset.dataset_id} could not start: {error}") from error
    if result.best_weights is None:
        raise ProvingGroundError(f"training in {run_dir} left no weights ({result.status}): {result.error}")
    return result.best_weights, result.duration_s
